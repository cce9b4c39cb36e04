"""`workbench sweep`: grid / random expansion, restart semantics, and the W&B sweep path offline."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from workbench.commands.cli import main
from workbench.errors import UserError
from workbench.studies.sweep import parse_axis, points, run_names
from workbench.toy_config import LinRegConfig


def _axes(*args: str):
    return [parse_axis(a, LinRegConfig) for a in args]


def test_grid_is_the_product_and_single_values_apply_to_every_run():
    axes = _axes("lr=1e-4,3e-4", "seed=0,1,2", "total_steps=3e3")
    pts = points(axes, None)
    assert len(pts) == 6
    assert {(p["optim.lr"], p["seed"]) for p in pts} == {(lr, s) for lr in (1e-4, 3e-4) for s in (0, 1, 2)}
    assert all(p["total_steps"] == 3000 for p in pts)  # typed: "3e3" became the int 3000
    names = run_names("study", pts, axes, None)
    assert names[0] == "study_lr0.0001_seed0" and len(set(names)) == 6
    assert all("total_steps" not in n for n in names)  # only what varies is in the name


def test_random_draws_are_reproducible_and_inside_the_ranges():
    axes = _axes("lr=loguniform(1e-5,1e-3)", "momentum=uniform(0.5,0.99)", "features=randint(2,4)",
                 "seed=choice(0,1)")
    first, again = points(axes, 20, sample_seed=7), points(axes, 20, sample_seed=7)
    assert first == again and first != points(axes, 20, sample_seed=8)
    assert all(1e-5 <= p["optim.lr"] <= 1e-3 and 0.5 <= p["optim.momentum"] <= 0.99 for p in first)
    assert {p["features"] for p in first} <= {2, 3, 4} and {p["seed"] for p in first} == {0, 1}
    # log-uniform: about as many draws below 1e-4 as above
    assert 4 <= sum(p["optim.lr"] < 1e-4 for p in first) <= 16


def test_ranges_need_random_and_bad_keys_are_user_errors(capsys):
    with pytest.raises(UserError, match="--random K"):
        points(_axes("lr=loguniform(1e-5,1e-3)"), None)
    assert main(["sweep", "linreg", "lrr=1,2"]) == 2
    assert "unknown config key 'lrr'" in capsys.readouterr().err
    assert main(["sweep", "linreg", "features=uniform(1,8)", "--random", "2"]) == 2  # int key
    assert main(["sweep", "linreg", "lr=abc,0.1"]) == 2


def test_wandb_sweep_without_login_says_how_to_log_in(runs_root, capsys, monkeypatch):
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("HOME", str(runs_root.parent))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(runs_root.parent / "no-netrc"))
    t = time.perf_counter()
    code = main(["sweep", "linreg", "lr=0.01,0.05", "seed=0,1", "total_steps=100",
                 "--name", "wb", "--wandb-sweep", "--metric", "eval/mse", "--goal", "min"])
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - t < 10  # no network call that hangs
    assert "wandb login" in err and "WANDB_API_KEY" in err and "Traceback" not in err
    # the sweep config is kept for later: same values, and agents run `workbench run`
    saved = yaml.safe_load((runs_root / "linreg" / "_sweep-wb" / "wandb-sweep.yaml").read_text())
    assert saved["method"] == "grid" and saved["metric"] == {"name": "eval/mse", "goal": "minimize"}
    assert saved["parameters"]["optim.lr"] == {"values": [0.01, 0.05]}
    assert saved["parameters"]["total_steps"] == {"value": 100}
    assert saved["command"][2:6] == ["-m", "workbench", "run", "linreg"]
    assert saved["command"][-1] == "${args_no_hyphens}"


def test_wandb_sweep_with_wandb_offline_is_a_user_error(monkeypatch, capsys):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert main(["sweep", "linreg", "seed=0,1", "--wandb-sweep", "--wandb", "offline"]) == 2
    assert "needs W&B online" in capsys.readouterr().err


def _status(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


@pytest.mark.slow
def test_sweep_restart_skips_finished_runs_and_resumes_the_interrupted_one(runs_root, capsys):
    args = ["sweep", "linreg", "seed=0,1", "total_steps=60", "log_every=20", "checkpoint_every=10",
            "eval_every=0", "sleep_per_step=0.05", "--name", "rs", "--wandb", "disabled"]
    first = runs_root / "linreg" / "rs_seed0"
    second = runs_root / "linreg" / "rs_seed1"

    def stop_when_first_has_a_checkpoint() -> None:
        deadline = time.time() + 180
        while time.time() < deadline and not (first / "checkpoints" / "latest.pt").exists():
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)  # the sweep forwards it to its running child

    stopper = threading.Thread(target=stop_when_first_has_a_checkpoint, daemon=True)
    stopper.start()
    assert main(args) == 128 + signal.SIGTERM
    stopper.join()
    assert _status(first)["status"] == "interrupted" and 10 <= _status(first)["step"] < 60
    assert not second.exists()
    assert "run the same command again" in capsys.readouterr().out

    assert main([*args, "--parallel", "2"]) == 0  # resumes the first while starting the second
    out = capsys.readouterr().out
    assert "1 to start, 1 to resume" in out
    logs = runs_root / "linreg" / "_sweep-rs"
    assert {p.name for p in logs.glob("*.log")} == {"rs_seed0.log", "rs_seed1.log"}
    for run in (first, second):
        assert _status(run)["status"] == "finished" and _status(run)["step"] == 60
    steps = [r["step"] for r in map(json.loads, (first / "metrics.jsonl").read_text().splitlines())
             if "train/loss" in r]
    assert steps == [20, 40, 60]  # the curve continues; nothing is logged twice

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "0 to start, 0 to resume, 2 done" in out
    # it ends with its runs ranked by the plugin's primary metric (linreg: eval/mse, lower)
    table = out.split("ranked by final eval/mse (lower is better)")[1].splitlines()[3:5]
    assert sorted(row.split()[1] for row in table) == ["rs_seed0", "rs_seed1"]


def test_wandb_sweep_optimises_the_plugins_primary_metric_by_default(runs_root):
    assert main(["sweep", "linreg", "lr=0.01,0.05", "--name", "pm", "--wandb-sweep", "--dry-run"]) == 0
    saved = yaml.safe_load((runs_root / "linreg" / "_sweep-pm" / "wandb-sweep.yaml").read_text())
    assert saved["metric"] == {"name": "eval/mse", "goal": "minimize"}  # declared at registration
