"""The search space of a sweep: ``key=SPEC`` arguments parsed into typed axes, and the points
drawn from them. Shared by the grid/random runner (sweep.py) and Optuna studies (optuna_sweep.py).
"""

from __future__ import annotations

import itertools
import math
import random
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import ConfigError, UserError

RANGES = ("loguniform", "uniform", "randint")
_CALL = re.compile(r"^(choice|loguniform|uniform|randint)\((.*)\)$")




@dataclass
class Axis:
    """One swept key: fixed (one value), a list of choices, or a range."""

    key: str  # the full dotted config path
    kind: str  # fixed | choice | loguniform | uniform | randint
    values: list[Any] = field(default_factory=list)  # fixed / choice: parsed values
    low: float = 0.0
    high: float = 0.0

    @property
    def varies(self) -> bool:
        return self.kind != "fixed"

    def sample(self, rng: random.Random) -> Any:
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return rng.choice(self.values)
        if self.kind == "loguniform":
            return float(f"{math.exp(rng.uniform(math.log(self.low), math.log(self.high))):.4g}")
        if self.kind == "uniform":
            return float(f"{rng.uniform(self.low, self.high):.4g}")
        return rng.randint(int(self.low), int(self.high))


def _field_types(cfg_cls: type) -> dict[str, Any]:
    from workbench.config import iter_fields

    return {f.path: f.type for f in iter_fields(cfg_cls)}


def _is_sequence(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, tuple)


def parse_axis(arg: str, cfg_cls: type) -> Axis:
    """``key=SPEC`` -> an Axis whose values are already parsed and validated for ``key``."""
    from workbench.config import parse_value, resolve_key

    key, sep, spec = arg.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"cannot read the sweep argument {arg!r}: write key=values, for example "
                          "lr=1e-4,3e-4 or lr=loguniform(1e-5,1e-3).")
    path = resolve_key(cfg_cls, key.strip())
    tp = _field_types(cfg_cls)[path]
    spec = spec.strip()
    call = _CALL.match(spec)
    if call and call.group(1) in RANGES:
        bounds = [b.strip() for b in call.group(2).split(",")]
        if len(bounds) != 2:
            raise ConfigError(f"{arg}: a range takes two bounds, {call.group(1)}(low,high).")
        try:
            low, high = float(bounds[0]), float(bounds[1])
        except ValueError:
            raise ConfigError(f"{arg}: the bounds of {call.group(1)} must be numbers.") from None
        if tp not in (int, float) or (call.group(1) == "randint") != (tp is int):
            raise ConfigError(f"{arg}: '{path}' is {getattr(tp, '__name__', tp)}; ranges are for "
                              "numbers: randint for integers, uniform/loguniform for floats.")
        if not low < high or (call.group(1) == "loguniform" and low <= 0):
            raise ConfigError(f"{arg}: need low < high (and low > 0 for loguniform).")
        return Axis(path, call.group(1), low=low, high=high)
    body = call.group(2) if call else spec
    separator = ";" if _is_sequence(tp) else ","
    raw = [v.strip() for v in body.split(separator)] if body else [""]
    values = [parse_value(v, tp, path) for v in raw]
    if len(values) != len(set(map(repr, values))):
        raise ConfigError(f"{arg}: a value is listed twice.")
    return Axis(path, "choice" if call or len(values) > 1 else "fixed", values)


def points(axes: list[Axis], random_k: int | None, sample_seed: int = 0) -> list[dict[str, Any]]:
    """The runs of the sweep as ``{path: value}``: the grid, or ``random_k`` random draws."""
    if random_k is None:
        ranged = [a.key for a in axes if a.kind in RANGES]
        if ranged:
            raise UserError(f"{', '.join(ranged)} {'is a range' if len(ranged) == 1 else 'are ranges'}; "
                            "ranges are sampled, so add --random K (K runs), or list values: lr=1e-4,3e-4.")
        grid = itertools.product(*[a.values for a in axes])
        return [dict(zip([a.key for a in axes], combo, strict=True)) for combo in grid]
    if random_k <= 0:
        raise UserError(f"--random takes a positive number of runs; got {random_k}.")
    rng = random.Random(sample_seed)
    return [{a.key: a.sample(rng) for a in axes} for _ in range(random_k)]


# --------------------------------------------------------------------------- names




def arg_text(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return repr(v) if isinstance(v, float) else str(v)
