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

Several runs (seeds of one config) make one figure: each seed's curve, and their mean with its
95 % bootstrap confidence band (Agarwal et al. 2021; workbench/studies/aggregate.py), plus a
table of steps-, updates- and time-to-target per seed with the mean, IQM and 95 % interval::

    python3 benchmarks/pong_curve.py runs/dqn-pong/seed0 runs/dqn-pong/seed1 runs/dqn-pong/seed2

A seeds CSV this script wrote (``--csv`` with several runs) stands in for its runs, so seeds
whose run directories are gone (another machine, an earlier session) join new ones::

    python3 benchmarks/pong_curve.py docs/images/dqn_pong_seeds.csv runs/dqn-pong/seed2
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
    took: float = math.nan  # seconds the evaluation itself took (from the train record before it)


def eval_points(records: list[dict[str, Any]]) -> list[EvalPoint]:
    """Every evaluation in metrics.jsonl, in step order (a resumed run's lines are already
    truncated to the checkpoint, so each step appears once; the last one wins if not)."""
    by_step: dict[int, EvalPoint] = {}
    before = math.nan  # the clock of the last train record: an evaluation follows one
    for r in records:
        if "eval/return" in r:
            t = float(r.get("time", math.nan))
            by_step[int(r["step"])] = EvalPoint(
                int(r["step"]), t, float(r["eval/return"]),
                float(r.get("eval/return_std", math.nan)), float(r.get("eval/episodes", math.nan)),
                t - before)
        elif "time" in r:
            before = float(r["time"])
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
    lines = [f"{'step':>10} {'wall s':>9} {'updates':>9} {'eval mean':>10} {'std':>6} {'games':>5}"
             f" {'eval s':>7}"]
    for p in points:
        mark = "  <- resumed here" if p.step in resumes else ""
        lines.append(f"{p.step:>10,} {p.seconds:>9.0f} {updates_at(p.step, config):>9,} "
                     f"{p.mean:>10.2f} {p.std:>6.2f} {p.games:>5.0f} {p.took:>7.0f}{mark}")
    if not points:
        return "no evaluations in metrics.jsonl yet"
    hit = first_reaching(points, target)
    if hit is None:
        lines.append(f"target {target:g}: not reached (last eval at step {points[-1].step:,})")
    else:
        lines.append(f"steps-to-{target:g}: {hit.step:,}")
        lines.append(f"updates-to-{target:g}: {updates_at(hit.step, config):,}")
        lines.append(f"wall time to {target:g}: {hit.seconds:,.0f} s ({hours(hit.seconds)})")
        upto = [p for p in points if p.step <= hit.step]
        every_other = upto[::-1][1::2]
        lines.append(f"evaluations to {target:g}: {sum(p.took for p in upto):,.0f} s; half the "
                     "cadence (every other one skipped, the last kept) saves "
                     f"{sum(p.took for p in every_other):,.0f} s, as training does not depend on "
                     "them")
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


@dataclass
class SeedRun:
    label: str
    seed: Any
    config: dict[str, Any]
    points: list[EvalPoint]


def seed_table(runs: list[SeedRun], target: float) -> tuple[list[str], list[list[str]]]:
    """One row per seed (steps-, updates- and time-to-target, best and last evaluation), then
    the mean, IQM and 95 % bootstrap interval of each to-target figure over the seeds that
    reached it (a seed that did not is counted in the `reached` row, not averaged as a number)."""
    from workbench.studies.aggregate import summarize

    t = f"{target:g}"
    header = ["run", "seed", f"steps-to-{t}", f"updates-to-{t}", f"time-to-{t} (s)",
              "best eval", "last step"]
    rows, reached = [], {"steps": [], "updates": [], "seconds": []}
    for r in runs:
        hit = first_reaching(r.points, target)
        best = max(r.points, key=lambda p: p.mean) if r.points else None
        last = r.points[-1].step if r.points else 0
        if hit is not None:
            reached["steps"].append(hit.step)
            reached["updates"].append(updates_at(hit.step, r.config))
            reached["seconds"].append(hit.seconds)
        rows.append([r.label, str(r.seed),
                     f"{hit.step:,}" if hit else "not reached",
                     f"{updates_at(hit.step, r.config):,}" if hit else "-",
                     f"{hit.seconds:,.0f}" if hit else "-",
                     f"{best.mean:.2f} at {best.step:,}" if best else "-", f"{last:,}"])
    n = len(reached["steps"])
    rows.append([f"reached {t}", f"{n} of {len(runs)}", "", "", "", "", ""])
    if n:
        summaries = {k: summarize(v) for k, v in reached.items()}
        for name, pick in (("mean", lambda s: s.mean), ("IQM", lambda s: s.iqm)):
            cells = []
            for key in ("steps", "updates", "seconds"):
                e = pick(summaries[key])
                ci = "" if math.isnan(e.low) else f" [{e.low:,.0f}, {e.high:,.0f}]"
                cells.append(f"{e.value:,.0f}{ci}")
            rows.append([f"{name} [95% CI]", "", *cells, "", ""])
    return header, rows


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def aggregate_curve(runs: list[SeedRun]) -> tuple[list[float], list[float], list[float], list[float]]:
    """The mean eval return over seeds at each evaluation step, with its 95 % bootstrap band."""
    from workbench.studies.aggregate import curve_interval

    return curve_interval([[(p.step, p.mean) for p in r.points] for r in runs if r.points])


def write_seeds_png(runs: list[SeedRun], target: float, title: str, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for r in runs:
        if r.points:
            ax.plot([p.step for p in r.points], [p.mean for p in r.points], linewidth=1,
                    alpha=0.6, marker="o", markersize=2, label=f"seed {r.seed} ({r.label})")
    grid, mean, low, high = aggregate_curve(runs)
    ax.fill_between(grid, low, high, color="black", alpha=0.15, linewidth=0,
                    label="95% bootstrap CI of the mean")
    ax.plot(grid, mean, color="black", linewidth=2, label=f"mean over {len(runs)} seeds")
    ax.axhline(target, color="gray", linestyle=":", label=f"target {target:g}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("eval return")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1e3:.0f}k"))
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# what updates_at needs, written beside each evaluation so a seeds CSV stands in for its run
REPLAY_KEYS = ("learning_starts", "train_frequency", "gradient_steps")
CSV_COLUMNS = ["run", "seed", "step", "wall_seconds", "eval_mean", "eval_std", "games", *REPLAY_KEYS]


def write_seeds_csv(runs: list[SeedRun], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in runs:
            replay = [int(r.config.get(k, d)) for k, d in zip(REPLAY_KEYS, (0, 1, 1), strict=True)]
            for p in r.points:
                w.writerow([r.label, r.seed, p.step, f"{p.seconds:.1f}", f"{p.mean:.3f}",
                            f"{p.std:.3f}", f"{p.games:.0f}", *replay])


def read_seeds_csv(path: Path) -> list[SeedRun]:
    """The runs in a CSV written by ``write_seeds_csv``, in the order they first appear."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"error: {path} is not a seeds CSV written by this script: it has no "
                             f"column {', '.join(missing)} (expected {', '.join(CSV_COLUMNS)}).")
        runs: dict[str, SeedRun] = {}
        for row in reader:
            config = {k: int(row[k]) for k in REPLAY_KEYS}
            run = runs.setdefault(row["run"], SeedRun(row["run"], row["seed"], config, []))
            run.points.append(EvalPoint(int(row["step"]), float(row["wall_seconds"]),
                                        float(row["eval_mean"]), float(row["eval_std"]),
                                        float(row["games"])))
    for run in runs.values():
        run.points.sort(key=lambda p: p.step)
    return list(runs.values())


def main_seeds(run_dirs: list[Path], target: float, png: Path | None, csv_path: Path | None,
               no_files: bool) -> int:
    runs, groups = [], set()
    for d in run_dirs:
        if d.suffix == ".csv" and d.is_file():
            from_csv = read_seeds_csv(d)
            runs += from_csv
            groups |= {r.label.split("/")[0] for r in from_csv}
            continue
        records, config, info = read_run(d)
        groups.add(info.get("group") or d.parent.name)
        runs.append(SeedRun(f"{d.parent.name}/{d.name}", config.get("seed", "?"), config,
                            eval_points(records)))
    seeds = [r.seed for r in runs]
    if len(set(map(str, seeds))) < len(seeds):
        print(f"warning: the runs repeat a seed ({seeds}): the aggregate treats them as "
              "independent runs all the same")
    print(markdown(*seed_table(runs, target)))
    grid, mean, low, high = aggregate_curve(runs) if any(r.points for r in runs) else ([], [], [], [])
    if grid:
        print("\n| step | mean eval over seeds | 95% CI |\n|---|---|---|")
        for x, m, lo, hi in zip(grid, mean, low, high, strict=True):
            print(f"| {x:,.0f} | {m:.2f} | [{lo:.2f}, {hi:.2f}] |")
    if grid and not no_files:
        group = "_".join(sorted(groups)).replace("-", "_")
        docs = Path(__file__).resolve().parents[1] / "docs"
        csv_path = csv_path or docs / f"{group}_seeds_curve.csv"
        png = png or docs / f"{group}_seeds_curve.png"
        write_seeds_csv(runs, csv_path)
        write_seeds_png(runs, target, f"{', '.join(sorted(groups))}: {len(runs)} seeds; "
                        "each seed's evaluations and their mean with a 95% bootstrap band", png)
        print(f"wrote {csv_path} and {png}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                    help="a run directory; several (seeds of one config) make one figure, and a "
                         "seeds CSV this script wrote stands in for the runs in it")
    ap.add_argument("--target", type=float, default=18.0, help="eval return to reach (default 18)")
    ap.add_argument("--png", type=Path, default=None, help="default: docs/<preset>_curve.png")
    ap.add_argument("--csv", type=Path, default=None, help="default: docs/<preset>_curve.csv")
    ap.add_argument("--no-files", action="store_true", help="print only")
    ap.add_argument("--resume-at", type=int, action="append", default=[], metavar="STEP",
                    help="mark a resume run.json does not record (repeatable)")
    ap.add_argument("--ship", type=Path, default=None, metavar="PATH",
                    help="also export the run's Q-network (weights only) for eval --pretrained")
    args = ap.parse_args(argv)
    if len(args.run_dirs) > 1 or args.run_dirs[0].suffix == ".csv":
        if args.ship is not None or args.resume_at:
            ap.error("--ship and --resume-at take one run directory")
        return main_seeds(args.run_dirs, args.target, args.png, args.csv, args.no_files)
    args.run_dir = args.run_dirs[0]
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
