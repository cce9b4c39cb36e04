"""Config of the music generators (light: no torch, no music21)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from workbench.config import Ge, Interval, NonNegative, Positive
from workbench.errors import ConfigError
from workbench.generators.seq.config import SampleConfig, SequenceConfig


@dataclass
class MusicDataConfig:
    path: str = ""
    """a folder (or file) of MIDI / MusicXML files; empty = the Bach chorales bundled with music21"""
    limit: Annotated[int, NonNegative] = 0
    """use only the first N files (0 = all); tests use a few chorales"""
    voices: Literal["soprano", "satb"] = "soprano"
    """soprano = one melodic line; satb = all four voices, measure-interleaved (see tokenizer.py)"""
    transpose: Literal["none", "common"] = "common"
    """common = move every piece to C major / A minor (music21 key estimate); none = as written"""
    augment_semitones: Annotated[int, Interval(ge=0, le=12)] = 0
    """random transposition of each training block by up to +-N semitones (0 = off)"""
    val_fraction: Annotated[float, Interval(gt=0, lt=1)] = 0.1
    """share of pieces held out for eval/loss and the metrics (a fixed, seeded split)"""


@dataclass
class MusicSampleConfig(SampleConfig):
    tokens: Annotated[int, Positive] = 512
    """tokens to generate per sample (a soprano chorale is about 150; <eos> starts another piece)"""
    temperature: Annotated[float, NonNegative] = 1.0
    """softmax temperature (0 = greedy)"""


@dataclass
class MusicConfig(SequenceConfig):
    data: MusicDataConfig = field(default_factory=MusicDataConfig)
    """the corpus and its encoding"""
    sample: MusicSampleConfig = field(default_factory=MusicSampleConfig)
    """the sample generated at every evaluation"""
    bpm: Annotated[float, Positive] = 90.0
    """tempo of the written MIDI and WAV files, in quarter notes per minute"""
    sample_rate: Annotated[int, Ge(8000)] = 22_050
    """sample rate of the synthesized WAV"""
    ngram: Annotated[int, Ge(2)] = 8
    """note n-gram length of the copying (plagiarism) metric"""

    def validate(self) -> None:
        super().validate()
        if self.data.limit == 1:  # one piece cannot be split into train and val
            raise ConfigError(f"data.limit must be 0 (all files) or at least 2; got {self.data.limit}.")
