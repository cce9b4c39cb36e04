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
