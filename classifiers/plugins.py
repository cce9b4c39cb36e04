"""Registration of the image classifiers (strings only: importing this module is instant)."""

from __future__ import annotations

from workbench.registry import register, register_preset

register(
    "classifier",
    entry_point="workbench.classifiers.classifier:ImageClassifier",
    config="workbench.classifiers.config:ClassifierConfig",
    kind="classifier",
    metric="eval/accuracy",
    goal="max",
    description="image classifier (LeNet-style ConvNet or ResNet) on MNIST, digits, CIFAR-10 or a folder",
    smoke={"total_steps": 6, "log_every": 3, "eval_every": 3, "checkpoint_every": 3,
           "batch_size": 16, "eval_images": 64, "data.source": "digits", "precision": "fp32"},
)

register_preset(
    "classifier-mnist",
    "classifier",
    "LeNet-style ConvNet on the 5,000 offline MNIST digits (or the full MNIST with data.path)",
    **{"data.source": "mnist", "model": "convnet", "total_steps": 2_500, "eval_every": 500,
       "augment.rotate_deg": 12.0, "augment.scale": 0.1, "augment.shift": 0.08,
       "optim.label_smoothing": 0.05},
)
register_preset(
    "classifier-digits",
    "classifier",
    "LeNet-style ConvNet on scikit-learn's 1,797 8x8 digits, upsampled to 16x16",
    **{"data.source": "digits", "data.image_size": 16, "model": "convnet", "total_steps": 1_500,
       "eval_every": 500, "augment.rotate_deg": 10.0, "augment.scale": 0.1, "augment.shift": 0.08,
       "optim.label_smoothing": 0.05},
)
register_preset(
    "classifier-cifar10",
    "classifier",
    "ResNet-14 on CIFAR-10 (needs data.path=DIR holding the python batches, cifar-10-batches-py)",
    # CI has no CIFAR-10: the repo-wide smoke run trains this preset's ResNet on 3-channel 32x32
    # digits; tests/test_classifier.py runs the real cifar10 reader on fake python batches
    smoke={"data.source": "digits", "data.channels": 3, "data.image_size": 16, "width": 8,
           "blocks_per_stage": 1},
    **{"data.source": "cifar10", "model": "resnet", "width": 16, "blocks_per_stage": 2,
       "dropout": 0.0, "batch_size": 128, "total_steps": 20_000, "eval_every": 2_000,
       "checkpoint_every": 2_000, "eval_images": 5_000, "augment.hflip": True,
       "augment.shift": 0.125, "optim.lr": 3e-3},
)
register_preset(
    "classifier-folder",
    "classifier",
    "ResNet on your own ImageFolder directory: pass data.path=DIR (one subfolder per class)",
    # no user folder in CI: smoke-train on digits; tests/test_classifier.py runs a real folder
    smoke={"data.source": "digits", "data.image_size": 16, "width": 8, "blocks_per_stage": 1},
    **{"data.source": "folder", "data.image_size": 64, "data.channels": 3, "model": "resnet",
       "width": 16, "dropout": 0.0, "total_steps": 2_000, "augment.hflip": True,
       "augment.shift": 0.1, "augment.scale": 0.1},
)
