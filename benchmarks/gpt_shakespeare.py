"""GPT on the Shakespeare plays at nanoGPT's CPU configuration: tokens/s and val loss.

Trains the ``gpt-shakespeare`` preset (4 layers, 4 heads, 128 dims, block 64, batch 8) for a
fixed number of iterations and prints the val loss at each evaluation next to nanoGPT's own
val losses on this corpus (docs/benchmarks.md, reference figures: 2.070 nats/char at 1,000
iterations, 1.875 at 2,000).
Speed against nanoGPT is benchmarks/gpt_speed.py's job (both timed side by side, never
against a stored figure). ``--variants ours,nanogpt`` also trains,
in the same process, a replica of nanoGPT's recipe (lr 1e-3, 100 warm-up steps, cosine to
2,000 steps, fp32) in workbench, so the ratio of the two is measured under the same load.

    python benchmarks/gpt_shakespeare.py                      # ours, 1,000 iterations
    python benchmarks/gpt_shakespeare.py --variants ours,nanogpt --steps 1000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from workbench.engine.loop import Launch, start

NANOGPT_REFERENCE = {250: 2.470, 500: 2.267, 1000: 2.070, 1500: 1.939, 2000: 1.875}

VARIANTS = {
    "ours": {},  # the preset as registered: lr 4e-3, 50 warm-up steps, cosine to the end, batch 8
    "nanogpt": {"optim.lr": 1e-3, "optim.warmup_steps": 100, "optim.decay_steps": 2000,
                "precision": "fp32"},
}


def run(variant: str, steps: int, root: Path) -> dict:
    overrides = {"total_steps": steps, "eval_every": 250, "log_every": 50,
                 "checkpoint_every": 0, **VARIANTS[variant]}
    t0 = time.perf_counter()
    code, run_dir = start("gpt-shakespeare", overrides, run_name=variant, root=root,
                          launch=Launch(wandb_mode="disabled", progress=False))
    wall = time.perf_counter() - t0
    assert code == 0, f"run {variant} exited with {code}"
    from workbench.engine.runs import read_metrics  # skips damaged lines, with a warning

    lines = read_metrics(run_dir.path / "metrics.jsonl")
    evals = {e["step"]: e["eval/loss"] for e in lines if "eval/loss" in e}
    tps = [e["perf/tokens_per_s"] for e in lines if "perf/tokens_per_s" in e]
    return {"evals": evals, "tokens_per_s": statistics.median(tps), "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--variants", default="ours", help="comma-separated: ours, nanogpt")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the run directories under this folder (default: a temp dir)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} iterations")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants.split(","):
            results[variant] = run(variant.strip(), args.steps, args.keep or Path(tmp))
            r = results[variant]
            print(f"  {variant}: {r['tokens_per_s']:,.0f} tokens/s (median of log windows), "
                  f"{r['wall_s']:.0f} s wall including evaluations")

    steps = sorted({s for r in results.values() for s in r["evals"]})
    header = f"{'iteration':>9}  {'nanoGPT (reference)':>20}" + "".join(f"  {v:>10}" for v in results)
    print("\nval loss, nats/char")
    print(header)
    for s in steps:
        ref = NANOGPT_REFERENCE.get(s)
        row = f"{s:>9,}  {ref if ref else float('nan'):>20.3f}"
        row += "".join(f"  {r['evals'].get(s, float('nan')):>10.3f}" for r in results.values())
        print(row)
    print("\nthroughput")
    for v, r in results.items():
        print(f"  {v}: {r['tokens_per_s']:,.0f} tokens/s (this run; for a ratio against nanoGPT's own "
              "step, timed beside it, see benchmarks/gpt_speed.py)")
    if "ours" in results and "nanogpt" in results:
        a, b = results["ours"], results["nanogpt"]
        last = max(set(a["evals"]) & set(b["evals"]))
        print(f"\nsame-process ratios: tokens/s ours/nanogpt-recipe = {a['tokens_per_s'] / b['tokens_per_s']:.2f}; "
              f"val loss at {last:,}: {a['evals'][last]:.3f} vs {b['evals'][last]:.3f}")


if __name__ == "__main__":
    main()
