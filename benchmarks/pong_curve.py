"""The learning curve of a DQN run, read from its directory: every evaluation, steps / updates /
wall time to a target return, a PNG and a CSV.

    python3 benchmarks/pong_curve.py runs/dqn-pong/NAME
    python3 benchmarks/pong_curve.py runs/dqn-pong/NAME --png docs/dqn_pong_curve.png --csv docs/dqn_pong_curve.csv
    python3 benchmarks/pong_curve.py runs/dqn-pong/NAME --ship agents/weights/dqn-pong.pt

Reads ``metrics.jsonl`` (``eval/return``, ``eval/return_std``, ``eval/episodes``, ``time``),
``config.yaml`` (learning_starts, train_frequency, gradient_steps) and ``run.json`` (the
``resumes`` that ``workbench resume`` records; ``--resume-at STEP`` marks ones from older code).
Updates (gradient steps) are computed from the config as DQN does them:
``(step - learning_starts) x gradient_steps / train_frequency``. Wall time is the run's own clock:
a resume continues it from the checkpoint, so work lost to a kill is not in it (run.json's
``lost_seconds`` says how much there was).

``--ship PATH`` also writes the run's Q-network as a weights-only file for
``workbench eval --pretrained`` (the same as ``workbench export RUN --format weights``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class EvalPoint:
    step: int
    seconds: float
    mean: float
    std: float
    games: float


def eval_points(records: list[dict[str, Any]]) -> list[EvalPoint]:
    """Every evaluation in metrics.jsonl, in step order (a resumed run's lines are already
    truncated to the checkpoint, so each step appears once; the last one wins if not)."""
    by_step: dict[int, EvalPoint] = {}
    for r in records:
        if "eval/return" in r:
            by_step[int(r["step"])] = EvalPoint(
                int(r["step"]), float(r.get("time", math.nan)), float(r["eval/return"]),
                float(r.get("eval/return_std", math.nan)), float(r.get("eval/episodes", math.nan)))
    return [by_step[s] for s in sorted(by_step)]


def updates_at(step: int, config: dict[str, Any]) -> int:
    """Gradient steps DQN has done by env step ``step`` (its update credit, summed)."""
    done = max(0, step - int(config.get("learning_starts", 0)))
    return int(done * int(config.get("gradient_steps", 1)) / int(config.get("train_frequency", 1)))


def first_reaching(points: list[EvalPoint], target: float) -> EvalPoint | None:
    return next((p for p in points if p.mean >= target), None)


def read_run(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    import yaml

    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise SystemExit(f"error: {run_dir} has no metrics.jsonl; pass a run directory "
                         "(runs/<preset>/<run-name>).")
    from workbench.engine.runs import (
        read_metrics,  # the one reader: damaged lines skipped with a warning
    )

    records = read_metrics(metrics)
    config_file, info_file = run_dir / "config.yaml", run_dir / "run.json"
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    return records, config or {}, info


def resume_steps(info: dict[str, Any], extra: list[int]) -> list[int]:
    return sorted({int(r["step"]) for r in info.get("resumes") or []} | set(extra))


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if math.isfinite(seconds) else "?"


def report(points: list[EvalPoint], config: dict[str, Any], resumes: list[int], target: float,
           info: dict[str, Any]) -> str:
    lines = [f"{'step':>10} {'wall s':>9} {'updates':>9} {'eval mean':>10} {'std':>6} {'games':>5}"]
    for p in points:
        mark = "  <- resumed here" if p.step in resumes else ""
        lines.append(f"{p.step:>10,} {p.seconds:>9.0f} {updates_at(p.step, config):>9,} "
                     f"{p.mean:>10.2f} {p.std:>6.2f} {p.games:>5.0f}{mark}")
    if not points:
        return "no evaluations in metrics.jsonl yet"
    hit = first_reaching(points, target)
    if hit is None:
        lines.append(f"target {target:g}: not reached (last eval at step {points[-1].step:,})")
    else:
        lines.append(f"steps-to-{target:g}: {hit.step:,}")
        lines.append(f"updates-to-{target:g}: {updates_at(hit.step, config):,}")
        lines.append(f"wall time to {target:g}: {hit.seconds:,.0f} s ({hours(hit.seconds)})")
    best = max(points, key=lambda p: p.mean)
    lines.append(f"best eval: {best.mean:.2f} +- {best.std:.2f} over {best.games:.0f} games "
                 f"at step {best.step:,}")
    for r in info.get("resumes") or []:
        lost = (f"; the kill lost {r['lost_steps']:,} steps / {r['lost_seconds']:.0f} s"
                if "lost_steps" in r else "")
        lines.append(f"resumed from the checkpoint at step {r['step']:,}{lost}")
    for s in resumes:
        if not any(int(r["step"]) == s for r in info.get("resumes") or []):
            lines.append(f"resumed at step {s:,} (--resume-at)")
    return "\n".join(lines)


def write_csv(points: list[EvalPoint], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "wall_seconds", "eval_mean", "eval_std", "games"])
        for p in points:
            w.writerow([p.step, f"{p.seconds:.1f}", f"{p.mean:.3f}", f"{p.std:.3f}", f"{p.games:.0f}"])


def write_png(points: list[EvalPoint], resumes: list[int], target: float, title: str,
              path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = np.array([p.step for p in points], float)
    mean = np.array([p.mean for p in points])
    std = np.nan_to_num(np.array([p.std for p in points]))
    secs = np.array([p.seconds for p in points])
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    ax.fill_between(steps, mean - std, mean + std, alpha=0.25, label="± std over games")
    ax.plot(steps, mean, marker="o", markersize=3, label="eval return (mean)")
    ax.axhline(target, color="gray", linestyle=":", label=f"target {target:g}")
    for i, s in enumerate(resumes):
        ax.axvline(s, color="red", linestyle="--", alpha=0.7, label="resume" if i == 0 else None)
    ax.set_xlabel("env steps")
    ax.set_ylabel("eval return")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1e3:.0f}k"))
    # wall time on the top axis: the run's clock, interpolated between evaluations from (0, 0)
    at_steps, at_secs = np.concatenate([[0.0], steps]), np.concatenate([[0.0], secs])
    if len(points) >= 2 and np.all(np.diff(at_secs) > 0):
        top = ax.secondary_xaxis("top", functions=(
            lambda x: np.interp(x, at_steps, at_secs) / 3600,
            lambda h: np.interp(h * 3600, at_secs, at_steps)))
        top.set_xlabel("wall time (hours, the run's clock)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--target", type=float, default=18.0, help="eval return to reach (default 18)")
    ap.add_argument("--png", type=Path, default=None, help="default: docs/<preset>_curve.png")
    ap.add_argument("--csv", type=Path, default=None, help="default: docs/<preset>_curve.csv")
    ap.add_argument("--no-files", action="store_true", help="print only")
    ap.add_argument("--resume-at", type=int, action="append", default=[], metavar="STEP",
                    help="mark a resume run.json does not record (repeatable)")
    ap.add_argument("--ship", type=Path, default=None, metavar="PATH",
                    help="also export the run's Q-network (weights only) for eval --pretrained")
    args = ap.parse_args(argv)
    records, config, info = read_run(args.run_dir)
    points = eval_points(records)
    resumes = resume_steps(info, args.resume_at)
    print(report(points, config, resumes, args.target, info))
    group = info.get("group") or args.run_dir.parent.name
    docs = Path(__file__).resolve().parents[1] / "docs"
    if points and not args.no_files:
        csv_path = args.csv or docs / f"{group.replace('-', '_')}_curve.csv"
        png_path = args.png or docs / f"{group.replace('-', '_')}_curve.png"
        write_csv(points, csv_path)
        last = points[-1]
        title = (f"{group}/{info.get('name', args.run_dir.name)}: {last.step:,} steps in "
                 f"{hours(last.seconds)} of wall time; {last.games:.0f} games per eval")
        write_png(points, resumes, args.target, title, png_path)
        print(f"wrote {csv_path} and {png_path}")
    if args.ship is not None:
        from workbench.commands.export import export

        print(export(args.run_dir, "weights", args.ship))
    return 0


if __name__ == "__main__":
    sys.exit(main())
