"""Music corpora: the Bach chorales bundled with music21, or a folder of MIDI / MusicXML files.

Each file is parsed once with music21 (about 30 s for the ~400 chorale files, with a progress
bar), encoded with :class:`MusicTokenizer` and cached as token arrays under ~/.cache/workbench
(``WORKBENCH_CACHE`` overrides the folder). Files lacking the requested voices are skipped.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
from workbench.generators.music.tokenizer import MusicTokenizer
from workbench.generators.text.corpus import cache_dir

from workbench.errors import UserError

MUSIC_SUFFIXES = (".mid", ".midi", ".mxl", ".xml", ".musicxml", ".krn", ".abc")
CACHE_VERSION = 1


def source_files(path: str, limit: int) -> list[Path]:
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


def load_pieces(path: str, voices: str, transpose: str, limit: int) -> tuple[list[np.ndarray], list[str]]:
    """Token arrays (each ``<bos> ... <eos>``) of every usable piece, and the pieces' names."""
    files = source_files(path, limit)
    key = json.dumps([CACHE_VERSION, [str(f) for f in files], voices, transpose])
    cached = cache_dir() / f"music_{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
    if cached.exists():
        data = np.load(cached)
        bounds = data["offsets"]
        tokens = data["tokens"]
        return [tokens[a:b] for a, b in zip(bounds[:-1], bounds[1:])], list(data["names"])

    from music21 import converter
    from workbench.generators.music.io import score_to_measures

    from workbench.progress import track

    tokenizer = MusicTokenizer()
    pieces, names, failed = [], [], []
    desc = f"parsing {len(files)} music files with music21 (cached afterwards)"
    for f in track(files, desc, unit="file"):  # a bar on a terminal, two plain lines in a pipe
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                measures = score_to_measures(converter.parse(str(f)), voices, transpose)
        except Exception as e:  # noqa: BLE001 - one unreadable file should not end the run
            failed.append(f"{f.name}: {type(e).__name__}")
            continue
        if measures:
            pieces.append(np.asarray(tokenizer.encode(measures), dtype=np.int16))
            names.append(f.stem)
    if not pieces:
        detail = f" ({'; '.join(failed[:3])})" if failed else ""
        raise UserError(
            f"none of the {len(files)} music files under {path or 'the music21 Bach corpus'} could be "
            f"used{detail}: each needs {'four parts (S, A, T, B)' if voices == 'satb' else 'a part'} "
            "with notes. Check data.path and data.voices."
        )
    offsets = np.cumsum([0] + [len(p) for p in pieces])
    tmp = cached.with_name(cached.stem + ".tmp.npz")
    np.savez(tmp, tokens=np.concatenate(pieces), offsets=offsets, names=np.array(names))
    tmp.replace(cached)
    return pieces, names


def split_pieces(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, seeded split of piece indices into train and val (at least one piece each)."""
    if n < 2:
        raise UserError(f"the music corpus has {n} usable piece(s); a train/val split needs at least 2.")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
