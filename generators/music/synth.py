"""A small additive synthesizer: notes -> a mono float waveform, numpy only (no sound font).

Each note is a fundamental plus two softer harmonics with a short attack and an exponential
decay, a plain organ-like timbre that makes chorales recognisable in W&B's audio player.
"""

from __future__ import annotations

import numpy as np

HARMONICS = ((1, 1.0), (2, 0.35), (3, 0.15))


def render(notes: list[tuple[float, float, int, int]], bpm: float = 100.0,
           sample_rate: int = 22_050) -> np.ndarray:
    """``notes``: (start, duration, midi, voice) in quarter notes -> samples in [-1, 1]."""
    if not notes:
        return np.zeros(sample_rate // 10, np.float32)
    seconds_per_quarter = 60.0 / bpm
    end = max(s + d for s, d, _, _ in notes) * seconds_per_quarter + 0.5
    out = np.zeros(int(end * sample_rate) + 1, np.float32)
    for start, dur, midi, _ in notes:
        n = int(dur * seconds_per_quarter * sample_rate)
        if n <= 0:
            continue
        t = np.arange(n, dtype=np.float32) / sample_rate
        freq = 440.0 * 2.0 ** ((midi - 69) / 12)
        wave = sum(a * np.sin(2 * np.pi * h * freq * t) for h, a in HARMONICS if h * freq < sample_rate / 2)
        attack = np.minimum(1.0, t / 0.01)  # 10 ms: no click at the onset
        release = np.minimum(1.0, (n - 1 - np.arange(n)) / (0.02 * sample_rate) + 1e-3)
        envelope = attack * release * np.exp(-1.5 * t)
        i = int(start * seconds_per_quarter * sample_rate)
        out[i:i + n] += (wave * envelope).astype(np.float32)[: len(out) - i]
    peak = float(np.abs(out).max())
    return out / peak * 0.9 if peak > 0 else out
