"""nanoGPT's ``train.py`` at its README CPU configuration, re-written as a timing anchor.

Written from nanoGPT's README and the GPT-2 paper (Radford et al. 2019), not copied. It mirrors:

* **config** (README, "I only have a macbook"): ``config/train_shakespeare_char.py`` with
  ``--device=cpu --compile=False --eval_iters=20 --log_interval=1 --block_size=64
  --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000
  --dropout=0.0``: lr 1e-3, 100 warm-up iterations, cosine to min_lr 1e-4 at 2,000, AdamW
  betas (0.9, 0.99), weight decay 0.1 on matrices only, gradient clipping 1.0, eval every 250
  iterations, no bias, fp32 (its autocast context is a no-op on CPU; its fp16 GradScaler
  disables itself without CUDA; fused AdamW only on CUDA);
* **data**: the characters of the same corpus file ``gpt-shakespeare`` reads, ids = index in the
  sorted character set, first 90 % train, last 10 % val, stored as uint16 ``.bin`` files and
  read through a fresh ``np.memmap`` per batch, 12 random blocks stacked one by one;
* **model**: token + position embeddings, 4 pre-LayerNorm blocks (causal
  ``F.scaled_dot_product_attention`` on q, k, v split from one Linear, exact GELU MLP),
  final LayerNorm, an output head tied to the token embedding; N(0, 0.02) init with the
  residual projections scaled by 1 / sqrt(2 n_layer);
* **step**: lr set each iteration, forward with targets (cross-entropy over all 64 positions),
  the next batch fetched before backward, backward, clip, step, ``zero_grad(set_to_none=True)``,
  ``loss.item()`` every iteration (log_interval 1), and at every 250th iteration its
  ``estimate_loss`` (20 batches of train and of val) plus a checkpoint when val improves.

What it does not do: print its log lines, or compute the MFU estimate it prints.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CPU_CONFIG = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "batch_size": 12,
              "dropout": 0.0, "bias": False, "learning_rate": 1e-3, "max_iters": 2000,
              "lr_decay_iters": 2000, "min_lr": 1e-4, "warmup_iters": 100, "beta1": 0.9,
              "beta2": 0.99, "weight_decay": 0.1, "grad_clip": 1.0, "eval_interval": 250,
              "eval_iters": 20}


def corpus_text() -> str:
    """The text ``gpt-shakespeare`` trains on (its default data.path)."""
    try:
        from workbench.data.text import load_text
    except ImportError:  # checkouts before the data layer
        from workbench.generators.text.corpus import load_text

    return load_text("")


def prepare_data(text: str, out_dir: Path) -> dict[str, Any]:
    """nanoGPT's shakespeare_char preparation: sorted characters, 90/10 split, uint16 files."""
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    n = len(text)
    for name, part in (("train", text[: int(n * 0.9)]), ("val", text[int(n * 0.9):])):
        np.array([stoi[c] for c in part], dtype=np.uint16).tofile(out_dir / f"{name}.bin")
    return {"vocab_size": len(chars), "chars": "".join(chars)}


class LayerNorm(nn.Module):
    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class SelfAttention(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
        self.resid_dropout = nn.Dropout(c["dropout"])
        self.n_head, self.n_embd, self.dropout = c["n_head"], c["n_embd"], c["dropout"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        self.ln_1, self.attn = LayerNorm(c["n_embd"], c["bias"]), SelfAttention(c)
        self.ln_2, self.mlp = LayerNorm(c["n_embd"], c["bias"]), MLP(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c: dict[str, Any], vocab_size: int) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, c["n_embd"]), wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            drop=nn.Dropout(c["dropout"]), h=nn.ModuleList(Block(c) for _ in range(c["n_layer"])),
            ln_f=LayerNorm(c["n_embd"], c["bias"])))
        self.lm_head = nn.Linear(c["n_embd"], vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c["n_layer"]))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(0, idx.size(1), dtype=torch.long)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss


class NanoGPT:
    """nanoGPT's training loop, advanced ``chunk_iters`` iterations per ``chunk()``."""

    def __init__(self, chunk_iters: int = 50, evals: bool = True, seed: int = 1337,
                 overrides: dict[str, Any] | None = None) -> None:
        self.c = {**CPU_CONFIG, **(overrides or {})}
        self.tmp = tempfile.TemporaryDirectory(prefix="nanogpt-anchor-")
        self.dir = Path(self.tmp.name)
        meta = prepare_data(corpus_text(), self.dir)
        self.chars = meta["chars"]
        torch.manual_seed(seed)
        self.model = GPT(self.c, meta["vocab_size"])
        self.optimizer = self._configure_optimizers()
        self.chunk_iters, self.evals = chunk_iters, evals
        self.iter_num, self.best_val_loss, self.train_s, self.train_cpu_s = 0, 1e9, 0.0, 0.0
        self.X, self.Y = self.get_batch("train")

    def _configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": self.c["weight_decay"]},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.c["learning_rate"],
                                 betas=(self.c["beta1"], self.c["beta2"]))

    def get_batch(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        data = np.memmap(self.dir / f"{split}.bin", dtype=np.uint16, mode="r")
        bs, blk = self.c["batch_size"], self.c["block_size"]
        ix = torch.randint(len(data) - blk, (bs,))
        x = torch.stack([torch.from_numpy(data[i:i + blk].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + blk].astype(np.int64)) for i in ix])
        return x, y

    def get_lr(self, it: int) -> float:
        c = self.c
        if it < c["warmup_iters"]:
            return c["learning_rate"] * (it + 1) / (c["warmup_iters"] + 1)
        if it > c["lr_decay_iters"]:
            return c["min_lr"]
        ratio = (it - c["warmup_iters"]) / (c["lr_decay_iters"] - c["warmup_iters"])
        return c["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (c["learning_rate"] - c["min_lr"])

    @torch.no_grad()
    def estimate_loss(self) -> dict[str, float]:
        out = {}
        self.model.eval()
        for split in ("train", "val"):
            losses = torch.zeros(self.c["eval_iters"])
            for k in range(self.c["eval_iters"]):
                X, Y = self.get_batch(split)
                losses[k] = self.model(X, Y)[1].item()
            out[split] = float(losses.mean())
        self.model.train()
        return out

    def _iteration(self) -> None:
        lr = self.get_lr(self.iter_num)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.evals and self.iter_num % self.c["eval_interval"] == 0:
            losses = self.estimate_loss()
            if losses["val"] < self.best_val_loss:
                self.best_val_loss = losses["val"]
                if self.iter_num > 0:
                    torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                                "iter_num": self.iter_num, "best_val_loss": self.best_val_loss},
                               self.dir / "ckpt.pt")
        _, loss = self.model(self.X, self.Y)
        self.X, self.Y = self.get_batch("train")  # fetched while nanoGPT's GPU would be busy
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.c["grad_clip"])
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss.item()  # log_interval = 1
        self.iter_num += 1

    def prepare(self) -> dict[str, Any]:
        return {"chars": self.chars}

    def chunk(self) -> dict[str, float]:
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(self.chunk_iters):
            self._iteration()
        dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
        self.train_s += dt
        self.train_cpu_s += dcpu
        tokens = self.chunk_iters * self.c["batch_size"] * self.c["block_size"]
        return {"tokens_per_s": tokens / dt, "tokens_per_cpu_s": tokens / dcpu,
                "iter": self.iter_num, "train_s": self.train_s, "train_cpu_s": self.train_cpu_s}

    @torch.no_grad()
    def loss_on(self, blocks: np.ndarray) -> float:
        """Mean cross-entropy (nats/char) on fixed ``(n, block + 1)`` val blocks (not timed)."""
        self.model.eval()
        data = torch.from_numpy(blocks.astype(np.int64))
        losses = [float(self.model(b[:, :-1].contiguous(), b[:, 1:].contiguous())[1])
                  for b in data.split(self.c["batch_size"])]
        self.model.train()
        return float(np.mean(losses))

    def close(self) -> None:
        self.tmp.cleanup()
