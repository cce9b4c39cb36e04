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


def test_cli_refuses_an_option_the_plugin_does_not_declare(runs_root):
    assert cli("run", "linreg-quick", "--name", "o").returncode == 0
    run = runs_root / "linreg-quick" / "o"
    r = cli("sample", str(run), "--prompt", "hello")
    assert r.returncode == 2 and "does not take --prompt" in r.stderr and "--n, --seed" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli("eval", str(run), "--episodes", "3")  # linreg's eval takes none: no TypeError
    assert r.returncode == 2 and "takes: no options" in r.stderr and "Traceback" not in r.stderr
    r = cli("sample", str(run), "--help")
    assert r.returncode == 0 and "--n" in r.stdout and "inputs to draw and predict" in r.stdout


def test_describe_lists_the_options_of_each_hook():
    r = cli("describe", "dcgan-mnist")
    assert r.returncode == 0 and "options of `workbench sample RUN_DIR`" in r.stdout
    assert "--seed" in r.stdout
