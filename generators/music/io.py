"""The event representation -> MIDI (music21 writes it); reading is workbench.data.music.

music21 is imported inside the functions: it takes about a second to import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.data.music import VOICE_NAMES, Measure
from workbench.generators.music.tokenizer import MusicTokenizer


def timeline(pieces: list[list[Measure]], gap_quarters: float = 4.0
             ) -> list[tuple[float, float, int, int]]:
    """(start, duration, midi, voice) of every note, in quarter notes; the voices re-aligned at
    each bar line, pieces one after another with a rest between them."""
    notes: list[tuple[float, float, int, int]] = []
    t0 = 0.0
    for piece in pieces:
        for measure in piece:
            longest = 0.0
            for v, events in enumerate(measure):
                t = t0
                for pitch, dur in events:
                    if pitch is not None:
                        notes.append((t, dur, pitch, v))
                    t += dur
                longest = max(longest, t - t0)
            t0 += longest
        t0 += gap_quarters
    return notes


def write_midi(pieces: list[list[Measure]], path: Path, bpm: float) -> Path:
    """One MIDI file with a part per voice (music21 does the writing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    score(pieces, bpm).write("midi", fp=str(path))
    return path


def midi_bytes(pieces: list[list[Measure]], bpm: float) -> bytes:
    """The bytes of the MIDI file ``write_midi`` writes, without a file (``workbench serve``)."""
    from music21 import midi

    return midi.translate.music21ObjectToMidiFile(score(pieces, bpm)).writestr()


def score(pieces: list[list[Measure]], bpm: float) -> Any:
    """A music21 Score with a part per voice and the tempo."""
    from music21 import note, stream, tempo

    n_voices = max((len(m) for p in pieces for m in p), default=1)
    result = stream.Score()
    parts = []
    for v in range(n_voices):
        part = stream.Part()
        part.partName = VOICE_NAMES[v] if n_voices > 1 else "melody"
        parts.append(part)
    parts[0].insert(0, tempo.MetronomeMark(number=bpm))
    for start, dur, pitch, v in timeline(pieces):
        parts[v].insert(start, note.Note(MusicTokenizer.fold_pitch(pitch), quarterLength=dur))
    for part in parts:
        result.insert(0, part)
    return result


def read_back_notes(path: Path) -> list[int]:
    """The MIDI pitches of the notes music21 finds in a written file (what a listener hears);
    a note that music21 splits at a bar line into tied notes counts once."""
    from music21 import converter

    score = converter.parse(str(path))
    onsets = [n for n in score.flatten().notes if n.tie is None or n.tie.type == "start"]
    return [p.midi for n in onsets for p in n.pitches]
