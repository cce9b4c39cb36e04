"""Image-generation metrics that work offline.

* :class:`DigitFD` and :func:`digit_fd` - the Frechet distance (workbench.data.frechet; Heusel
  et al. 2017) on digit features. FID is this distance on Inception-v3 pool features; Inception
  weights cannot be downloaded here, so these use the penultimate features of the digit
  classifier that this repo trains and ships (``workbench.classifiers.features``). Its values
  are only comparable with other ``digit_fd`` values, never with published FIDs.
* :func:`psnr` and :func:`ssim` (Wang et al. 2004, "Image Quality Assessment: From Error
  Visibility to Structural Similarity") for paired image translation (pix2pix).

Images are float tensors N,C,H,W in [-1, 1] (the generators' tanh range) unless said otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workbench.data.frechet import frechet_distance, frechet_distance_from_stats, gaussian_stats


def digit_features(images: torch.Tensor) -> torch.Tensor:
    """Penultimate features of the repo's trained digit classifier (images N,1,H,W in [-1, 1])."""
    from workbench.classifiers.features import digit_features as features

    return torch.as_tensor(features(images.detach().float().cpu()))


class DigitFD:
    """``eval/fd`` for digit generators: Frechet distance on digit-classifier features between
    generated images and a fixed reference set (held-out real digits); the reference statistics
    are computed once."""

    def __init__(self, reference_images: torch.Tensor) -> None:
        self.mu, self.cov = gaussian_stats(digit_features(reference_images))
        self.n_reference = len(reference_images)

    def __call__(self, images: torch.Tensor) -> float:
        return frechet_distance_from_stats(*gaussian_stats(digit_features(images)), self.mu, self.cov)


def digit_fd(images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Frechet distance between two sets of digit images on digit-classifier features."""
    return frechet_distance(digit_features(images_a), digit_features(images_b))


# --------------------------------------------------------------------------- paired metrics


def _unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], in float32."""
    return ((x.detach().float() + 1) / 2).clamp(0, 1)


def psnr(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (N,), on the [0, 1] scale (peak 1)."""
    mse = (_unit(output) - _unit(target)).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(output: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity per image (N,), mean over channels and valid window positions.

    Wang et al. 2004 settings: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
    dynamic range 1 (images mapped to [0, 1]). Matches
    ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)`` up to border handling.
    """
    x, y = _unit(output), _unit(target)
    c = x.shape[1]
    window = min(window, x.shape[-1], x.shape[-2])
    w = _gaussian_window(window, sigma, c, x.device)
    c1, c2 = 0.01**2, 0.03**2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)
