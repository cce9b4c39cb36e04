"""The music corpus as token arrays: pieces read by workbench.data.music (the Bach chorales
bundled with music21, or a folder of MIDI / MusicXML files), encoded with
:class:`MusicTokenizer` and cached (workbench.data.cache). Parsing the ~400 chorale files takes
about 30 s, once. Files lacking the requested voices are skipped.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from workbench.data.cache import cached_arrays
from workbench.data.music import music_files, read_pieces
from workbench.errors import UserError
from workbench.generators.music.tokenizer import MusicTokenizer

CACHE_VERSION = 1


def load_pieces(path: str, voices: str, transpose: str, limit: int) -> tuple[list[np.ndarray], list[str]]:
    """Token arrays (each ``<bos> ... <eos>``) of every usable piece, and the pieces' names."""
    files = music_files(path, limit)
    key = json.dumps([CACHE_VERSION, [str(f) for f in files], voices, transpose])

    def encode() -> dict[str, np.ndarray]:
        pieces, names, failed = read_pieces(files, voices, transpose)
        if not pieces:
            detail = f" ({'; '.join(failed[:3])})" if failed else ""
            raise UserError(
                f"none of the {len(files)} music files under {path or 'the music21 Bach corpus'} "
                f"could be used{detail}: each needs "
                f"{'four parts (S, A, T, B)' if voices == 'satb' else 'a part'} with notes. "
                "Check data.path and data.voices."
            )
        tokenizer = MusicTokenizer()
        tokens = [np.asarray(tokenizer.encode(p), dtype=np.int16) for p in pieces]
        return {"tokens": np.concatenate(tokens), "offsets": np.cumsum([0] + [len(t) for t in tokens]),
                "names": np.array(names)}

    data = cached_arrays(f"music_{hashlib.sha1(key.encode()).hexdigest()[:16]}", encode)
    bounds, tokens = data["offsets"], data["tokens"]
    return [tokens[a:b] for a, b in zip(bounds[:-1], bounds[1:])], [str(n) for n in data["names"]]


def split_pieces(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, seeded split of piece indices into train and val (at least one piece each)."""
    if n < 2:
        raise UserError(f"the music corpus has {n} usable piece(s); a train/val split needs at least 2.")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
