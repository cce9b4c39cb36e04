"""Scores over seeds, aggregated as RL papers report them (Agarwal et al. 2021, "Deep
Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS): the mean, the
interquartile mean (IQM: the mean of the middle 50 % of the scores, robust to one outlying seed,
more efficient than the median) and 95 % stratified bootstrap confidence intervals.

A *stratum* is one task (one game, one dataset); its scores are the runs (seeds) on it. The
stratified bootstrap resamples the runs of each task separately, with replacement, keeping each
task's number of runs, and recomputes the aggregate over all tasks each time; the interval is
the percentile interval of those recomputed aggregates (rliable's default). With one task, as in
``workbench compare`` of one config over seeds, it is the plain bootstrap over seeds.

Why scipy, not rliable: rliable 1.2.0 installs (from its sdist) but fails to import beside
pandas 3 (its dependency arch 7.2 calls pandas' ``deprecate_kwarg`` with an old signature), and
it pulls in arch, statsmodels, seaborn and absl-py. ``scipy.stats.bootstrap`` given one sample
per task with ``paired=False`` resamples each sample independently: exactly the stratified
bootstrap, with rliable's IQM (``scipy.stats.trim_mean(scores, 0.25)``, which rliable calls too).

With fewer than 4 runs per task the IQM trims nothing (``int(0.25 * n) == 0``) and equals the
mean; with 3 seeds a 95 % interval is wide, and it should be.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

STATISTICS = ("mean", "iqm")


def iqm(scores: Any, axis: int | None = None) -> Any:
    """Interquartile mean: the mean after cutting ``int(0.25 * n)`` scores from each end."""
    from scipy.stats import trim_mean

    return trim_mean(np.asarray(scores, dtype=float), 0.25, axis=axis)


def _statistic(name: str) -> Any:
    if name == "mean":
        return lambda x, axis=None: np.mean(x, axis=axis)
    if name == "iqm":
        return iqm
    raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}; got {name!r}")


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its confidence interval (``low``/``high`` are nan with one run)."""

    value: float
    low: float
    high: float
    runs: int

    def __str__(self) -> str:
        if math.isnan(self.low):
            return f"{self.value:.4g}"
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


def _strata(scores: Sequence[float] | Mapping[Any, Sequence[float]]) -> list[np.ndarray]:
    groups = list(scores.values()) if isinstance(scores, Mapping) else [scores]
    out = [np.asarray(g, dtype=float).ravel() for g in groups]
    out = [g[np.isfinite(g)] for g in out]
    return [g for g in out if g.size]


def estimate(scores: Sequence[float] | Mapping[Any, Sequence[float]], statistic: str = "mean",
             confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> Estimate:
    """``statistic`` ("mean" or "iqm") of all the scores and its stratified bootstrap interval.

    ``scores``: the runs' scores of one task (a sequence), or ``{task: scores}`` to stratify by
    task. Non-finite scores are dropped. ``seed`` fixes the resampling, so a report is
    reproducible."""
    func = _statistic(statistic)
    strata = _strata(scores)
    if not strata:
        return Estimate(math.nan, math.nan, math.nan, 0)
    pooled = np.concatenate(strata)
    value = float(func(pooled))
    if all(s.size < 2 for s in strata):  # nothing to resample: one run per task
        return Estimate(value, math.nan, math.nan, pooled.size)
    low, high = bootstrap_interval(strata, func, confidence, resamples, seed)
    return Estimate(value, low, high, pooled.size)


def bootstrap_interval(strata: Sequence[np.ndarray], func: Any, confidence: float = 0.95,
                       resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """The percentile interval of ``func`` over stratified bootstrap resamples of ``strata``."""
    from scipy.stats import bootstrap

    def pooled(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return func(np.concatenate(samples, axis=axis), axis=axis)

    rng = np.random.default_rng(seed)
    # scipy >= 1.15 names the generator `rng`; older versions `random_state`
    key = "rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state"
    with warnings.catch_warnings():  # identical scores: a zero-width interval, not a warning
        warnings.simplefilter("ignore")
        res = bootstrap(tuple(strata), pooled, n_resamples=resamples, confidence_level=confidence,
                        method="percentile", paired=False, vectorized=True, **{key: rng})
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass(frozen=True)
class Summary:
    """What ``workbench compare`` reports for the runs of one config over seeds."""

    runs: int
    mean: Estimate
    iqm: Estimate
    minimum: float
    maximum: float


def summarize(scores: Sequence[float], confidence: float = 0.95, resamples: int = 10_000,
              seed: int = 0) -> Summary:
    values = [float(s) for s in scores if math.isfinite(float(s))]
    mean = estimate(values, "mean", confidence, resamples, seed)
    mid = estimate(values, "iqm", confidence, resamples, seed)
    return Summary(len(values), mean, mid, min(values, default=math.nan),
                   max(values, default=math.nan))


def aligned(curves: Sequence[Sequence[tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray]:
    """Several curves on a shared x grid: the union of their x values inside the range they all
    cover, each curve linearly interpolated onto it (exact when the runs logged at the same
    steps). Returns (grid, values of shape (curves, grid))."""
    curves = [c for c in curves if c]
    lo = max(c[0][0] for c in curves)
    hi = min(c[-1][0] for c in curves)
    grid = np.array(sorted({x for c in curves for x, _ in c if lo <= x <= hi}))
    if grid.size == 0:  # no overlap (e.g. wall time of very different runs): keep the first
        grid = np.array([x for x, _ in curves[0]])
    ys = np.stack([np.interp(grid, [x for x, _ in c], [y for _, y in c]) for c in curves])
    return grid, ys


def curve_interval(curves: Sequence[Sequence[tuple[float, float]]], statistic: str = "mean",
                   confidence: float = 0.95, resamples: int = 2_000, seed: int = 0,
                   ) -> tuple[list[float], list[float], list[float], list[float]]:
    """The aggregate curve of several runs and its bootstrap band: (x, value, low, high), the
    interval computed at each x of the shared grid (see :func:`aligned`)."""
    grid, ys = aligned(curves)
    func = _statistic(statistic)
    value = np.asarray(func(ys, axis=0), dtype=float)
    if ys.shape[0] < 2:
        return grid.tolist(), value.tolist(), value.tolist(), value.tolist()
    low, high = np.empty_like(value), np.empty_like(value)
    for i in range(grid.size):
        low[i], high[i] = bootstrap_interval([ys[:, i]], func, confidence, resamples, seed)
    return grid.tolist(), value.tolist(), low.tolist(), high.tolist()
