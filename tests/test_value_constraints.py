"""Declared value constraints: a bad value is exit 2 before any run directory exists, for every
plugin (third-party ones included), and `describe` prints what each field accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal, get_origin

import pytest

from workbench.commands.cli import main
from workbench.config import (
    AllowNonFinite,
    Interval,
    Positive,
    RunConfig,
    Seed,
    build_config,
    iter_fields,
)
from workbench.errors import ConfigError, UserError
from workbench.options import parse_options


@pytest.mark.parametrize("name, override, says", [
    ("linreg", "lr=nan", "'optim.lr' must be a finite number; got nan"),
    ("linreg", "lr=inf", "'optim.lr' must be a finite number; got inf"),
    ("linreg", "lr=-1", "'optim.lr' must be > 0; got -1.0"),
    ("linreg", "seed=-1", "'seed' must be in [0, 2^32); got -1"),
    ("linreg", f"seed={2**70}", "'seed' must be in [0, 2^32)"),
    ("classifier-digits", "dropout=1.5", "'dropout' must be in [0, 1); got 1.5"),
    ("linreg", "features=0", "'features' must be > 0; got 0"),
    ("linreg", "batch_size=1000000000", "'batch_size' must be in [1, 65,536]; got 1000000000"),
    ("dqn-cartpole", "gamma=1.5", "'gamma' must be in [0, 1]"),
    ("gpt-shakespeare", "sample.top_p=0", "'sample.top_p' must be in (0, 1]"),
])
def test_a_value_out_of_range_is_exit_2_before_any_run_directory(name, override, says, runs_root, capsys):
    assert main(["run", name, override]) == 2
    err = capsys.readouterr().err
    assert says in err, err
    assert "Traceback" not in err
    assert not runs_root.exists() or not any(runs_root.rglob("run.json"))


@pytest.mark.parametrize("name, override, says", [
    ("dqn-cartpole", "env.num_envs=0", "'env.num_envs' must be in [1, 4096]; got 0"),
    ("dqn-pong", "env.num_envs=-3", "'env.num_envs' must be in [1, 4096]; got -3"),
    ("dqn-pong", "env.num_threads=-1", "'env.num_threads' must be in [0, 1024]; got -1"),
    ("dqn-pong", "env.frame_stack=0", "'env.frame_stack' must be in [1, 64]; got 0"),
    ("dqn-pong", "env.frame_skip=0", "'env.frame_skip' must be in [1, 64]; got 0"),
    ("dqn-pong", "env.noop_max=-1", "'env.noop_max' must be >= 0; got -1"),
    ("dqn-pong", "env.repeat_action_probability=1.5", "'env.repeat_action_probability' must be in [0, 1]"),
    ("dqn-pong", "env.max_episode_frames=0", "'env.max_episode_frames' must be > 0; got 0"),
    ("dqn-cartpole", "env.id=", "'env.id' must be at least 1 long"),
])
def test_a_bad_env_option_is_exit_2_before_any_run_directory(name, override, says, runs_root, capsys):
    assert main(["run", name, override]) == 2
    err = capsys.readouterr().err
    assert says in err, err
    assert "Traceback" not in err
    assert not runs_root.exists()


def test_every_env_option_but_the_switches_declares_what_it_accepts():
    from workbench.envs.config import EnvConfig

    # a Literal (env.resize) declares its values in its type, and the config refuses others
    unchecked = [f.path for f in iter_fields(EnvConfig)
                 if not f.constraints and f.type is not bool and get_origin(f.type) is not Literal]
    assert unchecked == []


@pytest.mark.parametrize("episodes, says", [("-1", "must be > 0; got -1"), ("0", "must be > 0; got 0")])
def test_eval_episodes_below_one_is_refused_not_replaced_by_the_default(episodes, says):
    from workbench.agents.dqn.config import DQNEvalOptions

    with pytest.raises(UserError, match=r"option --episodes " + says.replace("(", r"\(")):
        parse_options(DQNEvalOptions, ["--episodes", episodes], "`workbench eval`")
    assert parse_options(DQNEvalOptions, [], "`workbench eval`").episodes is None  # default stays


def test_describe_prints_each_fields_constraint(capsys):
    assert main(["describe", "dqn-pong"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "float > 0" in rows["lr"]
    assert "float in [0, 1]" in rows["gamma"]
    assert "int in [0, 2^32)" in rows["seed"]
    assert "int > 0" in rows["total_steps"]  # RunConfig's, kept where dqn re-declares the default
    assert "--episodes  int | None > 0" in out  # the eval options too


# --------------------------------------------------------------------------- a third-party config


@dataclass
class _Optim:
    lr: Annotated[float, Positive] = 1e-3
    """learning rate"""


@dataclass
class _ThirdParty(RunConfig):
    total_steps: int = 50  # re-declared for the default only: RunConfig's Positive still holds
    optim: _Optim = field(default_factory=_Optim)
    """optimizer"""
    keep: Annotated[float, Interval(ge=0, lt=1)] = 0.5
    """a fraction"""
    widths: Annotated[tuple[int, ...], Positive] = (8, 8)
    """hidden widths"""
    threshold: Annotated[float, AllowNonFinite] = float("inf")
    """inf = never"""
    eval_seed: Annotated[int, Seed] | None = None
    """optional seed"""


@pytest.mark.parametrize("override, says", [
    ({"optim.lr": "0"}, "'optim.lr' must be > 0; got 0.0. (optim.lr: learning rate)"),
    ({"keep": "1"}, "'keep' must be in [0, 1); got 1.0"),
    ({"widths": "8,0"}, "'widths' must be > 0; got 0 in [8, 0]"),
    ({"eval_seed": "-3"}, "'eval_seed' must be in [0, 2^32); got -3"),
    ({"total_steps": "0"}, "'total_steps' must be > 0"),
    ({"keep": "nan"}, "'keep' must be a finite number"),
])
def test_a_plugins_own_annotated_fields_are_checked_without_code(override, says):
    with pytest.raises(ConfigError) as e:
        build_config(_ThirdParty, override)
    assert says in str(e.value)


def test_a_field_may_allow_non_finite_floats_and_optional_fields_accept_none():
    cfg = build_config(_ThirdParty, {"threshold": "-inf", "eval_seed": "none", "widths": "4,16"})
    assert cfg.threshold == float("-inf") and cfg.eval_seed is None and cfg.widths == (4, 16)
    assert {f.path: f.type_text for f in iter_fields(_ThirdParty)}["eval_seed"] == "int | None in [0, 2^32)"
