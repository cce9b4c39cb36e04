"""DCGAN training-step time under each precision, measured in one process (compare the ratio;
absolute times on a shared machine are noisy). The reference textbook DCGAN (docs/benchmarks.md,
2026-11-24, a 2-core CPU with AMX): 166 ms (fp32) and 113 ms (bf16 autocast) per step at batch
64, 32 px, 2 threads: ratio 0.68.

    python benchmarks/dcgan_step_time.py [--steps 30] [--repeats 3] [--threads 2] [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.config import build_config  # noqa: E402
from workbench.generators.dcgan.config import DCGANConfig  # noqa: E402
from workbench.generators.dcgan.plugin import DCGAN  # noqa: E402
from workbench.logger import Logger  # noqa: E402
from workbench.plugin import Context  # noqa: E402
from workbench.runtime import resolve_precision  # noqa: E402


def ms_per_step(precision: str, steps: int, compile_: bool, run_dir: Path) -> float:
    cfg = build_config(DCGANConfig, {"data.source": "mnist", "fd_samples": 0})
    device = torch.device("cpu")
    ctx = Context(device, resolve_precision(precision, device), Logger(run_dir), run_dir, 0,
                  compile_enabled=compile_)
    plugin = DCGAN(cfg, ctx)
    for step in range(1, 6):  # warm-up (and compilation)
        plugin.train_step(step)
    t = time.perf_counter()
    for step in range(steps):
        plugin.train_step(10 + step)
    return 1000 * (time.perf_counter() - t) / steps


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, list[float]] = {"fp32": [], "bf16": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved, so drifting load hits both alike
            for precision in results:
                results[precision].append(ms_per_step(precision, args.steps, args.compile, Path(tmp)))
    med = {k: statistics.median(v) for k, v in results.items()}
    for k, v in results.items():
        print(f"{k}: median {med[k]:.0f} ms/step  (runs: {', '.join(f'{x:.0f}' for x in v)})")
    print(f"bf16 / fp32 = {med['bf16'] / med['fp32']:.2f}  (reference 113 / 166 = 0.68)")
    print(f"3,000 steps at the bf16 median: {3000 * med['bf16'] / 60000:.1f} min (reference 5.7 min)")


if __name__ == "__main__":
    main()
