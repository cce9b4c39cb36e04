"""``workbench explain`` for image classifiers: which pixels raised the model's log-probability
of its answer.

Two pictures: a grid of test images (the most confidently wrong ones first, then correct ones),
each beside its attribution overlay and labelled with the predicted and the true class; and one
mean attribution map per class, over correctly classified test images of that class. The
baseline is a black image (what "no ink" is for digits; Sundararajan et al. 2017 use black too).

A sanity check in the spirit of Adebayo et al. 2018 ("Sanity checks for saliency maps"): on
digits, the share of positive attribution that falls on ink pixels must be well above the ink's
share of the image, and clearly above a random-weight network's. ``ink_share`` measures it;
tests/test_explain_classifier.py holds the check. Occlusion (the default) passes it; with a
black baseline, integrated gradients puts attributions only where the input differs from black,
i.e. on ink, for a random network too, so on its own it cannot tell a trained net from chance.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from workbench.classifiers.config import ClassifierExplainOptions
from workbench.data.images import to_float
from workbench.explain import SIGNED, Output, attribute, figure_array, overlay, pyplot, scale

if TYPE_CHECKING:
    from workbench.classifiers.classifier import ImageClassifier

COLUMNS = 4  # image/overlay pairs per row of the grid


def attributions(model: torch.nn.Module, images: torch.Tensor, target: torch.Tensor,
                 opts: ClassifierExplainOptions, device: torch.device) -> torch.Tensor:
    """Attributions (N, C, H, W) of log p(target | image) to the pixels of uint8 ``images``."""
    model.eval()
    x = to_float(images.to(device))
    c, h, _ = x.shape[1:]
    k = opts.window or max(2, round(h / 4.5))  # 16 px -> 4, 28 -> 6, 32 -> 7
    return attribute(lambda z: model(z).float().log_softmax(1), x, opts.method,
                     target=target.to(device), baseline=-1.0, steps=opts.steps,
                     window=(c, k, k), stride=(c, max(1, k // 2), max(1, k // 2))).cpu()


def ink_share(attr: torch.Tensor, images: torch.Tensor) -> float:
    """Mean over images of the share of positive attribution that falls on bright (ink) pixels
    (brighter than mid-gray, channels averaged)."""
    positive = attr.clamp(min=0).sum(1)
    ink = (images.float().mean(1) > 127.5).float()
    return float(((positive * ink).sum((1, 2)) / positive.sum((1, 2)).clamp(min=1e-12)).mean())


def pick(pred: torch.Tensor, labels: torch.Tensor, confidence: torch.Tensor, n: int,
         seed: int) -> tuple[torch.Tensor, int]:
    """(indices, how many are wrong): up to n // 2 most confidently wrong, then correct ones drawn
    with ``seed`` (all wrong ones if there are too few correct)."""
    wrong = torch.nonzero(pred != labels).squeeze(1)
    wrong = wrong[confidence[wrong].argsort(descending=True)]
    right = torch.nonzero(pred == labels).squeeze(1)
    right = right[torch.randperm(len(right), generator=torch.Generator().manual_seed(seed))]
    n_wrong = min(len(wrong), max(n // 2, n - len(right)))
    chosen = torch.cat([wrong[:n_wrong], right[: n - n_wrong]])
    return chosen, n_wrong


def _rgb(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) uint8 -> (N, H, W, 3) uint8."""
    arr = images.permute(0, 2, 3, 1).numpy()
    return np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr


def grid_picture(images: torch.Tensor, attr: torch.Tensor, labels: list[str], preds: list[str],
                 confidence: list[float], signed: bool, title: str) -> np.ndarray:
    """Rows of (image | overlay) pairs, each titled true / predicted (confidence)."""
    plt = pyplot()
    n = len(images)
    rows = (n + COLUMNS - 1) // COLUMNS
    fig, axes = plt.subplots(rows, 2 * COLUMNS, figsize=(2 * COLUMNS * 1.25, rows * 1.45 + 0.5),
                             dpi=100, squeeze=False)
    rgb = _rgb(images)
    maps = scale(attr.sum(1).numpy(), signed, axis=(1, 2))
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        a_img, a_map = axes[i // COLUMNS, 2 * (i % COLUMNS)], axes[i // COLUMNS, 2 * (i % COLUMNS) + 1]
        a_img.imshow(rgb[i], interpolation="nearest")
        a_map.imshow(overlay(rgb[i], maps[i], signed), interpolation="nearest")
        ok = labels[i] == preds[i]
        a_img.set_title(f"true {labels[i][:10]}", fontsize=8)
        a_map.set_title(f"pred {preds[i][:10]} {100 * confidence[i]:.0f}%", fontsize=8,
                        color="black" if ok else "red")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return figure_array(fig)


def class_means_picture(mean_images: np.ndarray, mean_attr: np.ndarray, classes: list[str],
                        counts: list[int], signed: bool, title: str) -> np.ndarray:
    """One panel per class: its mean attribution over its mean image, each on its own scale
    (where each class looks, not how strongly)."""
    plt = pyplot()
    k = len(classes)
    cols = min(k, 10)
    rows = (k + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5 + 0.4), dpi=100,
                             squeeze=False)
    maps = scale(mean_attr, signed, axis=(1, 2))
    for ax in axes.flat:
        ax.axis("off")
    for c in range(k):
        ax = axes[c // cols, c % cols]
        ax.imshow(overlay(mean_images[c], maps[c], signed), interpolation="nearest")
        ax.set_title(f"{classes[c][:10]} (n={counts[c]})", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return figure_array(fig)


def explain(plugin: ImageClassifier, step: int, out: Path | None,
            opts: ClassifierExplainOptions) -> str:
    """The grid and the class means for the run's test split; returns the report."""
    logits, labels, images = plugin.predict(plugin.test_set)
    if len(labels) == 0:
        from workbench.errors import UserError

        raise UserError("explain: the run's test split is empty; nothing to explain.")
    probs = logits.softmax(1)
    confidence, pred = probs.max(1)
    classes, device, signed = plugin.classes, plugin.ctx.device, opts.method in SIGNED
    output = Output(plugin.ctx.logger, out, step)

    chosen, n_wrong = pick(pred, labels, confidence, opts.n, opts.seed)
    attr = attributions(plugin.model, images[chosen], pred[chosen], opts, device)
    what = f"{opts.method}, log p(predicted class), black baseline"
    output.image(f"{opts.method}_grid", grid_picture(
        images[chosen], attr, [classes[i] for i in labels[chosen]],
        [classes[i] for i in pred[chosen]], confidence[chosen].tolist(), signed,
        f"{what}; " + (f"{n_wrong} most confidently wrong, then correct" if n_wrong
                       else "no test image was wrong; correct ones") + f" (step {step:,})"))
    lines = [f"explained {len(chosen)} test images ({n_wrong} wrong) with {what}"]
    if images.shape[1] == 1:  # gray images: bright pixels are the strokes
        ink = float((images[chosen].float() > 127.5).float().mean())
        lines.append(f"positive attribution on bright (ink) pixels: "
                     f"{100 * ink_share(attr, images[chosen]):.1f}% (they are {100 * ink:.1f}% "
                     f"of the pixels)")

    if opts.per_class:
        lines.append(_class_means(plugin, images, labels, pred, opts, output, step, what))
    return output.report(lines)


def _class_means(plugin: ImageClassifier, images: torch.Tensor, labels: torch.Tensor,
                 pred: torch.Tensor, opts: ClassifierExplainOptions, output: Output, step: int,
                 what: str) -> str:
    k = len(plugin.classes)
    idx = [torch.nonzero((labels == c) & (pred == c)).squeeze(1)[: opts.per_class] for c in range(k)]
    flat = torch.cat(idx)
    attr = attributions(plugin.model, images[flat], labels[flat], opts, plugin.ctx.device).sum(1)
    rgb = _rgb(images[flat]).astype(np.float32)
    h, w = images.shape[-2:]
    mean_attr, mean_img, start = np.zeros((k, h, w), np.float32), np.zeros((k, h, w, 3), np.uint8), 0
    for c, ids in enumerate(idx):
        if len(ids):
            mean_attr[c] = attr[start:start + len(ids)].mean(0).numpy()
            mean_img[c] = rgb[start:start + len(ids)].mean(0).astype(np.uint8)
        start += len(ids)
    counts = [len(ids) for ids in idx]
    output.image(f"{opts.method}_class_means", class_means_picture(
        mean_img, mean_attr, plugin.classes, counts, opts.method in SIGNED,
        f"mean attribution per class over correct test images ({what.replace('predicted ', '')}; "
        f"step {step:,})"))
    return f"class means over {len(flat)} correctly classified test images ({min(counts)}-{max(counts)} per class)"

