"""Music metrics computed on generated pieces against the corpus (beyond the loss).

- pitch-class histogram distance: total variation (half the L1 distance, 0..1) between the
  12-bin pitch-class histograms of the generated notes and of the validation pieces;
- in-key fraction: the share of notes whose pitch class belongs to the scale of the key that
  music21 estimates for the piece (Krumhansl-Schmuckler key finding);
- pitch range: highest minus lowest MIDI pitch, in semitones;
- n-gram copying: the share of the generated pitch n-grams (default 8 notes) that occur verbatim
  in the training pieces (a plagiarism check) and, as the baseline, in the validation pieces.
  Unseen Bach (the val set) shares some n-grams with the training set by style alone; a sample
  that shares many more with train than val is copying.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def pitch_class_histogram(pitches: Iterable[int]) -> np.ndarray:
    counts = np.bincount(np.asarray(list(pitches), dtype=np.int64) % 12, minlength=12).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * float(np.abs(a - b).sum())


def in_key_fraction(pitches: list[int]) -> float:
    """Share of notes in the scale of the key music21 estimates for them (nan if no notes)."""
    if not pitches:
        return float("nan")
    from music21 import note, stream

    s = stream.Stream()
    for p in pitches:
        s.append(note.Note(p, quarterLength=1.0))
    key = s.analyze("key")
    scale = {p.pitchClass for p in key.getPitches()}
    return float(np.mean([p % 12 in scale for p in pitches]))


def pitch_range(pitches: list[int]) -> float:
    return float(max(pitches) - min(pitches)) if pitches else 0.0


def ngrams(sequences: Iterable[list[int]], n: int) -> set[tuple[int, ...]]:
    out: set[tuple[int, ...]] = set()
    for seq in sequences:
        out.update(tuple(seq[i:i + n]) for i in range(len(seq) - n + 1))
    return out


def copied_share(sequences: Iterable[list[int]], reference: set[tuple[int, ...]], n: int) -> float:
    grams = [tuple(s[i:i + n]) for s in sequences for i in range(len(s) - n + 1)]
    return float(np.mean([g in reference for g in grams])) if grams else float("nan")
