"""eval/fd means something: the Frechet distance on the shipped digit classifier's features ranks
real held-out digits far closer to real training digits than blurred digits, noise or a single
class; and the image metrics PSNR/SSIM agree with scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench.data.frechet import frechet_distance
from workbench.data.images import load_images, to_float
from workbench.generators.metrics import DigitFD, psnr, ssim


@pytest.fixture(scope="module")
def digits():
    train = load_images("mnist", "train", image_size=32, channels=1)
    test = load_images("mnist", "test", image_size=32, channels=1)
    # a random 1,000 of the training digits (the split is ordered by class)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:1000]
    return {"fd": DigitFD(to_float(test.images)), "real": to_float(train.images[pick]),
            "train": train}


def blur(images: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    k = torch.arange(-4, 5, dtype=torch.float32)
    g = torch.exp(-k**2 / (2 * sigma**2))
    g = (g / g.sum()).view(1, 1, 1, -1)
    x = F.conv2d(F.pad(images, (4, 4, 0, 0), mode="replicate"), g)
    return F.conv2d(F.pad(x, (0, 0, 4, 4), mode="replicate"), g.transpose(-1, -2))


def test_real_held_out_digits_score_far_below_blur_noise_and_one_class(digits):
    fd, real = digits["fd"], digits["real"]
    gen = torch.Generator().manual_seed(0)
    ones = digits["train"].images[digits["train"].labels == 1]
    scores = {
        "real": fd(real),
        "blurred": fd(blur(real)),
        "noisy": fd((real + 0.3 * torch.randn(real.shape, generator=gen)).clamp(-1, 1)),
        "one class": fd(to_float(ones)),
        "uniform noise": fd(torch.rand(1000, 1, 32, 32, generator=gen) * 2 - 1),
    }
    assert scores["real"] < 15, scores
    for bad in ("blurred", "noisy", "one class", "uniform noise"):
        assert scores[bad] > 4 * scores["real"], (bad, scores)
    assert scores["uniform noise"] > scores["blurred"], scores
    assert scores["one class"] > scores["blurred"], scores


def test_more_blur_scores_worse(digits):
    fd, real = digits["fd"], digits["real"]
    assert fd(real) < fd(blur(real, 0.7)) < fd(blur(real, 1.5)) < fd(blur(real, 3.0))


def test_frechet_distance_matches_the_sqrtm_formula_and_is_zero_on_itself():
    from scipy import linalg

    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    b = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8)) * 0.5 + 1.0
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    reference = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(b, a) == pytest.approx(reference, rel=1e-6)
    assert abs(frechet_distance(a, a)) < 1e-8


def test_psnr_and_ssim_agree_with_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    gen = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 48, 48, generator=gen) * 2 - 1
    output = (target + 0.2 * torch.randn(target.shape, generator=gen)).clamp(-1, 1)
    x, y = ((output + 1) / 2).numpy(), ((target + 1) / 2).numpy()
    for i in range(2):
        ref_psnr = peak_signal_noise_ratio(y[i], x[i], data_range=1.0)
        ref_ssim = structural_similarity(y[i], x[i], data_range=1.0, channel_axis=0,
                                         gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False)
        assert psnr(output, target)[i].item() == pytest.approx(ref_psnr, abs=1e-3)
        assert ssim(output, target)[i].item() == pytest.approx(ref_ssim, abs=0.02)
    assert ssim(target, target).min().item() == pytest.approx(1.0, abs=1e-5)
    assert psnr(output, target).mean() > psnr(output * 0, target).mean()
