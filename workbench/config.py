"""Typed dataclass configs: defaults <- preset <- command line, validated before anything runs.

A plugin's ``Config`` subclasses :class:`RunConfig` (the loop-level keys every plugin has) and
may nest dataclasses (``optim.lr``). A field's documentation is the string literal right below
it, as in CleanRL's ``Args``; ``workbench describe`` prints it. This module imports neither
torch nor any plugin, so ``describe`` stays fast.

The values a field accepts are declared next to its type, and checked for every plugin by
:func:`build_config` before anything runs (``describe`` prints them too)::

    from typing import Annotated
    from workbench.config import Interval, Positive, RunConfig

    @dataclass
    class MyConfig(RunConfig):
        lr: Annotated[float, Positive] = 1e-4
        \"\"\"learning rate\"\"\"
        dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.1
        \"\"\"dropout probability\"\"\"

The constraint objects are annotated-types' (``Gt Ge Lt Le Interval MultipleOf MinLen MaxLen
Len Predicate``) plus ``Positive``, ``NonNegative``, ``Probability``, ``Seed``, ``BatchSize`` and
``AllowNonFinite`` (floats are refused as nan/inf unless a field allows it); see
workbench/constraints.py. Cross-field rules go in a ``validate(self)`` method.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, ClassVar, Literal

from workbench import constraints
from workbench.constraints import (  # noqa: F401 - re-exported: what a plugin's config imports
    AllowNonFinite,
    BatchSize,
    Ge,
    Gt,
    Interval,
    Le,
    Len,
    Lt,
    MaxLen,
    MinLen,
    MultipleOf,
    NonNegative,
    Positive,
    Predicate,
    Probability,
    Seed,
)
from workbench.errors import ConfigError, nearest


@dataclass
class RunConfig:
    """The loop-level keys that every plugin has."""

    seed: Annotated[int, Seed] = 0
    """seed for Python, NumPy, torch and the environments"""
    device: str = "auto"
    """auto | cpu | cuda | cuda:N | mps (auto picks cuda, then mps, then cpu)"""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """auto = bf16 autocast on bf16-capable CUDA (fp16 + GradScaler on older CUDA); on CPU per plugin and CPU, as `describe` says"""
    compile: bool = False
    """torch.compile the plugin's modules (falls back to eager, with a warning, if it fails)"""
    total_steps: Annotated[int, Positive] = 10_000
    """length of the run, in the plugin's steps (env steps for agents, batches otherwise)"""
    log_every: Annotated[int, Positive] = 1_000
    """steps between log events (metrics.jsonl, W&B, progress)"""
    eval_every: Annotated[int, NonNegative] = 10_000
    """steps between evaluations / samples (0 = only at the end)"""
    checkpoint_every: Annotated[int, NonNegative] = 10_000
    """steps between checkpoints; bounds the work lost to a crash or kill -9 (0 = only at the end)"""
    eval_at_start: bool = False
    """also evaluate the untrained model at step 0 (a baseline for the later evaluations)"""
    torch_threads: Annotated[int, NonNegative] = 0
    """CPU threads for torch (0 = torch's default); 1 is several times faster on an oversubscribed machine"""

    # What precision=auto picks on CPU for this plugin, from a measurement of its training step:
    # "fp32", "bf16" or "bf16-with-amx" (bf16 only on CPUs with AMX). See workbench/precision.py.
    auto_cpu_precision: ClassVar[str] = "bf16-with-amx"


# --------------------------------------------------------------------------- introspection


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


@cache
def _field_types(cls: type) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """Each field's bare type and its constraints: those of its own annotation plus those of
    every base class that declares it (re-declaring ``total_steps: int = 2_000`` to change the
    default keeps RunConfig's ``Positive``)."""
    out: dict[str, tuple[Any, tuple[Any, ...]]] = {}
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass):
            continue
        hints = _hints(klass)
        for name in klass.__dict__.get("__annotations__", {}):
            if name not in hints:
                continue
            bare, found = constraints.split(hints[name])
            if name in out:
                out[name] = (out[name][0], out[name][1] + tuple(c for c in found if c not in out[name][1]))
            else:
                out[name] = (bare, found)
    return out


def is_config_class(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field, collected over the class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


@dataclass(frozen=True)
class FieldInfo:
    path: str
    type: Any  # without its Annotated constraints
    default: Any
    doc: str
    constraints: tuple[Any, ...] = ()

    @property
    def type_text(self) -> str:
        """``float > 0``: the type and the values it accepts, as ``describe`` prints them."""
        rule = constraints.describe(self.constraints)
        return f"{type_name(self.type)} {rule}" if rule else type_name(self.type)


def iter_fields(cls: type, prefix: str = "") -> Iterator[FieldInfo]:
    """Every leaf field of a (nested) config class, with its dotted path."""
    types_ = _field_types(cls)
    docs = field_docs(cls)
    instance_defaults = cls()
    for f in dataclasses.fields(cls):
        tp, found = types_[f.name]
        path = prefix + f.name
        if is_config_class(tp):
            yield from iter_fields(tp, path + ".")
        else:
            yield FieldInfo(path, tp, getattr(instance_defaults, f.name), docs.get(f.name, ""), found)


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


# --------------------------------------------------------------------------- parsing values

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_value(raw: Any, tp: Any, key: str) -> Any:
    """Turn ``raw`` (a string from the command line, or a YAML/preset value) into ``tp``."""
    origin = typing.get_origin(tp)
    if origin is Annotated:  # constraints are checked on the whole config, after parsing
        return parse_value(raw, tp.__origin__, key)

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"config key '{key}' expects {expected}, got {raw!r}.")

    if origin is Literal:
        choices = typing.get_args(tp)
        for choice in choices:
            if raw == choice or str(raw).lower() == str(choice).lower():
                return choice
        raise ConfigError(
            f"config key '{key}' must be one of {', '.join(map(str, choices))}; got {raw!r}."
            + nearest(str(raw), map(str, choices))
        )
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (raw is None or str(raw).lower() in ("none", "null", "")):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return parse_value(raw, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise bad(type_name(tp))
    if origin in (tuple, list):
        args = typing.get_args(tp)
        if isinstance(raw, str):
            text = raw.strip().strip("[]()")
            items: list[Any] = [s.strip() for s in text.split(",") if s.strip()] if text else []
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        else:
            raise bad(f"a comma-separated {type_name(tp)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise bad(f"{len(args)} comma-separated values")
            values = [parse_value(v, a, key) for v, a in zip(items, args)]
        else:
            elem = args[0] if args else str
            values = [parse_value(v, elem, key) for v in items]
        return origin(values)
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad("true or false")
    if tp is int:
        if isinstance(raw, bool):
            raise bad("an integer")
        if isinstance(raw, int):
            return raw
        try:
            text = str(raw).strip().replace("_", "")
            try:
                return int(text)
            except ValueError:
                number = float(text)  # "2e6" is a fine way to write 2,000,000
                if not number.is_integer():
                    raise bad("an integer") from None
                return int(number)
        except (ValueError, OverflowError):
            raise bad("an integer") from None
    if tp is float:
        if isinstance(raw, bool):
            raise bad("a number")
        try:
            return float(str(raw).strip().replace("_", ""))
        except ValueError:
            raise bad("a number") from None
    if tp is str:
        if isinstance(raw, (dict, list)):
            raise bad("a string")
        return str(raw)
    if tp is Any:
        return raw
    raise ConfigError(f"config key '{key}' has a type workbench cannot parse: {type_name(tp)}")


# --------------------------------------------------------------------------- building configs


def _leaf_paths(cls: type) -> dict[str, Any]:
    return {f.path: f.type for f in iter_fields(cls)}


def resolve_key(cls: type, key: str) -> str:
    """The full dotted path for ``key``: exact, or a unique leaf name (``lr`` -> ``optim.lr``)."""
    paths = _leaf_paths(cls)
    if key in paths:
        return key
    by_leaf = [p for p in paths if p.rsplit(".", 1)[-1] == key]
    if len(by_leaf) == 1:
        return by_leaf[0]
    if len(by_leaf) > 1:
        raise ConfigError(
            f"config key '{key}' is ambiguous: it could be {', '.join(by_leaf)}. Use the full name."
        )
    allowed = ", ".join(sorted(paths))
    raise ConfigError(
        f"unknown config key '{key}'.{nearest(key, paths)} Allowed keys: {allowed}. "
        "Run `workbench describe NAME` for their types and docs."
    )


def _set_path(cfg: Any, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target = cfg
    for p in parents:
        target = getattr(target, p)
    setattr(target, leaf, value)


def parse_overrides(args: list[str]) -> dict[str, str]:
    """``["lr=3e-4", "optim.betas=0.5,0.999"]`` -> ``{"lr": "3e-4", ...}``."""
    out: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"cannot read the argument {arg!r}: overrides are written key=value "
                "(for example lr=3e-4 or optim.lr=3e-4)."
            )
        out[key.strip()] = value.strip()
    return out


def _set_all(cfg: Any, overrides: Mapping[str, Any]) -> None:
    cls = type(cfg)
    paths = _leaf_paths(cls)
    for key, raw in overrides.items():
        path = resolve_key(cls, key)
        _set_path(cfg, path, parse_value(raw, paths[path], path))


def apply_overrides(cfg: Any, overrides: Mapping[str, Any]) -> Any:
    """Set each override on ``cfg`` (in place), then validate the whole; returns ``cfg``."""
    _set_all(cfg, overrides)
    validate(cfg)
    return cfg


def build_config(cls: type, *layers: Mapping[str, Any]) -> Any:
    """Defaults <- each layer of overrides, in order; validated once, at the end, so that a
    cross-field check sees the command line's values on top of the preset's."""
    cfg = cls()
    for layer in layers:
        _set_all(cfg, layer)
    validate(cfg)
    return cfg


def check_constraints(cfg: Any) -> None:
    """Every field's declared constraints (and finiteness of floats), nested configs included."""
    for f in iter_fields(type(cfg)):
        value = cfg
        for part in f.path.split("."):
            value = getattr(value, part)
        constraints.check(f.path, value, f.constraints, f.doc)


def validate(cfg: Any) -> None:
    """The declared constraints, then checks that they cannot express; a plugin Config may add
    ``__post_init__`` checks and a ``validate(self)`` method that raises ConfigError (it runs
    after the constraints, so it sees values in range)."""
    check_constraints(cfg)
    if isinstance(cfg, RunConfig):
        dev = cfg.device
        ok = dev in ("auto", "cpu", "cuda", "mps") or (
            dev.startswith("cuda:") and dev[5:].isdigit()
        )
        if not ok:
            raise ConfigError(
                f"config key 'device' must be auto, cpu, cuda, cuda:N or mps; got {dev!r}."
            )
    extra = getattr(cfg, "validate", None)
    if callable(extra):
        extra()


def to_dict(cfg: Any) -> dict[str, Any]:
    """A nested plain dict (tuples become lists), ready for YAML and W&B."""

    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = to_dict(v) if dataclasses.is_dataclass(v) else plain(v)
    return out


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a config saved with :func:`to_dict` (a run's config.yaml); strict about keys."""
    return build_config(cls, flatten(data))
