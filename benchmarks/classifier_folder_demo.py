"""Write an offline dataset as an ImageFolder tree of PNGs, to try `classifier-folder` on real data.

    python benchmarks/classifier_folder_demo.py /tmp/digits-folder            # sklearn 8x8 digits
    python benchmarks/classifier_folder_demo.py /tmp/mnist-folder --source mnist
    workbench run classifier-folder data.path=/tmp/digits-folder data.image_size=32

Each class becomes a subfolder (0/ ... 9/) of PNG files, exactly what a user's own folder looks
like; the folder source then re-splits it (80 / 10 / 10, seeded) as it would any folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.data.images import load_images  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--source", default="digits", choices=("digits", "mnist"))
    args = p.parse_args()
    data = load_images(args.source, "all")
    for i, (image, label) in enumerate(zip(data.images, data.labels.tolist())):
        folder = args.out / data.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy()).save(folder / f"{i:05d}.png")
    print(f"wrote {len(data):,} PNGs in {len(data.classes)} class folders under {args.out}")


if __name__ == "__main__":
    main()
