"""Batched image augmentations on tensors (any device; no torchvision, no per-image Python).

Random affine warps (rotation, scale, translation: the "elastic-lite" distortions of Simard et
al. 2003 for digits) and horizontal flips (the standard CIFAR augmentation of He et al. 2016),
drawn from an explicit ``torch.Generator`` so that a resumed run draws the same ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, gen: torch.Generator, *, rotate_deg: float = 0.0, scale: float = 0.0,
            shift: float = 0.0, hflip: bool = False) -> torch.Tensor:
    """x: float N,C,H,W in [-1, 1]. rotate_deg: max |angle|; scale: max relative zoom in or out;
    shift: max translation as a fraction of the image size; hflip: flip half the images."""
    n = x.shape[0]
    if hflip:
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip.to(x.device).view(n, 1, 1, 1), x.flip(-1), x)
    if not (rotate_deg or scale or shift):
        return x
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(rotate_deg)
    zoom = 1 + (torch.rand(n, generator=gen) * 2 - 1) * scale
    # grid coordinates run over [-1, 1], so a shift of fraction f of the image is 2f
    move = (torch.rand(n, 2, generator=gen) * 2 - 1) * 2 * shift
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, move[:, 0]], 1),
                         torch.stack([sin, cos, move[:, 1]], 1)], 1).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # pad with the background value (-1 = black), not zeros (= mid gray in [-1, 1])
    out = F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out - 1
