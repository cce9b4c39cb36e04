"""Typed options of the hooks a user calls on a finished run: ``eval``, ``sample``, ``explain``.

A plugin declares what each hook accepts as a dataclass on its Config class (light: no torch),
with one doc string under each field, exactly like a config::

    @dataclass
    class SampleOptions:
        n: int = 64
        \"\"\"images in the grid\"\"\"

    @dataclass
    class MyConfig(RunConfig):
        SampleOptions: ClassVar[type] = SampleOptions

The CLI turns ``--n 16`` (or ``--n=16``; ``--flag`` / ``--no-flag`` for booleans) into an
instance, typed and validated like a config (``Annotated`` constraints included), before any
checkpoint is loaded; an option the plugin does not declare is an exit-2 error that names the
allowed ones. ``workbench describe NAME`` and ``workbench sample RUN --help`` print them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from workbench.config import build_config, iter_fields, type_name
from workbench.errors import ConfigError, UserError, nearest

HOOKS = {"eval": "EvalOptions", "sample": "SampleOptions", "explain": "ExplainOptions"}

AttributionMethod = Literal["integrated-gradients", "saliency", "smoothgrad", "input-x-gradient",
                            "gradient-shap", "occlusion"]
"""The Captum methods of ``workbench explain --method`` (workbench/explain.py runs them)."""


@dataclass
class NoOptions:
    """The hook takes no options."""


def options_class(cfg_cls: type, hook: str) -> type:
    """The options dataclass that ``cfg_cls`` declares for ``hook`` (NoOptions if none)."""
    return getattr(cfg_cls, HOOKS[hook], NoOptions)


def _flag(path: str) -> str:
    return "--" + path.replace("_", "-")


def describe_options(cls: type) -> list[str]:
    """One line per option: flag, type, default, doc."""
    fields = list(iter_fields(cls))
    if not fields:
        return ["  (no options)"]
    wk = max(len(_flag(f.path)) for f in fields)
    wt = min(max(len(f.type_text) for f in fields), 24)
    return [f"  {_flag(f.path):<{wk}}  {f.type_text:<{wt}}  {_show(f.default):<8}  {f.doc}"
            for f in fields]


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return "-" if v is None else str(v)


def parse_options(cls: type, tokens: list[str], what: str) -> Any:
    """``["--n", "16", "--video"]`` -> an instance of ``cls``; UserError on anything else."""
    fields = {f.path: f for f in iter_fields(cls)}
    allowed = ", ".join(_flag(p) for p in fields) or "no options"
    raw: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or token == "--":
            raise UserError(f"{what}: cannot read {token!r}; options are written --name VALUE. "
                            f"It takes: {allowed}.")
        name, eq, value = token[2:].partition("=")
        key = name.replace("-", "_")
        negated = key.startswith("no_") and key[3:] in fields and fields[key[3:]].type is bool
        if negated:
            key, value, eq = key[3:], "false", "="
        if key not in fields:
            raise UserError(f"{what} does not take --{name}.{nearest(key, fields)} "
                            f"It takes: {allowed}.")
        if not eq:
            if fields[key].type is bool and (i + 1 == len(tokens) or tokens[i + 1].startswith("--")):
                value = "true"
            elif i + 1 < len(tokens):
                i += 1
                value = tokens[i]
            else:
                raise UserError(f"{what}: {token} needs a value ({type_name(fields[key].type)}).")
        raw[key] = value
        i += 1
    try:
        return build_config(cls, raw)
    except ConfigError as e:
        text = str(e)
        for key in fields:
            text = text.replace(f"config key '{key}'", f"option {_flag(key)}")
        raise UserError(f"{what}: {text}") from None
