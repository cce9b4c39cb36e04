"""Style transfer's configs: a light module (no torch), so `workbench list/describe` stay fast.

Both plugins share the feature network and the loss (:class:`StyleFeatures`, :class:`StyleLoss`);
``style-gatys`` optimises one image, ``style-fast`` trains a network. Every image a config
names is opened and decoded by :meth:`check_inputs` when a run starts, before its directory
exists (a missing, empty, truncated or non-image file, or a decompression bomb, is exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from workbench.config import BatchSize, Ge, Interval, NonNegative, Positive, RunConfig, Seed
from workbench.errors import ConfigError, UserError

# torchvision's configuration "E" (VGG-19): channels of each 3x3 conv, "M" a 2x2 max pool
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def vgg19_names() -> tuple[str, ...]:
    """Names of the modules of ``vgg19().features`` by index: conv1_1, relu1_1, ..., pool5."""
    names: list[str] = []
    block, conv = 1, 1
    for v in VGG19_LAYOUT:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return tuple(names)


DEFAULT_LAYERS = {
    # Gatys et al. (2016): style on relu1_1 .. relu5_1, content on relu4_2
    "vgg19": (("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), ("relu4_2",)),
    # the pyramid's five finest levels carry style; content is the half-size level's response
    "multiscale": (("scale0", "scale1", "scale2", "scale3", "scale4"), ("scale1",)),
    "ica": (("scale0", "scale1", "scale2", "scale3", "scale4"), ("scale1",)),  # the same pyramid
}


@dataclass
class StyleFeatures:
    net: Literal["ica", "multiscale", "vgg19"] = "ica"
    """feature network: ica (one layer of filters learned here by ICA from offline photos, on an
    image pyramid; style-gatys's default) | multiscale (the same pyramid with random filters,
    Ustyuzhaninov et al. 2017; style-fast's default) | vgg19 (Gatys et al.; random weights unless
    features.weights names a file); docs/style-transfer.md says why"""
    weights: str = ""
    """vgg19 only: a torchvision VGG-19 state dict file (the real network of the paper); '' = random"""
    seed: Annotated[int, Seed] = 0
    """seed of the random weights (apart from the run's seed: runs of a seed sweep share one network)"""
    pool: Literal["max", "avg"] = "max"
    """vgg19 pooling: max (torchvision's) or avg (Gatys et al. found it gives smoother images)"""
    style_layers: tuple[str, ...] = ()
    """layers whose Gram matrices carry style (empty = the net's default: relu1_1..relu5_1 | scale0..scale4)"""
    content_layers: tuple[str, ...] = ()
    """layers whose responses carry content (empty = the net's default: relu4_2 | scale1)"""

    def layers(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        style, content = DEFAULT_LAYERS[self.net]
        return self.style_layers or style, self.content_layers or content


@dataclass
class StyleLoss:
    content_weight: Annotated[float, NonNegative] = 3.0
    """weight of the content loss (alpha of Gatys et al.; 3 balances the ica and multiscale nets, docs/style-transfer.md)"""
    style_weight: Annotated[float, NonNegative] = 10.0
    """weight of the style loss (beta of Gatys et al.), summed over the style layers"""
    tv_weight: Annotated[float, NonNegative] = 1e-3
    """weight of the total-variation smoothness loss on the output image (Johnson et al. 2016)"""
    normalise: bool = True
    """divide each layer's loss by its target's mean square, so one set of weights fits every
    feature network (false = the raw sums of the PyTorch tutorial, whose weights are 1 and 1e6)"""


def check_layers(features: StyleFeatures) -> None:
    """Layer names the chosen network has (checked before a run, without torch)."""
    style, content = features.layers()
    if features.net == "vgg19":
        names = tuple(n for n in vgg19_names() if not n.startswith("pool"))
    else:
        names = tuple(f"scale{k}" for k in range(8))
    bad = [name for name in (*style, *content) if name not in names]
    if bad:
        raise ConfigError(f"features.style_layers / content_layers: {', '.join(bad)} not in the "
                          f"{features.net} network; its layers are {', '.join(names)}.")
    if features.weights and features.net != "vgg19":
        raise ConfigError("features.weights names a VGG-19 state dict; set features.net=vgg19 too.")


def check_weights(features: StyleFeatures) -> None:
    if features.weights and not Path(features.weights).expanduser().is_file():
        raise UserError(f"features.weights={features.weights} is not a file; give torchvision's "
                        "VGG-19 state dict, saved with torch.save(vgg19(weights=...).state_dict(), F).")


@dataclass
class GatysConfig(RunConfig):
    """Per-image optimisation (Gatys, Ecker and Bethge 2016): a step is one optimiser step."""

    # bf16: a VGG forward + backward took 0.39 s against fp32's 0.55 s on this CPU (a one-off
    # timing in docs/style-transfer.md); benchmarks/style_gatys_speed.py reaches the fp32
    # tutorial's loss with it
    auto_cpu_precision: ClassVar[str] = "bf16-native"
    total_steps: int = 300
    log_every: int = 25
    eval_every: int = 100
    checkpoint_every: int = 100
    content: str = "astronaut"
    """content image: a file or a built-in photo (astronaut, coffee, chelsea, rocket, ...)"""
    style: str = "mosaic"
    """style image: a file, a texture (brick, grass, gravel) or a drawn style (waves, mosaic, strokes)"""
    image_size: Annotated[int, Interval(ge=32, le=2048)] = 256
    """side of the square output in pixels (images are centre-cropped and resized to it)"""
    init: Literal["content", "noise"] = "content"
    """start image: the content photo (as the PyTorch tutorial) or uniform noise (as the paper)"""
    range_weight: Annotated[float, NonNegative] = 100.0
    """weight of a quadratic penalty on pixel values outside [0, 1]: keeps the image in range with
    no clamp to upset L-BFGS (0 = none; the image is clamped only when shown)"""
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    """lbfgs (as the paper: one step = one L-BFGS iteration, one function evaluation) | adam"""
    lr: Annotated[float, Positive] = 1.0
    """step size: L-BFGS's initial step (1 as torch's default) or Adam's learning rate (try 0.02)"""
    lbfgs_history: Annotated[int, Ge(1)] = 100
    """L-BFGS memory (torch's default 100)"""
    coarse_steps: Annotated[int, NonNegative] = 0
    """coarse-to-fine: the first steps optimise a half-size image (a quarter of the work each), which is then upsampled and refined at image_size; 0 = off"""
    features: StyleFeatures = field(default_factory=StyleFeatures)
    """the feature network whose responses define style and content"""
    loss: StyleLoss = field(default_factory=StyleLoss)
    """loss weights"""

    def validate(self) -> None:
        check_layers(self.features)
        if self.coarse_steps and self.image_size < 64:
            raise ConfigError(f"coarse_steps={self.coarse_steps} needs image_size of 64 or more (the "
                              f"coarse image is half of it); got image_size={self.image_size}.")

    def check_inputs(self) -> None:
        """Decode every named image now, before a run directory exists."""
        from workbench.generators.style.images import check_image

        check_image(self.content, "content")
        check_image(self.style, "style")
        check_weights(self.features)


@dataclass
class FastSampleOptions:
    content: str = ""
    """photo to stylise: a file or a built-in photo ('' = the run's eval_content)"""
    size: Annotated[int, Interval(ge=16, le=4096)] = 512
    """longer side of the output in pixels (the photo is scaled down to it, never up)"""


@dataclass
class FastConfig(RunConfig):
    """A feed-forward stylisation network for one style (Johnson, Alahi and Fei-Fei 2016)."""

    SampleOptions: ClassVar[type] = FastSampleOptions
    # bf16 / fp32 training step time 0.58 (benchmarks/style_fast_speed.py)
    auto_cpu_precision: ClassVar[str] = "bf16-native"
    total_steps: int = 1_500
    log_every: int = 50
    eval_every: int = 250
    checkpoint_every: int = 250
    eval_at_start: bool = True
    style: str = "mosaic"
    """style image: a file, a texture (brick, grass, gravel) or a drawn style (waves, mosaic, strokes)"""
    style_size: Annotated[int, Interval(ge=32, le=2048)] = 256
    """side the style image is resized to before its Gram matrices are taken"""
    content_folder: str = ""
    """a folder of training photos (e.g. COCO, as the paper); '' = scikit-image's photos, offline"""
    eval_content: str = "chelsea"
    """held-out photo stylised at each evaluation (never a training photo)"""
    image_size: Annotated[int, Interval(ge=32, le=1024)] = 128
    """side of the random training crops (the network is convolutional: it stylises any size)"""
    batch_size: Annotated[int, BatchSize] = 4
    """training crops per step (the paper's 4)"""
    width: Annotated[int, Positive] = 16
    """channels of the network's first layer (the paper's 32; doubled twice by the down-samplings)"""
    residual_blocks: Annotated[int, Positive] = 5
    """residual blocks at the bottleneck (the paper's 5)"""
    lr: Annotated[float, Positive] = 1e-3
    """Adam learning rate (the paper's 0.001)"""
    # style-fast keeps the random multiscale net: ica was chosen on style-gatys's results
    # (benchmarks/style_features.py), style-fast's own figures were measured with multiscale, and
    # on a tiny style-fast run ica lowered the loss less (docs/style-transfer.md)
    features: StyleFeatures = field(default_factory=lambda: StyleFeatures(net="multiscale"))
    """the feature network whose responses define style and content"""
    loss: StyleLoss = field(default_factory=StyleLoss)
    """loss weights"""

    def validate(self) -> None:
        check_layers(self.features)
        if self.image_size % 4:
            raise ConfigError(f"config key 'image_size' must be a multiple of 4 (two stride-2 "
                              f"stages); got {self.image_size}.")

    def check_inputs(self) -> None:
        """Decode every named image now, before a run directory exists."""
        from workbench.generators.style.images import check_image

        check_image(self.style, "style")
        check_image(self.eval_content, "eval_content")
        if self.content_folder and not Path(self.content_folder).expanduser().is_dir():
            raise UserError(f"content_folder={self.content_folder} is not a folder; give a folder "
                            "of photos, or '' for scikit-image's photos.")
        check_weights(self.features)
