"""Digit features for the image generators' Frechet distance (``eval/fd``).

    feats = digit_features(images)          # images N,1,H,W float in [-1, 1] -> N,128 float32
    fd = frechet_distance(feats_fake, feats_real)    # workbench.data.frechet

The features are the penultimate layer of a small LeNet-style :class:`~workbench.classifiers.models.ConvNet`
trained on the 4,000-digit ``train`` split of the offline MNIST (``load_images("mnist", "train",
image_size=32)``), so a generator scored against the held-out ``val``/``test`` digits is not scored
by a network that saw them. This is the FID recipe of Heusel et al. 2017 ("GANs trained by a two
time-scale update rule converge to a local Nash equilibrium") with a digit classifier in place of
Inception, as is usual for MNIST; its numbers are comparable only with each other.

The checkpoint ``classifiers/weights/mnist_features.pt`` ships with the repo; rebuild it exactly
(seeded, fp32, 1 thread) with ``python benchmarks/classifier_features.py``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from workbench.classifiers.models import ConvNet
from workbench.data.images import rgb_to_gray
from workbench.errors import UserError

WEIGHTS = Path(__file__).resolve().parent / "weights" / "mnist_features.pt"
IMAGE_SIZE = 32  # the size the feature network was trained at; other sizes are resized to it
SPLIT_SEED = 0
"""The network was trained on ``load_images("mnist", "train", seed=SPLIT_SEED)``: a generator
scored on it takes its reference digits from the held-out splits of this same seed, whatever
the run's own seed (another split seed would put the network's training digits in the reference)."""


@lru_cache(maxsize=4)
def load_digit_classifier(path: str = str(WEIGHTS), device: str = "cpu") -> ConvNet:
    """The shipped digit classifier, in eval mode, on ``device`` (cached per path and device)."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"the digit feature network {file} is missing; rebuild it with "
                        "`python benchmarks/classifier_features.py`.")
    blob = torch.load(file, map_location="cpu", weights_only=True)
    model = ConvNet(**blob["model_config"])
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval().requires_grad_(False)


def prepare(images: torch.Tensor) -> torch.Tensor:
    """Any N,C,H,W float batch in [-1, 1] -> N,1,32,32 (RGB -> gray by luma, bilinear resize)."""
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise UserError(f"digit_features expects images N x 1 x H x W (or N x 3 x H x W); got "
                        f"shape {tuple(images.shape)}.")
    x = images.float()
    if x.shape[1] == 3:
        x = rgb_to_gray(x)
    if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False,
                          antialias=max(x.shape[-2:]) > IMAGE_SIZE)
    return x


@torch.no_grad()
def digit_features(images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Penultimate-layer features (N x 128, float32, on the images' device) of the shipped digit
    classifier. ``images``: N x 1 x H x W floats in [-1, 1] (tanh range), any H and W."""
    device = images.device
    model = load_digit_classifier(device=str(device))
    out = [model.features(prepare(chunk)).float() for chunk in images.split(batch_size)]
    if not out:
        return torch.zeros(0, model.feature_dim, device=device)
    return torch.cat(out)
