"""Media files without torchvision: image grids (einops + Pillow), GIF videos, WAV audio."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
from einops import rearrange


def to_uint8_image(img: Any) -> np.ndarray:
    """A tensor or array, CHW or HWC or HW, in [0,1], [-1,1] (floats) or uint8 -> HWC uint8."""
    arr = img.detach().float().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
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
    batch = images.detach().float().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
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


def save_gif(frames: np.ndarray, path: Path, fps: int = 30) -> Path:
    """frames: T,H,W,C uint8."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pics = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in np.asarray(frames)]
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=int(1000 / fps), loop=0)
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
