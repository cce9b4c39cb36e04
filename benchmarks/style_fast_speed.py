"""style-fast: images per second of the trained network at 256 and 512 px, against style-gatys
on the same image (300 L-BFGS steps x its measured seconds per step, both measured here,
interleaved), and the training time to a stable result (held-out eval/loss within 10 % of
its final value).

    python benchmarks/style_fast_speed.py [--threads 1] [--train-steps 300] [--eval-every 25]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.config import build_config  # noqa: E402
from workbench.generators.style.config import FastConfig, GatysConfig  # noqa: E402
from workbench.generators.style.fast import FastStyle, TransformNet  # noqa: E402
from workbench.generators.style.gatys import Gatys  # noqa: E402
from workbench.logger import Logger  # noqa: E402
from workbench.plugin import Context  # noqa: E402
from workbench.runtime import resolve_precision  # noqa: E402

CPU = torch.device("cpu")


def context(cfg, tmp: Path) -> Context:
    return Context(CPU, resolve_precision(cfg.precision, CPU, cfg.auto_cpu_precision),
                   Logger(tmp), tmp, 0)


def fast_images_per_s(size: int, width: int, ctx: Context, repeats: int = 5) -> float:
    net = TransformNet(width, 5).eval()
    x = torch.rand(1, 3, size, size)
    with torch.no_grad(), ctx.autocast():
        net(x)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            net(x)
    return repeats / (time.perf_counter() - start)


def gatys_s_per_image(size: int, tmp: Path, steps: int = 5) -> float:
    cfg = build_config(GatysConfig, {"image_size": size})
    plugin = Gatys(cfg, context(cfg, tmp))
    plugin.train_step(0)  # warm-up
    start = time.perf_counter()
    for step in range(steps):
        plugin.train_step(step + 1)
    return cfg.total_steps * (time.perf_counter() - start) / steps


def train_step_ms(precision: str, tmp: Path, steps: int = 8) -> float:
    cfg = build_config(FastConfig, {"precision": precision})
    plugin = FastStyle(cfg, context(cfg, tmp))
    plugin.train_step(0)  # warm-up (and the style Grams)
    start = time.perf_counter()
    for step in range(steps):
        plugin.train_step(step + 1)
    return 1000 * (time.perf_counter() - start) / steps


def training_time(steps: int, every: int, tmp: Path) -> None:
    cfg = build_config(FastConfig, {})
    plugin = FastStyle(cfg, context(cfg, tmp))
    curve, elapsed = [], 0.0
    for step in range(1, steps + 1):
        start = time.perf_counter()
        plugin.train_step(step)
        elapsed += time.perf_counter() - start
        if step % every == 0:
            curve.append((step, elapsed, plugin.evaluate(step)["eval/loss"]))
            print(f"  step {step}: {elapsed:.0f} s, held-out eval/loss {curve[-1][2]:.3f}", flush=True)
    final = curve[-1][2]
    stable = next(c for c in curve if all(abs(d[2] - final) <= 0.1 * final for d in curve[curve.index(c):]))
    print(f"training ({cfg.image_size} px crops, batch {cfg.batch_size}, width {cfg.width}): "
          f"stable (eval/loss within 10 % of the final {final:.3f} from then on) at step "
          f"{stable[0]}, {stable[1]:.0f} s of training")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=25)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = context(FastConfig(), Path(tmp))
        fp32 = context(build_config(FastConfig, {"precision": "fp32"}), Path(tmp))
        for size in (256, 512):
            fast16 = fast_images_per_s(size, 16, ctx)
            fast16_fp32 = fast_images_per_s(size, 16, fp32)
            gatys = gatys_s_per_image(size, Path(tmp)) if size == 256 else None
            fast32 = fast_images_per_s(size, 32, ctx)
            line = (f"{size} px, {args.threads} thread(s), {ctx.precision.name}: style-fast "
                    f"{fast16:.2f} images/s (width 16, the default; fp32 {fast16_fp32:.2f}), {fast32:.2f} images/s (width 32, the paper's)")
            if gatys is not None:
                line += (f"; style-gatys {gatys:.0f} s/image (300 steps); speed-up "
                         f"{gatys * fast16:.0f}x")
            print(line, flush=True)
        ms = {"fp32": [], "bf16": []}
        for _ in range(2):  # interleaved
            for precision in ms:
                ms[precision].append(train_step_ms(precision, Path(tmp)))
        print(f"training step (defaults): fp32 {min(ms['fp32']):.0f} ms, bf16 {min(ms['bf16']):.0f} ms; "
              f"bf16 / fp32 = {min(ms['bf16']) / min(ms['fp32']):.2f}", flush=True)
        if args.train_steps:
            training_time(args.train_steps, args.eval_every, Path(tmp))


if __name__ == "__main__":
    main()
