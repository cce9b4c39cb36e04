"""Neural style transfer by per-image optimisation (Gatys, Ecker and Bethge 2016, "Image style
transfer using convolutional neural networks").

The output image itself is the parameter: it starts as the content photo (or noise) and an
optimiser lowers the loss of generators/style/objective.py. One ``train_step`` is one
optimiser step; with L-BFGS (the paper's choice) that is one iteration and one evaluation of
the loss and its gradient, so ``total_steps=300`` is the PyTorch tutorial's 300 evaluations.

Where this differs from the tutorial's recipe (benchmarks/style_gatys_speed.py times the two at
the same loss: faster on some pairs, slower on a grey texture; docs/style-transfer.md):
the style Grams and content features are computed once; one feature pass serves every layer;
bf16 autocast (Grams stay float32); and no clamp inside the closure: the tutorial clamps the
image to [0, 1] at every evaluation behind L-BFGS's back, which spoils its curvature pairs (its
loss jumps up and down). Here a quadratic penalty on values outside [0, 1] (``range_weight``)
keeps the image in range smoothly, so L-BFGS's model of the loss stays valid. (Optimising the
logits of the image instead saturated the sigmoid after one long L-BFGS step on some styles.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from workbench.generators.style.config import GatysConfig
from workbench.generators.style.images import load_image
from workbench.generators.style.objective import Objective, as_batch, as_uint8, probe_scores
from workbench.media import image_grid, save_png
from workbench.plugin import Context, Plugin


class Gatys(Plugin[GatysConfig]):
    """Optimises one image to the content of ``content`` and the style of ``style``."""

    def __init__(self, cfg: GatysConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        device = ctx.device
        self.content = as_batch(load_image(cfg.content, cfg.image_size, "content")).to(device)
        self.style = as_batch(load_image(cfg.style, cfg.image_size, "style")).to(device)
        # coarse-to-fine: the first coarse_steps optimise at half size against the half-size
        # images' features, then the image is upsampled and refined at full size
        self.coarse = cfg.coarse_steps > 0
        size = cfg.image_size // 2 if self.coarse else cfg.image_size
        content, style = self.content, self.style
        if self.coarse:
            content = as_batch(load_image(cfg.content, size, "content")).to(device)
            style = as_batch(load_image(cfg.style, size, "style")).to(device)
        self.objective = Objective(cfg.features, cfg.loss, style).to(device)
        self.loss_fn = ctx.compile(self.objective, "style-objective")
        self.content_targets = self.objective.content_targets(content)

        if cfg.init == "content":
            start = content.clone()
        else:
            noise = torch.Generator().manual_seed(cfg.seed)
            start = torch.rand(content.shape, generator=noise).to(device)
        self.image = start.contiguous().requires_grad_(True)
        self.opt = self._optimizer()
        self._last: dict[str, torch.Tensor] = {}

    def _optimizer(self) -> torch.optim.Optimizer:
        if self.cfg.optimizer == "lbfgs":
            # max_iter=1: a step of the loop is one L-BFGS iteration; the optimizer keeps its
            # curvature history across calls (and in its state_dict), as one long .step() would
            return torch.optim.LBFGS([self.image], lr=self.cfg.lr, max_iter=1,
                                     history_size=self.cfg.lbfgs_history)
        return torch.optim.Adam([self.image], lr=self.cfg.lr)

    def _upsampled(self, x: torch.Tensor) -> torch.Tensor:
        side = self.cfg.image_size
        return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)

    @torch.no_grad()
    def _to_full_size(self) -> None:
        """The end of the coarse stage: upsample the image, retarget the loss to the full-size
        images, and start a new optimiser (the coarse curvature pairs are of another problem)."""
        self.objective.set_style(self.style)
        self.content_targets = self.objective.content_targets(self.content)
        self.image = self._upsampled(self.image.detach()).contiguous().requires_grad_(True)
        self.opt = self._optimizer()
        self.coarse = False

    # ------------------------------------------------------------------ optimisation
    def _closure(self) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=True)
        with self.ctx.autocast():
            loss, parts = self.loss_fn(self.image, self.content_targets)
        if self.cfg.range_weight:  # a soft box constraint: zero inside [0, 1], smooth outside
            x = self.image.float()
            loss = loss + self.cfg.range_weight * (x - x.detach().clamp(0, 1)).pow(2).mean()
        loss.backward()
        self._last = {"train/loss": loss.detach(), **{f"train/{k}": v for k, v in parts.items()}}
        return loss

    def train_step(self, step: int) -> dict[str, Any]:
        if self.coarse and step >= self.cfg.coarse_steps:
            self._to_full_size()
        if isinstance(self.opt, torch.optim.LBFGS):
            self.opt.step(self._closure)
        else:
            self._closure()
            self.opt.step()
        return self._last

    def output(self) -> torch.Tensor:
        """The current image, clamped to [0, 1], at image_size (what is shown, saved and scored;
        in the coarse stage, the half-size image upsampled)."""
        image = self.image.detach().clamp(0, 1)
        return self._upsampled(image).clamp(0, 1) if self.coarse else image

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def scores(self) -> dict[str, float]:
        """Losses of the clamped image under the optimised network and the independent probe."""
        with self.ctx.autocast():  # against the current stage's targets, at its own size
            loss, parts = self.objective(self.image.detach().clamp(0, 1), self.content_targets)
        probe = probe_scores(self.output(), self.content, self.style)
        return {"eval/loss": float(loss), **{f"eval/{k}": float(v) for k, v in parts.items()},
                **{f"eval/{k}": v for k, v in probe.items()}}

    def evaluate(self, step: int) -> dict[str, float]:
        strip = torch.cat([as_uint8(self.content), as_uint8(self.style), as_uint8(self.output())])
        self.ctx.logger.log_image("eval/content_style_output", image_grid(strip, nrow=3), step)
        return self.scores()

    def sample(self, out: Path | None, opts: Any) -> str:
        """``workbench sample RUN [--out OUT.png]``: the optimised image as a PNG."""
        out = out or self.ctx.media_dir / "stylised.png"
        save_png(as_uint8(self.output())[0], out)
        return f"wrote the stylised image ({self.cfg.image_size} px) to {out}"

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"image": self.image.detach().clone(), "opt": self.opt.state_dict(),
                "coarse": self.coarse}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.coarse and not state.get("coarse", False):  # saved after the coarse stage
            self._to_full_size()
        with torch.no_grad():  # in place: the optimizer holds this very tensor
            self.image.copy_(state["image"])
        self.opt.load_state_dict(state["opt"])
