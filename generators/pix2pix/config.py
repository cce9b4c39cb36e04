"""pix2pix's config: a light module (no torch), so `workbench list/describe` stay fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from workbench.config import RunConfig
from workbench.errors import ConfigError


@dataclass
class Pix2PixData:
    source: Literal["digits", "edges", "aligned"] = "digits"
    """digits (offline: Canny outlines -> MNIST digits) | edges (offline: Canny edge maps ->
    photo crops of scikit-image's CC0 pictures) | aligned (the pix2pix datasets' format: A|B side
    by side in path/train, val, test); the offline ones are built once in that format"""
    path: str = ""
    """aligned: the dataset root (e.g. ~/data/facades); edges/digits: where to build the pairs
    ('' = ~/.cache/workbench, or $WORKBENCH_CACHE)"""
    pairs: int = 2_000
    """edges/digits: training pairs to build (val and test get a tenth of this each)"""


@dataclass
class Pix2PixOptim:
    lr: float = 2e-4
    """Adam learning rate of both networks (the paper's 0.0002)"""
    beta1: float = 0.5
    """Adam beta1 (the paper's 0.5)"""
    beta2: float = 0.999
    """Adam beta2"""


@dataclass
class Pix2PixSampleOptions:
    n: int = 8
    """images in the grid"""
    seed: int = 0
    """seed of the held-out pairs drawn"""


@dataclass
class Pix2PixConfig(RunConfig):
    SampleOptions: ClassVar[type] = Pix2PixSampleOptions
    total_steps: int = 3_000
    log_every: int = 100
    eval_every: int = 500
    checkpoint_every: int = 500
    image_size: int = 32
    """side of the square images (power of two >= 16); the U-Net has log2(image_size) levels
    (U-Net-256 at 256 px)"""
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    """AtoB translates the left half of each pair into the right half; BtoA the reverse"""
    batch_size: int = 16
    """pairs per step (the paper uses 1 for facades; 16 keeps the CPU busy at 64 px)"""
    gen_features: int = 64
    """width of the U-Net's first layer (doubles per level, capped at 8x)"""
    disc_features: int = 64
    """width of the PatchGAN's first layer"""
    disc_layers: int = 3
    """strided layers of the PatchGAN: 3 gives the paper's 70x70 receptive field"""
    dropout: float = 0.5
    """dropout in the first three decoder layers after the bottleneck: the generator's noise"""
    l1_weight: float = 100.0
    """lambda of the loss cGAN + lambda * L1 (the paper's 100)"""
    jitter: bool = True
    """random jitter of the paper: upscale by 286/256, random crop back, random mirror"""
    data: Pix2PixData = field(default_factory=Pix2PixData)
    """paired images"""
    optim: Pix2PixOptim = field(default_factory=Pix2PixOptim)
    """Adam settings shared by generator and discriminator"""
    eval_images: int = 200
    """held-out pairs scored by eval/l1, eval/psnr, eval/ssim (the first N of val/)"""
    grid_rows: int = 8
    """input | output | target rows in the evaluation grid"""

    def validate(self) -> None:
        size = self.image_size
        if size < 16 or size & (size - 1):
            raise ConfigError(f"config key 'image_size' must be a power of two >= 16; got {size}.")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"config key 'dropout' must be in [0, 1); got {self.dropout}.")
        for name in ("batch_size", "gen_features", "disc_features", "disc_layers", "eval_images",
                     "grid_rows"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"config key '{name}' must be positive; got {getattr(self, name)}.")
        if self.data.pairs < 10:
            raise ConfigError(f"config key 'data.pairs' must be >= 10; got {self.data.pairs}.")
