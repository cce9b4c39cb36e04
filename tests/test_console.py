"""What a run prints: the primary metric while it runs, one line per evaluation, a closing
summary; plain lines without carriage returns into a pipe; a bar that fits the terminal."""

from __future__ import annotations

import fcntl
import io
import os
import re
import struct
import subprocess
import sys
import termios

import pytest
from helpers import REPO, cli

from workbench.engine.progress import Progress


@pytest.mark.slow
def test_piped_run_shows_primary_metric_one_eval_line_each_and_a_summary(runs_root):
    r = cli("run", "linreg-quick", "--name", "p", "--wandb", "offline")
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "\r" not in out
    evals = [line for line in out.splitlines() if line.startswith("eval @ step")]
    # linreg-quick evaluates at 50 and 100: one line each, primary metric first, with its best
    assert [line.split(":")[0] for line in evals] == ["eval @ step 50", "eval @ step 100"]
    assert all(re.match(r"eval @ step \d+: eval/mse \S+ \(best \S+ @ \d+\), eval/weight_error", e)
               for e in evals)
    lines = [x for x in out.splitlines() if x.startswith("[linreg-quick/p]")]
    assert len(lines) == 10
    assert "eval/mse" not in lines[0] and "| train/loss" in lines[0]  # no eval yet at step 10
    assert "| eval/mse" in lines[-1] and "(best" in lines[-1] and "| train/loss" in lines[-1]
    tail = out[out.index("finished linreg-quick/p at step 100 of 100"):]
    assert re.search(r"eval/mse: final \S+, best \S+ at step (50|100) \(lower is better\)", tail)
    assert "steps/s" in tail and f"run directory: {runs_root / 'linreg-quick' / 'p'}" in tail
    assert re.search(r"W&B: wandb sync \S+/wandb/offline-run-\S+", tail)


def test_the_rate_is_recent_not_the_average_since_start():
    now = [0.0]
    lines = []

    class Pipe:
        def isatty(self) -> bool:
            return False

        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    p = Progress("g/r", 3000, stream=Pipe(), clock=lambda: now[0], bar=False)
    now[0] = 0.1
    p.update(1000)  # 10,000 steps/s while filling a buffer, say
    p.show({"train/loss": 1.0})
    now[0] = 10.1
    p.update(2000)  # then 100 steps/s once learning starts
    p.show({"train/loss": 0.5})
    text = "".join(lines)
    assert "10,000.0 steps/s" in text and "100.0 steps/s" in text  # not 198 (average)


def test_headline_train_metric_is_the_one_the_plugin_declares():
    from workbench import registry

    assert registry.resolve("dqn-cartpole")[0].train_metric == "train/episode_return"
    p = Progress("g/r", 10, enabled=False, headline="train/episode_return")
    p._remember({"train/loss": 1.0, "train/epsilon": 0.5, "train/episode_return": 9.0}, 1)
    assert p.items() == ["train/episode_return 9"]
    p = Progress("g/r", 10, enabled=False)  # undeclared: train/loss
    p._remember({"train/epsilon": 0.5, "train/loss": 1.0}, 1)
    assert p.items() == ["train/loss 1"]


def _run_in_terminal(columns: int, *args: str) -> str:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "workbench", *args], stdin=slave, stdout=slave,
                         stderr=slave, cwd=REPO)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert p.wait() == 0, b"".join(chunks).decode(errors="replace")
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_the_bar_fits_an_80_column_terminal_with_the_primary_metric_and_its_best(runs_root):
    out = _run_in_terminal(80, "run", "linreg-quick", "sleep_per_step=0.01", "--wandb", "disabled")
    drawn = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", part) for part in re.split(r"[\r\n]", out)]
    bars = [d for d in drawn if "%|" in d]
    assert bars and all(len(b) <= 80 for b in bars)
    final = [b for b in bars if "100/100" in b][-1]
    assert re.search(r"mse \S+ \(best \S+\)", final)  # latest and best, not cut mid-name
    assert len(re.search(r"\|([^|]*)\|", final).group(1)) >= 8  # the bar itself stays visible
    assert "eval @ step 100: eval/mse" in out and "finished linreg-quick/" in out


def test_music_corpus_parse_writes_no_carriage_return_into_a_pipe(tmp_path, monkeypatch, capsys):
    from workbench.generators.music.corpus import load_pieces

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    pieces, _ = load_pieces("", "soprano", "none", 2)
    err = capsys.readouterr().err
    assert len(pieces) == 2 and "\r" not in err and "parsing 2 music files" in err


def test_a_resumed_runs_best_includes_the_earlier_sessions(capsys):
    history = [{"step": 10, "eval/mse": 0.1}, {"step": 20, "eval/mse": 0.3}]
    p = Progress("g/r", 40, initial=20, primary=("eval/mse", "min"), history=history, bar=False)
    p.evaluation(30, {"eval/mse": 0.2})
    assert "eval @ step 30: eval/mse 0.2 (best 0.1 @ 10)" in capsys.readouterr().err
    assert "best 0.1 at step 10" in p.summary("finished", "runs/g/r")


def test_in_jupyter_with_ipywidgets_the_bar_is_tqdms_widget_across_the_cell(monkeypatch, capsys):
    """The [notebook] extra's ipywidgets gives wb.run a live widget: one that spans the cell
    (a column count would be read as pixels), its eval lines and summary on stdout."""
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm as widget

    from workbench.engine import progress

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    stream = io.StringIO()
    bar = Progress("dqn-cartpole/x", total=100, stream=stream, primary=("eval/return", "max"))
    assert isinstance(bar._bar, widget) and bar._bar.container.layout.width == "100%"
    bar.update(50)
    bar.evaluation(50, {"eval/return": 20.0})
    bar.close("finished dqn-cartpole/x")
    out = capsys.readouterr().out
    assert "eval @ step 50: eval/return 20" in out and "finished dqn-cartpole/x" in out
    assert stream.getvalue() == ""  # nothing went to stderr's red block


def test_in_jupyter_without_ipywidgets_a_hint_names_the_extra_and_a_text_bar_runs(monkeypatch,
                                                                                   capsys):
    from tqdm.notebook import tqdm as widget

    from workbench.engine import progress

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "_hinted", [])
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets -> ImportError
    for _ in range(2):
        bar = Progress("dqn-cartpole/x", total=10, stream=io.StringIO())
        assert bar._bar is not None and not isinstance(bar._bar, widget)
        bar.close()
    err = capsys.readouterr().err
    assert err.count("pip install 'workbench[notebook]'") == 1
