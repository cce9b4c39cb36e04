"""One trainer per run directory (a flock held for the life of the training process), and the
temp files a killed write leaves behind are removed when the run is resumed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, read_metrics

from workbench.commands.cli import main
from workbench.engine import checkpoint
from workbench.engine.runlock import RunLock

FAST = ["log_every=10", "eval_every=0", "checkpoint_every=50", "--wandb", "disabled"]


def _start(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen([*prefix, sys.executable, "-m", "workbench", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def _state(run: Path) -> dict:
    info = json.loads((run / "run.json").read_text())
    config = (run / "config.yaml").read_text()
    return {"status": info["status"], "step": info["step"],
            "config_total": int(next(line for line in config.splitlines()
                                     if line.startswith("total_steps:")).split(":")[1]),
            "checkpoint": int(checkpoint.load(run / "checkpoints" / "latest.pt")["step"]),
            "last_logged": read_metrics(run)[-1]["step"]}


@pytest.mark.slow
def test_two_resumes_started_together_one_trains_and_the_other_is_exit_2(runs_root):
    assert main(["run", "linreg", "--name", "twice", "total_steps=50", *FAST]) == 0
    run = runs_root / "linreg" / "twice"
    # started at the same moment: both read run.json before either has started training
    a = _start("resume", str(run), "total_steps=300", "sleep_per_step=0.005", *FAST)
    b = _start("resume", str(run), "total_steps=200", "sleep_per_step=0.005", *FAST)
    outs = {p: p.communicate(timeout=300) for p in (a, b)}
    codes = sorted(p.returncode for p in (a, b))
    assert codes == [0, 2], {p.returncode: err[-2000:] for p, (_, err) in outs.items()}
    winner, loser = (a, b) if a.returncode == 0 else (b, a)
    err = outs[loser][1]
    assert "still being trained by process" in err and "Traceback" not in err
    # the directory is one run's, consistent: config, run.json, checkpoint and log agree
    total = 300 if winner is a else 200
    assert _state(run) == {"status": "finished", "step": total, "config_total": total,
                           "checkpoint": total, "last_logged": total}
    steps = [r["step"] for r in read_metrics(run) if "train/loss" in r]
    assert steps == sorted(set(steps)) == list(range(10, total + 1, 10))  # no line twice, none lost


def test_a_locked_run_is_refused_before_anything_in_it_is_written(runs_root, capsys):
    assert main(["run", "linreg", "--name", "held", "total_steps=20", *FAST]) == 0
    run = runs_root / "linreg" / "held"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    capsys.readouterr()
    # a flock belongs to an open file, so the test's own lock blocks a resume in this process
    # exactly as another process's would
    lock = RunLock(run)
    lock.acquire()
    try:
        assert main(["resume", str(run), "total_steps=40", *FAST]) == 2
        err = capsys.readouterr().err
        assert f"still being trained by process {os.getpid()} on host {socket.gethostname()}" in err
        assert main(["run", "linreg", "--name", "held"]) == 2  # a new run under the same name
        assert "still being trained" in capsys.readouterr().err
    finally:
        lock.release()
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before
    assert main(["resume", str(run), "total_steps=40", *FAST]) == 0  # released: fine now


def test_resume_is_not_refused_when_the_recorded_trainer_pid_is_the_resumers_own(runs_root):
    """In a container every trainer is PID 1: a killed run's run.json names the PID that the
    resuming process has itself. Only the lock decides, so the resume goes ahead."""
    assert main(["run", "linreg", "--name", "pid1", "total_steps=50", *FAST]) == 0
    run = runs_root / "linreg" / "pid1"
    info = json.loads((run / "run.json").read_text())
    info.update(status="running", pid=os.getpid(), host=socket.gethostname())  # as after kill -9
    (run / "run.json").write_text(json.dumps(info))
    assert main(["resume", str(run), "total_steps=100", *FAST]) == 0
    assert _state(run)["step"] == 100


def _unshare_works() -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"unshare --pid --fork refused: {probe.stderr.strip()}"


@pytest.mark.skipif(_unshare_works() is not None, reason=str(_unshare_works()))
@pytest.mark.slow
def test_a_run_killed_as_pid_1_in_a_pid_namespace_resumes_as_pid_1_again(runs_root):
    ns = ("unshare", "--pid", "--fork")
    run = runs_root / "linreg" / "container"
    proc = _start("run", "linreg", "--name", "container", "total_steps=100000",
                  "sleep_per_step=0.01", *FAST, prefix=ns)
    try:
        _wait_for(lambda: (run / "checkpoints" / "latest.pt").exists())
        assert json.loads((run / "run.json").read_text())["pid"] == 1  # it really was PID 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the container is killed, no checkpoint at exit
        proc.communicate(timeout=60)
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    step = int(checkpoint.load(run / "checkpoints" / "latest.pt")["step"])
    resumed = subprocess.run([*ns, sys.executable, "-m", "workbench", "resume", str(run),
                              f"total_steps={step + 50}", *FAST], cwd=REPO, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _state(run)["status"] == "finished" and _state(run)["step"] == step + 50


def test_temp_files_of_a_killed_checkpoint_write_are_removed_on_resume(runs_root, caplog):
    assert main(["run", "linreg", "--name", "tmp", "total_steps=50", *FAST]) == 0
    run = runs_root / "linreg" / "tmp"
    leftovers = [run / "checkpoints" / "latest.pt.tmp-4242", run / ".metrics.jsonl.tmp-4243"]
    for path in leftovers:
        path.write_bytes(b"\0" * 300_000)  # what kill -9 in the middle of a write leaves
    keep = run / "media" / "notes.tmp-draft"  # not a <name>.tmp-<pid> file: not ours to delete
    keep.write_text("x")
    with caplog.at_level("WARNING", logger="workbench"):
        assert main(["resume", str(run), "total_steps=60", *FAST]) == 0
    assert not any(p.exists() for p in leftovers)
    assert any("removed 2 temp file(s)" in m and "latest.pt.tmp-4242 (0.3 MB)" in m
               for m in caplog.messages), caplog.messages
    assert keep.exists()
