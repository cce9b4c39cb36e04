"""Feature networks for style transfer, and the Gram matrix.

A feature network maps an image batch (floats in [0, 1], N,3,H,W) to a dict of named feature
maps, computing only up to the deepest layer asked for. Four are built here:

* ``vgg19``: torchvision's ``vgg19().features`` written out layer by layer with the same module
  indices, so torchvision's state dict (``features.0.weight`` ...) loads into it unchanged. With
  ``features.weights=FILE`` it is the network of Gatys et al. (2016); without a file it is a
  randomly initialised VGG-19 (torchvision's Kaiming init), the random-weight setting that
  He, Wang and Hopcroft (2016, "A powerful generative model using random weights for the deep
  image representation") showed still carries style and content.
* ``multiscale``: one layer of random zero-mean filters applied to an image pyramid, after
  Ustyuzhaninov, Brendel, Gatys and Bethge (2017, "What does it take to generate natural
  textures?"): their single-layer multi-scale random network matches deep VGG textures; the
  pyramid gives the large receptive fields of their 3..55 px filters at a fraction of the cost.
* ``ica``: the multiscale pyramid with filters learned here instead of drawn at random:
  independent component analysis (scikit-learn's FastICA) of 7x7 colour patches of offline
  pictures the benchmarks do not score with. ICA of natural-image patches gives localised,
  oriented edge and colour-opponent filters (Olshausen and Field 1996; Bell and Sejnowski
  1997; Hyvarinen and Oja 2000), the filters a trained network's first layer learns.
* ``probe``: a fixed, hand-built Gabor filter bank on an image pyramid; no candidate is
  optimised against it, so the benchmarks score every result with it (independent of them all).

No torchvision import: its wheel does not load beside our torch (docs/style-transfer.md).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import UserError
from workbench.generators.style.config import VGG19_LAYOUT, vgg19_names

# the statistics torchvision's ImageNet weights expect their input normalised with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of N,C,H,W feature maps: G[n] = F F^T / (C H W), F the C x HW matrix of
    image n (Gatys et al. 2016, Eq. 3; normalised by the map's size as the PyTorch tutorial)."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)
    # in float32 even under bf16 autocast: a Gram sums h*w products, bf16's 8 bits would not hold it
    with torch.autocast(features.device.type, enabled=False):
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def vgg19_features() -> nn.Sequential:
    """torchvision's ``vgg19().features`` (same indices, so the same state-dict keys), with its
    weight init: Kaiming normal (fan_out, ReLU) for convs, zero biases."""
    layers: list[nn.Module] = []
    channels = 3
    for v in VGG19_LAYOUT:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(channels, int(v), kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            channels = int(v)
    return nn.Sequential(*layers)


def load_vgg19_state(features: nn.Sequential, path: str | Path) -> None:
    """Load a torchvision VGG-19 state dict (the whole model's: ``features.N.*`` keys, the
    classifier's keys ignored; or ``vgg19().features``' own: ``N.*`` keys) from ``path``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"features.weights={path} is not a file; give torchvision's VGG-19 state "
                        "dict (torch.save(torchvision.models.vgg19(weights=...).state_dict(), F)).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"features.weights={path} could not be read as a torch state dict "
                        f"({type(e).__name__}: {e}).") from None
    if not isinstance(state, dict):
        raise UserError(f"features.weights={path} holds a {type(state).__name__}, not a state dict.")
    if any(k.startswith("features.") for k in state):
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    try:
        features.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[:2]
        raise UserError(f"features.weights={path} is not a VGG-19 state dict in torchvision's "
                        f"layout: {' '.join(first)}") from None


class VGGFeatures(nn.Module):
    """VGG-19 returning the named layers' outputs; truncated after the deepest one asked for."""

    def __init__(self, layers: list[str], weights: str = "", seed: int = 0,
                 max_pool: bool = True) -> None:
        super().__init__()
        names = list(vgg19_names())
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise UserError(f"unknown VGG-19 layer(s) {', '.join(unknown)}; the layers are "
                            f"{', '.join(n for n in names if n.startswith(('conv', 'relu')))}.")
        with torch.random.fork_rng():  # the random network is a function of its seed alone
            torch.manual_seed(seed)
            features = vgg19_features()
        if weights:
            load_vgg19_state(features, weights)
        last = max(names.index(name) for name in layers)
        kept = list(features.children())[:last + 1]
        for i, module in enumerate(kept):
            if isinstance(module, nn.ReLU):
                kept[i] = nn.ReLU(inplace=False)  # a conv output asked for must survive its ReLU
            elif isinstance(module, nn.MaxPool2d) and not max_pool:
                kept[i] = nn.AvgPool2d(2, 2)  # Gatys et al.'s smoother choice for synthesis
        self.body = nn.Sequential(*kept)
        self.names = names[:last + 1]
        self.wanted = set(layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        x = (x - self.mean) / self.std
        for name, module in zip(self.names, self.body):
            x = module(x)
            if name in self.wanted:
                out[name] = x
        return out


class MultiScaleFeatures(nn.Module):
    """One layer of random filters on an image pyramid (Ustyuzhaninov et al. 2017): level k is
    the image average-pooled by 2^k, filtered by ``width`` random zero-mean ``kernel`` x
    ``kernel`` filters, then ReLU, with its 3 colour channels appended. Layers are named
    ``scale0`` (full size) ... ``scaleK``."""

    def __init__(self, layers: list[str], seed: int = 0, width: int = 128, kernel: int = 7,
                 learned: torch.Tensor | None = None) -> None:
        """``learned``: one (width, 3, kernel, kernel) bank used at every level instead of
        random ones (the ``ica`` network)."""
        super().__init__()
        levels = []
        for name in layers:
            if not (name.startswith("scale") and name[5:].isdigit() and int(name[5:]) < 8):
                raise UserError(f"unknown multiscale layer {name!r}; the layers are scale0 "
                                "(full size) to scale7 (1/128 size).")
            levels.append(int(name[5:]))
        gen = torch.Generator().manual_seed(seed)
        filters = []
        for _ in range(max(levels) + 1):  # one filter bank per level: independent statistics
            if learned is not None:
                filters.append(learned)
                continue
            w = torch.randn(width, 3, kernel, kernel, generator=gen)
            w -= w.mean((1, 2, 3), keepdim=True)  # zero-mean: blind to flat colour, as the paper
            filters.append(w * math.sqrt(2.0 / (3 * kernel * kernel)))
        self.register_buffer("filters", torch.stack(filters))
        self.wanted = sorted(set(levels))
        self.pad = filters[0].shape[-1] // 2

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        x = x * 2 - 1
        for level in range(self.wanted[-1] + 1):
            if level:
                x = F.avg_pool2d(x, 2)
            if level in self.wanted:
                # the pooled colours ride along: zero-mean filters cannot see them, and without
                # them the Grams would leave the output's palette (and range) unconstrained
                edges = F.relu(F.conv2d(x, self.filters[level].to(x.dtype), padding=self.pad))
                out[f"scale{level}"] = torch.cat([edges, x.to(edges.dtype)], 1)
        return out


# offline pictures the ica filters learn from: none of them is a content or style image that
# benchmarks/style_features.py or style_gatys_speed.py score with
ICA_IMAGES = ("rocket", "hubble_deep_field", "immunohistochemistry", "grass", "gravel", "strokes")


# the bank of seed 0, learned once and shipped (package data), so that a run starts at once and
# needs no scikit-learn: `python -m workbench.generators.style.features` writes it again
ICA_FILE = Path(__file__).with_name("ica_filters.pt")


@functools.lru_cache(maxsize=4)
def ica_filters(seed: int = 0) -> torch.Tensor:
    """The ``ica`` network's (128, 3, 7, 7) filters for ``features.seed``: seed 0 from the
    shipped file (what :func:`learn_ica_filters` gives, checked by a test), any other seed
    learned at the run's start (about 7 s; needs scikit-learn, in the ``data`` extra)."""
    if seed == 0 and ICA_FILE.is_file():
        return torch.load(ICA_FILE, map_location="cpu", weights_only=True)
    return learn_ica_filters(seed)


def learn_ica_filters(seed: int = 0, width: int = 128, kernel: int = 7,
                      patches: int = 24_000) -> torch.Tensor:
    """A (width, 3, kernel, kernel) filter bank learned by FastICA from ``patches`` random
    colour patches of :data:`ICA_IMAGES` (256 px squares, scaled to [-1, 1] as the pyramid's
    input; each patch's mean removed, so the filters are zero-mean like the random ones, and
    each filter scaled to the random filters' expected norm). A function of its arguments."""
    from sklearn.decomposition import FastICA

    from workbench.generators.style.images import read_rgb, square

    rng = np.random.default_rng(seed)
    rows = []
    per = patches // len(ICA_IMAGES)
    for name in ICA_IMAGES:
        image = square(read_rgb(name, "features"), 256).astype(np.float32) / 127.5 - 1
        windows = np.lib.stride_tricks.sliding_window_view(image, (kernel, kernel), (0, 1))
        ys = rng.integers(0, windows.shape[0], per)
        xs = rng.integers(0, windows.shape[1], per)
        rows.append(windows[ys, xs].reshape(per, -1))  # (per, 3 * kernel * kernel), channel-major
    x = np.concatenate(rows).astype(np.float64)
    x -= x.mean(1, keepdims=True)
    ica = FastICA(n_components=width, whiten="unit-variance", random_state=seed, max_iter=400,
                  tol=1e-3)
    ica.fit(x)
    w = ica.components_ - ica.components_.mean(1, keepdims=True)
    w *= math.sqrt(2.0) / np.linalg.norm(w, axis=1, keepdims=True)
    return torch.from_numpy(w.reshape(width, 3, kernel, kernel)).float()


class GaborProbe(nn.Module):
    """The independent judge: a fixed bank of Gabor filters (4 orientations x 2 phases, on luma)
    plus the three colour channels, on a 4-level pyramid; features are rectified responses.
    Nothing is optimised against it: it scores results of every feature network alike."""

    def __init__(self, levels: int = 4, size: int = 9) -> None:
        super().__init__()
        r = torch.arange(size, dtype=torch.float32) - size // 2
        yy, xx = torch.meshgrid(r, r, indexing="ij")
        bank = []
        for k in range(4):
            theta = k * math.pi / 4
            u = xx * math.cos(theta) + yy * math.sin(theta)
            envelope = torch.exp(-(xx ** 2 + yy ** 2) / (2 * (size / 4) ** 2))
            for phase in (0.0, math.pi / 2):
                g = envelope * torch.cos(2 * math.pi * u / (size / 2) + phase)
                bank.append(g - g.mean())
        self.register_buffer("bank", torch.stack(bank).unsqueeze(1))
        self.levels = levels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for level in range(self.levels):
            if level:
                x = F.avg_pool2d(x, 2)
            luma = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
            edges = F.conv2d(luma, self.bank, padding=self.bank.shape[-1] // 2)
            out[f"level{level}"] = torch.cat([F.relu(edges), F.relu(-edges), x], 1)
        return out


def build_features(net: str, layers: list[str], weights: str = "", seed: int = 0,
                   max_pool: bool = True) -> nn.Module:
    """The feature network named by config ``features.net``, computing ``layers``."""
    if net == "vgg19":
        return VGGFeatures(layers, weights=weights, seed=seed, max_pool=max_pool)
    if net == "multiscale":
        return MultiScaleFeatures(layers, seed=seed)
    if net == "ica":
        return MultiScaleFeatures(layers, seed=seed, learned=ica_filters(seed))
    raise UserError(f"unknown feature network {net!r}; allowed: vgg19, multiscale, ica.")


if __name__ == "__main__":  # python -m workbench.generators.style.features: rewrite ICA_FILE
    import os

    bank = learn_ica_filters(0)
    tmp = ICA_FILE.with_suffix(".tmp")
    torch.save(bank.contiguous(), tmp)
    os.replace(tmp, ICA_FILE)
    print(f"wrote {ICA_FILE} ({tuple(bank.shape)})")
