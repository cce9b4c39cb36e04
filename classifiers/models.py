"""Image classifiers for 1- or 3-channel images of any size.

* :class:`ConvNet` -- LeNet-style (LeCun et al. 1998, "Gradient-based learning applied to document
  recognition"): two convolution + max-pool stages, then two fully connected layers; with
  BatchNorm (Ioffe & Szegedy 2015) and dropout (Srivastava et al. 2014), the modern defaults.
* :class:`ResNet` -- residual basic blocks with BatchNorm (He et al. 2016, "Deep residual learning
  for image recognition"), in the CIFAR layout of that paper: three stages of widths w, 2w, 4w.

Both end in ``features(x)`` (the penultimate layer, what the image generators' Frechet distance
compares) followed by a linear ``head``. Adaptive pooling makes them independent of the image
size, so MNIST 28x28, sklearn's 8x8 digits and 32x32 CIFAR all go through the same code.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvNet(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 hidden: int = 128, dropout: float = 0.25) -> None:
        super().__init__()
        self.config = dict(in_channels=in_channels, num_classes=num_classes, width=width,
                           hidden=hidden, dropout=dropout)

        def stage(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 5, padding=2, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]

        self.body = nn.Sequential(
            *stage(in_channels, width), *stage(width, 2 * width),
            nn.AdaptiveAvgPool2d(4),  # any input size -> 4x4, so the dense layers are fixed
            nn.Flatten(),
            nn.Linear(2 * width * 16, hidden), nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)
        self.feature_dim = hidden

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16,
                 blocks_per_stage: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.config = dict(in_channels=in_channels, num_classes=num_classes, width=width,
                           blocks_per_stage=blocks_per_stage, dropout=dropout)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        c = width
        for i, c_out in enumerate((width, 2 * width, 4 * width)):
            for j in range(blocks_per_stage):
                # downsample at the start of stages 2 and 3, as in He et al.'s CIFAR nets
                layers.append(BasicBlock(c, c_out, 2 if (i > 0 and j == 0) else 1))
                c = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c, num_classes)
        self.feature_dim = c
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for block in self.body:
            if isinstance(block, BasicBlock):  # zero-init the last BN: each block starts as identity
                nn.init.zeros_(block.bn2.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


ARCHITECTURES: dict[str, type[nn.Module]] = {"convnet": ConvNet, "resnet": ResNet}


def build_model(arch: str, **kwargs: object) -> nn.Module:
    return ARCHITECTURES[arch](**kwargs)
