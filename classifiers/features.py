"""Digit features for the image generators' Frechet distance (``eval/fd``).

    feats = digit_features(images)          # images N,1,H,W float in [-1, 1] -> N,128 float32
    fd = frechet_distance(feats_fake, feats_real)

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

import numpy as np
import torch
import torch.nn.functional as F
from workbench.classifiers.models import ConvNet

from workbench.errors import UserError

WEIGHTS = Path(__file__).resolve().parent / "weights" / "mnist_features.pt"
IMAGE_SIZE = 32  # the size the feature network was trained at; other sizes are resized to it


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
        x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
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


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (rows = samples):
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), computed in float64."""
    x = a.detach().double().cpu().numpy()
    y = b.detach().double().cpu().numpy()
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    # Tr((S_x S_y)^1/2) = sum of sqrt of the eigenvalues of S_x^1/2 S_y S_x^1/2 (symmetric PSD)
    w, v = np.linalg.eigh(s_x)
    root_x = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(root_x @ s_y @ root_x)
    tr_cross = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(s_x) + np.trace(s_y) - 2 * tr_cross)
