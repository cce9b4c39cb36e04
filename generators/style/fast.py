"""Fast style transfer (Johnson, Alahi and Fei-Fei 2016, "Perceptual losses for real-time style
transfer and super-resolution"): a feed-forward network trained for one style on content
photos, with the loss of Gatys et al. (generators/style/objective.py) as its training signal;
afterwards one forward pass stylises any photo.

The network is Johnson et al.'s: a 9x9 convolution, two stride-2 down-samplings, residual
blocks, two up-samplings and a 9x9 convolution, with instance normalisation in place of batch
normalisation (Ulyanov, Vedaldi and Lempitsky 2016), which they showed is what makes the
results clean. Up-sampling is nearest-neighbour + convolution rather than a transposed
convolution, which avoids its checkerboard artefacts (Odena, Dumoulin and Olah 2016).

Training photos are random crops (random scale, random mirror) of scikit-image's CC0 photos, or
of a folder the user names (the paper used COCO); ``eval_content`` is held out and stylised at
every evaluation. The style image is only read for training and evaluation: ``workbench sample``
and ``workbench export`` need the checkpoint alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workbench.generators.style.config import FastConfig, FastSampleOptions
from workbench.generators.style.images import PHOTOS, load_image, read_photo
from workbench.generators.style.objective import Objective, as_batch, as_uint8, probe_scores
from workbench.media import image_grid, save_png
from workbench.plugin import Context, Plugin, Serving
from workbench.runtime import optimizer_step


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Reflection padding (no dark borders), convolution, instance norm."""
    return nn.Sequential(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride),
                         nn.InstanceNorm2d(c_out, affine=True))


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels, 3), nn.ReLU(), conv(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformNet(nn.Module):
    """Image (N,3,H,W in [0, 1], H and W multiples of 4) -> stylised image of the same size."""

    def __init__(self, width: int = 32, blocks: int = 5) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            conv(3, w, 9), nn.ReLU(),
            conv(w, 2 * w, 3, 2), nn.ReLU(),
            conv(2 * w, 4 * w, 3, 2), nn.ReLU(),
            *[Residual(4 * w) for _ in range(blocks)],
            nn.Upsample(scale_factor=2, mode="nearest"), conv(4 * w, 2 * w, 3), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"), conv(2 * w, w, 3), nn.ReLU(),
            nn.ReflectionPad2d(4), nn.Conv2d(w, 3, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


class FastStyle(Plugin[FastConfig]):
    """Trains a TransformNet for cfg.style; samples and exports it."""

    checkpointed = ("net", "opt", "scaler", "batches")

    def __init__(self, cfg: FastConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        torch.manual_seed(cfg.seed)
        self.net = TransformNet(cfg.width, cfg.residual_blocks).to(ctx.device)
        self.stylise = ctx.compile(self.net, "style-transform")
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.scaler = ctx.grad_scaler()
        self.batches = torch.Generator().manual_seed(cfg.seed + 1)
        self._objective: Objective | None = None
        self._photos: torch.Tensor | None = None
        self._held_out: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ data, built on first use
    def objective(self) -> Objective:
        if self._objective is None:
            style = as_batch(load_image(self.cfg.style, self.cfg.style_size, "style"))
            self._objective = Objective(self.cfg.features, self.cfg.loss, style).to(self.ctx.device)
        return self._objective

    def photos(self) -> torch.Tensor:
        """Training photos as uint8 N,3,S,S, S = 2 x image_size (crops are cut from them)."""
        if self._photos is None:
            side = 2 * self.cfg.image_size
            if self.cfg.content_folder:
                from workbench.data.images import load_images

                found = load_images("folder", "all", path=self.cfg.content_folder, image_size=side,
                                    channels=3)
                self._photos = found.images
            else:
                names = [n for n in PHOTOS if n != self.cfg.eval_content]
                self._photos = torch.stack([as_batch(load_image(n, side))[0] for n in names]
                                           ).mul(255).round().to(torch.uint8)
        return self._photos

    def crops(self) -> torch.Tensor:
        """A batch of random crops: random photo, side in [S/2, S], mirrored half the time."""
        photos, size, gen = self.photos(), self.cfg.image_size, self.batches
        out = []
        for _ in range(self.cfg.batch_size):
            photo = photos[int(torch.randint(len(photos), (1,), generator=gen))]
            side = int(torch.randint(size, 2 * size + 1, (1,), generator=gen))
            top, left = (int(torch.randint(2 * size - side + 1, (1,), generator=gen)) for _ in "tl")
            crop = photo[:, top:top + side, left:left + side].float().div(255).unsqueeze(0)
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True,
                                 align_corners=False)
            if torch.rand((), generator=gen) < 0.5:
                crop = crop.flip(-1)
            out.append(crop)
        return torch.cat(out).clamp(0, 1).to(self.ctx.device)

    # ------------------------------------------------------------------ training
    def train_step(self, step: int) -> dict[str, Any]:
        objective = self.objective()
        x = self.crops()
        with self.ctx.autocast():
            targets = objective.content_targets(x)
            loss, parts = objective(self.stylise(x), targets)
        optimizer_step(loss, self.opt, self.scaler)
        return {"train/loss": loss.detach(), **{f"train/{k}": v for k, v in parts.items()}}

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The trained network on a batch, in eval mode, float32 on the CPU."""
        was_training = self.net.training
        self.net.eval()
        try:
            with self.ctx.autocast():
                return self.net(x.to(self.ctx.device)).float().cpu()
        finally:
            self.net.train(was_training)

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(held-out content photo, style image) at the style size, as floats in [0, 1]."""
        if self._held_out is None:
            size = self.cfg.style_size
            self._held_out = (as_batch(load_image(self.cfg.eval_content, size, "eval_content")),
                              as_batch(load_image(self.cfg.style, size, "style")))
        return self._held_out

    def evaluate(self, step: int) -> dict[str, float]:
        content, style = self.held_out()
        out = self.apply(content)
        objective = self.objective()
        with torch.no_grad(), self.ctx.autocast():
            dev = self.ctx.device
            loss, parts = objective(out.to(dev), objective.content_targets(content.to(dev)))
        strip = torch.cat([as_uint8(content), as_uint8(style), as_uint8(out)])
        self.ctx.logger.log_image("eval/content_style_output", image_grid(strip, nrow=3), step)
        return {"eval/loss": float(loss), **{f"eval/{k}": float(v) for k, v in parts.items()},
                **{f"eval/{k}": v for k, v in probe_scores(out, content, style).items()}}

    def sample(self, out: Path | None, opts: FastSampleOptions) -> str:
        """``workbench sample RUN [--content PHOTO] [--size 512] [--out OUT.png]``: stylise a
        photo (a file or a built-in photo; default the held-out eval_content) in one pass."""
        name = opts.content or self.cfg.eval_content
        photo = as_batch(read_photo(name, opts.size, "--content"))
        result = as_uint8(self.apply(photo))[0]
        if out is None:
            out = self.ctx.media_dir / f"stylised_{Path(name).stem}.png"
        save_png(result, out)
        return f"wrote {name} stylised ({result.shape[2]}x{result.shape[1]} px) to {out}"

    def serving(self) -> Serving:
        """``workbench serve``: POST /stylise, a photo in, the stylised photo out (PNG)."""
        from workbench.generators.image_serving import style_serving

        return style_serving(self)

    def export_module(self) -> tuple[nn.Module, torch.Tensor]:
        self.net.eval()
        return self.net, torch.rand(1, 3, self.cfg.image_size, self.cfg.image_size)
