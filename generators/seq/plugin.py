"""What text and music language models share: the training step, the schedule, eval/loss,
checkpoints and sampling. A domain plugin (``workbench.generators.text.plugin``, ``workbench.generators.music.plugin``)
supplies the corpus and tokenizer and turns sampled token ids into text or music.

The training step is nanoGPT's: random blocks, next-token cross-entropy (nats/token), AdamW
(Loshchilov & Hutter 2019) with linear warm-up and cosine decay, gradient clipping.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from workbench.generators.seq.config import SequenceConfig
from workbench.generators.seq.data import TokenDataset
from workbench.generators.seq.models import build_model, param_groups
from workbench.generators.seq.sampling import generate

from workbench.errors import CheckpointError, UserError
from workbench.plugin import Context, Plugin
from workbench.runtime import fused_optimizer_ok, optimizer_step


class SequenceLM(Plugin):
    kind = "generator"

    # ------------------------------------------------------------------ for the domain plugins
    def load_corpus(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(train ids, val ids, vocabulary size); also sets up the tokenizer."""
        raise NotImplementedError

    def vocab_state(self) -> Any:
        """What identifies the vocabulary in a checkpoint (compared on load)."""
        return None

    def log_sample(self, ids: list[int], step: int) -> dict[str, float]:
        """Write the evaluation sample to media/; return metrics about it."""
        return {}

    def eval_prompt(self) -> list[int]:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared machinery
    def __init__(self, cfg: SequenceConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        train, val, self.vocab_size = self.load_corpus()
        self.data = TokenDataset(train, val, cfg.model.block_size, cfg.seed, ctx.device,
                                 what=type(self).__name__ + " corpus")
        self.model = build_model(cfg.model, self.vocab_size).to(ctx.device)
        self.forward = ctx.compile(self.model, cfg.model.arch)
        o = cfg.optim
        # fused AdamW (one kernel over all weights) on CPU and CUDA: on a CPU at nanoGPT's size
        # the foreach implementation's chain of small ops cost ~5 % of a step
        self.opt = torch.optim.AdamW(param_groups(self.model, o.weight_decay), lr=o.lr,
                                     betas=(o.beta1, o.beta2),
                                     fused=fused_optimizer_ok(ctx.device))
        self.scaler = ctx.grad_scaler()
        self.tokens_per_step = o.batch_size * cfg.model.block_size
        self._val = self.data.val_batches(cfg.eval_batches, o.batch_size)
        self._last_time: float | None = None

    def lr_at(self, step: int) -> float:
        o = self.cfg.optim
        total = o.decay_steps or self.cfg.total_steps
        if step < o.warmup_steps:
            return o.lr * (step + 1) / o.warmup_steps
        if o.schedule == "constant":
            return o.lr
        progress = min(1.0, (step - o.warmup_steps) / max(1, total - o.warmup_steps))
        min_lr = o.lr * o.min_lr_ratio
        return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (o.lr - min_lr)

    def loss(self, x: torch.Tensor, y: torch.Tensor, forward: Any = None) -> torch.Tensor:
        with self.ctx.autocast():
            logits, _ = (forward or self.forward)(x)
        # cross-entropy in fp32: bf16 log-softmax over the vocabulary loses ~0.01 nats
        return F.cross_entropy(logits.float().flatten(0, 1), y.flatten())

    def train_step(self, step: int) -> dict[str, Any]:
        start = self._last_time if self._last_time is not None else time.perf_counter()
        lr = self.lr_at(step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        x, y = self.data.batch(self.cfg.optim.batch_size)
        loss = self.loss(x, y)
        optimizer_step(loss, self.opt, self.scaler, self.model.parameters(),
                       self.cfg.optim.max_grad_norm)
        self._last_time = time.perf_counter()
        return {"train/loss": loss.detach(), "train/lr": lr,
                "perf/tokens_per_s": self.tokens_per_step / max(self._last_time - start, 1e-9)}

    @torch.no_grad()
    def val_loss(self) -> float:
        self.model.eval()
        total = sum(float(self.loss(x, y, self.model)) for x, y in self._val)
        self.model.train()
        return total / len(self._val)

    def evaluate(self, step: int) -> dict[str, float]:
        metrics = {"eval/loss": self.val_loss()}
        s = self.cfg.sample
        ids = self.generate(self.eval_prompt(), s.tokens, s.temperature, s.top_k, s.top_p,
                            seed=self.cfg.seed + step)
        metrics.update(self.log_sample(ids, step))
        self._last_time = None  # evaluation time is not training throughput
        return metrics

    def generate(self, prompt: list[int], tokens: int, temperature: float, top_k: int,
                 top_p: float, seed: int, stop_token: int | None = None) -> list[int]:
        if tokens <= 0 or temperature < 0 or top_k < 0 or not 0 < top_p <= 1:
            raise UserError(
                f"sampling needs tokens > 0, temperature >= 0, top_k >= 0 and 0 < top_p <= 1; "
                f"got tokens={tokens}, temperature={temperature}, top_k={top_k}, top_p={top_p}."
            )
        with self.ctx.autocast():
            return generate(self.model, prompt, tokens, temperature=temperature, top_k=top_k,
                            top_p=top_p, seed=seed, stop_token=stop_token, device=self.ctx.device)

    def sample_options(self, tokens: int | None, temperature: float | None, top_k: int | None,
                       top_p: float | None, seed: int | None) -> dict[str, Any]:
        """The CLI's options, defaulting to the run's ``sample.*`` settings."""
        s = self.cfg.sample
        return {"tokens": s.tokens if tokens is None else tokens,
                "temperature": s.temperature if temperature is None else temperature,
                "top_k": s.top_k if top_k is None else top_k,
                "top_p": s.top_p if top_p is None else top_p,
                "seed": self.cfg.seed if seed is None else seed}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "scaler": self.scaler.state_dict(), "data": self.data.state_dict(),
                "vocab": self.vocab_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("vocab") != self.vocab_state():
            raise CheckpointError(
                "the checkpoint was trained on a different vocabulary than the corpus loads to now "
                "(was data.path changed, or the file edited?); point data.path at the original data."
            )
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        for group in self.opt.param_groups:  # a checkpoint of the foreach AdamW resumes fused
            group["fused"] = self.opt.defaults["fused"]
        self.scaler.load_state_dict(state["scaler"])
        self.data.load_state_dict(state["data"])
