"""DCGAN networks (Radford, Metz and Chintala 2015, "Unsupervised Representation Learning with
Deep Convolutional Generative Adversarial Networks", Section 3 and Figure 1).

The paper's guidelines, each visible below: strided convolutions instead of pooling (fractional-
strided ones in the generator); BatchNorm in both networks except the generator's output and the
discriminator's input layer; no fully connected hidden layers; ReLU in the generator with a Tanh
output; LeakyReLU(0.2) in the discriminator; weights drawn from N(0, 0.02).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _levels(image_size: int) -> int:
    """Number of 2x resolution steps between 4x4 and image_size (32 -> 3, 64 -> 4)."""
    levels = int(math.log2(image_size)) - 2
    if 2 ** (levels + 2) != image_size or levels < 1:
        raise ValueError(f"image_size must be a power of two >= 8; got {image_size}")
    return levels


class Generator(nn.Module):
    """z (N, latent) -> image (N, C, S, S) in [-1, 1]: a 4x4 projection, then stride-2
    transposed convolutions that halve the width while doubling the resolution."""

    def __init__(self, latent_size: int = 100, channels: int = 1, image_size: int = 32,
                 features: int = 64) -> None:
        super().__init__()
        levels = _levels(image_size)
        width = features * 2 ** (levels - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_size, width, 4, 1, 0, bias=False),  # 1x1 -> 4x4
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(levels - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.latent_size = latent_size

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    """image (N, C, S, S) -> one real/fake logit per image (N,). The sigmoid lives in the loss
    (BCE with logits), which is numerically safe under autocast."""

    def __init__(self, channels: int = 1, image_size: int = 32, features: int = 64) -> None:
        super().__init__()
        levels = _levels(image_size)
        width = features
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, True)]  # no BatchNorm on the input layer
        for _ in range(levels - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]  # 4x4 -> 1x1
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def dcgan_init(module: nn.Module) -> None:
    """The paper's initialisation: conv weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0
    (the scale follows the PyTorch reference implementation)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
