"""Training-step speed of the image classifier plugin against a bare PyTorch loop.

    python benchmarks/classifier_speed.py                  # ConvNet on MNIST 28 px, batch 64
    python benchmarks/classifier_speed.py --model resnet --source digits --size 32 --channels 3

Reference: the same network, optimizer and batch in a hand-written loop (index a tensor, forward,
cross-entropy, backward, AdamW step), no augmentation. The plugin's ``train_step`` adds the
learning-rate schedule, augmentation, autocast, grad scaler and metrics; the ratio
plugin / bare is its overhead. Both are timed interleaved in one process (medians of
``--repeats`` rounds) for fp32 and bf16 autocast, at the thread count given (default: 1 and 2;
on a shared, loaded machine 2 threads can be several times slower than 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.classifiers.config import ClassifierConfig  # noqa: E402
from workbench.config import apply_overrides  # noqa: E402
from workbench.data.images import to_float  # noqa: E402


def build(args: argparse.Namespace, precision: str):
    from workbench.classifiers.classifier import ImageClassifier
    from workbench.logger import Logger
    from workbench.plugin import Context
    from workbench.runtime import resolve_precision

    cfg = apply_overrides(ClassifierConfig(), {
        "model": args.model, "data.source": args.source, "data.image_size": args.size,
        "data.channels": args.channels, "batch_size": args.batch, "precision": precision,
        "total_steps": 10**6, "augment.rotate_deg": 10, "augment.shift": 0.08, "augment.scale": 0.1})
    run_dir = Path(tempfile.mkdtemp())
    device = torch.device("cpu")
    ctx = Context(device=device, precision=resolve_precision(precision, device),
                  logger=Logger(run_dir, wandb_mode="disabled", metrics=False), run_dir=run_dir, seed=0)
    return ImageClassifier(cfg, ctx)


def time_it(fn, steps: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t) / steps * 1000


def measure(args: argparse.Namespace, precision: str) -> tuple[float, float]:
    """(bare-loop ms, plugin ms) per step, medians over interleaved rounds."""
    plugin = build(args, precision)
    model, x_all, y_all = plugin.model, plugin.x, plugin.y
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def bare() -> None:
        idx = torch.randint(0, len(y_all), (args.batch,), generator=gen)
        with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
            loss = F.cross_entropy(model(to_float(x_all[idx])).float(), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    steps = iter(range(10**9))

    def plugin_step() -> None:
        plugin.train_step(next(steps))

    for fn in (bare, plugin_step):  # warm-up
        time_it(fn, 3)
    rounds: dict[str, list[float]] = {"bare": [], "plugin": []}
    for _ in range(args.repeats):
        rounds["bare"].append(time_it(bare, args.steps))
        rounds["plugin"].append(time_it(plugin_step, args.steps))
    return statistics.median(rounds["bare"]), statistics.median(rounds["plugin"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="convnet", choices=("convnet", "resnet"))
    p.add_argument("--source", default="mnist")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--channels", type=int, default=0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="1,2")
    args = p.parse_args()

    print(f"{args.model}, {args.source}, batch {args.batch}; ms per training step, median of "
          f"{args.repeats} x {args.steps} steps")
    print(f"{'threads':>7} {'precision':>9} {'bare loop':>10} {'plugin':>8} {'ratio':>6} {'images/s':>9}")
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for precision in ("fp32", "bf16"):
            b, q = measure(args, precision)
            print(f"{threads:>7} {precision:>9} {b:>10.1f} {q:>8.1f} {q / b:>6.2f} "
                  f"{args.batch / q * 1000:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
