"""Every registered plugin and preset runs end to end at a tiny budget (timm-style): a new plugin
is tested the day it is registered. Each registration's `smoke=` overrides make it take seconds."""

from __future__ import annotations

import importlib.util
import json

import pytest

from workbench import registry
from workbench.plugin import Plugin

registry.load_all()
NAMES = sorted([*registry.PLUGINS, *registry.PRESETS])


NO_PRIMARY_METRIC = {"dcgan-folder"}


def smoke_overrides(name: str) -> dict:
    spec, preset = registry.resolve(name)
    return {**spec.smoke, **(preset.smoke if preset else {})}


def test_every_builtin_source_loads():
    assert not registry.BROKEN, registry.BROKEN


@pytest.mark.parametrize("name", NAMES)
def test_runs_checkpoints_and_samples_at_a_tiny_budget(name, runs_root):
    from workbench.commands.cli import main

    spec, _ = registry.resolve(name)
    overrides = smoke_overrides(name)
    assert overrides, f"{name}: register it with smoke={{...}} overrides that make a run take seconds"
    argv = ["run", name, "--name", "smoke", "--wandb", "disabled",
            *(f"{k}={v}" for k, v in overrides.items())]
    assert main(argv) == 0
    group = name.replace("/", "_")
    run = runs_root / group / "smoke"
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    total = int(float(overrides.get("total_steps", rows[-1]["step"])))
    assert rows[-1]["step"] >= total
    assert any("perf/sps" in r for r in rows) and any(k.startswith("train/") for r in rows for k in r)
    assert (run / "checkpoints" / "latest.pt").is_file()
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    # the declared primary metric is one the plugin really logs (the folder DCGAN has no FD:
    # its images have no digit features to score; it logs eval/d_real and eval/d_fake instead)
    if spec.metric and name not in NO_PRIMARY_METRIC:
        assert any(spec.metric in r for r in rows), f"{name} never logs {spec.metric}"

    cls = registry.load_plugin_class(spec)
    if cls.sample is not Plugin.sample:
        assert main(["sample", str(run)]) == 0
    if cls.eval_report is not Plugin.eval_report or cls.evaluate is not Plugin.evaluate:
        assert main(["eval", str(run), *(["--episodes", "1"] if spec.kind == "agent" else [])]) == 0
    if cls.explain is not Plugin.explain and importlib.util.find_spec("captum"):
        assert main(["explain", str(run), "--n", "2", "--wandb", "disabled"]) == 0
        assert any(p.name.startswith("explain_") for p in (run / "media").iterdir())
