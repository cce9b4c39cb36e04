"""Content and style images that work offline: scikit-image's CC0 pictures, images drawn here,
and any file the user names. Light (Pillow and NumPy, no torch): the config checks every named
image with :func:`check_image` before a run directory exists.

An image is named by a string: a built-in name (``astronaut``, ``brick``, ``waves`` ...; see
:data:`BUILTIN`) or a path to a file (anything with a ``/`` or an image suffix). Every image
comes back as uint8 H,W,3: grey is repeated into RGB, alpha is composited on white, palettes
are expanded, and the result is centre-cropped to a square and resized to the size asked for.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from workbench.errors import UserError

# scikit-image's bundled pictures (CC0 / public domain; see skimage.data's docs). The textures
# are grey: the style they give is one of texture, not colour.
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
TEXTURES = ("brick", "grass", "gravel")
DRAWN = ("waves", "mosaic", "strokes")
BUILTIN = PHOTOS + TEXTURES + DRAWN
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def is_file_name(name: str) -> bool:
    return "/" in name or "\\" in name or name.lower().endswith(SUFFIXES) or name.startswith("~")


def describe_choices() -> str:
    return (f"a file (a path with '/' or an image suffix), or a built-in image: photos "
            f"{', '.join(PHOTOS)}; textures {', '.join(TEXTURES)}; drawn {', '.join(DRAWN)}")


def _open_file(name: str, key: str):  # -> PIL.Image.Image, fully decoded
    from PIL import Image, UnidentifiedImageError

    path = Path(name).expanduser()
    if not path.is_file():
        raise UserError(f"{key}={name}: no such file. Give {describe_choices()}.")
    if path.stat().st_size == 0:
        raise UserError(f"{key}={name} is an empty file; give an image file (PNG, JPEG, ...).")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its pixel limit and twice it; refuse all of it alike
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.load()  # decode now: a truncated file fails here, not in the middle of a run
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{key}={name} is refused as a decompression bomb ({e}); images up to "
                        f"{Image.MAX_IMAGE_PIXELS:,} pixels are read (Pillow's limit).") from None
    except UnidentifiedImageError:
        raise UserError(f"{key}={name} is not an image Pillow can read; give a PNG, JPEG, BMP, "
                        "GIF, TIFF or WebP file.") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise UserError(f"{key}={name} could not be decoded ({e}); the file is truncated or "
                        "damaged. Give a complete image file.") from None
    return image


def to_rgb(image) -> np.ndarray:  # PIL.Image.Image -> uint8 H,W,3
    """Any Pillow mode -> RGB: grey repeated, palettes expanded, alpha composited on white."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def check_image(name: str, key: str) -> None:
    """Raise UserError (exit 2) if ``name`` is neither a built-in image nor a readable file."""
    if is_file_name(name):
        _open_file(name, key)
    elif name not in BUILTIN:
        from workbench.errors import nearest

        raise UserError(f"{key}={name!r} is not a known image.{nearest(name, BUILTIN)} "
                        f"Give {describe_choices()}.")


def load_image(name: str, size: int, key: str = "image") -> np.ndarray:
    """The image ``name`` as uint8 size,size,3 (centre square crop, antialiased resize)."""
    return square(read_rgb(name, key, max(size, 256)), size)


def read_rgb(name: str, key: str, drawn_size: int = 512) -> np.ndarray:
    """The image ``name`` as uint8 H,W,3 at its own size (drawn styles at ``drawn_size``)."""
    if is_file_name(name):
        return to_rgb(_open_file(name, key))
    if name in DRAWN:
        return draw(name, drawn_size)
    if name in BUILTIN:
        import skimage.data

        rgb = getattr(skimage.data, name)()
        return np.repeat(rgb[..., None], 3, 2) if rgb.ndim == 2 else rgb[..., :3]
    check_image(name, key)  # raises, naming the allowed images
    raise AssertionError(name)


def square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square, then resize to size x size (Pillow's antialiased bicubic)."""
    from PIL import Image

    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(np.ascontiguousarray(rgb[top:top + side, left:left + side]))
    return np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def fit(rgb: np.ndarray, max_side: int, multiple: int = 4) -> np.ndarray:
    """Keep the aspect ratio: scale so the longer side is at most ``max_side``, each side a
    multiple of ``multiple`` (what a network with two stride-2 stages needs to give back its size)."""
    from PIL import Image

    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    nh, nw = (max(multiple, int(round(s * scale / multiple)) * multiple) for s in (h, w))
    if (nh, nw) == (h, w):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.Resampling.BICUBIC), dtype=np.uint8)


def read_photo(name: str, max_side: int, key: str) -> np.ndarray:
    """A content photo at its own aspect ratio (``workbench sample --content``)."""
    return fit(read_rgb(name, key), max_side)


# --------------------------------------------------------------------------- drawn styles


def draw(name: str, size: int, seed: int = 7) -> np.ndarray:
    """Styles drawn by code, so that colourful styles exist offline: ``waves`` (interfering
    colour sine waves), ``mosaic`` (stained-glass Voronoi cells with dark leads), ``strokes``
    (thick random brush strokes on a warm ground)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    if name == "waves":
        y, x = np.mgrid[0:size, 0:size] / size
        channels = []
        for c in range(3):
            f = rng.uniform(3, 9, 2)
            phase = rng.uniform(0, 2 * np.pi, 2)
            v = np.sin(2 * np.pi * (f[0] * x + 0.5 * f[1] * y) + phase[0])
            v += np.sin(2 * np.pi * f[1] * np.hypot(x - 0.3 * c, y - 0.5) + phase[1])
            channels.append((v + 2) / 4)
        return (np.stack(channels, 2) * 255).astype(np.uint8)
    if name == "mosaic":
        points = rng.uniform(0, size, (60, 2))
        colours = rng.integers(40, 256, (60, 3))
        y, x = np.mgrid[0:size, 0:size]
        d = (x[..., None] - points[:, 0]) ** 2 + (y[..., None] - points[:, 1]) ** 2
        order = np.sort(d, 2)
        owner = d.argmin(2)
        image = colours[owner].astype(np.uint8)
        lead = np.sqrt(order[..., 1]) - np.sqrt(order[..., 0]) < size / 90
        image[lead] = 20
        return image
    if name == "strokes":
        image = Image.new("RGB", (size, size), (235, 215, 170))
        pen = ImageDraw.Draw(image)
        palette = [(200, 40, 30), (30, 70, 160), (240, 180, 20), (20, 110, 60), (30, 30, 30)]
        for _ in range(140):
            x0, y0 = rng.uniform(0, size, 2)
            angle = rng.uniform(0, np.pi)
            length = rng.uniform(0.05, 0.25) * size
            x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
            colour = palette[int(rng.integers(len(palette)))]
            pen.line([(x0, y0), (x1, y1)], fill=colour, width=int(rng.integers(3, size // 25 + 4)))
        return np.asarray(image, dtype=np.uint8)
    raise UserError(f"unknown drawn style {name!r}; allowed: {', '.join(DRAWN)}.")
