"""Levers of a DQN preset, each changed alone, over several seeds: steps, updates and wall time to a
target eval return, against the preset as it is.

    python3 benchmarks/dqn_levers.py --preset dqn-cartpole --seeds 0,1,2 --target 475 \\
        --variants base,train_frequency=4,batch_size=256,n_step=1 \\
        --set total_steps=30000 eval_every=2500 eval_video=false torch_threads=1 --parallel 2

A variant is ``base`` (the preset with ``--set``) or one or more ``key=value`` overrides joined by
``+`` (``tau=1.0+target_network_frequency=500``). Every run is a real ``workbench run`` in its own
process, under ``--out`` (default ``runs/levers/<time>``), so its curve, config and W&B files stay
there to read. Runs go seed by seed, every variant of a seed before the next seed, so a machine
that gets busier part-way slows every variant alike; with ``--parallel 2`` two runs share the
machine at a time (give each ``torch_threads=1`` on two cores).

Per variant it prints the median over seeds of steps-, updates- and seconds-to-target (the first
evaluation whose mean reaches it; a seed that never does counts as not reached and the median is
taken only if most seeds reach it), how many seeds reached it, the median last evaluation, and
the ratio of the median time-to-target against ``base``. Updates are computed as DQN does them
(``benchmarks/pong_curve.py``). Time is each run's own clock, evaluations included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pong_curve import eval_points, first_reaching, read_run, updates_at  # noqa: E402


@dataclass
class Result:
    variant: str
    seed: int
    steps: int | None
    updates: int | None
    seconds: float | None
    last: float
    wall: float


def overrides(variant: str) -> list[str]:
    if variant == "base":
        return []
    parts = variant.split("+")
    for p in parts:
        if "=" not in p:
            raise SystemExit(f"error: variant {variant!r}: {p!r} is not key=value; a variant is "
                             "'base' or key=value overrides joined by '+'.")
    return parts


def slug(variant: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in variant)[:80]


def command(preset: str, variant: str, seed: int, common: list[str]) -> list[str]:
    return [sys.executable, "-m", "workbench", "run", preset, "--name", f"{slug(variant)}-s{seed}",
            "--wandb", "disabled", f"seed={seed}", *common, *overrides(variant)]


def result(out: Path, preset: str, variant: str, seed: int, target: float) -> Result:
    run_dir = out / "runs" / preset / f"{slug(variant)}-s{seed}"
    records, config, _ = read_run(run_dir)
    points = eval_points(records)
    hit = first_reaching(points, target)
    wall = max((float(r.get("time", 0.0)) for r in records), default=float("nan"))
    return Result(variant, seed, hit.step if hit else None,
                  updates_at(hit.step, config) if hit else None, hit.seconds if hit else None,
                  points[-1].mean if points else float("nan"), wall)


def median_or_none(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if len(got) * 2 > len(values) else None


def table(results: list[Result], variants: list[str], target: float) -> str:
    def fmt(v: float | None, spec: str) -> str:
        return "not reached" if v is None else format(v, spec)

    base_t = median_or_none([r.seconds for r in results if r.variant == variants[0]])
    head = (f"| lever | seeds reaching {target:g} | steps-to (median) | updates-to | "
            f"s-to (median) | x time vs {variants[0]} | last eval (median) | run s (median) |")
    lines = [head, "|" + "---|" * 8]
    for v in variants:
        rs = sorted((r for r in results if r.variant == v), key=lambda r: r.seed)
        if not rs:
            continue
        t = median_or_none([r.seconds for r in rs])
        ratio = f"{t / base_t:.2f}" if t is not None and base_t else "-"
        per_seed = ", ".join(f"{r.steps:,}" if r.steps is not None else "-" for r in rs)
        lines.append(
            f"| `{v}` | {sum(r.steps is not None for r in rs)}/{len(rs)} | "
            f"{fmt(median_or_none([r.steps for r in rs]), ',.0f')} ({per_seed}) | "
            f"{fmt(median_or_none([r.updates for r in rs]), ',.0f')} | {fmt(t, '.1f')} | {ratio} | "
            f"{statistics.median(r.last for r in rs):.1f} | "
            f"{statistics.median(r.wall for r in rs):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="dqn-cartpole")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    ap.add_argument("--target", type=float, default=475.0, help="eval return to reach (default 475)")
    ap.add_argument("--variants", default="base", help="comma-separated; the first is the reference")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="overrides for every run (e.g. total_steps=30000 torch_threads=1)")
    ap.add_argument("--parallel", type=int, default=1, help="runs at once (default 1)")
    ap.add_argument("--out", type=Path, default=None, help="default: runs/levers/<time>")
    ap.add_argument("--report", action="store_true",
                    help="only read the runs already under --out and print the table")
    args = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 0,1,2")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        overrides(v)
    if not seeds or not variants or args.parallel < 1:
        ap.error("need at least one seed, one variant and --parallel >= 1")
    out = args.out or Path("runs/levers") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.report:
        results = [result(out, args.preset, v, s, args.target) for s in seeds for v in variants]
        print(table(results, variants, args.target))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    print(f"runs under {out}", flush=True)
    jobs = [(v, s) for s in seeds for v in variants]
    running: list[tuple[subprocess.Popen, Any, str, int, float]] = []
    results: list[Result] = []
    while jobs or running:
        while jobs and len(running) < args.parallel:
            v, s = jobs.pop(0)
            log = open(out / f"{slug(v)}-s{s}.log", "w")
            p = subprocess.Popen(command(args.preset, v, s, args.set), cwd=out, stdout=log,
                                 stderr=subprocess.STDOUT)
            running.append((p, log, v, s, time.perf_counter()))
        time.sleep(0.5)
        for job in list(running):
            p, log, v, s, t0 = job
            if p.poll() is None:
                continue
            running.remove(job)
            log.close()
            if p.returncode != 0:
                print(f"{v} seed {s}: exit {p.returncode}; see {out / (slug(v) + f'-s{s}.log')}",
                      flush=True)
                continue
            r = result(out, args.preset, v, s, args.target)
            results.append(r)
            print(f"{v} seed {s}: steps-to-{args.target:g} "
                  f"{r.steps if r.steps is not None else 'not reached'}, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    print()
    print(table(results, variants, args.target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
