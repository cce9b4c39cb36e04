"""The command line: fast start-up, clear errors, the run directory layout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO, cli, only_run, read_metrics


def _modules_after(argv: list[str]) -> set[str]:
    code = ("import sys, contextlib, io\nfrom workbench.commands.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    main({argv!r})\n"
            "print(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return set(out.stdout.split())


def test_list_describe_and_help_import_neither_torch_nor_wandb_nor_plugins():
    for argv in (["list"], ["describe", "linreg-quick"], []):
        mods = _modules_after(argv)
        heavy = {m for m in mods if m.split(".")[0] in ("torch", "wandb", "numpy")}
        assert not heavy, (argv, sorted(heavy)[:5])
        assert "workbench.toy" not in mods  # the plugin module itself stays unimported


def test_python_dash_m_and_the_console_script_are_the_same_command():
    a = cli("--help")
    script = Path(sys.executable).with_name("workbench")  # the venv's console script
    b = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert a.returncode == 0 and b.returncode == 0
    assert a.stdout.replace("__main__.py", "workbench") == b.stdout
    assert "describe" in a.stdout and "resume" in a.stdout


def test_list_shows_name_kind_and_description_of_plugins_and_presets():
    out = cli("list").stdout
    line = next(x for x in out.splitlines() if x.startswith("linreg-quick"))
    assert "generator" in line and "preset of linreg" in line and "100 steps" in line


def test_describe_prints_every_field_with_type_default_and_doc():
    out = cli("describe", "linreg-quick").stdout
    row = next(x for x in out.splitlines() if x.startswith("optim.lr"))
    assert "float" in row and "0.05" in row and "SGD learning rate" in row
    total = next(x for x in out.splitlines() if x.startswith("total_steps"))
    assert " 100 " in total  # the preset's value, not the plugin default


def test_unknown_plugin_is_exit_2_with_a_suggestion(runs_root):
    r = cli("run", "linreg-quik")
    assert r.returncode == 2
    assert 'Did you mean "linreg-quick"' in r.stderr and "Traceback" not in r.stderr
    assert not runs_root.exists()


@pytest.mark.slow
def test_unknown_key_and_bad_type_are_exit_2_and_leave_no_run_directory(runs_root):
    r = cli("run", "linreg-quick", "total_step=5")
    assert r.returncode == 2 and 'Did you mean "total_steps"' in r.stderr
    r = cli("run", "linreg-quick", "lr=fast")
    assert r.returncode == 2 and "optim.lr" in r.stderr and "number" in r.stderr
    assert "Traceback" not in r.stderr
    assert not runs_root.exists() or not any(runs_root.rglob("run.json"))


@pytest.mark.slow
def test_run_writes_config_metrics_checkpoint_and_media(runs_root):
    r = cli("run", "linreg-quick", "--name", "a", "lr=0.1", "seed=3")
    assert r.returncode == 0, r.stderr
    run = only_run(runs_root, "linreg-quick")
    assert run.name == "a"
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["optim"]["lr"] == 0.1 and cfg["seed"] == 3 and cfg["total_steps"] == 100
    rows = read_metrics(run)
    assert all("step" in r and "time" in r for r in rows)
    train = [r for r in rows if "train/loss" in r]
    assert [r["step"] for r in train] == list(range(10, 101, 10))
    assert all(r["perf/sps"] > 0 for r in train)
    assert train[-1]["train/loss"] < train[0]["train/loss"] / 10  # it learned
    assert any("eval/mse" in r for r in rows)
    assert (run / "checkpoints" / "latest.pt").is_file()
    assert list((run / "media").glob("eval_weights_*.png"))


@pytest.mark.slow
def test_progress_is_plain_lines_when_output_is_not_a_terminal(runs_root):
    r = cli("run", "linreg-quick")
    lines = [x for x in r.stderr.splitlines() if x.startswith("[linreg-quick/")]
    assert len(lines) >= 10 and "steps/s" in lines[-1] and "100/100" in lines[-1]
    assert "\r" not in r.stderr


@pytest.mark.slow
def test_same_run_name_twice_is_refused(runs_root):
    assert cli("run", "linreg-quick", "--name", "x").returncode == 0
    r = cli("run", "linreg-quick", "--name", "x")
    assert r.returncode == 2 and "already exists" in r.stderr and "workbench resume" in r.stderr


@pytest.mark.slow
def test_sample_and_eval_read_the_last_checkpoint(runs_root):
    assert cli("run", "linreg-quick", "--name", "s").returncode == 0
    run = runs_root / "linreg-quick" / "s"
    r = cli("sample", str(run), "--n", "3", "--seed", "1")
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 3
    r = cli("eval", str(run))
    assert r.returncode == 0 and "eval/mse" in r.stdout


def test_missing_run_directory_is_a_clear_error(tmp_path):
    r = cli("resume", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no run directory" in r.stderr


@pytest.mark.slow
def test_progress_is_a_live_bar_on_a_terminal(runs_root):
    import os
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI with a terminal on stdout/stderr
        os.execv(sys.executable, [sys.executable, "-m", "workbench", "run", "linreg-quick",
                                  "sleep_per_step=0.005"])
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    out = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert "\r" in out and "100/100" in out and "step/s" in out  # tqdm redraws one line
    assert "[linreg-quick/" not in out  # not the plain-line format


def test_output_into_a_closed_pipe_is_not_a_traceback():
    # `true` exits at once, so the CLI writes into a pipe nobody reads
    p = subprocess.run(f"{sys.executable} -m workbench describe linreg | true", shell=True,
                       capture_output=True, text=True, cwd=REPO)
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr
