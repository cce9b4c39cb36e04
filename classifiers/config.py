"""Config of the image classifier plugin (light: no torch), see classifiers/classifier.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from workbench.config import BatchSize, Interval, NonNegative, Positive, RunConfig, Seed
from workbench.errors import ConfigError
from workbench.options import AttributionMethod


@dataclass
class DataConfig:
    source: Literal["mnist", "digits", "cifar10", "folder"] = "mnist"
    """mnist (5,000 offline digits, or the full MNIST under path) | digits (sklearn 8x8) | cifar10 (under path) | folder (ImageFolder path)"""
    path: str | None = None
    """data directory: MNIST IDX files, CIFAR-10 python batches, or an image folder (class subfolders or flat)"""
    image_size: Annotated[int, NonNegative] = 0
    """resize every image to this square size in pixels (0 = keep the stored size)"""
    channels: int = 0
    """1 = gray, 3 = RGB, 0 = as stored"""
    split_seed: Annotated[int, Seed] = 0
    """seed of the fixed train/val/test split (kept apart from `seed` so every run has the same test set)"""


@dataclass
class AugmentConfig:
    rotate_deg: Annotated[float, Interval(ge=0, le=180)] = 0.0
    """random rotation, up to this many degrees either way"""
    scale: Annotated[float, Interval(ge=0, lt=1)] = 0.0
    """random zoom in or out by up to this fraction"""
    shift: Annotated[float, Interval(ge=0, le=1)] = 0.0
    """random translation by up to this fraction of the image size"""
    hflip: bool = False
    """flip half of the images left-right (natural images, not digits)"""


@dataclass
class OptimConfig:
    lr: Annotated[float, Positive] = 2e-3
    """peak AdamW learning rate"""
    weight_decay: Annotated[float, NonNegative] = 5e-4
    """AdamW decoupled weight decay"""
    schedule: Literal["cosine", "constant"] = "cosine"
    """learning-rate schedule after the warm-up (cosine decays to zero at total_steps)"""
    warmup_frac: Annotated[float, Interval(ge=0, lt=1)] = 0.05
    """fraction of total_steps spent warming the learning rate up linearly"""
    label_smoothing: Annotated[float, Interval(ge=0, lt=1)] = 0.0
    """cross-entropy label smoothing (Szegedy et al. 2016)"""
    max_grad_norm: Annotated[float, NonNegative] = 0.0
    """clip the gradient norm to this (0 = no clipping)"""


@dataclass
class ClassifierExplainOptions:
    method: AttributionMethod = "occlusion"
    """Captum method; occlusion is the default as it passes the random-weights check on digits (docs/explain.md)"""
    n: int = 16
    """test images in the grid: the most confidently wrong (up to half of them), then correct ones"""
    per_class: int = 20
    """correctly classified test images averaged into each class's mean attribution map"""
    steps: int = 32
    """integration steps (integrated-gradients) or noise samples (smoothgrad, gradient-shap)"""
    window: int = 0
    """occlusion: side of the square patch in pixels (0 = about a quarter of the image side)"""
    seed: int = 0
    """which correct test images are shown"""

    def validate(self) -> None:
        for name in ("n", "steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"config key '{name}' must be positive; got {getattr(self, name)}.")
        for name in ("per_class", "window"):
            if getattr(self, name) < 0:
                raise ConfigError(f"config key '{name}' must be >= 0; got {getattr(self, name)}.")


@dataclass
class ClassifierConfig(RunConfig):
    ExplainOptions: ClassVar[type] = ClassifierExplainOptions
    total_steps: int = 2_000
    log_every: int = 100
    eval_every: int = 500
    checkpoint_every: int = 1_000
    model: Literal["convnet", "resnet"] = "convnet"
    """convnet = LeNet-style (2 conv-pool stages, 2 dense layers) | resnet = residual blocks + BatchNorm"""
    width: Annotated[int, Positive] = 16
    """channels of the first convolution stage (later stages double it)"""
    hidden: Annotated[int, Positive] = 128
    """convnet: size of the penultimate dense layer (the feature vector)"""
    blocks_per_stage: Annotated[int, Positive] = 2
    """resnet: residual blocks in each of its 3 stages (2 = an 14-layer ResNet)"""
    dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.25
    """dropout before the last layer"""
    batch_size: Annotated[int, BatchSize] = 64
    """training images per step (global, across torchrun ranks)"""
    eval_batch_size: Annotated[int, Positive] = 500
    """images per forward pass when evaluating"""
    eval_images: Annotated[int, NonNegative] = 0
    """evaluate on at most this many val/test images (0 = all of them)"""
    wrong_grid: Annotated[int, NonNegative] = 36
    """at the end, show this many of the most confidently wrong test images"""
    data: DataConfig = field(default_factory=DataConfig)
    """where the images come from"""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """training-time augmentations"""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """optimizer settings"""

    def validate(self) -> None:
        # a missing or wrong data.path is reported by classifiers.data when the run starts,
        # where the path is actually read
        if self.data.channels not in (0, 1, 3):
            raise ConfigError(f"data.channels must be 0 (as stored), 1 or 3; got {self.data.channels}.")
