"""Configs from files and reruns of run directories.

    workbench run --config FILE.yaml [key=value ...]
    workbench rerun RUN_DIR [key=value ...]

A config file is a run's own ``config.yaml`` or a hand-written subset of it, nested
(``optim: {lr: 3e-4}``) or dotted (``optim.lr: 3e-4``). It names its plugin or preset with a
top-level ``preset:`` or ``plugin:`` key; a run's own ``config.yaml`` needs none (the run.json
beside it names them). Layers, last wins: plugin defaults <- preset <- file <- command line.
Its keys are checked like command-line keys, with the same errors. YAML is read with
``safe_load`` (no Python objects). This module imports no torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench import registry
from workbench.errors import ConfigError, UserError

# workbench.config and workbench.engine.runs are imported where used: `workbench --help` imports this
# module to add the `rerun` verb, and stays fast

NAME_KEYS = ("preset", "plugin")


def read_config_file(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """(the plugin or preset the file names, or None; its keys as flat overrides)."""
    import yaml

    from workbench.config import flatten
    from workbench.engine.runs import RUN_FILE, open_run

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"no config file at {path}.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the config file {path}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys (key: value), "
                          f"not a {type(data).__name__}.")
    named = {k: data.pop(k) for k in NAME_KEYS if isinstance(data.get(k), str)}
    if len(named) == 2:
        spec, _ = registry.resolve(named["preset"])
        if spec.name != named["plugin"]:
            raise ConfigError(f"{path} names preset '{named['preset']}' (of plugin '{spec.name}') "
                              f"and plugin '{named['plugin']}'; keep one of them.")
    name = named.get("preset") or named.get("plugin")
    if name is None and (path.parent / RUN_FILE).is_file():  # a run's own config.yaml
        info = open_run(path.parent).read_info()
        name = info.preset or info.plugin
    return name, flatten(data)


def with_config_file(path: str | Path, name: str | None, overrides: Mapping[str, Any]
                     ) -> tuple[str, dict[str, Any]]:
    """The name to run and the file's keys with the command line's on top."""
    named, from_file = read_config_file(path)
    if name and named and name != named:
        raise ConfigError(f"the command line names '{name}' but {path} names '{named}'; "
                          "drop one of them.")
    name = name or named
    if name is None:
        raise UserError(f"{path} names no plugin or preset: add a line `preset: NAME` (or "
                        f"`plugin: NAME`) to it, or name it on the command line: "
                        f"workbench run NAME --config {path}. `workbench list` shows the names.")
    from workbench.config import resolve_key

    spec, _ = registry.resolve(name)
    cfg_cls = registry.load_config_class(spec)
    for key in from_file:  # the command line's error, naming the file it came from
        try:
            resolve_key(cfg_cls, key)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return name, {**from_file, **overrides}


def rerun_args(run_dir: str | Path, overrides: Mapping[str, Any]) -> tuple[str, dict[str, Any], Any]:
    """(the run's preset or plugin, its saved config with the overrides on top, its RunInfo).

    The saved config is completed with the config class's defaults, as ``resume`` reads it, so
    that every field is named: a field added after the run was made (``env.screen_size``, say)
    takes the default the run had, not what its preset sets today (56 for dqn-pong)."""
    from workbench import registry
    from workbench.config import flatten, from_dict, to_dict
    from workbench.engine.runs import open_run
    from workbench.errors import UserError

    run = open_run(run_dir)
    info = run.read_info()
    name = info.preset or info.plugin
    saved = run.read_config()
    try:
        spec, _ = registry.resolve(name)
        saved = to_dict(from_dict(registry.load_config_class(spec), saved))
    except UserError:  # an unknown plugin or a key it no longer has: start() says so, exit 2
        pass
    return name, {**flatten(saved), **overrides}, info


def cmd_rerun(args: argparse.Namespace) -> int:
    from workbench.config import parse_overrides
    from workbench.engine.loop import Launch, start

    name, overrides, info = rerun_args(args.run_dir, parse_overrides(args.overrides))
    launch = Launch.from_args(args)
    launch.tags = launch.tags or tuple(info.tags or ())
    launch.project = args.project or info.project
    code, _ = start(name, overrides, run_name=args.run_name, launch=launch)
    return code


def add_parser(sub: Any) -> None:
    p = sub.add_parser("rerun", help="a new run with the config of a run directory",
                       description="Start a new run (a new directory beside the old one) with "
                       "the saved config of RUN_DIR, then the overrides on top: the same seed "
                       "gives the same metrics.")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. seed=1 lr=3e-4")
    p.add_argument("--name", dest="run_name", default=None, help="run name (default: time + seed)")
    p.add_argument("--tag", action="append", default=[], help="W&B tag (default: the run's tags)")
    p.add_argument("--project", default=None, help="W&B project (default: the run's)")
    p.add_argument("--wandb", choices=("online", "offline", "disabled"), default=None,
                   help="W&B mode (default: online if logged in, else offline)")
    p.set_defaults(handler=cmd_rerun)
