"""Typed overrides: parsing, validation, suggestions, docs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from workbench.config import (
    RunConfig,
    apply_overrides,
    build_config,
    field_docs,
    from_dict,
    iter_fields,
    parse_overrides,
    to_dict,
)
from workbench.errors import ConfigError


@dataclass
class Optim:
    lr: float = 1e-3
    """learning rate"""
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class Cfg(RunConfig):
    total_steps: int = 100
    mode: Literal["a", "b"] = "a"
    """which mode"""
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    path: str | None = None
    optim: Optim = field(default_factory=Optim)


def test_scientific_notation_is_accepted_for_ints():
    cfg = build_config(Cfg, {"total_steps": "2e6"})
    assert cfg.total_steps == 2_000_000 and isinstance(cfg.total_steps, int)


def test_non_integral_value_for_int_is_rejected():
    with pytest.raises(ConfigError, match="total_steps.*integer"):
        build_config(Cfg, {"total_steps": "2.5"})


def test_nested_key_and_unique_leaf_name_both_set_the_nested_field():
    assert build_config(Cfg, {"optim.lr": "3e-4"}).optim.lr == pytest.approx(3e-4)
    assert build_config(Cfg, {"lr": "3e-4"}).optim.lr == pytest.approx(3e-4)


def test_bool_tuple_list_literal_and_optional_values_parse():
    cfg = build_config(Cfg, {"compile": "false", "optim.betas": "0.5,0.99", "hidden": "[32, 16, 8]",
                             "mode": "b", "path": "none"})
    assert cfg.compile is False and cfg.optim.betas == (0.5, 0.99)
    assert cfg.hidden == [32, 16, 8] and cfg.mode == "b" and cfg.path is None


def test_unknown_key_suggests_the_nearest_and_lists_the_allowed():
    with pytest.raises(ConfigError) as e:
        build_config(Cfg, {"total_step": "5"})
    assert 'Did you mean "total_steps"' in str(e.value) and "optim.lr" in str(e.value)


@pytest.mark.parametrize("key,value,expected", [
    ("compile", "maybe", "true or false"),
    ("optim.lr", "fast", "a number"),
    ("mode", "c", "must be one of a, b"),
    ("device", "tpu", "auto, cpu, cuda"),
    ("log_every", "0", "must be > 0"),
    ("optim.betas", "0.5", "2 comma-separated values"),
])
def test_bad_values_name_the_key_and_what_is_allowed(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        build_config(Cfg, {key: value})


def test_override_without_equals_sign_is_a_clear_error():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["lr"])


def test_round_trip_through_a_plain_dict():
    cfg = build_config(Cfg, {"lr": "0.5", "hidden": "1,2", "mode": "b"})
    again = from_dict(Cfg, to_dict(cfg))
    assert again == cfg


def test_field_docs_come_from_the_string_under_each_field_including_the_base_class():
    docs = field_docs(Cfg)
    assert docs["mode"] == "which mode" and docs["seed"].startswith("seed for Python")
    paths = {f.path: f for f in iter_fields(Cfg)}
    assert paths["optim.lr"].doc == "learning rate" and paths["optim.lr"].default == 1e-3


def test_apply_overrides_validates_after_setting():
    cfg = Cfg()
    with pytest.raises(ConfigError):
        apply_overrides(cfg, {"eval_every": "-1"})


def test_cross_field_checks_see_every_layer_not_just_the_preset():
    @dataclass
    class Needs(RunConfig):
        source: str = "mnist"
        path: str | None = None

        def validate(self):
            if self.source == "folder" and not self.path:
                raise ConfigError("source=folder needs path")

    cfg = build_config(Needs, {"source": "folder"}, {"path": "/data"})  # preset, then command line
    assert cfg.path == "/data"
    with pytest.raises(ConfigError, match="needs path"):
        build_config(Needs, {"source": "folder"})


@pytest.mark.parametrize("plugin,overrides,ok", [
    ("dqn", {"env.screen_size": "36"}, True),
    ("dqn", {"env.screen_size": "35"}, False),
    ("dqn", {"env.screen_size": "20", "network": "compact"}, True),
    ("ppo", {"env.screen_size": "56"}, True),
    ("ppo", {"env.screen_size": "30"}, False),
])
def test_a_screen_too_small_for_the_nature_cnn_is_refused_with_the_size_it_needs(plugin, overrides, ok):
    from workbench import registry

    spec, _ = registry.resolve(plugin)
    cls = registry.load_config_class(spec)
    if ok:
        assert build_config(cls, overrides).env.screen_size == int(overrides["env.screen_size"])
    else:
        with pytest.raises(ConfigError, match=r"env.screen_size=\d+ is too small .* 36 or more"):
            build_config(cls, overrides)
