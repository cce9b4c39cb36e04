"""Names -> plugins and presets, found without importing any plugin module.

A plugin is registered by strings (gymnasium style), so that ``workbench list`` and
``workbench describe`` never import torch::

    from workbench.registry import register, register_preset

    register("linreg", entry_point="workbench.toy:LinearRegression",
             config="workbench.toy_config:LinRegConfig", kind="generator",
             description="least-squares line fit on synthetic data")
    register_preset("linreg-fast", "linreg", "shorter run", total_steps=200)

``config`` names a light module (no torch import) that holds the plugin's Config dataclass; when
it is omitted, ``describe`` imports the plugin module itself.

Where registrations come from, in order:
1. the built-in registration modules of this repo (``_BUILTIN`` below);
2. the entry-point group ``workbench.plugins`` of installed packages: each entry point names a
   light module (or a function) that calls ``register`` when imported (or called);
3. modules named in the environment variable ``WORKBENCH_PLUGINS`` (comma-separated).

A source that fails to load is recorded in :data:`BROKEN` and shown by ``workbench list``;
it never breaks the command.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from workbench.errors import UserError, nearest

KINDS = ("agent", "generator", "classifier")
ENTRY_POINT_GROUP = "workbench.plugins"

# Registration modules of the plugins that ship in this repo; each is light (strings only).
_BUILTIN = (
    "workbench.toy_config",
    "workbench.agents.plugins",
    "workbench.classifiers.plugins",
    "workbench.generators.image_plugins",
    "workbench.generators.sequence_plugins",
)


@dataclass(frozen=True)
class PluginSpec:
    name: str
    entry_point: str  # "package.module:Class"
    kind: str
    config: str | None = None  # "package.module:ConfigClass" (light); None = the class's .Config
    description: str = ""
    source: str = "builtin"
    smoke: Mapping[str, Any] = field(default_factory=dict)  # overrides for a seconds-long run
    metric: str | None = None  # the primary metric ("eval/return"): console, compare, sweeps
    goal: str = "max"  # is a higher (max) or lower (min) value of the metric better
    train_metric: str | None = None  # the console's headline train metric (None: train/loss)
    weights: str | None = None  # "package.module" with the WeightsHooks below; None: none


@dataclass(frozen=True)
class PresetSpec:
    name: str
    plugin: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = "builtin"
    smoke: Mapping[str, Any] = field(default_factory=dict)
    weights: str | None = None  # a trained weights file that ships with this preset


class WeightsHooks(Protocol):
    """What the module a plugin names in ``register(..., weights="pkg.module")`` provides, so
    that shipped weights are registry data (as timm's pretrained tags are) and the core needs no
    code of the plugin: ``workbench export RUN --format weights`` calls :meth:`export_run`;
    ``workbench eval --pretrained NAME|FILE`` calls :meth:`play`; ``explain --pretrained``
    calls ``explain(path, out, opts)`` and ``serve --pretrained`` calls ``serving(path) ->
    (Serving, info dict)`` when the module has them. A weights file is a plain dict that
    ``torch.load(weights_only=True)`` reads, with the plugin's name under ``"plugin"``."""

    def export_run(self, run_dir: str | os.PathLike[str], out: os.PathLike[str]) -> str:
        """Write the run's last checkpoint as a weights file at ``out``; say what was written."""
        ...

    def play(self, path: os.PathLike[str], opts: Any) -> str:
        """Evaluate the weights file with the plugin's eval options; the report."""
        ...


PLUGINS: dict[str, PluginSpec] = {}
PRESETS: dict[str, PresetSpec] = {}
BROKEN: dict[str, str] = {}  # registration source or plugin name -> error text
_current_source = "register"
_loaded = False


def register(
    name: str,
    entry_point: str,
    kind: str,
    config: str | None = None,
    description: str = "",
    smoke: Mapping[str, Any] | None = None,
    metric: str | None = None,
    goal: str = "max",
    train_metric: str | None = None,
    weights: str | None = None,
) -> None:
    """Register a plugin by its import strings (no import happens here). ``smoke`` holds the
    overrides that make a run of it take seconds; the test suite runs every plugin and preset
    with them (timm-style), so a new plugin is tested the day it is registered. ``metric`` is
    the plugin's primary metric (an ``eval/`` name its evaluate() returns) and ``goal`` says
    whether higher ("max") or lower ("min") is better: the console, ``compare`` and sweeps use
    them. ``train_metric`` is the train metric the console shows beside it (default
    ``train/loss``, else the first ``train/`` metric logged). ``weights`` names a light-to-register
    module with the :class:`WeightsHooks` that export and play trained weights files."""
    if goal not in ("min", "max"):
        raise UserError(f"plugin '{name}' has goal {goal!r}; allowed goals: min, max.")
    if kind not in KINDS:
        raise UserError(f"plugin '{name}' has kind {kind!r}; allowed kinds: {', '.join(KINDS)}.")
    if ":" not in entry_point:
        raise UserError(
            f"plugin '{name}' has entry_point {entry_point!r}; write it as 'package.module:Class'."
        )
    if name in PRESETS:
        raise UserError(f"plugin '{name}' has the same name as a preset; pick another name.")
    PLUGINS[name] = PluginSpec(name, entry_point, kind, config, description, _current_source,
                               dict(smoke or {}), metric, goal, train_metric, weights)


def register_preset(name: str, plugin: str, description: str = "",
                    smoke: Mapping[str, Any] | None = None, weights: str | None = None,
                    **overrides: Any) -> None:
    """Register a named set of overrides of ``plugin`` (keys as on the command line;
    write dotted keys through ``**{"optim.lr": 1e-4}``). ``smoke``: extra overrides on top of
    the plugin's own smoke overrides for a seconds-long test run of this preset. ``weights``:
    the path of a trained weights file that ships with the preset (``eval --pretrained NAME``
    plays it; the plugin must name its ``weights`` hooks)."""
    if name in PLUGINS:
        raise UserError(f"preset '{name}' has the same name as a plugin; pick another name.")
    PRESETS[name] = PresetSpec(name, plugin, dict(overrides), description, _current_source,
                               dict(smoke or {}), weights)


def plugin(name: str, kind: str, description: str = "") -> Callable[[type], type]:
    """Class decorator for code that is imported anyway (a notebook, a test, a script that then
    calls ``workbench.commands.cli.main``): registers the class under ``name``."""

    def wrap(cls: type) -> type:
        register(
            name,
            f"{cls.__module__}:{cls.__qualname__}",
            kind,
            description=description or (cls.__doc__ or "").strip().split("\n")[0],
        )
        return cls

    return wrap


def _import_source(label: str, target: str) -> None:
    global _current_source
    _current_source = label
    try:
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        if attr:
            fn = getattr(module, attr)
            if callable(fn):
                fn()
    except Exception as e:  # noqa: BLE001 - any failure is reported, never raised
        # a built-in part that is missing is a broken install, never "nothing to list"
        BROKEN[target] = f"{type(e).__name__}: {e} ({_where(target.partition(':')[0])})"
    finally:
        _current_source = "register"


def _where(module_name: str) -> str:
    """Where the import system looked for ``module_name``: the file of its nearest package that
    exists, so a shadowing package or a stale install shows its path."""
    parts = module_name.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            spec = importlib.util.find_spec(name)
        except Exception:  # noqa: BLE001
            continue
        if spec is not None:
            origin = spec.origin if spec.has_location else None
            locations = list(spec.submodule_search_locations or [])
            return f"{name} from {origin or (locations[0] if locations else '?')}"
    return f"no module '{parts[0]}' on the path"


def load_all() -> None:
    """Import every registration source once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN:
        _import_source("builtin", module)
    from importlib.metadata import entry_points

    try:
        eps = entry_points(group=ENTRY_POINT_GROUP)
    except Exception as e:  # noqa: BLE001
        BROKEN[ENTRY_POINT_GROUP] = f"{type(e).__name__}: {e}"
        eps = []
    for ep in eps:
        dist = getattr(getattr(ep, "dist", None), "name", None) or ep.name
        _import_source(f"entry point of {dist}", ep.value)
    for module in filter(None, os.environ.get("WORKBENCH_PLUGINS", "").split(",")):
        _import_source("WORKBENCH_PLUGINS", module.strip())


def reset() -> None:
    """Forget everything (tests)."""
    global _loaded
    PLUGINS.clear()
    PRESETS.clear()
    BROKEN.clear()
    _loaded = False


def all_names() -> list[str]:
    load_all()
    return sorted([*PLUGINS, *PRESETS])


def resolve(name: str) -> tuple[PluginSpec, PresetSpec | None]:
    """A plugin or preset name -> (plugin spec, preset spec or None)."""
    load_all()
    if name in PRESETS:
        preset = PRESETS[name]
        if preset.plugin not in PLUGINS:
            raise UserError(
                f"preset '{name}' is built on plugin '{preset.plugin}', which is not registered"
                f"{_broken_hint()}."
            )
        return PLUGINS[preset.plugin], preset
    if name in PLUGINS:
        return PLUGINS[name], None
    names = all_names()
    raise UserError(
        f"unknown plugin or preset '{name}'.{nearest(name, names)} "
        f"Known names: {', '.join(names) or '(none)'}. `workbench list` shows them all"
        f"{_broken_hint()}."
    )


def primary_metric(name: str) -> tuple[str, str] | None:
    """(metric, goal) of a plugin or preset, or None when its plugin declares none."""
    spec, _ = resolve(name)
    return (spec.metric, spec.goal) if spec.metric else None


def _broken_hint() -> str:
    return "; some plugin sources failed to load (see `workbench list`)" if BROKEN else ""


def import_object(target: str, what: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001
        raise UserError(
            f"{what} could not be imported from '{module_name}': {type(e).__name__}: {e}"
        ) from e
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"{what}: module '{module_name}' has no attribute '{attr}'.") from None
    return obj


def load_plugin_class(spec: PluginSpec) -> type:
    return import_object(spec.entry_point, f"plugin '{spec.name}'")


def load_config_class(spec: PluginSpec) -> type:
    if spec.config:
        return import_object(spec.config, f"the config of plugin '{spec.name}'")
    cls = load_plugin_class(spec)
    config = getattr(cls, "Config", None)
    if config is None:
        raise UserError(f"plugin '{spec.name}' ({spec.entry_point}) has no Config class.")
    return config


def check_importable(spec: PluginSpec) -> str | None:
    """Without executing it: is the plugin's module there at all? (None = looks fine)."""
    module_name = spec.entry_point.partition(":")[0]
    try:
        found = importlib.util.find_spec(module_name)
    except Exception as e:  # noqa: BLE001 - a broken parent package
        return f"{type(e).__name__}: {e}"
    return None if found else f"module '{module_name}' not found"
