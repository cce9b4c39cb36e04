"""What the image GANs (DCGAN, pix2pix) share: a generator G and a discriminator D, each
initialised, wrapped for DDP and ``torch.compile``, with its own Adam and its own grad scaler
(a scaler's scale follows one loss; sharing one would let one network's overflow skip the
other's steps); and the names a checkpoint restores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from workbench.config import RunConfig
from workbench.plugin import Plugin

C = TypeVar("C", bound=RunConfig)


class GAN(Plugin[C]):
    # both networks, both optimizers, both grad scalers, and the batch order (self.batches)
    checkpointed = ("G", "D", "opt_g", "opt_d", "scaler_g", "scaler_d", "batches")

    def build_pair(self, G: nn.Module, D: nn.Module, init: Callable[[nn.Module], None],
                   name: str, optim: Any, batch_size: int) -> None:
        """``self.G`` / ``self.D`` (bare: evaluation, sampling, export, checkpoints) and
        ``self.generate`` / ``self.discriminate`` (DDP-wrapped under torchrun, compiled when
        ``compile=true``: training); Adam with ``optim.lr`` and ``(optim.beta1, optim.beta2)``."""
        ctx = self.ctx
        self.G, self.D = G.to(ctx.device), D.to(ctx.device)
        self.G.apply(init)
        self.D.apply(init)
        self.generate = ctx.compile(ctx.ddp(self.G), f"{name}-generator")
        self.discriminate = ctx.compile(ctx.ddp(self.D), f"{name}-discriminator")
        ctx.local_batch(batch_size)  # a global batch that does not split over ranks fails here
        betas = (optim.beta1, optim.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=optim.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=optim.lr, betas=betas)
        self.scaler_g = ctx.grad_scaler()
        self.scaler_d = ctx.grad_scaler()

    @torch.no_grad()
    def run_generator(self, inputs: torch.Tensor, chunk: int) -> torch.Tensor:
        """G(inputs), ``chunk`` rows at a time, float32 on the CPU in [-1, 1]; in inference mode
        (BatchNorm running statistics, no dropout), so an output depends on its own input only,
        not on the batch, and scores are deterministic."""
        was_training = self.G.training
        self.G.eval()
        try:
            out = []
            for part in inputs.split(chunk):
                with self.ctx.autocast():
                    out.append(self.G(part.to(self.ctx.device)).float().clamp(-1, 1).cpu())
            return torch.cat(out)
        finally:
            self.G.train(was_training)
