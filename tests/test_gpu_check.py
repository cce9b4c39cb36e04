"""benchmarks/gpu_check.py: its CPU mode runs every phase at a tiny size (so the GPU script
cannot rot while no GPU is around), and its checks detect what they are meant to."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch
from helpers import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.py"
spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def _check(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def test_asking_for_cuda_where_there_is_none_is_exit_2_with_the_way_out(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = _check("--device", "cuda", "--out", str(tmp_path), timeout=120)
    assert r.returncode == 2 and "sees no CUDA GPU" in r.stderr and "--device cpu" in r.stderr
    assert not (tmp_path / "gpu_check.json").exists()


def test_the_scaler_watch_counts_a_step_skipped_for_an_inf_gradient():
    class Plugin:
        def __init__(self) -> None:
            self.w = torch.nn.Parameter(torch.ones(2))
            self.opt = torch.optim.SGD([self.w], lr=0.1)
            self.scaler = torch.amp.GradScaler("cpu", enabled=True, init_scale=4.0)

        def train_step(self, step: int) -> dict:
            loss = (self.w * (float("inf") if step == 2 else 1.0)).sum()
            self.opt.zero_grad()
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            return {}

    plugin = Plugin()
    watch = gpu_check.ScalerWatch(plugin)
    for step in range(4):
        plugin.train_step(step)
    assert watch.optimizers == ["opt"] and watch.distinct == 1
    assert watch.skips == [3]  # the third call (step 2) overflowed; the others stepped
    assert plugin.scaler.get_scale() == 2.0


@pytest.mark.slow
def test_the_quick_cpu_mode_runs_every_phase_and_pong_resumes_in_a_second_command(tmp_path):
    out, runs = tmp_path / "out", tmp_path / "runs"
    common = ["--device", "cpu", "--quick", "--out", str(out), "--runs-root", str(runs)]
    # --pong-seconds 0: the run stops at its first evaluation, as a time limit would stop it
    r = _check(*common, "--pong-seconds", "0")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    phases = report["phases"]
    assert list(phases) == list(gpu_check.PHASES)
    for name, ph in phases.items():
        assert not [n for n in ph["notes"] if "failed" in n], (name, ph["notes"])
    tests = next(r for r in phases["tests"]["rows"] if r["test"] == "(all)")
    assert tests["exit"] == 0 and " 0 failed" in tests["result"]
    smoke = phases["smoke"]["rows"]
    assert smoke and all(row["ok"] for row in smoke), [r for r in smoke if not r["ok"]]
    assert {(r["name"], r["variant"]) for r in smoke} >= {
        ("linreg-quick", "bf16"), ("linreg-quick", "fp16"), ("linreg-quick", "compile"),
        ("dcgan-digits", "bf16"), ("dcgan-digits", "fp16")}
    assert any(r["name"].startswith("dqn-pong resume") for r in smoke)
    timing = {(r["what"], r["variant"]): r for r in phases["timing"]["rows"]}
    assert timing["dqn-pong env steps/s", "fp32"]["x_vs_fp32"] == 1.0
    assert timing["dqn-pong env steps/s", "bf16 pageable copies"]["value"] > 0
    assert ("dcgan-mnist ms/step", "bf16") in timing and ("gpt-shakespeare-gpu ms/step", "bf16") in timing
    run_row = phases["shakespeare"]["rows"][-1]
    assert run_row["exit"] == 0 and run_row["final_val_loss"] > 0
    pong = phases["pong"]["rows"][-1]
    assert pong["status"] == "time-limit" and "started" in pong["step"]
    assert (out / "gpu_check.md").read_text().startswith("# benchmarks/gpu_check.py")

    # the second command: the same phase continues the run (loop.resume) to its end
    r = _check(*common, "--phase", "pong")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    pong = report["phases"]["pong"]["rows"][-1]
    assert "resumed" in pong["step"] and pong["status"] == "finished" and pong["last_step"] == 1_200
    info = json.loads((runs / "pong" / "dqn-pong" / "gpu-pong" / "run.json").read_text())
    assert [r["step"] for r in info["resumes"]] == [300]
    assert len(report["runs"]) == 2  # both commands' machines, in the one file
