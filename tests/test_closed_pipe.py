"""Output into a closed pipe (`workbench resume RUN | head -1`) stops the output, not the run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from helpers import REPO, read_metrics

from workbench.commands.cli import main
from workbench.engine.console import PipeSafe


@pytest.mark.slow
def test_resume_piped_into_head_finishes_the_run(runs_root):
    assert main(["run", "linreg", "--name", "piped", "total_steps=50", "--wandb", "disabled"]) == 0
    run = runs_root / "linreg" / "piped"
    # progress lines keep coming (2>&1) long after `head` has read one and closed the pipe
    cmd = (f"{sys.executable} -m workbench resume {run} total_steps=400 log_every=10 "
           "sleep_per_step=0.005 --wandb disabled 2>&1 | head -1; exit ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True,
                          env=os.environ, timeout=300)
    assert done.stdout.startswith("workbench: resuming linreg at step 50")
    assert done.returncode == 0, done.stderr
    info = json.loads((run / "run.json").read_text())
    assert (info["status"], info["step"]) == ("finished", 400)
    assert read_metrics(run)[-1]["step"] == 400


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no fd")


def test_a_write_into_a_closed_pipe_is_swallowed_and_later_writes_too():
    stream = PipeSafe(_ClosedPipe())
    assert stream.write("one line\n") == 9  # no exception
    assert stream.reader_gone
    stream.write("and more\n")
    stream.flush()


def test_other_write_errors_are_not_hidden():
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):  # only a closed pipe is swallowed
        PipeSafe(Full()).write("x")
