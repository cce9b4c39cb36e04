"""Token data for language models: a fixed train / val split and random contiguous blocks.

Training batches are ``batch_size`` blocks of ``block_size + 1`` tokens taken at random offsets
(nanoGPT's ``get_batch``), drawn from the plugin's own seeded generator so a resumed run sees
the same batches. Validation uses a fixed set of blocks, so eval/loss moves only with the model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from workbench.errors import UserError


class TokenDataset:
    def __init__(self, train: np.ndarray, val: np.ndarray, block_size: int, seed: int,
                 device: torch.device, what: str = "corpus") -> None:
        for name, part in (("train", train), ("val", val)):
            if len(part) < block_size + 2:
                raise UserError(
                    f"the {name} split of the {what} has {len(part):,} tokens, fewer than "
                    f"model.block_size + 2 = {block_size + 2}. Use more data, a smaller "
                    "model.block_size, or a different data.val_fraction."
                )
        self.train = torch.from_numpy(np.ascontiguousarray(train).astype(np.int64))
        self.val = torch.from_numpy(np.ascontiguousarray(val).astype(np.int64))
        self.block_size = block_size
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        # an optional augmentation of training blocks (music: random transposition)
        self.augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None

    def _blocks(self, data: torch.Tensor, starts: torch.Tensor,
                transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                keep: Callable[[torch.Tensor], torch.Tensor] | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        offsets = torch.arange(self.block_size + 1)
        chunk = data[starts[:, None] + offsets]  # one gather instead of a Python loop
        if transform is not None:
            chunk = transform(chunk, self.generator)
        if keep is not None:
            chunk = keep(chunk)
        x, y = chunk[:, :-1], chunk[:, 1:]
        if self.device.type == "cuda":
            return (x.pin_memory().to(self.device, non_blocking=True),
                    y.pin_memory().to(self.device, non_blocking=True))
        return x.to(self.device), y.to(self.device)

    def batch(self, batch_size: int, keep: Callable[[torch.Tensor], torch.Tensor] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` random blocks; ``keep`` (``ctx.shard`` under torchrun) picks this
        rank's rows after the global batch was drawn and augmented alike on every rank."""
        high = len(self.train) - self.block_size - 1
        starts = torch.randint(0, high + 1, (batch_size,), generator=self.generator)
        return self._blocks(self.train, starts, self.augment, keep)

    def val_batches(self, n_batches: int, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``n_batches`` fixed validation batches (the same at every call: a seeded draw)."""
        g = torch.Generator().manual_seed(1234)
        high = len(self.val) - self.block_size - 1
        starts = torch.randint(0, high + 1, (n_batches, batch_size), generator=g)
        return [self._blocks(self.val, s) for s in starts]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
