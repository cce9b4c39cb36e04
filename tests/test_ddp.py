"""torchrun + DistributedDataParallel: two gloo processes on the CPU train like one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.commands.cli import main

ARGS = ["linreg", "total_steps=30", "log_every=10", "eval_every=15", "checkpoint_every=15",
        "precision=fp32", "device=cpu", "--wandb", "disabled"]  # gloo, on every machine


def _files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*"))


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints/latest.pt", weights_only=True)["state"]["model"]


@pytest.mark.ddp
@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
@pytest.mark.slow
def test_two_ranks_stay_in_sync_and_write_one_ordinary_run_directory(runs_root):
    env = {**os.environ, "WORKBENCH_RUNS": str(runs_root), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "workbench", "run", *ARGS, "--name", "ddp"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["run", *ARGS, "--name", "single"]) == 0

    ddp, single = runs_root / "linreg" / "ddp", runs_root / "linreg" / "single"
    assert sorted(p.name for p in (runs_root / "linreg").iterdir()) == ["ddp", "single"]
    # the same files as a single-process run: one metrics.jsonl, one checkpoint, rank 0's media
    assert _files(ddp) == _files(single)
    assert json.loads((ddp / "run.json").read_text())["status"] == "finished"
    assert (ddp / "config.yaml").read_text() == (single / "config.yaml").read_text()
    records = [json.loads(line) for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "train/loss" in r]
    assert steps == [10, 20, 30]  # written once (rank 0), not once per rank

    # parameters identical on both ranks at the end (measured inside the run by all_reduce)
    divergence = [r["ddp/param_divergence"] for r in records if "ddp/param_divergence" in r]
    assert divergence == [0.0]
    # and the global batch is kept: 2 x 32 examples give the weights 1 x 64 give
    for key, w in _weights(single).items():
        torch.testing.assert_close(_weights(ddp)[key], w, rtol=0, atol=1e-5)

    # resume under torchrun: rank 0 alone takes the run's lock (two ranks locking would refuse)
    cmd = [*cmd[:cmd.index("run")], "resume", str(ddp), "total_steps=40", "--wandb", "disabled"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((ddp / "run.json").read_text())["step"] == 40


def test_torchrun_refuses_a_plugin_that_never_calls_ctx_ddp(tmp_path, monkeypatch):
    from workbench.engine.loop import build_plugin
    from workbench.engine.runs import RunDir
    from workbench.errors import UserError
    from workbench.plugin import Plugin
    from workbench.registry import PluginSpec
    from workbench.toy import LinearRegression
    from workbench.toy_config import LinRegConfig

    class NotDistributed(Plugin):
        pass

    monkeypatch.setenv("WORLD_SIZE", "2")  # as under torchrun (no process group is needed here)
    spec = PluginSpec("nodist", "x:NotDistributed", "generator")
    cfg = LinRegConfig(device="cpu")
    with pytest.raises(UserError, match="does not support multi-process training"):
        build_plugin(RunDir(tmp_path), None, spec, cfg, NotDistributed, logger=None)
    assert build_plugin(RunDir(tmp_path), None, spec, cfg, LinearRegression, logger=None).ctx.ddp_wrapped
