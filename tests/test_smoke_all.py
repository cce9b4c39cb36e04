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
# The fast tier (-m "not slow") keeps one cheap smoke run per plugin; these, the dearer presets
# of plugins smoked there already (Atari DQN above all), run in the full suite. A name not
# listed here (a new plugin or preset) is smoked in the fast tier from the day it registers.
SLOW_SMOKE = {
    "dqn", "dqn-pong", "dqn-breakout",  # Atari: the ALE emulator and a Nature CNN
    "ppo", "ppo-pong", "ppo-breakout",
    "classifier", "classifier-digits", "classifier-folder", "classifier-cifar10",
    "dcgan", "dcgan-mnist", "dcgan-folder",
    "pix2pix-digits", "pix2pix-edges", "pix2pix-facades",
    "music-lm", "gpt-bach",
    "gpt-shakespeare", "gpt-shakespeare-gpu", "lstm-shakespeare",
    "caption-digits",
}


NO_PRIMARY_METRIC = {"dcgan-folder"}


def smoke_overrides(name: str) -> dict:
    spec, preset = registry.resolve(name)
    return {**spec.smoke, **(preset.smoke if preset else {})}


def test_every_builtin_source_loads():
    assert not registry.BROKEN, registry.BROKEN


def test_every_plugin_keeps_a_smoke_run_in_the_fast_tier():
    assert SLOW_SMOKE <= set(NAMES), SLOW_SMOKE - set(NAMES)  # no stale name
    # the plugins as collected (a test may register one of its own later, in-process)
    plugins = {registry.resolve(n)[0].name for n in NAMES}
    fast = {registry.resolve(n)[0].name for n in NAMES if n not in SLOW_SMOKE}
    assert fast == plugins


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SMOKE
                                  else n for n in NAMES])
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
    if cls.serving is not Plugin.serving and importlib.util.find_spec("fastapi"):
        from tests.test_serve import serve_example  # `workbench serve` answers its example

        _, response = serve_example(run)
        assert response.status_code < 500, response.text
    if cls.explain is not Plugin.explain and importlib.util.find_spec("captum"):
        assert main(["explain", str(run), "--n", "2", "--wandb", "disabled"]) == 0
        assert any(p.name.startswith("explain_") for p in (run / "media").iterdir())
