"""Speed of the captioning plugin: training images/s and captions/s when sampling, at 1 and 2
threads, against a bare PyTorch loop of the same model.

    python benchmarks/caption_speed.py                 # caption-digits' model, batch 32, 64 px
    python benchmarks/caption_speed.py --threads 1,2 --repeats 5 --cell gru

Reference: the bare loop is the same network, batch and Adam step written by hand (index the
captions, forward with teacher forcing, cross-entropy, backward, clip, step); the plugin's
``train_step`` adds the learning-rate schedule, autocast, grad scaler and metrics, so the ratio
plugin / bare is its overhead. Sampling is timed as the plugin captions images: greedy over a
batch of 64 held-out scenes, and beam search (width 3) image by image. Every round measures
every thread count in turn (interleaved), and the figures are medians over rounds, so the
thread ratio compares moments alike on a shared machine.
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

from workbench.data.images import to_float  # noqa: E402


def build(args: argparse.Namespace):
    from workbench.config import apply_overrides
    from workbench.generators.caption.config import CaptionConfig
    from workbench.generators.caption.plugin import Captioner
    from workbench.logger import Logger
    from workbench.plugin import Context
    from workbench.runtime import resolve_precision

    cfg = apply_overrides(CaptionConfig(), {"batch_size": args.batch, "cell": args.cell,
                                            "precision": "fp32", "total_steps": 10**6})
    run_dir = Path(tempfile.mkdtemp())
    device = torch.device("cpu")
    ctx = Context(device=device, precision=resolve_precision("fp32", device),
                  logger=Logger(run_dir, wandb_mode="disabled", metrics=False), run_dir=run_dir, seed=0)
    return Captioner(cfg, ctx)


def seconds(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--cell", default="lstm", choices=("lstm", "gru"))
    p.add_argument("--steps", type=int, default=5, help="training steps per timed chunk")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    p.add_argument("--threads", default="1,2")
    args = p.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    plugin = build(args)
    model, opt = plugin.model, plugin.opt
    gen = torch.Generator().manual_seed(0)
    images = plugin.split("val").images[:64]
    step = iter(range(10**9))

    def bare() -> None:
        rows = torch.randint(len(plugin.captions), (args.batch,), generator=gen)
        caps = plugin.captions[rows]
        caps = caps[:, :int((caps != 0).sum(1).max())]  # as the plugin: no all-padding steps
        logits, _ = model(to_float(plugin.train_images[plugin.caption_image[rows]]), caps[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), caps[:, 1:].flatten(), ignore_index=0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    work = {  # name -> (function, items per call, calls per chunk)
        "bare train": (bare, args.batch, args.steps),
        "plugin train": (lambda: plugin.train_step(next(step)), args.batch, args.steps),
        "greedy": (lambda: plugin.caption(images, beam=1), len(images), 2),
        "beam 3": (lambda: plugin.caption(images[:8], beam=3), 8, 1),
    }
    for fn, _, _ in work.values():  # warm-up
        fn()
    rates: dict[tuple[int, str], list[float]] = {}
    for _ in range(args.repeats):
        for t in threads:
            torch.set_num_threads(t)
            for name, (fn, items, calls) in work.items():
                rates.setdefault((t, name), []).append(items / seconds(fn, calls))

    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"caption-digits model ({args.cell}), batch {args.batch}, {plugin.cfg.image_size} px; "
          f"medians of {args.repeats} interleaved rounds")
    print(f"{'threads':>7} {'bare img/s':>11} {'plugin img/s':>13} {'plugin/bare':>12} "
          f"{'greedy cap/s':>13} {'beam3 cap/s':>12}")
    for t in threads:
        b, q = med[(t, "bare train")], med[(t, "plugin train")]
        print(f"{t:>7} {b:>11.0f} {q:>13.0f} {q / b:>12.2f} {med[(t, 'greedy')]:>13.0f} "
              f"{med[(t, 'beam 3')]:>12.1f}")
    if len(threads) > 1:
        a, z = threads[0], threads[-1]
        print(f"{z} threads / {a} thread: training x{med[(z, 'plugin train')] / med[(a, 'plugin train')]:.2f}, "
              f"greedy x{med[(z, 'greedy')] / med[(a, 'greedy')]:.2f}, "
              f"beam x{med[(z, 'beam 3')] / med[(a, 'beam 3')]:.2f}")


if __name__ == "__main__":
    main()
