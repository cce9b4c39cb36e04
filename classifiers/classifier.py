"""Image classification with a LeNet-style ConvNet or a ResNet (see classifiers/models.py).

One step = one minibatch of AdamW (Loshchilov & Hutter 2019) on cross-entropy, with linear
warm-up and cosine decay (Loshchilov & Hutter 2017). The whole dataset lives on the device as
uint8 (MNIST-sized sets are a few MB), so a step is an index, a cast and the augmentations:
no DataLoader workers. ``evaluate`` scores the ``val`` split; ``finish`` scores the ``test``
split once and logs a confusion matrix and the most confidently wrong test images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.classifiers.augment import augment
from workbench.classifiers.config import ClassifierConfig, ClassifierExplainOptions
from workbench.classifiers.models import build_model
from workbench.data.images import ImageSet, load_images, to_float
from workbench.errors import UserError
from workbench.plugin import Context, Plugin, Serving
from workbench.runtime import optimizer_step, warmup_cosine_lr


def _check_data_fits(cfg: ClassifierConfig, train_set: ImageSet) -> None:
    """What the config cannot know before the data is read: classes to tell apart, and a
    batch that is not larger than the training set (it would silently be the whole set)."""
    where = train_set.description.split(";")[0]
    if len(train_set.classes) < 2:
        raise UserError(f"{where}: a classifier needs at least 2 classes (one subfolder of images "
                        f"per class); found {len(train_set.classes)}: {', '.join(train_set.classes)}.")
    if cfg.batch_size > len(train_set):
        raise UserError(f"batch_size={cfg.batch_size:,} is larger than the {len(train_set):,} "
                        f"training images of {where}; pick batch_size <= {len(train_set):,}.")


class ImageClassifier(Plugin[ClassifierConfig]):

    def __init__(self, cfg: ClassifierConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        d = cfg.data
        opts = dict(path=d.path, image_size=d.image_size or None, channels=d.channels or None,
                    seed=d.split_seed)
        self.train_set = load_images(d.source, "train", **opts)
        self.val_set = load_images(d.source, "val", **opts)
        self.test_set = load_images(d.source, "test", **opts)
        self.classes = self.train_set.classes
        _check_data_fits(cfg, self.train_set)
        if ctx.is_main:
            print(f"classifier data: {self.train_set.description.rsplit(';', 1)[0]}; train / val / "
                  f"test = {len(self.train_set):,} / {len(self.val_set):,} / {len(self.test_set):,}")
        self.x = self.train_set.images.to(ctx.device)
        self.y = self.train_set.labels.to(ctx.device)
        channels, height, width = self.train_set.shape

        kwargs: dict[str, Any] = dict(in_channels=channels, num_classes=len(self.classes),
                                      width=cfg.width, dropout=cfg.dropout)
        kwargs.update(hidden=cfg.hidden) if cfg.model == "convnet" else kwargs.update(
            blocks_per_stage=cfg.blocks_per_stage)
        self.model = build_model(cfg.model, **kwargs).to(ctx.device)
        if ctx.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.forward = ctx.compile(ctx.ddp(self.model), cfg.model)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.optim.lr,
                                     weight_decay=cfg.optim.weight_decay)
        self.scaler = ctx.grad_scaler()
        # batches and augmentations come from their own generator, saved in checkpoints, so a
        # resumed run sees the same images in the same order as an uninterrupted one
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.order = torch.randperm(len(self.y), generator=self.gen)
        self.cursor = 0
        ctx.local_batch(cfg.batch_size)  # a batch that does not split over the ranks fails here

    # ------------------------------------------------------------------ training
    def lr_at(self, step: int) -> float:
        o, total = self.cfg.optim, self.cfg.total_steps
        return warmup_cosine_lr(step, o.lr, int(o.warmup_frac * total), total, schedule=o.schedule)

    def next_batch(self) -> torch.Tensor:
        """The next ``batch_size`` indices of a reshuffled-every-epoch order (this rank's share)."""
        b = self.cfg.batch_size
        if self.cursor + b > len(self.order):
            self.order = torch.randperm(len(self.y), generator=self.gen)
            self.cursor = 0
        idx = self.order[self.cursor:self.cursor + b]
        self.cursor += b
        return self.ctx.shard(idx)

    def train_step(self, step: int) -> dict[str, Any]:
        cfg, a = self.cfg, self.cfg.augment
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        idx = self.next_batch().to(self.ctx.device)
        x = augment(to_float(self.x[idx]), self.gen, rotate_deg=a.rotate_deg, scale=a.scale,
                    shift=a.shift, hflip=a.hflip)
        y = self.y[idx]
        self.model.train()
        with self.ctx.autocast():
            logits = self.forward(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.optim.label_smoothing)
        optimizer_step(loss, self.opt, self.scaler, max_grad_norm=cfg.optim.max_grad_norm or None)
        return {"train/loss": loss.detach(),
                "train/accuracy": (logits.detach().argmax(1) == y).float().mean()}

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def predict(self, data: ImageSet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits float32 N x K, labels, images uint8) for up to ``eval_images`` of ``data``."""
        n = len(data) if not self.cfg.eval_images else min(len(data), self.cfg.eval_images)
        images, labels = data.images[:n], data.labels[:n]
        self.model.eval()
        out = []
        for chunk in images.split(self.cfg.eval_batch_size):
            with self.ctx.autocast():
                out.append(self.model(to_float(chunk.to(self.ctx.device))).float().cpu())
        logits = torch.cat(out) if out else torch.zeros(0, len(self.classes))
        return logits, labels, images

    def scores(self, data: ImageSet, prefix: str) -> dict[str, float]:
        logits, labels, _ = self.predict(data)
        if len(labels) == 0:
            return {}
        return {f"{prefix}accuracy": (logits.argmax(1) == labels).float().mean().item(),
                f"{prefix}loss": F.cross_entropy(logits, labels).item()}

    def evaluate(self, step: int) -> dict[str, float]:
        return {f"eval/{k}": v for k, v in self.scores(self.val_set, "").items()}

    def finish(self, step: int) -> dict[str, float]:
        logits, labels, images = self.predict(self.test_set)
        if len(labels) == 0:
            return {}
        pred = logits.argmax(1)
        k = len(self.classes)
        confusion = torch.bincount(labels * k + pred, minlength=k * k).view(k, k)
        self.ctx.logger.log_image("eval/confusion_matrix", confusion_png(confusion, self.classes), step)
        # the most confidently wrong: highest softmax probability on a wrong class
        conf = logits.softmax(1).max(1).values
        wrong = torch.nonzero(pred != labels).squeeze(1)
        worst = wrong[conf[wrong].argsort(descending=True)][: self.cfg.wrong_grid]
        if len(worst):
            captions = ", ".join(f"{self.classes[labels[i]]}->{self.classes[pred[i]]} ({conf[i]:.2f})"
                                 for i in worst.tolist())
            tiles = images[worst]
            zoom = max(1, 64 // tiles.shape[-1])  # small digits: nearest-neighbour upscale to see them
            tiles = tiles.repeat_interleave(zoom, -1).repeat_interleave(zoom, -2)
            self.ctx.logger.log_image("eval/most_confidently_wrong", tiles, step,
                                      caption="true->predicted (confidence), row by row: " + captions)
        else:
            self.ctx.logger.log_text("eval/most_confidently_wrong", "no test image was misclassified", step)
        return {"eval/test_accuracy": (pred == labels).float().mean().item(),
                "eval/test_loss": F.cross_entropy(logits, labels).item()}

    def eval_report(self, step: int, opts: Any) -> str:
        """``workbench eval RUN_DIR``: test accuracy and a per-class precision / recall table."""
        logits, labels, _ = self.predict(self.test_set)
        pred = logits.argmax(1)
        val = self.scores(self.val_set, "")
        lines = [f"test accuracy  {100 * (pred == labels).float().mean().item():.2f} %  "
                 f"({int((pred == labels).sum())} / {len(labels)} images; val accuracy "
                 f"{100 * val.get('accuracy', float('nan')):.2f} %)", "",
                 f"{'class':<14} {'images':>6} {'recall':>8} {'precision':>10}  most often taken for"]
        k = len(self.classes)
        confusion = torch.bincount(labels * k + pred, minlength=k * k).view(k, k)
        for c, name in enumerate(self.classes):
            row, col = confusion[c], confusion[:, c]
            recall = row[c].item() / max(1, row.sum().item())
            precision = col[c].item() / max(1, col.sum().item())
            off = row.clone()
            off[c] = 0
            mistaken = f"{self.classes[int(off.argmax())]} ({int(off.max())})" if off.sum() else "-"
            lines.append(f"{name[:14]:<14} {int(row.sum()):>6} {100 * recall:>7.1f}% "
                         f"{100 * precision:>9.1f}%  {mistaken}")
        return "\n".join(lines)

    def explain(self, step: int, out: Path | None, opts: ClassifierExplainOptions) -> str:
        """``workbench explain RUN_DIR``: attribution grid and per-class maps (classifiers/explain.py)."""
        from workbench.classifiers.explain import explain

        return explain(self, step, out, opts)

    # ------------------------------------------------------------------ state and export
    # the epoch's shuffled order and the position in it make a resumed run see the same batches
    checkpointed = ("model", "opt", "scaler", "gen", "order", "cursor")

    def export_module(self) -> tuple[nn.Module, torch.Tensor]:
        """The network (logits out) and an example batch of 2 float images in [-1, 1]."""
        c, h, w = self.train_set.shape
        return self.model.eval(), torch.zeros(2, c, h, w)

    def serving(self) -> Serving:
        """``workbench serve``: POST /classify, an image in, top-k labels out (classifiers/serving.py)."""
        from workbench.classifiers.serving import classifier_serving

        return classifier_serving(self)


def confusion_png(confusion: torch.Tensor, classes: list[str]) -> np.ndarray:
    """A confusion matrix (rows = true, columns = predicted) as an RGB image, via matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(classes)
    m = confusion.numpy()
    size = max(4.0, 0.45 * k + 1.5)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(m / np.maximum(1, m.sum(1, keepdims=True)), cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if m[i, j] > 0.5 * m[i].sum() else "black")
        ax.set_xticks(range(k), [c[:10] for c in classes], rotation=90, fontsize=7)
        ax.set_yticks(range(k), [c[:10] for c in classes], fontsize=7)
    accuracy = np.trace(m) / max(1, m.sum())
    ax.set(xlabel="predicted", ylabel="true", title=f"test accuracy {100 * accuracy:.2f} %")
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image
