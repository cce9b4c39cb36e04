"""Paired images in the format of the pix2pix datasets (facades, maps, cityscapes,
edges2shoes...): ``ROOT/{train,val,test}/*.jpg|png``, each file the input A and the output B
side by side (A|B)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from workbench.errors import UserError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def read_pairs(root: Path, split: str, image_size: int, direction: str = "AtoB",
               limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) uint8 N,3,S,S from ROOT/split/ (A|B files, resized to S x S)."""
    from PIL import Image

    folder = root / split
    if not folder.is_dir():
        raise UserError(f"{folder} does not exist: a pix2pix dataset has train/, val/ and/or test/ "
                        "folders of images with the input A and the target B side by side (A|B).")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)[:limit]
    if not files:
        raise UserError(f"{folder} holds no images ({', '.join(SUFFIXES)}); each should show the "
                        "input A and the target B side by side (A|B).")
    a_list, b_list = [], []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w < 2:
                raise UserError(f"{f} is {w}x{h}: too narrow to hold an A|B pair.")
            half = w // 2
            for side, out in ((im.crop((0, 0, half, h)), a_list), (im.crop((half, 0, 2 * half, h)), b_list)):
                if side.size != (image_size, image_size):
                    side = side.resize((image_size, image_size), Image.Resampling.BICUBIC)
                out.append(np.asarray(side, np.uint8).transpose(2, 0, 1))
    a = torch.from_numpy(np.stack(a_list))
    b = torch.from_numpy(np.stack(b_list))
    return (a, b) if direction == "AtoB" else (b, a)


def held_out_split(root: Path) -> str:
    """val/ when it exists (facades has it), else test/."""
    for split in ("val", "test"):
        if (root / split).is_dir():
            return split
    raise UserError(f"{root} has neither val/ nor test/: pix2pix evaluates on a held-out split.")
