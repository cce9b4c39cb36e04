"""torchrun + DDP for every dataset plugin family: 2 gloo ranks on the CPU, a few steps each.

Per family (image GAN, pix2pix, sequence models): the ranks' parameters agree at the end, the
run directory is an ordinary one (the files of a single-process run), the global batch is
kept and said on the start line, and ``torchrun ... resume`` continues the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.commands.cli import main

pytestmark = [
    pytest.mark.slow,  # torchrun: two processes, each importing torch, per test
    pytest.mark.ddp,
    pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed"),
]

COMMON = ["log_every=2", "eval_every=4", "checkpoint_every=2", "precision=fp32", "device=cpu",
          "--wandb", "disabled"]  # gloo on the CPU on every machine, compared with a CPU run


def _torchrun(runs_root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WORKBENCH_RUNS": str(runs_root), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "workbench", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*"))


def _checkpoint(run: Path) -> dict:
    return torch.load(run / "checkpoints/latest.pt", weights_only=True)["state"]


def _run_resume_and_check(runs_root: Path, preset: str, args: list[str], local: int, glob: int
                          ) -> tuple[dict, dict, dict]:
    """Train 4 steps on 2 ranks, check the run, resume it to 6 steps, check again. Returns the
    checkpointed states: 2 ranks at step 4, 1 process at step 4, 2 ranks at step 6."""
    done = _torchrun(runs_root, "run", preset, "total_steps=4", *args, *COMMON, "--name", "ddp")
    assert f"on 2 processes (gloo), local batch {local} of {glob}" in done.stdout + done.stderr
    assert main(["run", preset, "total_steps=4", *args, *COMMON, "--name", "single"]) == 0
    ddp, single = runs_root / preset / "ddp", runs_root / preset / "single"
    assert sorted(p.name for p in (runs_root / preset).iterdir()) == ["ddp", "single"]
    # one ordinary directory: the single-process run's files (rank 0 alone writes them)
    assert _files(ddp) == _files(single)
    assert json.loads((ddp / "run.json").read_text())["status"] == "finished"
    assert (ddp / "config.yaml").read_text() == (single / "config.yaml").read_text()
    records = _records(ddp)
    assert [r["step"] for r in records if "perf/sps" in r] == [2, 4]  # once, not once per rank
    assert [r["ddp/param_divergence"] for r in records if "ddp/param_divergence" in r] == [0.0]
    at_4 = _checkpoint(ddp)

    _torchrun(runs_root, "resume", str(ddp), "total_steps=6")
    records = _records(ddp)
    assert [r["step"] for r in records if "perf/sps" in r] == [2, 4, 6]  # continued, not restarted
    assert [r["ddp/param_divergence"] for r in records if "ddp/param_divergence" in r] == [0.0, 0.0]
    info = json.loads((ddp / "run.json").read_text())
    assert info["status"] == "finished" and info["step"] == 6
    return at_4, _checkpoint(single), _checkpoint(ddp)


def test_dcgan_trains_both_networks_on_two_ranks_and_resumes(runs_root):
    args = ["batch_size=8", "gen_features=8", "disc_features=8", "grid_size=16", "fd_samples=64"]
    *_, state = _run_resume_and_check(runs_root, "dcgan-digits", args, local=4, glob=8)
    # both optimizers stepped on every rank's gradients: Adam's step counters reached 6
    assert all(s["step"] == 6 for s in state["opt_g"]["state"].values())
    assert all(s["step"] == 6 for s in state["opt_d"]["state"].values())


def test_pix2pix_trains_on_two_ranks_and_resumes(runs_root):
    args = ["batch_size=4", "gen_features=8", "disc_features=8", "eval_images=8", "image_size=32",
            "data.pairs=24"]
    _run_resume_and_check(runs_root, "pix2pix-digits", args, local=2, glob=4)


def test_sequence_model_on_two_ranks_matches_one_process_and_resumes(runs_root, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question:\n" * 60)
    args = [f"data.path={corpus}", "model.arch=gpt", "model.n_layer=1", "model.n_head=2",
            "model.n_embd=32", "model.block_size=16", "model.dropout=0", "optim.batch_size=8",
            "optim.warmup_steps=2", "eval_batches=2", "sample.tokens=20"]
    ddp, single, _ = _run_resume_and_check(runs_root, "text-lm", args, local=4, glob=8)
    # the global batch is kept: 2 ranks x 4 blocks give the weights 1 process x 8 blocks give.
    # AdamW normalises each gradient, so a weight whose gradient is ~0 can move by +-lr on
    # rounding alone; a wrong shard moves most of them.
    flat = [torch.cat([w.flatten() for w in s["model"].values()]) for s in (ddp, single)]
    agree = torch.isclose(flat[0], flat[1], rtol=0, atol=1e-6).float().mean().item()
    assert agree > 0.99
