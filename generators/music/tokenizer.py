"""An event vocabulary for chorales: pitch, duration, rest, bar, voice and piece markers.

A piece is a list of measures; a measure holds one list of events per voice; an event is
``(midi pitch or None for a rest, duration in quarter notes)``. Tokens, in order::

    <bos>  bar [S] p67 d1 p69 d0.5 rest d0.5 ... [A] p60 d2 ...  bar ...  <eos>

A note is two tokens (pitch, duration), a rest is ``rest`` + duration. With one voice (the
soprano line) there are no voice markers. With four voices (``satb``) every measure lists the
soprano, alto, tenor and bass events of that measure after their marker ``S A T B``: measure-
interleaved, so the model sees the harmony of a bar within a few dozen tokens, and decoding
re-aligns the voices at every bar line. The vocabulary is fixed (not learned from data), so a
checkpoint fits any corpus. Durations off the grid (triplets) snap to the nearest grid value;
notes tied across a bar line become two notes.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.data.music import Measure

VOICES = ("S", "A", "T", "B")
SPECIAL = ("<bos>", "<eos>", "bar", "rest", *VOICES)
LOWEST, HIGHEST = 24, 96  # C1..C7: the chorales span about E2..A5
DURATIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0)


class MusicTokenizer:
    def __init__(self) -> None:
        self.tokens: list[str] = [*SPECIAL]
        self.tokens += [f"p{m}" for m in range(LOWEST, HIGHEST + 1)]
        self.tokens += [f"d{d:g}" for d in DURATIONS]
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.bos, self.eos = self.index["<bos>"], self.index["<eos>"]
        self.bar, self.rest = self.index["bar"], self.index["rest"]
        self.first_pitch = self.index[f"p{LOWEST}"]
        self.last_pitch = self.index[f"p{HIGHEST}"]
        self.first_duration = self.index[f"d{DURATIONS[0]:g}"]
        self.voice_ids = [self.index[v] for v in VOICES]

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @staticmethod
    def snap_duration(quarter_length: float) -> float:
        return min(DURATIONS, key=lambda d: abs(d - quarter_length))

    @staticmethod
    def fold_pitch(midi: int) -> int:
        """Move a pitch by octaves into the vocabulary's range."""
        while midi < LOWEST:
            midi += 12
        while midi > HIGHEST:
            midi -= 12
        return midi

    def pitch_id(self, midi: int) -> int:
        return self.first_pitch + self.fold_pitch(midi) - LOWEST

    def is_pitch(self, token: int) -> bool:
        return self.first_pitch <= token <= self.last_pitch

    def is_duration(self, token: int) -> bool:
        return token >= self.first_duration

    def encode(self, measures: Sequence[Measure]) -> list[int]:
        multi = any(len(m) > 1 for m in measures)
        ids = [self.bos]
        for measure in measures:
            ids.append(self.bar)
            for v, events in enumerate(measure):
                if multi:
                    ids.append(self.voice_ids[v])
                for pitch, dur in events:
                    ids.append(self.rest if pitch is None else self.pitch_id(pitch))
                    ids.append(self.index[f"d{self.snap_duration(dur):g}"])
        ids.append(self.eos)
        return ids

    def decode(self, ids: Sequence[int]) -> list[list[Measure]]:
        """Token ids -> pieces (split at <bos>/<eos>) -> measures -> voices -> events.

        Lenient, since a model can break the grammar: a pitch or rest without a duration lasts
        a quarter, a stray duration is dropped, a voice marker outside S A T B order is kept.
        """
        pieces: list[list[Measure]] = []
        measures: list[Measure] = []
        voice = 0
        pending: int | None | str = "none"  # pitch (or None = rest) waiting for its duration

        def close_event(dur: float) -> None:
            nonlocal pending
            if pending != "none":
                if not measures:
                    measures.append([[]])
                while len(measures[-1]) <= voice:
                    measures[-1].append([])
                measures[-1][voice].append((pending, dur))  # type: ignore[arg-type]
            pending = "none"

        def close_piece() -> None:
            nonlocal measures
            close_event(1.0)
            if any(any(v for v in m) for m in measures):
                pieces.append([m for m in measures if any(m)])
            measures = []

        for t in map(int, ids):
            if t in (self.bos, self.eos):
                close_piece()
                voice = 0
            elif t == self.bar:
                close_event(1.0)
                measures.append([[]])
                voice = 0
            elif t in self.voice_ids:
                close_event(1.0)
                voice = self.voice_ids.index(t)
            elif self.is_pitch(t) or t == self.rest:
                close_event(1.0)
                pending = None if t == self.rest else LOWEST + t - self.first_pitch
            elif self.is_duration(t):
                close_event(DURATIONS[t - self.first_duration])
        close_piece()
        return pieces

    def to_text(self, ids: Sequence[int]) -> str:
        return " ".join(self.tokens[int(i)] for i in ids)

    def from_text(self, text: str) -> list[int]:
        """``"bar p67 d1 p69 d0.5"`` -> ids (the CLI's --prompt for music)."""
        from workbench.errors import UserError

        words = text.split()
        unknown = [w for w in words if w not in self.index]
        if unknown:
            raise UserError(
                f"the music prompt has unknown tokens {unknown[:5]}; write space-separated tokens "
                f"such as 'bar p67 d1 rest d0.5': pitches p{LOWEST}..p{HIGHEST} (MIDI numbers), "
                f"durations {', '.join(f'd{d:g}' for d in DURATIONS)} (quarter notes), "
                "and rest, bar, S, A, T, B."
            )
        return [self.index[w] for w in words]


def pitches(piece: list[Measure], voice: int | None = None) -> list[int]:
    """The MIDI pitches of a piece in time order per voice (all voices, or just one)."""
    out: list[int] = []
    n_voices = max((len(m) for m in piece), default=0)
    for v in range(n_voices) if voice is None else [voice]:
        for m in piece:
            if v < len(m):
                out.extend(p for p, _ in m[v] if p is not None)
    return out
