"""Pictures of captions: a grid of images with their captions, and the attention maps of
``workbench explain``, one panel per generated word (Xu et al. 2015's Fig. 2). Drawn with
matplotlib's object API on an Agg canvas (no pyplot state, no display needed).
"""

from __future__ import annotations

import textwrap

import numpy as np


def _render(fig) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _hwc(image: np.ndarray) -> np.ndarray:
    return image.transpose(1, 2, 0) if image.shape[0] in (1, 3) else image


def captioned_grid(images: np.ndarray, captions: list[str], refs: list[str] | None = None,
                   columns: int = 4) -> np.ndarray:
    """uint8 images (N, 3, H, W) with the generated caption under each (and a reference in
    grey, when given) -> one HWC uint8 picture."""
    from matplotlib.figure import Figure

    n = len(images)
    columns = min(columns, n)
    rows = -(-n // columns)
    fig = Figure(figsize=(2.6 * columns, 3.6 * rows), dpi=100)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for k, ax in enumerate(axes):
        if k >= n:
            ax.axis("off")
            continue
        ax.imshow(_hwc(images[k]), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        text = "\n".join(textwrap.wrap(captions[k], 26)) or "(empty)"
        ax.set_title(text, fontsize=9, loc="left")
        if refs is not None:  # as the x label, so that tight_layout makes room for it
            ax.set_xlabel("\n".join(textwrap.wrap("ref: " + refs[k], 30)), color="0.45",
                          fontsize=7.5, loc="left")
    fig.tight_layout()
    return _render(fig)


def attention_maps(images: np.ndarray, words: list[list[str]], alphas: list[np.ndarray],
                   title: str = "") -> np.ndarray:
    """One row per image: the image, then for each generated word (and <eos>) the decoder's
    attention over the feature map, upsampled and laid over the image in that panel."""
    from matplotlib.figure import Figure

    rows, columns = len(images), 1 + max(len(w) for w in words)
    fig = Figure(figsize=(1.35 * columns, 1.55 * rows + (0.3 if title else 0)), dpi=100)
    axes = np.asarray(fig.subplots(rows, columns, squeeze=False))
    for r in range(rows):
        image = _hwc(images[r])
        h, w = image.shape[:2]
        axes[r, 0].imshow(image, interpolation="nearest")
        axes[r, 0].set_title("input", fontsize=8)
        side = int(round(np.sqrt(alphas[r].shape[1])))  # the encoder's map is square
        for c in range(1, columns):
            ax = axes[r, c]
            if c - 1 < len(words[r]):
                grid = alphas[r][c - 1].reshape(side, side)
                ax.imshow(image, interpolation="nearest")
                ax.imshow(grid / max(grid.max(), 1e-8), cmap="magma", alpha=0.6,
                          extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="bilinear", vmin=0, vmax=1)
                ax.set_title(words[r][c - 1], fontsize=9)
        for ax in axes[r]:
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _render(fig)
