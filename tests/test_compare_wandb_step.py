"""W&B side of comparing runs: an offline run resumed from a checkpoint keeps W&B's step.

Read back from the offline files with wandb's own reader (`wandb leet inspect --json`), no server.
W&B's internal ``_step`` must equal the workbench ``step`` in every segment, so that
``wandb sync RUN_DIR/wandb/offline-run-*`` appends the resumed segment instead of overwriting
the first one, and charts keyed on ``step`` (define_metric) continue where they stopped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from workbench.commands.cli import main

pytestmark = pytest.mark.slow  # end-to-end CLI runs with W&B offline, run and resumed


def _segments(run_dir) -> list[list[dict]]:
    out = []
    for log_dir in sorted((run_dir / "wandb").glob("offline-run-*")):
        cmd = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(log_dir)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0 and shutil.which("wandb"):
            r = subprocess.run(["wandb", *cmd[3:]], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        out.append([json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")])
    return out


def test_offline_resumed_run_continues_wandb_step_instead_of_restarting_at_0(runs_root, monkeypatch):
    stop_at = 40
    monkeypatch.delenv("WANDB_MODE")
    common = ["log_every=10", "eval_every=20", "checkpoint_every=20"]
    assert main(["run", "linreg", f"total_steps={stop_at}", *common, "--name", "w", "--wandb", "offline"]) == 0
    run = runs_root / "linreg" / "w"
    assert main(["resume", str(run), "total_steps=80", "--wandb", "offline"]) == 0

    first, resumed = _segments(run)
    for segment in (first, resumed):
        metrics = [x["metric"] for x in segment if x["type"] == "metric"]
        assert any(m.get("glob_name") == "*" and m.get("step_metric") == "step" for m in metrics)
    rows = [[x["history"]["item"] for x in seg if x["type"] == "history"] for seg in (first, resumed)]
    assert all(r["_step"] == r["step"] for seg in rows for r in seg)
    assert [r["step"] for r in rows[1] if "train/loss" in r] == [50, 60, 70, 80]  # not 0, 1, 2...
    assert min(r["_step"] for r in rows[1]) > max(r["_step"] for r in rows[0])  # sync appends
    ids = {x["run"]["run_id"] for seg in (first, resumed) for x in seg if x["type"] == "run"}
    assert len(ids) == 1
