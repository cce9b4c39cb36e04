"""pix2pix on the common loop (Isola, Zhu, Zhou and Efros 2017).

Objective (their Eq. 4): G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G), lambda = 100, where
the discriminator sees (input, output) pairs. As in the paper, D's loss is halved (it slows D
relative to G), G uses the non-saturating loss, and each network has its own Adam optimizer and
gradient scaler. Every ``eval_every`` steps: L1, PSNR and SSIM of output vs target on the held-out
split, next to the copy-the-input baseline, and a grid of input | output | target rows.

Under torchrun G and D are DDP wrappers; every rank draws and jitters the global batch alike and
trains on its shard (``ctx.shard``); BatchNorm normalises over the local batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workbench.data.images import to_float
from workbench.data.pairs import held_out_split, read_pairs
from workbench.errors import UserError
from workbench.generators.gan import GAN
from workbench.generators.metrics import psnr, ssim
from workbench.generators.pix2pix.config import Pix2PixConfig, Pix2PixSampleOptions
from workbench.generators.pix2pix.data import dataset_root, jitter
from workbench.generators.pix2pix.model import PatchDiscriminator, UNetGenerator, pix2pix_init
from workbench.media import image_grid, save_grid_or_folder
from workbench.plugin import Context, Serving
from workbench.runtime import optimizer_step


class Pix2Pix(GAN[Pix2PixConfig]):
    """Paired image-to-image translation: U-Net generator, PatchGAN discriminator."""

    def __init__(self, cfg: Pix2PixConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        device = ctx.device
        self.root = dataset_root(cfg.data.source, cfg.data.path, cfg.image_size, cfg.data.pairs)
        # uint8 on the device; batches become floats in [-1, 1] when drawn
        a, b = read_pairs(self.root, "train", cfg.image_size, cfg.direction)
        self.train_a, self.train_b = a.to(device), b.to(device)
        self.eval_split = held_out_split(self.root)
        self._held_out: tuple[torch.Tensor, torch.Tensor] | None = None
        self.batches = torch.Generator().manual_seed(cfg.seed + 1)

        torch.manual_seed(cfg.seed)
        channels_in, channels_out = a.shape[1], b.shape[1]
        self.build_pair(UNetGenerator(channels_in, channels_out, cfg.image_size, cfg.gen_features,
                                      cfg.dropout),
                        PatchDiscriminator(channels_in + channels_out, cfg.disc_features,
                                           cfg.disc_layers),
                        pix2pix_init, "pix2pix", cfg.optim, cfg.batch_size)

    # ------------------------------------------------------------------ training
    def train_step(self, step: int) -> dict[str, Any]:
        cfg = self.cfg
        idx = torch.randint(len(self.train_a), (cfg.batch_size,), generator=self.batches)
        idx = idx.to(self.ctx.device)
        real_a, real_b = to_float(self.train_a[idx]), to_float(self.train_b[idx])
        if cfg.jitter:
            real_a, real_b = jitter(real_a, real_b, self.batches)
        # every rank draws (and jitters) the global batch alike and trains on its own shard of it:
        # the augmentation is cheap next to the U-Net, and the generator stays in step on all ranks
        real_a, real_b = self.ctx.shard(real_a), self.ctx.shard(real_b)

        # discriminator: real pairs (A, B) -> 1, generated pairs (A, G(A)) -> 0; loss halved
        with self.ctx.autocast():
            fake_b = self.generate(real_a)
            logit_real = self.discriminate(real_a, real_b).float()
            logit_fake = self.discriminate(real_a, fake_b.detach()).float()
            loss_d = 0.5 * (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
                            + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
        optimizer_step(loss_d, self.opt_d, self.scaler_d)

        # generator: fool D on every patch, and stay close to the target in L1
        with self.ctx.autocast():
            logit_gen = self.discriminate(real_a, fake_b).float()
            loss_gan = F.binary_cross_entropy_with_logits(logit_gen, torch.ones_like(logit_gen))
            loss_l1 = F.l1_loss(fake_b.float(), real_b)
            loss_g = loss_gan + cfg.l1_weight * loss_l1
        optimizer_step(loss_g, self.opt_g, self.scaler_g)
        return {"train/loss_d": loss_d.detach(), "train/loss_g": loss_g.detach(),
                "train/loss_g_gan": loss_gan.detach(), "train/l1": loss_l1.detach()}

    # ------------------------------------------------------------------ evaluation
    def held_out(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first eval_images pairs of val/ (or test/) as floats in [-1, 1] on the CPU."""
        if self._held_out is None:
            a, b = read_pairs(self.root, self.eval_split, self.cfg.image_size, self.cfg.direction,
                              limit=self.cfg.eval_images)
            self._held_out = to_float(a), to_float(b)
        return self._held_out

    def translate(self, images: torch.Tensor, chunk: int = 32) -> torch.Tensor:
        """G(images) in inference mode (GAN.run_generator), so scores are deterministic."""
        return self.run_generator(images, chunk)

    def comparison_grid(self, a: torch.Tensor, out: torch.Tensor, b: torch.Tensor) -> Any:
        """Rows of input | output | target (an HWC uint8 array)."""
        if a.shape[1] != b.shape[1]:  # gray <-> colour: show everything in RGB
            a, out, b = (t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t for t in (a, out, b))
        return image_grid(torch.stack([a, out, b], 1).flatten(0, 1), nrow=3)

    def evaluate(self, step: int) -> dict[str, float]:
        if not self.ctx.is_main:  # only rank 0 logs: the others skip the held-out scores
            return {}
        a, b = self.held_out()
        out = self.translate(a)
        rows = self.cfg.grid_rows
        self.ctx.logger.log_image("eval/translations", self.comparison_grid(a[:rows], out[:rows], b[:rows]), step)
        metrics = {"eval/l1": F.l1_loss(out, b).item(), "eval/psnr": psnr(out, b).mean().item(),
                   "eval/ssim": ssim(out, b).mean().item()}
        if a.shape == b.shape:  # the trivial baseline: output = input
            metrics["eval/psnr_copy_input"] = psnr(a, b).mean().item()
            metrics["eval/ssim_copy_input"] = ssim(a, b).mean().item()
        # a stronger trivial baseline: every output is the mean training target (one flat colour)
        mean = to_float(self.train_b).mean((0, 2, 3), keepdim=True).cpu().expand_as(b)
        metrics["eval/psnr_mean_target"] = psnr(mean, b).mean().item()
        return metrics

    def sample(self, out: Path | None, opts: Pix2PixSampleOptions) -> str:
        """``workbench sample RUN [--n 8] [--seed S] [--out grid.png | --out DIR]``: translate n
        held-out inputs picked by seed; a grid of input | output | target rows, or (--out
        without an image suffix) a folder of single outputs."""
        n, seed = opts.n, opts.seed
        a, b = self.held_out()
        if n <= 0:
            raise UserError(f"--n must be positive; got {n}.")
        pick = torch.randperm(len(a), generator=torch.Generator().manual_seed(seed))[:n]
        a, b = a[pick], b[pick]
        result = self.translate(a)
        if out is None:
            out = self.ctx.media_dir / f"translations_seed{seed}_n{len(a)}.png"
        if save_grid_or_folder(result, out, "translation", self.comparison_grid(a, result, b)):
            return f"wrote input | output | target rows for {len(a)} held-out pairs to {out}"
        return f"wrote {len(a)} translations to {out}/"

    def export_module(self) -> tuple[nn.Module, torch.Tensor]:
        self.G.eval()
        a, _ = self.held_out()
        return self.G, a[:2].clone()

    def serving(self) -> Serving:
        """``workbench serve``: POST /translate, an image in, a PNG out (generators/image_serving.py)."""
        from workbench.generators.image_serving import pix2pix_serving

        return pix2pix_serving(self)
