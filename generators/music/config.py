"""Config of the music generators (light: no torch, no music21)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from workbench.generators.seq.config import SampleConfig, SequenceConfig

from workbench.errors import ConfigError


@dataclass
class MusicDataConfig:
    path: str = ""
    """a folder (or file) of MIDI / MusicXML files; empty = the Bach chorales bundled with music21"""
    limit: int = 0
    """use only the first N files (0 = all); tests use a few chorales"""
    voices: Literal["soprano", "satb"] = "soprano"
    """soprano = one melodic line; satb = all four voices, measure-interleaved (see tokenizer.py)"""
    transpose: Literal["none", "common"] = "common"
    """common = move every piece to C major / A minor (music21 key estimate); none = as written"""
    augment_semitones: int = 0
    """random transposition of each training block by up to +-N semitones (0 = off)"""
    val_fraction: float = 0.1
    """share of pieces held out for eval/loss and the metrics (a fixed, seeded split)"""


@dataclass
class MusicSampleConfig(SampleConfig):
    tokens: int = 512
    """tokens to generate per sample (a soprano chorale is about 150; <eos> starts another piece)"""
    temperature: float = 1.0
    """softmax temperature (0 = greedy)"""


@dataclass
class MusicConfig(SequenceConfig):
    data: MusicDataConfig = field(default_factory=MusicDataConfig)
    """the corpus and its encoding"""
    sample: MusicSampleConfig = field(default_factory=MusicSampleConfig)
    """the sample generated at every evaluation"""
    bpm: float = 90.0
    """tempo of the written MIDI and WAV files, in quarter notes per minute"""
    sample_rate: int = 22_050
    """sample rate of the synthesized WAV"""
    ngram: int = 8
    """note n-gram length of the copying (plagiarism) metric"""

    def validate(self) -> None:
        super().validate()
        d = self.data
        if not 0 < d.val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be in (0, 1); got {d.val_fraction}.")
        if d.limit < 0 or d.limit == 1:
            raise ConfigError(f"data.limit must be 0 (all files) or at least 2; got {d.limit}.")
        if not 0 <= d.augment_semitones <= 12:
            raise ConfigError(f"data.augment_semitones must be in 0..12; got {d.augment_semitones}.")
        if self.bpm <= 0 or self.sample_rate < 8000 or self.ngram < 2:
            raise ConfigError("bpm must be > 0, sample_rate >= 8000 and ngram >= 2.")
