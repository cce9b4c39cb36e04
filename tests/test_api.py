"""The Python API a notebook uses: wb.run / load / rerun / compare, in-process, on the toy plugin."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO, read_metrics

import workbench as wb
from workbench.errors import ConfigError, RunFailed, UserError

QUICK = {"total_steps": 40, "log_every": 10, "eval_every": 20, "checkpoint_every": 20}


def test_run_returns_metrics_config_and_the_best_primary_metric(runs_root):
    pd = pytest.importorskip("pandas")
    r = wb.run("linreg-quick", run_name="nb", wandb="disabled", progress=False,
               **{**QUICK, "optim.lr": 0.03})
    assert r.path == runs_root / "linreg-quick" / "nb" and r.status == "finished"
    assert r.config["optim"]["lr"] == 0.03 and r.config["total_steps"] == 40
    m = r.metrics
    assert isinstance(m, pd.DataFrame) and list(m["step"].dropna().unique()) == [10, 20, 30, 40]
    evals = [(x["step"], x["eval/mse"]) for x in read_metrics(r.path) if "eval/mse" in x]
    best = min(evals, key=lambda e: e[1])
    assert r.best() == wb.Best("eval/mse", best[1], best[0], "min")
    assert wb.load(r.path).best() == r.best() and "finished" in repr(wb.load(r.path))
    assert r.best("train/loss").goal == "min" and r.best("eval/nothing") is None


def test_rerun_and_compare_twice(runs_root):
    a = wb.run("linreg-quick", run_name="a", wandb="disabled", progress=False, **QUICK)
    b = wb.rerun(a, seed=1, run_name="b", progress=False)
    assert b.config["seed"] == 1 and b.config["total_steps"] == 40
    c = wb.compare([a, b])
    assert c.metric == "eval/mse" and c.lower and "2 runs, ranked by final eval/mse" in repr(c)
    table = wb.compare([a.path, b.path]).table  # a second call: wb.compare is still the function
    assert sorted(table["run"]) == ["a", "b"]
    curves = c.curves
    assert set(curves.columns) == {"run", "step", "metric", "value"}


def test_metrics_are_a_list_of_dicts_without_pandas(runs_root, monkeypatch):
    r = wb.run("linreg-quick", run_name="plain", wandb="disabled", progress=False, **QUICK)
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails
    rows = r.metrics
    assert isinstance(rows, list) and rows[0]["step"] == 10 and "train/loss" in rows[0]


def test_errors_raise_the_clis_exceptions_instead_of_exiting(runs_root):
    with pytest.raises(ConfigError, match="unknown config key 'noize'. Did you mean \"noise\""):
        wb.run("linreg", noize=0.1)
    with pytest.raises(UserError, match="unknown plugin or preset 'linreg-qiuck'"):
        wb.run("linreg-qiuck")
    with pytest.raises(UserError, match="no run directory"):
        wb.load(runs_root / "nothing")
    with pytest.raises(RunFailed, match="exit code 3") as failed:
        wb.run("linreg", run_name="nan", wandb="disabled", progress=False, nan_at_step=5, **QUICK)
    assert failed.value.exit_code == 3 and failed.value.run_dir == runs_root / "linreg" / "nan"
    # the bad inputs left no run directory behind; the failed run keeps its own
    assert [p.name for p in (runs_root / "linreg").iterdir()] == ["nan"]


def test_import_workbench_stays_light_and_from_workbench_import_run_works():
    code = ("import sys, workbench; from workbench import run, compare, load; "
            "assert callable(run) and callable(compare) and callable(load); "
            "heavy = [m for m in ('torch', 'wandb', 'pandas') if m in sys.modules]; "
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
