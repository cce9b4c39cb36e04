"""The toy plugin: the whole contract in one screen. Least squares, y = x @ w + noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.plugin import Context, Plugin, Serving
from workbench.runtime import optimizer_step
from workbench.toy_config import LinRegConfig, LinRegSampleOptions


class LinearRegression(Plugin[LinRegConfig]):
    """Least squares on synthetic data: the smallest complete plugin."""

    def __init__(self, cfg: LinRegConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        # the problem is a function of the seed only; the batches come from their own generator
        problem = torch.Generator().manual_seed(cfg.seed)
        self.true_w = torch.randn(cfg.features, 1, generator=problem)
        self.eval_x = torch.randn(1024, cfg.features, generator=problem)
        self.eval_y = self.eval_x @ self.true_w
        self.batches = torch.Generator().manual_seed(cfg.seed + 1)
        self.model = nn.Linear(cfg.features, 1).to(ctx.device)
        # under torchrun: DDP averages gradients over ranks; alone: the model itself
        self.forward = ctx.compile(ctx.ddp(self.model), "linreg")
        # batch_size is the global batch: each rank draws all of it (same generator) and keeps
        # its shard (ctx.shard), so N processes compute exactly what one process computes
        ctx.local_batch(cfg.batch_size)  # a batch that does not split over the ranks fails here
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.optim.lr, momentum=cfg.optim.momentum)
        self.scaler = ctx.grad_scaler()

    def train_step(self, step: int) -> dict[str, Any]:
        cfg = self.cfg
        x = torch.randn(cfg.batch_size, cfg.features, generator=self.batches)
        y = x @ self.true_w + cfg.noise * torch.randn(cfg.batch_size, 1, generator=self.batches)
        x, y = self.ctx.shard(x).to(self.ctx.device), self.ctx.shard(y).to(self.ctx.device)
        with self.ctx.autocast():
            loss = nn.functional.mse_loss(self.forward(x).float(), y)
        if 0 <= cfg.nan_at_step <= step:
            loss = loss * float("nan")
        optimizer_step(loss, self.opt, self.scaler)
        if cfg.sleep_per_step:
            import time

            time.sleep(cfg.sleep_per_step)
        return {"train/loss": loss.detach()}

    @torch.no_grad()
    def evaluate(self, step: int) -> dict[str, float]:
        if self.cfg.sleep_per_eval:
            import time

            end = time.monotonic() + self.cfg.sleep_per_eval
            while time.monotonic() < end:  # short sleeps: Python code a signal can interrupt
                time.sleep(0.01)
        pred = self.model(self.eval_x.to(self.ctx.device)).float().cpu()
        w = self.model.weight.detach().float().cpu().T
        # a picture of learned vs true weights, so the media path is exercised too
        self.ctx.logger.log_image("eval/weights", torch.cat([w, self.true_w], 1).T.unsqueeze(0), step)
        return {"eval/mse": nn.functional.mse_loss(pred, self.eval_y).item(),
                "eval/weight_error": (w - self.true_w).norm().item()}

    # what resume restores (the base class saves each by its state_dict / generator state)
    checkpointed = ("model", "opt", "scaler", "batches")

    @torch.no_grad()
    def sample(self, out: Path | None, opts: LinRegSampleOptions) -> str:
        n, seed = opts.n, opts.seed
        x = torch.randn(n, self.cfg.features, generator=torch.Generator().manual_seed(seed))
        y = self.model(x.to(self.ctx.device)).float().cpu().squeeze(1)
        text = "\n".join(f"{v:.5f}" for v in y.tolist())
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + "\n")
            return f"wrote {n} predictions to {out}"
        return text

    def export_module(self) -> tuple[nn.Module, torch.Tensor]:
        return self.model, torch.randn(4, self.cfg.features)

    def serving(self) -> Serving:
        """``workbench serve``: POST /predict, {"x": [features floats]} in, {"y": float} out."""
        from pydantic import BaseModel, Field

        features = self.cfg.features

        class Point(BaseModel):
            x: list[float] = Field(min_length=features, max_length=features,
                                   description=f"{features} input features")

        class Prediction(BaseModel):
            y: float

        def predict(points: list[Point]) -> list[dict[str, float]]:
            x = torch.tensor([p.x for p in points], device=self.ctx.device)
            return [{"y": y} for y in self.model(x).float().squeeze(1).tolist()]

        return Serving(route="predict", summary="features in, the fitted line's value out",
                       request=Point, predict=predict, response=Prediction,
                       example={"x": [0.0] * features})
