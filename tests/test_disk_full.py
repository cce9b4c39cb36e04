"""A full disk during a checkpoint: a clear message and exit 4, the previous checkpoint intact,
run.json `failed` with the reason; and a warning at the start when the disk is too small."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import REPO

from workbench.commands.cli import main
from workbench.engine import checkpoint
from workbench.engine.checkpoint import DiskFullError


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (needs root); skipped with the reason where mounting is refused."""
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {(r.stderr or r.stdout).strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _fill(disk: Path) -> Path:
    """Write a file until the disk is full (what another program's output does)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (65536, 512, 1):  # down to the last bytes of the last page
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


@pytest.mark.slow
def test_a_run_whose_disk_fills_up_stops_with_a_clear_message_and_resumes_later(small_disk):
    env = {**os.environ, "WORKBENCH_RUNS": str(small_disk)}
    run = small_disk / "linreg" / "full"
    ckpt = run / "checkpoints" / "latest.pt"
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "run", "linreg", "--name", "full",
                             "total_steps=100000", "sleep_per_step=0.005", "log_every=10",
                             "eval_every=0", "checkpoint_every=50", "--wandb", "disabled"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 120
        while not ckpt.exists() and time.time() < end:
            time.sleep(0.05)
        filler = _fill(small_disk)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 4, err[-3000:]
    assert "Traceback" not in err and "unexpected pos" not in err
    assert f"disk full: the checkpoint {ckpt} needs about" in err and "is free on that disk" in err
    assert re.search(rf"The previous checkpoint {re.escape(str(ckpt))} \(step \d+\) is intact", err)
    assert f"workbench resume {run}" in err
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed" and info["reason"].startswith("disk full")
    step = int(checkpoint.load(ckpt)["step"])  # the previous checkpoint loads
    assert step >= 50 and not list(ckpt.parent.glob("*.tmp-*"))

    filler.unlink()  # space freed: the run continues from that checkpoint
    assert main(["resume", str(run), f"total_steps={step + 20}", "sleep_per_step=0",
                 "--wandb", "disabled"]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["step"] == step + 20 and info["reason"] is None


def _torch_save_on_a_full_disk(obj, f):
    """What torch.save does when the file's write hits ENOSPC: a RuntimeError whose context
    is the OSError."""
    f.write(b"PK" * 1000)
    try:
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None


@pytest.mark.parametrize("where", ["tmpfs", "simulated"])
def test_enospc_in_the_middle_of_a_checkpoint_write_is_a_disk_full_error(where, tmp_path, request,
                                                                        monkeypatch):
    if where == "tmpfs":
        folder = request.getfixturevalue("small_disk")
        big = {"w": torch.zeros(1_000_000)}  # 4 MB on a 2 MB disk
        monkeypatch.setattr(checkpoint, "estimate_bytes", lambda obj: 1000)  # let it start writing
    else:
        folder = tmp_path
        big = {"w": torch.zeros(10)}
    path = folder / "latest.pt"
    checkpoint.save({"step": 1}, path)
    if where == "simulated":
        monkeypatch.setattr(torch, "save", _torch_save_on_a_full_disk)
    with pytest.raises(DiskFullError) as e:
        checkpoint.save({"step": 2, **big}, path)
    assert e.value.previous_intact and str(path) in str(e.value)
    assert checkpoint.load(path)["step"] == 1
    assert [p.name for p in folder.iterdir()] == ["latest.pt"]  # the partial temp file is gone


def test_a_checkpoint_larger_than_the_free_space_is_refused_before_writing(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    checkpoint.save({"step": 1}, path)
    writes = []
    monkeypatch.setattr(checkpoint, "free_bytes", lambda folder: 3_000_000)
    monkeypatch.setattr(torch, "save", lambda *a, **k: writes.append(a))
    with pytest.raises(DiskFullError, match=r"needs about 4\.\d MB and only 3\.0 MB is free"):
        checkpoint.save({"step": 2, "w": torch.zeros(1_000_000)}, path)
    assert writes == []  # nothing was written


def test_the_size_estimate_covers_what_torch_writes(tmp_path):
    state = {"a": torch.randn(300, 300), "b": [torch.zeros(1000, dtype=torch.uint8)] * 3,
             "view": torch.arange(10_000)[:10], "n": 3, "s": "text"}
    path = checkpoint.save(state, tmp_path / "c.pt")
    actual, estimate = path.stat().st_size, checkpoint.estimate_bytes(state)
    assert actual <= estimate <= actual * 1.02 + 70_000


def test_the_pong_replay_buffer_counts_at_its_full_size():
    from workbench.agents.dqn.replay import ReplayBuffer

    buffer = ReplayBuffer(100_000, 8, (84, 84))  # the dqn-pong preset; zeros are not touched
    assert 700e6 < buffer.nbytes < 720e6
    assert buffer.state_dict()["frames"].numel() == 0  # what state_dict holds at the start


def test_a_run_warns_at_start_when_the_disk_cannot_hold_two_checkpoints(runs_root, monkeypatch,
                                                                       caplog):
    monkeypatch.setattr(checkpoint, "free_bytes", lambda folder: 100_000)  # one ~70 kB fits
    with caplog.at_level("WARNING", logger="workbench"):
        assert main(["run", "linreg", "--name", "tight", "total_steps=20", "--wandb", "disabled"]) == 0
    warning = next(m for m in caplog.messages if "needs room for two" in m)
    assert "has 100.0 kB free" in warning and "room for only one" in warning


@pytest.mark.parametrize("write", [
    lambda lg: lg.log_html("explain/page", "<p>x</p>", step=1),
    lambda lg: lg.log_text("samples/text", "to be or not", step=1),
    lambda lg: lg.log_file("sample.mid", b"MThd", step=1),
    lambda lg: lg.log_image("eval/samples", torch.zeros(3, 8, 8), step=1),
], ids=["html", "text", "file", "image"])
def test_a_media_write_that_fails_is_one_warning_and_the_metrics_go_on(write, tmp_path, caplog):
    """A full disk fails the folder's mkdir as it fails the file: both are inside the logger's
    disk guard for every kind of media (log_html made its folder and wrote outside it)."""
    from workbench.logger import Logger

    (tmp_path / "media").write_text("a file where the media folder goes: every write fails")
    logger = Logger(tmp_path)
    with caplog.at_level("WARNING", logger="workbench"):
        assert write(logger) is None
        assert write(logger) is None
    logger.log({"train/loss": 1.0}, step=2)
    logger.close()
    warnings = [r.getMessage() for r in caplog.records if "writing media" in r.getMessage()]
    assert len(warnings) == 1 and "training goes on without it" in warnings[0]
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["train/loss"] == 1.0
