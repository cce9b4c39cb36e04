"""Image captioning's config: a light module (no torch), so `workbench list/describe` stay fast.

A run is ``data`` (synthetic digit scenes, or a Karpathy split JSON with its image folder), the
CNN encoder and attention decoder sizes, and an Adam schedule. The options of ``workbench
sample / explain / eval`` are declared here too; ``--image PATH`` is checked (exists, decodes,
within Pillow's pixel limit) while the options are read, before any checkpoint is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from workbench.config import BatchSize, Ge, Interval, NonNegative, Positive, RunConfig, Seed
from workbench.errors import ConfigError


@dataclass
class CaptionData:
    source: Literal["scenes", "karpathy"] = "scenes"
    """scenes = captioned scenes of offline MNIST digits, made by code ("a large red 3 above a
    small blue 7"); karpathy = COCO or Flickr8k/30k captions in Karpathy's split JSON"""
    path: str = ""
    """karpathy: the split JSON (dataset_coco.json, dataset_flickr8k.json, dataset_flickr30k.json)"""
    images: str = ""
    """karpathy: the image folder (COCO: the folder holding train2014/ and val2014/)"""
    limit: Annotated[int, NonNegative] = 0
    """karpathy: at most this many images per split (0 = all)"""
    train_scenes: Annotated[int, Ge(10)] = 6_000
    """scenes: training scenes (no held-out colour-digit pair appears in them)"""
    eval_scenes: Annotated[int, Ge(2)] = 500
    """scenes: scenes in each of val and test (each has a held-out colour-digit pair) and in seen"""
    scene_seed: Annotated[int, Seed] = 0
    """scenes: seed of the scenes, apart from the run's seed (runs of any seed see the same data)"""
    min_word_count: Annotated[int, Positive] = 1
    """words seen fewer times in the training captions become <unk> (Karpathy's COCO setup: 5)"""
    max_vocab: Annotated[int, Positive] = 10_000
    """at most this many words (the most frequent) besides <pad> <bos> <eos> <unk>"""
    max_words: Annotated[int, Positive] = 16
    """words per caption: longer training captions are cut, generated ones stop here"""


@dataclass
class CaptionSampleOptions:
    image: str | None = None
    """an image file to caption (PNG, JPEG, ...); default: n held-out scenes in a grid"""
    beam: Annotated[int, Positive] = 3
    """beam width (1 = greedy decoding)"""
    n: Annotated[int, Positive] = 8
    """held-out images to caption when no --image is given"""
    seed: Annotated[int, Seed] = 0
    """which held-out images are drawn"""

    def validate(self) -> None:
        if self.image is not None:
            from workbench.generators.caption.data import read_image

            read_image(self.image)  # a bad file is an exit-2 error before the model loads


@dataclass
class CaptionExplainOptions:
    image: str | None = None
    """an image file to caption and explain; default: n held-out scenes"""
    n: Annotated[int, Positive] = 4
    """held-out images to explain when no --image is given (one row each)"""
    beam: Annotated[int, Positive] = 1
    """beam width of the explained caption (1 = greedy)"""
    seed: Annotated[int, Seed] = 0
    """which held-out images are drawn"""

    def validate(self) -> None:
        if self.image is not None:
            from workbench.generators.caption.data import read_image

            read_image(self.image)


@dataclass
class CaptionEvalOptions:
    split: Literal["val", "test", "seen"] = "test"
    """val / test: held-out images (scenes: colour-digit pairs never seen in training);
    seen (scenes only): new scenes of pairs seen in training"""
    beam: Annotated[int, Positive] = 1
    """beam width (1 = greedy decoding)"""
    images: Annotated[int, NonNegative] = 0
    """score at most this many images of the split (0 = all)"""


@dataclass
class CaptionConfig(RunConfig):
    SampleOptions: ClassVar[type] = CaptionSampleOptions
    ExplainOptions: ClassVar[type] = CaptionExplainOptions
    EvalOptions: ClassVar[type] = CaptionEvalOptions

    total_steps: int = 3_000
    log_every: int = 50
    eval_every: int = 500
    checkpoint_every: int = 500
    image_size: Annotated[int, Ge(16)] = 64
    """side of the square images the encoder sees (other images are centre-cropped and resized)"""
    batch_size: Annotated[int, BatchSize] = 32
    """captions per step (each with its image)"""
    width: Annotated[int, Positive] = 64
    """channels of the encoder's last stage (the first two have width/4 and width/2)"""
    embed: Annotated[int, Positive] = 64
    """word embedding size"""
    hidden: Annotated[int, Positive] = 128
    """decoder hidden size"""
    attention: Annotated[int, Positive] = 64
    """size of the additive attention's hidden layer"""
    cell: Literal["lstm", "gru"] = "lstm"
    """decoder cell: lstm (Show, Attend and Tell) or gru (Cho et al. 2014)"""
    dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.2
    """dropout before the word classifier"""
    attention_reg: Annotated[float, NonNegative] = 0.0
    """Xu et al.'s doubly stochastic penalty, weight of sum_i (1 - sum_t alpha_ti)^2 (0 = off)"""
    lr: Annotated[float, Positive] = 3e-3
    """peak Adam learning rate"""
    warmup_steps: Annotated[int, NonNegative] = 100
    """linear warm-up steps, then a cosine decay to lr / 10 at total_steps"""
    max_grad_norm: Annotated[float, NonNegative] = 5.0
    """clip the global gradient norm (Show, Attend and Tell clips at 5; 0 = off)"""
    eval_images: Annotated[int, Positive] = 500
    """held-out images scored at each evaluation (the first N of val)"""
    eval_beam: Annotated[int, Positive] = 1
    """beam width of the evaluations (1 = greedy: fast)"""
    data: CaptionData = field(default_factory=CaptionData)
    """the captioned images"""

    def validate(self) -> None:
        if self.data.source == "karpathy" and not (self.data.path and self.data.images):
            raise ConfigError(
                "data.source=karpathy needs data.path (Karpathy's split JSON, e.g. "
                "dataset_flickr8k.json) and data.images (the folder of its images); got "
                f"data.path={self.data.path!r}, data.images={self.data.images!r}."
            )
