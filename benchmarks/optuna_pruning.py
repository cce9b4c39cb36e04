"""What pruning buys an Optuna study: the same trials with and without the pruner.

    nice -n 19 python benchmarks/optuna_pruning.py --study cartpole-tpe --workers 2 --trials 12 -- \\
        dqn-cartpole total_steps=15000 eval_every=2500 torch_threads=1 \\
        "lr=loguniform(1e-4,3e-3)" "n_step=choice(1,3,5)" "target_network_frequency=int(1,256,log)" \\
        --pruner-startup 3 --pruner-warmup 5000

1. runs ``workbench sweep NAME --optuna --trials N --study STUDY ARGS`` in W worker processes at
   once: the pruned study (TPE sampler, median pruner unless ARGS say otherwise);
2. queues the very parameter values of those trials in a second study, STUDY-nopruning, and runs
   them with ``--pruner none`` in W workers;
3. prints, for each study: wall time, trials finished and pruned, env steps trained (a figure the
   machine's load does not move), and the best value with its trial.

Both studies live in the runs folder (``runs/STUDY/`` and ``runs/STUDY-nopruning/``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna


def run_workers(workers: int, argv: list[str], log_dir: Path) -> float:
    """Start ``workers`` copies of the command at once; the wall time until all have exited."""
    log_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    procs = []
    for i in range(workers):
        log = open(log_dir / f"worker{i}.log", "w")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), log))
    for proc, log in procs:
        if proc.wait() != 0:
            sys.exit(f"a worker failed: see {log.name}")
        log.close()
    return time.perf_counter() - start


def journal(root: Path, study: str) -> optuna.storages.JournalStorage:
    path = root / study / "optuna.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def summary(root: Path, study: str, wall: float) -> dict:
    s = optuna.load_study(study_name=study, storage=journal(root, study))
    trials = s.get_trials()
    steps = sum(json.loads((root / study / t.user_attrs["run"] / "run.json").read_text())["step"]
                for t in trials if "run" in t.user_attrs)
    best = s.best_trial
    return {"study": study, "wall_s": wall, "trials": len(trials),
            "complete": sum(t.state.name == "COMPLETE" for t in trials),
            "pruned": sum(t.state.name == "PRUNED" for t in trials), "env_steps": steps,
            "best": best.value, "best_trial": best.number, "best_params": best.params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("sweep", nargs=argparse.REMAINDER, help="-- NAME key=SPACE ... [sweep options]")
    args = parser.parse_args()
    sweep = [a for a in args.sweep if a != "--"]
    root = Path(os.environ.get("WORKBENCH_RUNS", "runs"))
    base = [sys.executable, "-m", "workbench", "sweep", *sweep, "--optuna", "--trials", str(args.trials)]

    pruned_wall = run_workers(args.workers, [*base, "--study", args.study], root / args.study / "logs")
    pruned = summary(root, args.study, pruned_wall)

    full_name = f"{args.study}-nopruning"
    first = optuna.load_study(study_name=args.study, storage=journal(root, args.study))
    full = optuna.create_study(study_name=full_name, storage=journal(root, full_name),
                               direction=first.direction, load_if_exists=True)
    if not full.get_trials():
        for t in sorted(first.get_trials(), key=lambda t: t.number):
            full.enqueue_trial(t.params)
    full_wall = run_workers(args.workers, [*base, "--study", full_name, "--pruner", "none"],
                            root / full_name / "logs")
    full_summary = summary(root, full_name, full_wall)

    print(f"{'study':<28} {'wall':>8} {'trials':>6} {'pruned':>6} {'env steps':>10} {'best':>8}  best trial")
    for r in (pruned, full_summary):
        print(f"{r['study']:<28} {r['wall_s'] / 60:7.1f}m {r['trials']:>6} {r['pruned']:>6} "
              f"{r['env_steps']:>10,} {r['best']:>8.4g}  {r['best_trial']} {r['best_params']}")
    print(f"pruning: {pruned['wall_s'] / full_summary['wall_s']:.2f} x the wall time, "
          f"{pruned['env_steps'] / full_summary['env_steps']:.2f} x the env steps")


if __name__ == "__main__":
    main()
