"""Value constraints declared next to a config field's type, checked for every plugin.

A field says what values it accepts in its annotation, with annotated-types' objects (the
vocabulary pydantic and msgspec read too), so a third-party plugin gets the checks by writing
one line and no code::

    from typing import Annotated
    from workbench.config import Positive, Interval

    lr: Annotated[float, Positive] = 1e-4
    \"\"\"learning rate\"\"\"
    dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.1
    \"\"\"dropout probability\"\"\"

Understood: ``Gt``, ``Ge``, ``Lt``, ``Le``, ``Interval``, ``MultipleOf``, ``MinLen``, ``MaxLen``,
``Len`` and ``Predicate`` from annotated-types, and the names below for the common cases. On a
list or tuple field, bounds apply to each element and lengths to the whole. A float (or a
float in a list) must be finite unless the field carries :data:`AllowNonFinite`. ``None`` is
always accepted by an optional field (``Annotated[int, Positive] | None``). A subclass that
re-declares a field to change its default keeps the base class's constraints.

This module imports neither torch nor any plugin (``workbench describe`` prints the
constraints and must stay fast).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any

import annotated_types as at
from annotated_types import Ge, Gt, Interval, Le, Len, Lt, MaxLen, MinLen, MultipleOf, Predicate

from workbench.errors import ConfigError

__all__ = ["AllowNonFinite", "BatchSize", "Ge", "Gt", "Interval", "Le", "Len", "Lt", "MaxLen", "MinLen",
           "MultipleOf", "NonNegative", "Positive", "Predicate", "Probability", "Seed"]


class _AllowNonFinite:
    def __repr__(self) -> str:
        return "AllowNonFinite"


AllowNonFinite = _AllowNonFinite()
"""Marks a float field that may hold nan or inf (every other float field must be finite)."""
Positive = Gt(0)
NonNegative = Ge(0)
Probability = Interval(ge=0, le=1)
Seed = Interval(ge=0, lt=2**32)
"""A seed numpy's and torch's generators both accept (numpy refuses negatives and >= 2**32
for its legacy global seed)."""
BatchSize = Interval(ge=1, le=2**16)
"""Examples per step: a batch over 65,536 is a typo on any machine this runs on (the one
allocation would exhaust memory long after the run started)."""

_NUMERIC = (Gt, Ge, Lt, Le, MultipleOf, Predicate)
_LENGTH = (MinLen, MaxLen)


# --------------------------------------------------------------------------- reading annotations


def _atoms(metadata: tuple[Any, ...]) -> Iterator[Any]:
    """Constraint objects, with Interval / Len (grouped metadata) expanded into their parts;
    other metadata (a plain string, someone else's marker) is not ours and is skipped."""
    for m in metadata:
        if isinstance(m, at.GroupedMetadata):
            yield from _atoms(tuple(m))
        elif isinstance(m, (*_NUMERIC, *_LENGTH)) or m is AllowNonFinite:
            yield m


def split(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, c...]`` -> ``(T, (c, ...))``; an optional field may carry the annotation
    inside (``Annotated[int, Positive] | None``) or outside (``Annotated[int | None, Positive]``)."""
    if typing.get_origin(tp) is Annotated:
        inner, constraints = split(tp.__origin__)
        return inner, (*constraints, *_atoms(tp.__metadata__))
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args, found = [], []
        for arg in typing.get_args(tp):
            bare, constraints = split(arg)
            args.append(bare)
            found.extend(constraints)
        if found:
            return typing.Union[tuple(args)], tuple(found)  # noqa: UP007 - built from a tuple
    return tp, ()


# --------------------------------------------------------------------------- checking


def _fmt(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 2**20 and v & (v - 1) == 0:
        return f"2^{v.bit_length() - 1}"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000 else str(v)


def describe(constraints: tuple[Any, ...]) -> str:
    """``(Ge(0), Lt(1))`` -> ``"in [0, 1)"``; ``(Gt(0),)`` -> ``"> 0"``; '' when unconstrained."""
    # the tightest bound of each side (a subclass may narrow its base's range)
    lows = [("(", c.gt) if isinstance(c, Gt) else ("[", c.ge) for c in constraints
            if isinstance(c, (Gt, Ge))]
    highs = [(")", c.lt) if isinstance(c, Lt) else ("]", c.le) for c in constraints
             if isinstance(c, (Lt, Le))]
    lo = max(lows, key=lambda b: (b[1], b[0] == "(")) if lows else None
    hi = min(highs, key=lambda b: (b[1], b[0] == "]")) if highs else None
    parts = []
    if lo and hi:
        parts.append(f"in {lo[0]}{_fmt(lo[1])}, {_fmt(hi[1])}{hi[0]}")
    elif lo:
        parts.append(f"{'>' if lo[0] == '(' else '>='} {_fmt(lo[1])}")
    elif hi:
        parts.append(f"{'<' if hi[0] == ')' else '<='} {_fmt(hi[1])}")
    for c in constraints:
        if isinstance(c, MultipleOf):
            parts.append(f"a multiple of {_fmt(c.multiple_of)}")
        elif isinstance(c, Predicate):
            parts.append(f"{getattr(c.func, '__name__', repr(c.func))}(x) true")
        elif isinstance(c, MinLen):
            parts.append(f"at least {c.min_length} long")
        elif isinstance(c, MaxLen):
            parts.append(f"at most {c.max_length} long")
    if AllowNonFinite in constraints:
        parts.append("nan/inf allowed")
    return ", ".join(parts)


def _ok(value: Any, c: Any) -> bool:
    if isinstance(c, Gt):
        return value > c.gt
    if isinstance(c, Ge):
        return value >= c.ge
    if isinstance(c, Lt):
        return value < c.lt
    if isinstance(c, Le):
        return value <= c.le
    if isinstance(c, MultipleOf):
        return value % c.multiple_of == 0
    if isinstance(c, Predicate):
        return bool(c.func(value))
    if isinstance(c, MinLen):
        return len(value) >= c.min_length
    if isinstance(c, MaxLen):
        return len(value) <= c.max_length
    return True


def check(path: str, value: Any, constraints: tuple[Any, ...], doc: str = "") -> None:
    """Raise a ConfigError naming the key, the rule and the value if ``value`` breaks one."""
    if value is None:
        return
    about = f" ({path}: {doc})" if doc else ""
    sequence = isinstance(value, (list, tuple))
    elements = list(value) if sequence else [value]
    if AllowNonFinite not in constraints:
        for v in elements:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"config key '{path}' must be a finite number; got {v}.{about}")
    for c in constraints:
        if isinstance(c, _LENGTH) and (sequence or isinstance(value, str)):
            targets = [value]
        elif isinstance(c, _NUMERIC):
            targets = [v for v in elements if isinstance(v, (int, float)) and not isinstance(v, bool)]
        else:
            continue
        for v in targets:
            if not _ok(v, c):
                bounds = tuple(x for x in constraints if isinstance(x, (Gt, Ge, Lt, Le)))
                rule = describe(bounds if c in bounds else (c,))
                shown = f"{v!r}" if not sequence else f"{v!r} in {list(value)!r}"
                raise ConfigError(f"config key '{path}' must be {rule}; got {shown}.{about}")
