"""The style-transfer loss both plugins minimise (Gatys, Ecker and Bethge 2016, Eq. 7):

    L = alpha * sum_l ||F_l(x) - F_l(c)||^2 + beta * sum_l ||G(F_l(x)) - G(F_l(s))||^2 + tv * TV(x)

with F_l a feature network's layer l, G the Gram matrix, c the content, s the style. The style
Grams are computed once here; the content features are passed in (one photo for style-gatys,
each training batch for style-fast). With ``normalise`` each layer's term is divided by its
target's mean square, so the same weights suit a random or a trained network alike.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.generators.style.config import StyleFeatures, StyleLoss
from workbench.generators.style.features import build_features, gram


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels (Mahendran and Vedaldi 2015)."""
    return ((x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
            + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean())


class Objective(nn.Module):
    """The loss of an image batch (floats in [0, 1]) given a style image and content features."""

    def __init__(self, features: StyleFeatures, loss: StyleLoss, style: torch.Tensor) -> None:
        super().__init__()
        self.style_layers, self.content_layers = features.layers()
        self.net = build_features(features.net, [*self.style_layers, *self.content_layers],
                                  weights=features.weights, seed=features.seed,
                                  max_pool=features.pool == "max")
        self.weights = loss
        self.set_style(style)

    @torch.no_grad()
    def set_style(self, style: torch.Tensor) -> None:
        """The style Grams (and their scales) of ``style``: at a new size, the same network."""
        feats = self.net(style)
        targets = [gram(feats[name].float()) for name in self.style_layers]
        for i, target in enumerate(targets):  # buffers: they follow .to(device)
            self.register_buffer(f"style_gram{i}", target)
        self.style_scale = [self._scale(t) for t in targets]

    def _scale(self, target: torch.Tensor) -> float:
        return 1.0 / max(target.pow(2).mean().item(), 1e-12) if self.weights.normalise else 1.0

    def grams(self) -> list[torch.Tensor]:
        return [getattr(self, f"style_gram{i}") for i in range(len(self.style_layers))]

    @torch.no_grad()
    def content_targets(self, content: torch.Tensor) -> list[torch.Tensor]:
        feats = self.net(content)
        return [feats[name].float() for name in self.content_layers]

    def forward(self, x: torch.Tensor, content: list[torch.Tensor]
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted total, {"style": ..., "content": ..., "tv": ...} unweighted) for batch x;
        one pass through the feature network serves every style and content layer."""
        feats = self.net(x)
        style = sum(scale * F.mse_loss(gram(feats[name].float()), target.expand(len(x), -1, -1))
                    for name, target, scale in zip(self.style_layers, self.grams(), self.style_scale))
        content_loss = sum(F.mse_loss(feats[name].float(), target.expand_as(feats[name]))
                           / (target.pow(2).mean().clamp_min(1e-12) if self.weights.normalise else 1.0)
                           for name, target in zip(self.content_layers, content))
        tv = total_variation(x.float())
        w = self.weights
        total = w.content_weight * content_loss + w.style_weight * style + w.tv_weight * tv
        return total, {"style": style.detach(), "content": content_loss.detach(), "tv": tv.detach()}


def as_batch(rgb: object) -> torch.Tensor:
    """uint8 H,W,3 (NumPy) -> float 1,3,H,W in [0, 1]."""
    return torch.as_tensor(np.array(rgb)).permute(2, 0, 1).unsqueeze(0).float().div(255).contiguous()


def as_uint8(x: torch.Tensor) -> torch.Tensor:
    """float N,3,H,W in [0, 1] -> uint8 N,3,H,W on the CPU (for PNGs and W&B)."""
    return x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()


_PROBE: dict[str, nn.Module] = {}


@torch.no_grad()
def probe_scores(x: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """The judge of benchmarks and evaluations: style and content distances of the images x
    (floats in [0, 1]) under the Gabor probe (features.GaborProbe), which no loss here uses.
    style: mean over pyramid levels of ||G(x) - G(s)||^2 / ||G(s)||^2; content: the same
    relative distance of the two finest levels' responses to the content photo's."""
    from workbench.generators.style.features import GaborProbe

    key = str(x.device)
    if key not in _PROBE:
        _PROBE[key] = GaborProbe().to(x.device)
    probe = _PROBE[key]
    fx, fs, fc = probe(x.float()), probe(style.float()), probe(content.float())
    style_terms = [(gram(fx[k]) - gram(fs[k])).pow(2).mean() / gram(fs[k]).pow(2).mean() for k in fx]
    content_terms = [(fx[k] - fc[k]).pow(2).mean() / fc[k].pow(2).mean() for k in ("level0", "level1")]
    return {"probe_style": float(sum(style_terms) / len(style_terms)),
            "probe_content": float(sum(content_terms) / len(content_terms))}
