"""Typed options of eval / sample: declared by the plugin, checked before anything loads."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.helpers import cli
from workbench.errors import UserError
from workbench.options import NoOptions, parse_options


@dataclass
class _Opts:
    n: int = 4
    """how many"""
    video: bool = False
    """record"""
    top_k: int | None = None
    """k"""


def test_options_are_typed_and_flags_read_as_booleans():
    o = parse_options(_Opts, ["--n", "16", "--video", "--top-k=5"], "sample")
    assert (o.n, o.video, o.top_k) == (16, True, 5)
    assert parse_options(_Opts, ["--no-video"], "sample").video is False
    assert parse_options(_Opts, [], "sample") == _Opts()


@pytest.mark.parametrize("tokens, says", [
    (["--prompt", "x"], "does not take --prompt"),
    (["--n", "many"], "option --n expects an integer"),
    (["--n"], "--n needs a value"),
    (["stray"], "cannot read 'stray'"),
])
def test_a_bad_option_names_what_is_allowed(tokens, says):
    with pytest.raises(UserError) as e:
        parse_options(_Opts, tokens, "sample")
    assert says in str(e.value)
    if "does not take" in says or "cannot read" in says:
        assert "--n, --video, --top-k" in str(e.value)


def test_a_hook_without_options_refuses_any():
    with pytest.raises(UserError, match="takes: no options"):
        parse_options(NoOptions, ["--episodes", "3"], "eval")


def test_cli_refuses_an_option_the_plugin_does_not_declare(runs_root, capsys):
    from workbench.commands.cli import main

    assert main(["run", "linreg-quick", "--name", "o", "--wandb", "disabled"]) == 0
    run = runs_root / "linreg-quick" / "o"
    capsys.readouterr()
    assert main(["sample", str(run), "--prompt", "hello"]) == 2
    err = capsys.readouterr().err
    assert "does not take --prompt" in err and "--n, --seed" in err and "Traceback" not in err
    assert main(["eval", str(run), "--episodes", "3"]) == 2  # linreg's eval takes none: no TypeError
    err = capsys.readouterr().err
    assert "takes: no options" in err and "Traceback" not in err
    assert main(["sample", str(run), "--help"]) == 0
    out = capsys.readouterr().out
    assert "--n" in out and "inputs to draw and predict" in out


def test_describe_lists_the_options_of_each_hook():
    r = cli("describe", "dcgan-mnist")
    assert r.returncode == 0 and "options of `workbench sample RUN_DIR`" in r.stdout
    assert "--seed" in r.stdout
