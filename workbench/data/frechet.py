"""The Frechet distance between two feature sets: the formula of FID (Heusel et al. 2017, "GANs
Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"), the distance
between two Gaussians fitted to the features. What the features are is the caller's choice
(workbench.generators.metrics scores digits on the shipped digit classifier's features).
"""

from __future__ import annotations

import numpy as np
import torch


def gaussian_stats(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of an N x D feature matrix."""
    x = features.detach().double().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"features must be N x D with N >= 2; got shape {x.shape}")
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance_from_stats(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)).

    Tr((C1 C2)^(1/2)) equals the sum of the square roots of the eigenvalues of the symmetric PSD
    matrix C1^(1/2) C2 C1^(1/2); computing it that way needs only ``eigh`` (no complex sqrtm and
    no imaginary parts to discard, unlike the scipy.linalg.sqrtm route of the reference code).
    """
    w, v = np.linalg.eigh(cov1)
    sqrt1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = sqrt1 @ cov2 @ sqrt1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * tr_covmean)


def frechet_distance(features_a: np.ndarray | torch.Tensor, features_b: np.ndarray | torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two N x D feature sets."""
    return frechet_distance_from_stats(*gaussian_stats(features_a), *gaussian_stats(features_b))
