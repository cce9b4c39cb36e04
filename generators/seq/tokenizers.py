"""Character-level tokenizer: one id per distinct character of the corpus (as char-rnn, nanoGPT).

The vocabulary is the sorted set of characters, so it is a pure function of the corpus and is
saved in the checkpoint as a string; a prompt with characters outside it is a clear error.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import UserError


class CharTokenizer:
    def __init__(self, chars: str) -> None:
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            raise UserError(
                f"the text contains characters the model never saw: {''.join(unknown)!r}. "
                f"Allowed are the {self.vocab_size} characters of its corpus: {self.chars!r}."
            )
        # a lookup table over code points beats a Python loop on millions of characters
        table = np.full(max(map(ord, self.chars)) + 1, -1, dtype=np.int64)
        table[[ord(c) for c in self.chars]] = np.arange(self.vocab_size)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        return table[codes].astype(np.int16 if self.vocab_size < 2**15 else np.int32)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)
