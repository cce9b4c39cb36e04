"""Configs from files, reruns of run directories, what run.json records, `workbench runs`."""

from __future__ import annotations

import json
import re
import time

import yaml
from helpers import read_metrics

from workbench.commands.cli import build_parser, main

QUICK = ["total_steps=40", "log_every=10", "eval_every=20", "checkpoint_every=20"]


def _numbers(run_dir) -> list[dict]:
    """The metrics, times aside (time and perf/ are wall-clock measurements)."""
    return [{k: v for k, v in r.items() if k != "time" and not k.startswith("perf/")}
            for r in read_metrics(run_dir)]


def test_rerun_gives_the_same_metrics_under_the_same_seed(runs_root, capsys):
    assert main(["run", "linreg-quick", "--name", "a", "seed=3", "optim.lr=0.03", *QUICK]) == 0
    first = runs_root / "linreg-quick" / "a"
    assert main(["rerun", str(first), "--name", "b"]) == 0
    again = runs_root / "linreg-quick" / "b"
    assert yaml.safe_load((again / "config.yaml").read_text()) == \
        yaml.safe_load((first / "config.yaml").read_text())
    assert _numbers(again) == _numbers(first) and len(_numbers(first)) == 6
    # an override on top: another seed, other numbers
    assert main(["rerun", str(first), "seed=4", "--name", "c"]) == 0
    assert _numbers(runs_root / "linreg-quick" / "c") != _numbers(first)


def test_a_rerun_keeps_the_defaults_a_run_had_where_its_preset_changed_since(runs_root):
    # a dqn-pong run saved before env.screen_size existed ran at 84x84; the preset now says 56
    from workbench.commands.configfile import rerun_args
    from workbench.engine.runs import RunDir

    info = dict(plugin="dqn", preset="dqn-pong", wandb_id="x", created=0.0, tags=[],
                project="workbench")
    old = {"seed": 2, "lr": 1e-4, "env": {"id": "ALE/Pong-v5", "num_envs": 8}}
    run = RunDir.create("dqn-pong", "old", info, old, root=runs_root)
    name, merged, _ = rerun_args(run.path, {"seed": 5})
    assert name == "dqn-pong" and merged["seed"] == 5 and merged["lr"] == 1e-4
    assert merged["env.screen_size"] == 84 and merged["env.num_envs"] == 8
    # and a run saved with the field keeps its value
    new = RunDir.create("dqn-pong", "new", info, {**old, "env": {**old["env"], "screen_size": 56}},
                        root=runs_root)
    assert rerun_args(new.path, {})[1]["env.screen_size"] == 56


def test_a_runs_own_config_yaml_runs_again_with_overrides_on_top(runs_root):
    assert main(["run", "linreg-quick", "--name", "a", *QUICK]) == 0
    saved = runs_root / "linreg-quick" / "a" / "config.yaml"
    assert main(["run", "--config", str(saved), "total_steps=20", "--name", "b"]) == 0
    cfg = yaml.safe_load((runs_root / "linreg-quick" / "b" / "config.yaml").read_text())
    assert cfg["total_steps"] == 20 and cfg["eval_every"] == 20  # the file, then the command line


def test_a_hand_written_subset_names_its_preset(runs_root, tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("preset: linreg-quick\noptim:\n  lr: 0.07\nnoise: 0.2\ntotal_steps: 20\n")
    assert main(["run", "--config", str(f), "seed=5", "--name", "s"]) == 0
    run = runs_root / "linreg-quick" / "s"
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert (cfg["optim"]["lr"], cfg["noise"], cfg["seed"]) == (0.07, 0.2, 5)
    assert cfg["checkpoint_every"] == 50  # the preset's value under the file's


def test_an_unknown_key_in_a_file_is_the_command_lines_error(runs_root, tmp_path, capsys):
    assert main(["run", "linreg", "optim.lrr=0.1"]) == 2
    on_command_line = capsys.readouterr().err.strip().removeprefix("error: ")
    f = tmp_path / "bad.yaml"
    f.write_text("plugin: linreg\noptim:\n  lrr: 0.1\n")
    assert main(["run", "--config", str(f)]) == 2
    from_file = capsys.readouterr().err.strip()
    assert from_file == f"error: {f}: {on_command_line}"
    assert "unknown config key 'optim.lrr'" in from_file and 'Did you mean "optim.lr"' in from_file
    assert not runs_root.exists() or not any(runs_root.rglob("run.json"))


def test_a_file_naming_nothing_and_unsafe_yaml_are_clear_errors(runs_root, tmp_path, capsys):
    f = tmp_path / "anon.yaml"
    f.write_text("total_steps: 20\n")
    assert main(["run", "--config", str(f)]) == 2
    assert "names no plugin or preset" in capsys.readouterr().err
    marker = tmp_path / "pwned"
    f.write_text(f"plugin: linreg\nx: !!python/object/apply:os.system ['touch {marker}']\n")
    assert main(["run", "--config", str(f)]) == 2
    assert "is not valid YAML" in capsys.readouterr().err and not marker.exists()


def test_run_json_records_device_precision_versions_commit_command_and_world_size(runs_root):
    assert main(["run", "linreg-quick", "--name", "p", *QUICK]) == 0
    info = json.loads((runs_root / "linreg-quick" / "p" / "run.json").read_text())
    from workbench.precision import auto_cpu
    from workbench.toy_config import LinRegConfig

    # auto is resolved per plugin and CPU (bf16 with AMX, else fp32); run.json has the result
    expected = auto_cpu(getattr(LinRegConfig, "auto_cpu_precision", "bf16-with-amx"))
    assert info["device"] == "cpu" and info["precision"] == expected
    import platform

    import torch

    import workbench

    assert info["versions"] == {"python": platform.python_version(), "torch": torch.__version__,
                                "workbench": workbench.__version__}
    assert re.fullmatch(r"[0-9a-f]{40}", info["git_commit"])  # this checkout is a git repo
    assert isinstance(info["git_dirty"], bool)
    assert info["command"] == "workbench run linreg-quick --name p " + " ".join(QUICK)
    assert info["world_size"] == 1


def test_version_and_verbose_after_the_verb(capsys):
    import pytest

    import workbench

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"workbench {workbench.__version__}"
    parser = build_parser()
    assert parser.parse_known_args(["run", "linreg", "-v"])[0].verbose is True
    assert parser.parse_known_args(["-v", "list"])[0].verbose is True
    assert parser.parse_known_args(["list"])[0].verbose is False


def test_runs_lists_name_preset_status_steps_best_metric_and_age(runs_root, capsys):
    assert main(["run", "linreg-quick", "--name", "done", *QUICK]) == 0
    assert main(["run", "linreg", "--name", "other", *QUICK]) == 0
    dead = runs_root / "linreg" / "other" / "run.json"
    info = json.loads(dead.read_text())
    info.update(status="running", pid=2**22 + 12345, created=time.time() - 7200)  # killed -9
    dead.write_text(json.dumps(info))
    capsys.readouterr()
    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "plugin/preset", "status", "step/total", "best", "age"]
    rows = [line.split() for line in lines[1:]]
    assert [r[:4] for r in rows] == [["done", "linreg-quick", "finished", "40/40"],
                                     ["other", "linreg", "died", "40/40"]]  # newest first
    assert rows[0][4] == "eval/mse" and rows[1][-1] == "2h"
    assert main(["runs", "--group", "linreg-quick", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    best = min(r["eval/mse"] for r in read_metrics(runs_root / "linreg-quick" / "done") if "eval/mse" in r)
    assert (row["name"], row["metric"], row["goal"], row["best"]) == ("done", "eval/mse", "min", best)
    assert main(["runs", "--group", "nope"]) == 2
