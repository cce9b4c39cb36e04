"""music21 <-> the event representation: reading chorales and writing MIDI.

music21 is imported inside the functions: it takes about a second to import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.generators.music.tokenizer import Event, Measure, MusicTokenizer

VOICE_NAMES = ("soprano", "alto", "tenor", "bass")


def choose_parts(score: Any, n_voices: int) -> list[Any] | None:
    """The soprano (and alto, tenor, bass) parts by name, else the first parts; None if missing."""
    parts = list(score.parts)
    named = []
    for voice in VOICE_NAMES[:n_voices]:
        match = [p for p in parts if (p.partName or "").strip().lower().startswith(voice)]
        named.append(match[0] if match else None)
    if all(p is not None for p in named):
        return named
    return parts[:n_voices] if len(parts) >= n_voices else None


def key_shift(score: Any) -> int:
    """Semitones that move the piece's estimated key (Krumhansl-Schmuckler) to C major / A minor."""
    k = score.analyze("key")
    target = 0 if k.mode == "major" else 9
    shift = (target - k.tonic.pitchClass) % 12
    return shift - 12 if shift > 6 else shift


def part_measures(part: Any, shift: int) -> list[list[Event]]:
    out: list[list[Event]] = []
    for measure in part.getElementsByClass("Measure"):
        events: list[Event] = []
        for el in measure.flatten().notesAndRests:
            ql = float(el.quarterLength)
            if ql <= 0:  # grace notes
                continue
            if el.isRest:
                pitch = None
            else:
                top = max(el.pitches, key=lambda p: p.midi)  # a chord in a part: keep its top
                pitch = top.midi + shift
            tie = getattr(el, "tie", None)
            if events and tie is not None and tie.type in ("stop", "continue") and events[-1][0] == pitch:
                events[-1] = (pitch, events[-1][1] + ql)  # a tie inside the bar is one longer note
            else:
                events.append((pitch, ql))
        out.append(events)
    return out


def score_to_measures(score: Any, voices: str, transpose: str) -> list[Measure] | None:
    """A parsed score -> measures of events for the soprano or all four voices (None if the
    score lacks those voices)."""
    n_voices = 4 if voices == "satb" else 1
    parts = choose_parts(score, n_voices)
    if parts is None:
        return None
    shift = key_shift(score) if transpose == "common" else 0
    per_part = [part_measures(p, shift) for p in parts]
    n_measures = min(len(m) for m in per_part)
    if n_measures == 0:
        return None
    return [[per_part[v][i] for v in range(n_voices)] for i in range(n_measures)]


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
    from music21 import note, stream, tempo

    n_voices = max((len(m) for p in pieces for m in p), default=1)
    score = stream.Score()
    parts = []
    for v in range(n_voices):
        part = stream.Part()
        part.partName = VOICE_NAMES[v] if n_voices > 1 else "melody"
        parts.append(part)
    parts[0].insert(0, tempo.MetronomeMark(number=bpm))
    for start, dur, pitch, v in timeline(pieces):
        parts[v].insert(start, note.Note(MusicTokenizer.fold_pitch(pitch), quarterLength=dur))
    for part in parts:
        score.insert(0, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.write("midi", fp=str(path))
    return path


def read_back_notes(path: Path) -> list[int]:
    """The MIDI pitches of the notes music21 finds in a written file (what a listener hears);
    a note that music21 splits at a bar line into tied notes counts once."""
    from music21 import converter

    score = converter.parse(str(path))
    onsets = [n for n in score.flatten().notes if n.tie is None or n.tie.type == "start"]
    return [p.midi for n in onsets for p in n.pitches]
