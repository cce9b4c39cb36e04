"""What text and music language models share: the training step, the schedule, eval/loss,
checkpoints and sampling. A domain plugin (``workbench.generators.text.plugin``, ``workbench.generators.music.plugin``)
supplies the corpus and tokenizer and turns sampled token ids into text or music.

The training step is nanoGPT's: random blocks, next-token cross-entropy (nats/token), AdamW
(Loshchilov & Hutter 2019) with linear warm-up and cosine decay, gradient clipping.

Under torchrun the model is a DDP wrapper and every rank keeps its shard of the global batch of
blocks (drawn and augmented alike on all ranks), so N processes train as one process would.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from workbench.errors import CheckpointError, UserError
from workbench.generators.seq.config import SequenceConfig, SequenceSampleOptions
from workbench.generators.seq.data import TokenDataset
from workbench.generators.seq.models import build_model, param_groups
from workbench.generators.seq.sampling import generate
from workbench.plugin import Context, Plugin
from workbench.runtime import fused_optimizer_ok, optimizer_step, warmup_cosine_lr

S = TypeVar("S", bound=SequenceConfig)


class SequenceLM(Plugin[S]):
    """The shared machinery; a domain plugin subclasses ``SequenceLM[ItsConfig]``."""

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
    def __init__(self, cfg: S, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        train, val, self.vocab_size = self.load_corpus()
        self.data = TokenDataset(train, val, cfg.model.block_size, cfg.seed, ctx.device,
                                 what=type(self).__name__ + " corpus")
        self.model = build_model(cfg.model, self.vocab_size).to(ctx.device)
        # a DDP wrapper under torchrun; the bare model serves eval/loss, sampling and checkpoints
        self.forward = ctx.compile(ctx.ddp(self.model), cfg.model.arch)
        ctx.local_batch(cfg.optim.batch_size)  # a global batch that does not split fails here
        o = cfg.optim
        # fused AdamW (one kernel over all weights) on CPU and CUDA: at nanoGPT's CPU size the
        # default per-tensor for-loop AdamW cost ~5 % more per step (benchmarks/gpt_speed.py)
        self.opt = torch.optim.AdamW(param_groups(self.model, o.weight_decay), lr=o.lr,
                                     betas=(o.beta1, o.beta2),
                                     fused=fused_optimizer_ok(ctx.device))
        self.scaler = ctx.grad_scaler()
        self.tokens_per_step = o.batch_size * cfg.model.block_size
        self._val = self.data.val_batches(cfg.eval_batches, o.batch_size)
        self._last_time: float | None = None

    def lr_at(self, step: int) -> float:
        o = self.cfg.optim
        return warmup_cosine_lr(step, o.lr, o.warmup_steps, o.decay_steps or self.cfg.total_steps,
                                min_lr=o.lr * o.min_lr_ratio, schedule=o.schedule)

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
        x, y = self.data.batch(self.cfg.optim.batch_size, keep=self.ctx.shard)
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
        if not self.ctx.is_main:  # only rank 0 logs: the others skip eval/loss and the sample
            return {}
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

    def sample_options(self, opts: SequenceSampleOptions) -> dict[str, Any]:
        """The CLI's options, defaulting to the run's ``sample.*`` settings."""
        s = self.cfg.sample
        return {"tokens": s.tokens if opts.tokens is None else opts.tokens,
                "temperature": s.temperature if opts.temperature is None else opts.temperature,
                "top_k": s.top_k if opts.top_k is None else opts.top_k,
                "top_p": s.top_p if opts.top_p is None else opts.top_p,
                "seed": self.cfg.seed if opts.seed is None else opts.seed}

    # the network, its optimizer and scaler, and the batch generator; plus the vocabulary, which
    # is checked on load (not restored: it comes from the corpus)
    checkpointed = ("model", "opt", "scaler", "data")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "vocab": self.vocab_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("vocab") != self.vocab_state():
            raise CheckpointError(
                "the checkpoint was trained on a different vocabulary than the corpus loads to now "
                "(was data.path changed, or the file edited?); point data.path at the original data."
            )
        super().load_state_dict(state)
        for group in self.opt.param_groups:  # a checkpoint of the for-loop AdamW resumes fused
            group["fused"] = self.opt.defaults["fused"]
