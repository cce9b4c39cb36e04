"""Helpers for tests: the CLI in a subprocess, reading a run back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, env: dict | None = None, timeout: float = 300, cwd: Path | None = None
        ) -> subprocess.CompletedProcess:
    """Run `python -m workbench ARGS` in a subprocess (the environment of the test included)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd or REPO)


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def only_run(root: Path, group: str) -> Path:
    runs = sorted((root / group).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


# a DQN CartPole run in about a second: a few updates and one final game, no video
TINY_CARTPOLE = {"total_steps": 64, "learning_starts": 32, "buffer_size": 64, "batch_size": 8,
                 "env.num_envs": 1, "log_every": 32, "eval_every": 0, "checkpoint_every": 0,
                 "final_eval_episodes": 1, "torch_threads": 1}


def tiny_cartpole_run(root: Path) -> Path:
    from workbench.engine.loop import Launch, start

    code, run = start("dqn-cartpole", TINY_CARTPOLE, run_name="tiny", root=root,
                      launch=Launch(wandb_mode="disabled", progress=False))
    assert code == 0
    return run.path


def open_study_at_the_barrier(url_pattern: str, rounds: int, barrier, results) -> None:
    """A worker process of the study-creation race: each round, wait until every worker is
    ready, then open (create or load) the study on a new database at once with the others."""
    import warnings

    import optuna

    from workbench.studies.optuna_sweep import open_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    for r in range(rounds):
        url = url_pattern.format(r)
        barrier.wait(timeout=120)
        try:
            study, _ = open_study(url, Path(url.split(":///", 1)[1]).parent, "st", "maximize")
            results.put((r, study.study_name))
        except BaseException as e:  # noqa: BLE001 - reported to the test, which names it
            results.put((r, f"{type(e).__name__}: {e}"))
