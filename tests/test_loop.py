"""The common loop: signals, resume after a kill, the non-finite guard, corrupt checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import REPO, cli, read_metrics

from workbench.engine import checkpoint


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workbench", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _ckpt_step(run: Path) -> int:
    return int(checkpoint.load(run / "checkpoints" / "latest.pt")["step"])


SLOW = ["total_steps=400", "checkpoint_every=50", "log_every=10", "eval_every=200", "sleep_per_step=0.01"]


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.slow
def test_a_signal_writes_a_checkpoint_and_exits_cleanly(runs_root, sig, code):
    run = runs_root / "linreg" / "sig"
    proc = _spawn("run", "linreg", "--name", "sig", *SLOW)
    _wait_for(lambda: (run / "metrics.jsonl").exists() and len(read_metrics(run)) >= 3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    step = _ckpt_step(run)
    assert 0 < step < 400  # saved where it stopped, not at a checkpoint_every boundary only
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert "workbench resume" in err


@pytest.mark.slow
def test_resume_after_kill_continues_the_curve_exactly(runs_root):
    # the reference: the same run, never interrupted
    assert cli("run", "linreg", "--name", "straight", *SLOW[:-1]).returncode == 0
    straight = read_metrics(runs_root / "linreg" / "straight")

    run = runs_root / "linreg" / "killed"
    proc = _spawn("run", "linreg", "--name", "killed", *SLOW)
    _wait_for(lambda: (run / "checkpoints" / "latest.pt").exists() and _ckpt_step(run) >= 100)
    _wait_for(lambda: read_metrics(run)[-1]["step"] > _ckpt_step(run))  # work past the checkpoint
    proc.kill()  # kill -9: no handler runs
    proc.wait(timeout=30)
    at_kill = _ckpt_step(run)

    r = cli("resume", str(run), "sleep_per_step=0")
    assert r.returncode == 0, r.stderr
    rows = read_metrics(run)
    steps = [x["step"] for x in rows if "train/loss" in x]
    assert steps == sorted(set(steps)) and steps[-1] == 400  # no repeated or missing log steps
    assert steps == [x["step"] for x in straight if "train/loss" in x]
    # same seeds, same batches, restored optimizer and RNG: the resumed curve is the same curve
    for a, b in zip((x for x in rows if "train/loss" in x), (x for x in straight if "train/loss" in x)):
        if a["step"] > at_kill:
            assert a["train/loss"] == pytest.approx(b["train/loss"], rel=1e-4, abs=1e-6)
    times = [x["time"] for x in rows]
    assert times == sorted(times)  # wall time continues from the checkpoint, not from 0
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished"
    # the resume is on record for curves: where it continued, and the work the kill threw away
    (resumed,) = info["resumes"]
    assert resumed["step"] == at_kill and resumed["lost_steps"] > 0
    assert resumed["time"] <= min(x["time"] for x in rows if x["step"] > at_kill)


@pytest.mark.slow
def test_resume_extends_a_finished_run_with_more_total_steps(runs_root):
    assert cli("run", "linreg-quick", "--name", "r").returncode == 0
    run = runs_root / "linreg-quick" / "r"
    r = cli("resume", str(run))
    assert r.returncode == 0 and "already at step 100" in r.stdout
    assert cli("resume", str(run), "total_steps=150").returncode == 0
    assert _ckpt_step(run) == 150
    # only the resume that trained is recorded; a finished run's resume lost nothing
    (resumed,) = json.loads((run / "run.json").read_text())["resumes"]
    assert resumed["step"] == 100 and "lost_steps" not in resumed
    assert read_metrics(run)[-1]["step"] == 150


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(runs_root):
    r = cli("run", "linreg", "--name", "nan", "total_steps=200", "checkpoint_every=20",
            "log_every=10", "nan_at_step=45")
    assert r.returncode == 3
    assert "non-finite train/loss" in r.stderr and "Traceback" not in r.stderr
    run = runs_root / "linreg" / "nan"
    state = checkpoint.load(run / "checkpoints" / "latest.pt")
    assert state["step"] == 40
    weights = state["state"]["model"]["weight"]
    assert torch.isfinite(weights).all()
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_truncated_checkpoint_is_a_clear_error_naming_the_file(runs_root):
    assert cli("run", "linreg-quick", "--name", "c", "total_steps=60").returncode == 0
    ckpt = runs_root / "linreg-quick" / "c" / "checkpoints" / "latest.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    r = cli("resume", str(ckpt.parents[1]), "total_steps=100")
    assert r.returncode == 2 and str(ckpt) in r.stderr and "corrupt or truncated" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_of_another_plugin_or_config_shape(runs_root, tmp_path):
    assert cli("run", "linreg-quick", "--name", "m", "total_steps=60").returncode == 0
    ckpt = runs_root / "linreg-quick" / "m" / "checkpoints" / "latest.pt"
    state = torch.load(ckpt, weights_only=True)
    state["plugin"] = "dqn"
    checkpoint.save({k: v for k, v in state.items() if k != "format_version"}, ckpt)
    r = cli("resume", str(ckpt.parents[1]), "total_steps=100")
    assert r.returncode == 2 and "belongs to plugin 'dqn'" in r.stderr
    state["plugin"] = "linreg"
    state["config"]["optim"]["nesterov"] = True  # a key this plugin does not have
    checkpoint.save({k: v for k, v in state.items() if k != "format_version"}, ckpt)
    r = cli("resume", str(ckpt.parents[1]), "total_steps=100")
    assert r.returncode == 2 and "config shape" in r.stderr and "optim.nesterov" in r.stderr


@pytest.mark.slow
def test_resume_accepts_a_checkpoint_from_before_the_plugin_gained_an_option(runs_root):
    assert cli("run", "linreg-quick", "--name", "old", "total_steps=60").returncode == 0
    ckpt = runs_root / "linreg-quick" / "old" / "checkpoints" / "latest.pt"
    state = torch.load(ckpt, weights_only=True)
    del state["config"]["optim"]["momentum"]  # as if written before `momentum` existed
    checkpoint.save({k: v for k, v in state.items() if k != "format_version"}, ckpt)
    r = cli("resume", str(ckpt.parents[1]), "total_steps=100")
    assert r.returncode == 0, r.stderr
    assert "gained config keys" in r.stderr and "optim.momentum=0.9" in r.stderr
    assert _ckpt_step(ckpt.parents[1]) == 100


def test_checkpoint_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    checkpoint.save({"step": 1}, path)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        checkpoint.save({"step": 2}, path)
    assert checkpoint.load(path)["step"] == 1  # the old checkpoint survives intact
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temp file left behind


@pytest.mark.slow
def test_compile_true_runs_and_a_failing_compile_falls_back_to_eager(runs_root, monkeypatch, caplog):
    from workbench.runtime import maybe_compile

    def broken_compile(fn, **kw):
        def call(*a, **k):
            raise RuntimeError("inductor exploded")
        return call

    with monkeypatch.context() as m:
        m.setattr(torch, "compile", broken_compile)
        f = maybe_compile(lambda x: x * 2, True, "double")
        with caplog.at_level("WARNING", logger="workbench"):
            assert f(torch.ones(2)).tolist() == [2.0, 2.0]
            assert f(torch.ones(2)).tolist() == [2.0, 2.0]
    assert sum("torch.compile of double failed" in msg for msg in caplog.messages) == 1
    if os.environ.get("WORKBENCH_SKIP_COMPILE"):
        return
    r = cli("run", "linreg-quick", "--name", "compiled", "compile=true", "total_steps=30",
            env={"WANDB_MODE": "disabled"})
    assert r.returncode == 0, r.stderr
    assert read_metrics(runs_root / "linreg-quick" / "compiled")[-1]["step"] == 30


def test_precision_bf16_is_autocast_on_cpu_and_fp16_scaler_only_on_cuda():
    from workbench.runtime import resolve_precision

    p = resolve_precision("bf16", torch.device("cpu"))
    with p.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert not p.grad_scaler().is_enabled()
    with resolve_precision("fp32", torch.device("cpu")).autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


@pytest.mark.slow
def test_resume_refuses_a_run_that_is_still_training(runs_root):
    run = runs_root / "linreg" / "alive"
    proc = _spawn("run", "linreg", "--name", "alive", *SLOW)
    try:
        _wait_for(lambda: (run / "metrics.jsonl").exists() and len(read_metrics(run)) >= 2)
        r = cli("resume", str(run))
        assert r.returncode == 2 and "still being trained by process" in r.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


@pytest.mark.slow
def test_resume_with_an_override_that_changes_the_model_shape_is_a_clear_error(runs_root):
    assert cli("run", "linreg-quick", "--name", "shape", "total_steps=60").returncode == 0
    r = cli("resume", str(runs_root / "linreg-quick" / "shape"), "features=4", "total_steps=100")
    assert r.returncode == 2 and "does not fit plugin" in r.stderr and "Traceback" not in r.stderr


def test_an_on_eval_hook_stops_a_run_cleanly_with_its_status_and_resume_trains_it_on(runs_root):
    from workbench.engine.loop import Launch, resume, start
    from workbench.studies.comparison import compare

    seen = []

    def prune_at_20(step, metrics):
        seen.append((step, sorted(metrics)))
        return "pruned" if step >= 20 else None

    args = {"total_steps": "60", "eval_every": "10", "log_every": "10", "checkpoint_every": "50"}
    code, run = start("linreg", args, run_name="p", launch=Launch(wandb_mode="disabled", on_eval=prune_at_20))
    assert code == 0 and [s for s, _ in seen] == [10, 20]
    assert seen[0][1] == ["eval/mse", "eval/weight_error"]  # the evaluation's own metrics
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "pruned" and info["step"] == 20
    assert _ckpt_step(run.path) == 20  # stopped cleanly: a checkpoint at the stop
    assert "pruned" in compare([run.path], metric="eval/mse")
    code, _ = resume(run.path, {}, launch=Launch(wandb_mode="disabled"))
    info = json.loads((run.path / "run.json").read_text())
    assert code == 0 and info["status"] == "finished" and info["step"] == 60


@pytest.mark.slow
def test_eval_at_start_evaluates_the_untrained_model_at_step_0_only_when_asked(runs_root):
    assert cli("run", "linreg-quick", "--name", "base", "total_steps=40", "eval_every=20",
               "eval_at_start=true").returncode == 0
    assert cli("run", "linreg-quick", "--name", "plain", "total_steps=40",
               "eval_every=20").returncode == 0
    evals = {name: [r["step"] for r in read_metrics(runs_root / "linreg-quick" / name) if "eval/mse" in r]
             for name in ("base", "plain")}
    assert evals == {"base": [0, 20, 40], "plain": [20, 40]}


def test_torch_threads_is_set_by_the_loop_before_the_plugin_is_built(tmp_path):
    from workbench.engine.loop import build_plugin
    from workbench.engine.runs import RunDir
    from workbench.registry import PluginSpec
    from workbench.toy import LinearRegression
    from workbench.toy_config import LinRegConfig

    seen: list[int] = []

    class RecordsThreads(LinearRegression):
        def __init__(self, cfg, ctx):
            seen.append(torch.get_num_threads())
            super().__init__(cfg, ctx)

    before = torch.get_num_threads()
    spec = PluginSpec("threads", "x:RecordsThreads", "generator")
    try:
        for n in (2, 1):
            build_plugin(RunDir(tmp_path), None, spec, LinRegConfig(device="cpu", torch_threads=n),
                         RecordsThreads, logger=None)
    finally:
        torch.set_num_threads(before)
    assert seen == [2, 1]


def test_warmup_cosine_lr_rises_linearly_then_decays_to_min_lr_at_total_steps():
    from workbench.runtime import warmup_cosine_lr

    lr = [warmup_cosine_lr(s, 1.0, 10, 110, min_lr=0.1) for s in range(130)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)  # (step + 1) / warmup
    assert lr[10] == pytest.approx(1.0) and lr[60] == pytest.approx(0.55)  # half-way: the mean
    assert all(a >= b for a, b in zip(lr[10:], lr[11:]))  # never rises after the warm-up
    assert lr[110] == pytest.approx(0.1) and lr[129] == pytest.approx(0.1)  # held at min_lr
    assert warmup_cosine_lr(100, 1.0, 10, 110, schedule="constant") == 1.0


@pytest.mark.parametrize("where", ["midway", "last"])
@pytest.mark.slow
def test_a_stop_during_a_long_evaluation_is_honoured_at_once(runs_root, where):
    """A Pong evaluation of a middling agent takes minutes; SIGTERM must not wait for it. The
    evaluation is cut short (not logged), the checkpoint is saved at its step, and resume goes on:
    after a cut midway it evaluates next at the next eval_every, after a cut at total_steps it
    plays the final evaluation again."""
    total, at = (400, 200) if where == "midway" else (200, 200)
    run = runs_root / "linreg" / f"cut-{where}"
    proc = _spawn("run", "linreg", "--name", f"cut-{where}", f"total_steps={total}",
                  "eval_every=200", "log_every=10", "checkpoint_every=1000", "sleep_per_eval=120")
    _wait_for(lambda: (run / "metrics.jsonl").exists()
              and any(r["step"] == at and "train/loss" in r for r in read_metrics(run)))
    time.sleep(1.0)  # inside the 120-second evaluation now
    sent = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert time.time() - sent < 20  # not the evaluation's 120 s
    assert "cut short" in err and "workbench resume" in err
    assert _ckpt_step(run) == at
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and info["evaluation_cut_at"] == at
    assert not any("eval/mse" in r for r in read_metrics(run))

    r = cli("resume", str(run), "sleep_per_eval=0")
    assert r.returncode == 0, r.stderr
    evals = [x["step"] for x in read_metrics(run) if "eval/mse" in x]
    assert evals == [400] if where == "midway" else evals == [200]
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
