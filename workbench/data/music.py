"""Music files -> measures of events: MIDI, MusicXML, kern or ABC files read with music21.

A piece is a list of measures; a measure holds one list of events per voice; an event is
``(midi pitch or None for a rest, duration in quarter notes)``. The default corpus is the Bach
chorales bundled with music21. music21 is imported inside the functions: it takes about a
second to import.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from workbench.errors import UserError

Event = tuple[int | None, float]
Measure = list[list[Event]]

MUSIC_SUFFIXES = (".mid", ".midi", ".mxl", ".xml", ".musicxml", ".krn", ".abc")
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


def music_files(path: str, limit: int = 0) -> list[Path]:
    """The music files under ``path`` (sorted; the first ``limit`` when > 0), or the Bach
    chorales of the music21 corpus when ``path`` is empty."""
    if path:
        root = Path(path).expanduser()
        if not root.exists():
            raise UserError(f"data.path={path!r} does not exist; give a folder (or file) of MIDI or "
                            f"MusicXML files ({', '.join(MUSIC_SUFFIXES)}), or leave it empty for "
                            "the Bach chorales.")
        files = sorted(f for f in root.rglob("*") if f.suffix.lower() in MUSIC_SUFFIXES) \
            if root.is_dir() else [root]
        if not files:
            raise UserError(f"data.path={path!r} has no music files ({', '.join(MUSIC_SUFFIXES)}).")
    else:
        from music21 import corpus

        # the chorales (.mxl/.xml/.krn); the folder also holds Roman-numeral analyses (.rntxt)
        files = sorted(Path(p) for p in corpus.getComposer("bach")
                       if Path(p).suffix.lower() in MUSIC_SUFFIXES)
    return files[:limit] if limit > 0 else files


def read_pieces(files: list[Path], voices: str, transpose: str
                ) -> tuple[list[list[Measure]], list[str], list[str]]:
    """Each file parsed (with a progress bar): the pieces that have the voices asked for, their
    names, and ``name: error`` for the files music21 could not read."""
    from music21 import converter

    from workbench.engine.progress import track

    pieces, names, failed = [], [], []
    desc = f"parsing {len(files)} music files with music21"
    for f in track(files, desc, unit="file"):  # a bar on a terminal, two plain lines in a pipe
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                measures = score_to_measures(converter.parse(str(f)), voices, transpose)
        except Exception as e:  # noqa: BLE001 - one unreadable file should not end the run
            failed.append(f"{f.name}: {type(e).__name__}")
            continue
        if measures:
            pieces.append(measures)
            names.append(f.stem)
    return pieces, names, failed
