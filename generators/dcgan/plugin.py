"""DCGAN on the common loop (Radford, Metz and Chintala 2015).

One ``train_step`` is one iteration of Algorithm 1 of Goodfellow et al. (2014) with the
non-saturating generator loss: a discriminator step on a real and a generated batch, then a
generator step. Each network has its own Adam optimizer and its own gradient scaler (a scaler's
scale follows one loss; sharing one between two losses would let one network's overflow skip
the other's steps). Every ``eval_every`` steps: a grid from a fixed noise batch (comparable over
time), ``eval/fd``, the Frechet distance on digit-classifier features (workbench.generators.metrics;
digit sources only), and ``eval/d_real`` / ``eval/d_fake``, the discriminator's mean score of real
and generated images (every source).

Under torchrun both networks are DDP wrappers and every rank trains on its shard of the global
batch (indices and noise drawn alike on all ranks, ``ctx.shard``); BatchNorm normalises over the
local batch, so N processes are close to, not bit-equal to, one process (workbench/distributed.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workbench.classifiers.features import SPLIT_SEED
from workbench.data.images import ImageSet, load_images, to_float
from workbench.errors import UserError
from workbench.generators.dcgan.config import DCGANConfig
from workbench.generators.dcgan.model import Discriminator, Generator, dcgan_init
from workbench.generators.gan import GAN
from workbench.generators.gan_config import GANSampleOptions
from workbench.plugin import Context, Serving
from workbench.runtime import optimizer_step


def load_split(cfg: DCGANConfig, split: str) -> ImageSet:
    """A split of the configured image source (images uint8 N,C,S,S). The split seed is the
    digit feature network's, never the run's: every seed of a sweep trains on the same images
    and is scored against the same held-out reference, none of which the feature net saw."""
    data = load_images(cfg.data.source, split, path=cfg.data.path or None,
                       image_size=cfg.image_size, channels=cfg.channels, seed=SPLIT_SEED)
    if len(data) == 0:
        raise UserError(f"the {split} split of data.source={cfg.data.source} "
                        f"{'at ' + cfg.data.path + ' ' if cfg.data.path else ''}has no images.")
    return data


class DCGAN(GAN[DCGANConfig]):
    """Deep convolutional GAN; the networks are in generators/dcgan/model.py."""

    def __init__(self, cfg: DCGANConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        device = ctx.device
        # uint8 on the device (4x smaller than floats); each batch is converted when drawn
        self.images = load_split(cfg, "train").images.to(device)
        self.batches = torch.Generator().manual_seed(cfg.seed + 1)

        torch.manual_seed(cfg.seed)  # the networks' initial weights are a function of the seed
        self.build_pair(Generator(cfg.latent_size, cfg.channels, cfg.image_size, cfg.gen_features),
                        Discriminator(cfg.channels, cfg.image_size, cfg.disc_features),
                        dcgan_init, "dcgan", cfg.optim, cfg.batch_size)

        # the same z every evaluation, so grids are comparable over the run (and across runs)
        self.fixed_noise = torch.randn(cfg.grid_size, cfg.latent_size,
                                       generator=torch.Generator().manual_seed(cfg.seed + 2))
        self._fd: Any = None  # reference statistics, computed at the first evaluation

    # ------------------------------------------------------------------ training
    def train_step(self, step: int) -> dict[str, Any]:
        cfg, device = self.cfg, self.ctx.device
        # the global batch of indices and noise, drawn alike on every rank; each keeps its shard
        idx = torch.randint(len(self.images), (cfg.batch_size,), generator=self.batches)
        z = torch.randn(cfg.batch_size, cfg.latent_size, generator=self.batches)
        idx, z = self.ctx.shard(idx), self.ctx.shard(z).to(device)
        real = to_float(self.images[idx.to(device)])
        ones = torch.ones(len(z), device=device)
        zeros = torch.zeros(len(z), device=device)

        # discriminator: maximise log D(x) + log(1 - D(G(z)))
        with self.ctx.autocast():
            fake = self.generate(z)
            logit_real = self.discriminate(real).float()
            logit_fake = self.discriminate(fake.detach()).float()
            loss_d = (F.binary_cross_entropy_with_logits(logit_real, ones)
                      + F.binary_cross_entropy_with_logits(logit_fake, zeros))
        optimizer_step(loss_d, self.opt_d, self.scaler_d)

        # generator: maximise log D(G(z)) (the non-saturating loss of Goodfellow et al. 2014)
        with self.ctx.autocast():
            logit_gen = self.discriminate(fake).float()
            loss_g = F.binary_cross_entropy_with_logits(logit_gen, ones)
        optimizer_step(loss_g, self.opt_g, self.scaler_g)

        return {"train/loss_d": loss_d.detach(), "train/loss_g": loss_g.detach(),
                "train/d_real": torch.sigmoid(logit_real.detach()).mean(),
                "train/d_fake": torch.sigmoid(logit_fake.detach()).mean()}

    # ------------------------------------------------------------------ generation
    def generate_images(self, z: torch.Tensor, chunk: int = 500) -> torch.Tensor:
        """Images for the rows of z (GAN.run_generator: each depends on its own z only)."""
        return self.run_generator(z, chunk)

    def fd_score(self) -> float:
        from workbench.generators.metrics import DigitFD

        if self._fd is None:  # held-out real digits: never seen by the generator
            self._fd = DigitFD(to_float(load_split(self.cfg, "test").images))
        z = torch.randn(self.cfg.fd_samples, self.cfg.latent_size,
                        generator=torch.Generator().manual_seed(self.cfg.seed + 3))
        return self._fd(self.generate_images(z))

    @torch.no_grad()
    def d_scores(self, fakes: torch.Tensor) -> dict[str, float]:
        """Mean D(x) on a fixed sample of training images and on the fixed-noise fakes. For
        images no feature network knows (a folder, CIFAR) this is the score there is: how far
        the generator is from fooling the discriminator (both 0.5 at the game's equilibrium)."""
        device = self.ctx.device
        pick = torch.randint(len(self.images), (min(256, len(self.images)),),
                             generator=torch.Generator().manual_seed(self.cfg.seed + 4))
        was_training = self.D.training
        self.D.eval()  # running BatchNorm statistics: a score of each image, not of the batch
        try:
            with self.ctx.autocast():
                real = torch.sigmoid(self.D(to_float(self.images[pick.to(device)])).float())
                fake = torch.sigmoid(self.D(fakes.to(device)).float())
        finally:
            self.D.train(was_training)
        return {"eval/d_real": real.mean().item(), "eval/d_fake": fake.mean().item()}

    def evaluate(self, step: int) -> dict[str, float]:
        if not self.ctx.is_main:  # only rank 0 logs: the others skip the Frechet distance
            return {}
        fakes = self.generate_images(self.fixed_noise)
        self.ctx.logger.log_image("eval/samples", fakes, step)
        scores = {"eval/fd": self.fd_score()} if self.cfg.scores_fd else {}
        return {**scores, **self.d_scores(fakes)}

    def sample(self, out: Path | None, opts: GANSampleOptions) -> str:
        """``workbench sample RUN --n 64 [--seed S] [--out grid.png | --out DIR]``: a grid PNG
        (under the run's media/ by default); an --out without an image suffix is a folder that
        receives one PNG per image."""
        from workbench.media import save_grid_or_folder

        n, seed = opts.n, opts.seed
        if n <= 0:
            raise UserError(f"--n must be positive; got {n}.")
        z = torch.randn(n, self.cfg.latent_size, generator=torch.Generator().manual_seed(seed))
        images = self.generate_images(z)
        if out is None:
            out = self.ctx.media_dir / f"samples_seed{seed}_n{n}.png"
        if save_grid_or_folder(images, out, "sample"):
            return f"wrote a grid of {n} samples to {out}"
        return f"wrote {n} samples to {out}/"

    def export_module(self) -> tuple[nn.Module, torch.Tensor]:
        self.G.eval()
        return self.G, torch.randn(4, self.cfg.latent_size)

    def serving(self) -> Serving:
        """``workbench serve``: POST /sample, a seed in, a PNG out (generators/image_serving.py)."""
        from workbench.generators.image_serving import dcgan_serving

        return dcgan_serving(self)
