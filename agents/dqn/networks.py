"""Q-networks: the Nature-DQN CNN (Mnih et al. 2015) and an MLP, each with an optional dueling
head (Wang et al. 2016, "Dueling Network Architectures for Deep Reinforcement Learning") and an
optional quantile head (QR-DQN: Dabney et al. 2018, "Distributional Reinforcement Learning with
Quantile Regression"). Every network's ``forward`` returns Q-values, (batch, actions); with
quantiles those are the means of the ``quantiles`` method's (batch, actions, quantiles)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from workbench.envs.config import nature_conv_side


class QHead(nn.Module):
    """Features -> Q-values; dueling splits them into V(s) + A(s, a) - mean_a A(s, a). With
    ``num_quantiles`` N > 0 each action gets N return quantiles (each of V and A predicts N)."""

    def __init__(self, in_features: int, hidden: int, num_actions: int, dueling: bool,
                 num_quantiles: int = 0) -> None:
        super().__init__()
        self.dueling = dueling
        self.num_actions, self.num_quantiles = num_actions, num_quantiles
        width = max(num_quantiles, 1)
        self.advantage = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(),
                                       nn.Linear(hidden, num_actions * width))
        if dueling:
            self.value = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(),
                                       nn.Linear(hidden, width))

    def quantiles(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, actions, num_quantiles) return quantiles (num_quantiles > 0)."""
        a = self.advantage(x).unflatten(1, (self.num_actions, self.num_quantiles))
        if not self.dueling:
            return a
        return self.value(x).unsqueeze(1) + a - a.mean(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.num_quantiles:
            return self.quantiles(x).mean(dim=2)
        a = self.advantage(x)
        if not self.dueling:
            return a
        return self.value(x) + a - a.mean(dim=1, keepdim=True)


class QNetwork(nn.Module):
    """``embed`` (observations -> features) then the head: Q-values, or with a quantile head
    their quantiles."""

    head: QHead

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(obs))

    def quantiles(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head.quantiles(self.embed(obs))


class NatureCNN(QNetwork):
    """Three conv layers and a 512-unit layer over 4 stacked 84x84 uint8 frames (any side of 36
    or more works: conv3's output shrinks with it)."""

    def __init__(self, in_channels: int, num_actions: int, dueling: bool = False,
                 frame_size: tuple[int, int] = (84, 84), num_quantiles: int = 0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        self.head = QHead(64 * self.out_side(frame_size[0]) * self.out_side(frame_size[1]), 512,
                          num_actions, dueling, num_quantiles)

    out_side = staticmethod(nature_conv_side)

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        # conv1(x / 255) == conv1 with its weight / 255: the same function (float noise apart),
        # with the scale applied to 8k weights instead of a pass over the 32x4x84x84 batch
        # (uint8 travels from the buffer to the device; the float copy is made here)
        first = self.features[0]
        x = F.conv2d(obs.float(), first.weight * (1.0 / 255.0), first.bias, stride=first.stride)
        return self.features[1:](x)


class CompactCNN(QNetwork):
    """Four 3x3 stride-2 conv layers of 32 filters, as the A3C universe-starter-agent reads 42x42
    Pong frames, and a 256-unit head: about a fifth of the Nature CNN's multiply-adds at 42x42
    against 84x84, for CPUs where the update is the bottleneck."""

    def __init__(self, in_channels: int, num_actions: int, dueling: bool = False,
                 frame_size: tuple[int, int] = (42, 42), channels: int = 32, hidden: int = 256,
                 num_quantiles: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(4):
            layers += [nn.Conv2d(c, channels, 3, stride=2, padding=1), nn.ReLU()]
            c = channels
        self.features = nn.Sequential(*layers, nn.Flatten())
        h, w = frame_size
        for _ in range(4):  # each layer: ceil(n / 2)
            h, w = (h + 1) // 2, (w + 1) // 2
        self.head = QHead(channels * h * w, hidden, num_actions, dueling, num_quantiles)

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        first = self.features[0]  # 1/255 folded into conv1's weights, as in NatureCNN
        x = F.conv2d(obs.float(), first.weight * (1.0 / 255.0), first.bias, stride=first.stride,
                     padding=first.padding)
        return self.features[1:](x)


class MLP(QNetwork):
    """For classic control: flat float observations (stacked ones are flattened)."""

    def __init__(self, in_features: int, num_actions: int, hidden: int = 128,
                 dueling: bool = False, num_quantiles: int = 0) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU())
        self.head = QHead(hidden, hidden, num_actions, dueling, num_quantiles)

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        return self.features(obs.float())
