"""pix2pix networks (Isola, Zhu, Zhou and Efros 2017, "Image-to-Image Translation with
Conditional Adversarial Networks", Section 3.2 and Appendix 6.1.1).

Generator: a U-Net (encoder C64-C128-C256-C512-C512-..., decoder mirrored) whose layer i of the
decoder also sees layer n-i of the encoder through a skip connection, so low-level structure
(edges, layout) shared by input and output need not squeeze through the bottleneck. The
encoder uses LeakyReLU 0.2, the decoder ReLU; BatchNorm everywhere except the first encoder
layer and the bottleneck; dropout 0.5 in the first decoder layers is the only noise source.
Discriminator: PatchGAN, a conv net whose every output classifies one 70x70 patch as real or
fake, conditioned on the input image (concatenated along channels).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class UNetGenerator(nn.Module):
    """image (N, in, S, S) -> image (N, out, S, S) in [-1, 1], with log2(S) down/up levels so the
    bottleneck is 1x1 (U-Net-256 at S = 256; a shallower one for small images)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, image_size: int = 256,
                 features: int = 64, dropout: float = 0.5) -> None:
        super().__init__()
        levels = int(math.log2(image_size))
        if 2**levels != image_size or levels < 4:
            raise ValueError(f"image_size must be a power of two >= 16; got {image_size}")
        widths = [features * min(2**i, 8) for i in range(levels)]
        self.downs = nn.ModuleList()
        for i in range(levels):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(in_channels if i == 0 else widths[i - 1], widths[i], 4, 2, 1,
                                    bias=False if 0 < i < levels - 1 else True))
            if 0 < i < levels - 1:  # no norm on the input layer nor on the 1x1 bottleneck
                layers.append(nn.BatchNorm2d(widths[i]))
            self.downs.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList()
        for i in reversed(range(levels)):
            inner = widths[i] if i == levels - 1 else 2 * widths[i]  # 2x: the skip is concatenated
            outer = out_channels if i == 0 else widths[i - 1]
            layers = [nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=i == 0)]
            if i == 0:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.BatchNorm2d(outer))
                if dropout > 0 and levels - 4 <= i <= levels - 2:  # first 3 decoder layers after
                    layers.append(nn.Dropout(dropout))             # the bottleneck's own
            self.ups.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = skips.pop()  # the bottleneck
        for i, up in enumerate(self.ups):
            if i > 0:
                x = torch.cat([x, skips.pop()], 1)
            x = up(x)
        return x


class PatchDiscriminator(nn.Module):
    """(input, output) pair (N, in+out, S, S) -> a map of real/fake logits, one per patch.
    With 3 strided layers each logit sees a 70x70 patch (Isola et al. Section 3.2.2)."""

    def __init__(self, channels: int = 6, features: int = 64, layers: int = 3) -> None:
        super().__init__()
        net: list[nn.Module] = [nn.Conv2d(channels, features, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = features
        for n in range(1, layers + 1):
            nxt = features * min(2**n, 8)
            stride = 2 if n < layers else 1  # the last of these keeps the resolution
            net += [nn.Conv2d(width, nxt, 4, stride, 1, bias=False), nn.BatchNorm2d(nxt),
                    nn.LeakyReLU(0.2, True)]
            width = nxt
        net.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*net)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, image], 1))


def receptive_field(layers: int) -> int:
    """Side of the input patch that one PatchGAN logit sees (70 for 3 layers)."""
    # kernels 4 everywhere; strides 2 for the first `layers` convs, then 1, 1
    strides = [2] * layers + [1, 1]
    field = 1
    for s in reversed(strides):
        field = (field - 1) * s + 4
    return field


def pix2pix_init(module: nn.Module) -> None:
    """N(0, 0.02) weights, as in the paper's reference code (the DCGAN initialisation)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
