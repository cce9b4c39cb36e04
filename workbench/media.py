"""Media files without torchvision: image grids (einops + Pillow), GIF videos, WAV audio."""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Any

import numpy as np
from einops import rearrange

from workbench.errors import check_folder

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def as_numpy(x: Any) -> np.ndarray:
    """A tensor or array as a NumPy array: uint8 stays uint8 (0..255 pixels, not floats in
    [0, 1]); other tensors become float32 (NumPy has no bfloat16)."""
    if not hasattr(x, "detach"):
        return np.asarray(x)
    t = x.detach().cpu()
    return t.numpy() if str(t.dtype) == "torch.uint8" else t.float().numpy()


def to_uint8_image(img: Any) -> np.ndarray:
    """A tensor or array, CHW or HWC or HW, in [0,1], [-1,1] (floats) or uint8 -> HWC uint8."""
    arr = as_numpy(img)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = rearrange(arr, "c h w -> h w c")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
        if arr.min() < 0:  # tanh outputs
            arr = (arr + 1) / 2
        arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
    return arr


def image_grid(images: Any, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """A batch (B,C,H,W tensor/array, floats in [-1,1] or [0,1], or uint8) -> one HWC uint8 grid."""
    batch = as_numpy(images)
    if batch.ndim == 3:
        batch = batch[:, None]
    b = batch.shape[0]
    nrow = nrow or int(np.ceil(np.sqrt(b)))
    ncol = int(np.ceil(b / nrow))
    tiles = np.stack([to_uint8_image(x) for x in batch])  # B,H,W,C
    if tiles.shape[-1] == 1:
        tiles = np.repeat(tiles, 3, axis=-1)
    fill = nrow * ncol - b
    if fill:
        tiles = np.concatenate([tiles, np.zeros((fill, *tiles.shape[1:]), np.uint8)])
    tiles = np.pad(tiles, ((0, 0), (pad, 0), (pad, 0), (0, 0)))
    grid = rearrange(tiles, "(r c) h w ch -> (r h) (c w) ch", r=ncol, c=nrow)
    return np.pad(grid, ((0, pad), (0, pad), (0, 0)))


def save_png(image: np.ndarray, path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = to_uint8_image(image)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)
    return path


def save_grid_or_folder(images: Any, out: Path, stem: str, grid: Any = None) -> bool:
    """``workbench sample --out``: a path with an image suffix gets one grid of ``images`` (or
    ``grid``, a grid the plugin lays out its own way); any other path is a folder that gets one
    PNG per image, ``STEM_0000.png``, ... True when it wrote a grid, False for a folder."""
    if out.suffix.lower() in IMAGE_SUFFIXES:
        check_folder(out, "--out", "Name a file ending in .png (a grid) in a folder you can "
                     "write, or a folder (one PNG per image).", for_file=True)
        save_png(image_grid(images) if grid is None else grid, out)
        return True
    check_folder(out, "--out", "Name a folder (one PNG per image) or a file ending in .png "
                 "(a grid).")
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        save_png(image, out / f"{stem}_{i:04d}.png")
    return False


def png_bytes(image: Any) -> bytes:
    """An image (as ``to_uint8_image`` takes it) as the bytes of a PNG file (``workbench serve``)."""
    import io

    from PIL import Image

    arr = to_uint8_image(image)
    buffer = io.BytesIO()
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(buffer, format="PNG")
    return buffer.getvalue()


GIF_MAX_FRAMES = 1_000  # about a minute of an Atari game at 15 fps: a few hundred KB
_GIF_MAX_FPS = 50  # browsers play shorter GIF delays (< 20 ms) at 100 ms


def real_time(frames: np.ndarray, fps: float, max_frames: int = GIF_MAX_FRAMES
              ) -> tuple[np.ndarray, float]:
    """Frames recorded at ``fps`` (an Atari agent step: 60 / frame_skip) as every k-th frame
    and the rate that plays them in real time; k is the smallest that keeps at most
    ``max_frames`` frames and a rate a browser honours."""
    k = max(1, math.ceil(len(frames) / max_frames))
    while fps / k > _GIF_MAX_FPS:
        k += 1
    return frames[::k], fps / k


def gif_durations(n: int, fps: float) -> list[int]:
    """Per-frame delays in ms. GIF stores whole centiseconds, so the running time is rounded,
    not each frame: 15 fps gives 70, 60, 70, 70, 60, ... ms and a total that is exact."""
    ends = [round((i + 1) * 100 / fps) * 10 for i in range(n)]
    return [b - a for a, b in zip([0, *ends[:-1]], ends)]


def save_gif(frames: np.ndarray, path: Path, fps: float = 30) -> Path:
    """frames: T,H,W,C uint8, played at ``fps`` frames per second."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pics = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in np.asarray(frames)]
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=gif_durations(len(pics), fps),
                 loop=0)
    return path


def save_wav(samples: np.ndarray, path: Path, sample_rate: int) -> Path:
    """Mono float samples in [-1, 1] -> 16-bit PCM WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(np.asarray(samples, np.float32), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return path
