"""What the run-then-report benchmarks share: the metrics of the run named on the command line,
or of a fresh run of ``preset`` (``workbench run PRESET --name NAME``) when none is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_rows(preset: str, name: str) -> tuple[Path, list[dict]]:
    """(the run directory, its metrics.jsonl rows)."""
    if len(sys.argv) > 1:
        run = Path(sys.argv[1])
    else:
        subprocess.run([sys.executable, "-m", "workbench", "run", preset, "--name", name,
                        "--wandb", "disabled"], check=True, cwd=REPO)
        run = REPO / "runs" / preset / name
    sys.path.insert(0, str(REPO))
    from workbench.engine.runs import read_metrics  # skips damaged lines, with a warning

    return run, read_metrics(run / "metrics.jsonl")
