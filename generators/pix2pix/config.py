"""pix2pix's config: a light module (no torch), so `workbench list/describe` stay fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from workbench.config import BatchSize, Ge, Interval, NonNegative, Positive, RunConfig
from workbench.errors import ConfigError
from workbench.generators.gan_config import GANOptim, GANSampleOptions


@dataclass
class Pix2PixData:
    source: Literal["digits", "edges", "aligned"] = "digits"
    """digits (offline: Canny outlines -> MNIST digits) | edges (offline: Canny edge maps ->
    photo crops of scikit-image's CC0 pictures) | aligned (the pix2pix datasets' format: A|B side
    by side in path/train, val, test); the offline ones are built once in that format"""
    path: str = ""
    """aligned: the dataset root (e.g. ~/data/facades); edges/digits: where to build the pairs
    ('' = ~/.cache/workbench, or $WORKBENCH_CACHE)"""
    pairs: Annotated[int, Ge(10)] = 2_000
    """edges/digits: training pairs to build (val and test get a tenth of this each)"""


@dataclass
class Pix2PixSampleOptions(GANSampleOptions):
    n: int = 8
    """held-out pairs translated: input | output | target rows in the grid (or outputs in an
    --out folder)"""


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
    batch_size: Annotated[int, BatchSize] = 16
    """pairs per step (the paper uses 1 for facades; 16 keeps the CPU busy at 64 px)"""
    gen_features: Annotated[int, Positive] = 64
    """width of the U-Net's first layer (doubles per level, capped at 8x)"""
    disc_features: Annotated[int, Positive] = 64
    """width of the PatchGAN's first layer"""
    disc_layers: Annotated[int, Positive] = 3
    """strided layers of the PatchGAN: 3 gives the paper's 70x70 receptive field"""
    dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.5
    """dropout in the first three decoder layers after the bottleneck: the generator's noise"""
    l1_weight: Annotated[float, NonNegative] = 100.0
    """lambda of the loss cGAN + lambda * L1 (the paper's 100)"""
    jitter: bool = True
    """random jitter of the paper: upscale by 286/256, random crop back, random mirror"""
    data: Pix2PixData = field(default_factory=Pix2PixData)
    """paired images"""
    optim: GANOptim = field(default_factory=GANOptim)
    """Adam settings shared by generator and discriminator"""
    eval_images: Annotated[int, Positive] = 200
    """held-out pairs scored by eval/l1, eval/psnr, eval/ssim (the first N of val/)"""
    grid_rows: Annotated[int, Positive] = 8
    """input | output | target rows in the evaluation grid"""

    def validate(self) -> None:
        size = self.image_size
        if size < 16 or size & (size - 1):
            raise ConfigError(f"config key 'image_size' must be a power of two >= 16; got {size}.")
