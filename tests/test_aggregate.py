"""Aggregates over seeds (workbench/studies/aggregate.py) on fixed numbers whose answers are
worked out by hand here: the IQM by counting, the bootstrap interval by enumerating every
resample (the exact bootstrap distribution that the Monte-Carlo one approximates)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from workbench.studies import aggregate


def test_iqm_drops_the_lowest_and_highest_quarter_then_averages():
    # 8 scores: int(0.25 * 8) = 2 cut from each end -> mean(3, 4, 5, 6) = 4.5; the 100 is ignored
    assert aggregate.iqm([7, 1, 100, 3, 5, 2, 6, 4]) == pytest.approx(4.5)
    # 10 scores: 2 cut from each end -> mean(3..8) = 5.5
    assert aggregate.iqm(list(range(1, 11))) == pytest.approx(5.5)
    # fewer than 4 scores: nothing is cut, the IQM is the mean
    assert aggregate.iqm([1, 2, 9]) == pytest.approx(4.0)


def test_two_seeds_give_the_interval_worked_out_by_hand():
    # resamples of (3, 5): (3,3) (3,5) (5,3) (5,5) -> means 3, 4, 4, 5 with odds 1/4, 1/2, 1/4;
    # the 2.5th and 97.5th percentiles of that distribution are 3 and 5
    e = aggregate.estimate([3.0, 5.0], "mean")
    assert (e.value, e.low, e.high, e.runs) == (4.0, 3.0, 5.0, 2)


def _exact_percentile_interval(scores: list[float], stat, confidence: float = 0.95):
    """Every one of the n**n resamples, equally likely: the exact bootstrap distribution."""
    resamples = np.array(list(itertools.product(scores, repeat=len(scores))))
    values = np.sort(stat(resamples, axis=1))
    alpha = (1 - confidence) / 2
    return np.quantile(values, alpha), np.quantile(values, 1 - alpha)


@pytest.mark.parametrize("statistic", ["mean", "iqm"])
def test_the_monte_carlo_interval_matches_the_exact_bootstrap_distribution(statistic):
    scores = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]  # 6**6 = 46,656 resamples, enumerated
    stat = np.mean if statistic == "mean" else aggregate.iqm
    low, high = _exact_percentile_interval(scores, stat)
    e = aggregate.estimate(scores, statistic, resamples=50_000)
    assert e.value == pytest.approx(stat(np.array(scores), axis=0))
    spread = max(scores) - min(scores)
    assert e.low == pytest.approx(low, abs=0.02 * spread)
    assert e.high == pytest.approx(high, abs=0.02 * spread)
    assert e.low < e.value < e.high


def test_strata_are_resampled_separately():
    # each task's seeds agree, so a bootstrap that keeps 3 runs per task always averages to 3;
    # pooled (one stratum) the same six numbers resample to anything from 1 to 5
    stratified = aggregate.estimate({"pong": [1, 1, 1], "breakout": [5, 5, 5]}, "mean")
    assert (stratified.value, stratified.low, stratified.high) == (3.0, 3.0, 3.0)
    pooled = aggregate.estimate([1, 1, 1, 5, 5, 5], "mean")
    assert pooled.value == 3.0 and pooled.low < 2.5 and pooled.high > 3.5


def test_one_run_has_no_interval_and_non_finite_scores_are_dropped():
    e = aggregate.estimate([7.0, math.nan], "mean")
    assert e.value == 7.0 and e.runs == 1 and math.isnan(e.low) and math.isnan(e.high)
    assert "7" in str(e) and "[" not in str(e)
    assert aggregate.estimate([], "iqm").runs == 0


def test_the_same_seed_gives_the_same_interval_and_unknown_statistics_are_refused():
    scores = [-21.0, -3.0, 12.0, 18.5, 20.0]
    assert aggregate.estimate(scores, seed=3) == aggregate.estimate(scores, seed=3)
    with pytest.raises(ValueError, match="mean, iqm"):
        aggregate.estimate(scores, "median")


def test_curve_interval_is_the_pointwise_mean_and_its_band_on_the_shared_grid():
    curves = [[(0, 1.0), (10, 3.0)], [(0, 3.0), (5, 4.0), (10, 5.0)]]
    grid, mean, low, high = aggregate.curve_interval(curves)
    assert grid == [0, 5, 10]
    assert mean == pytest.approx([2.0, 3.0, 4.0])  # the first curve is 2.0 at x=5
    # two seeds per point: the percentile interval is their min and max (see the test above)
    assert low == pytest.approx([1.0, 2.0, 3.0]) and high == pytest.approx([3.0, 4.0, 5.0])


def _fake_seed_run(root, name: str, seed: int, finals: dict[int, float]):
    from workbench.engine.runs import RunDir

    info = dict(plugin="dqn", preset="dqn-pong", wandb_id=name, created=0.0, tags=[],
                project="workbench")
    run = RunDir.create("dqn-pong", name, info, {"seed": seed, "lr": 1e-4}, root=root)
    run.metrics.write_text("".join(json.dumps({"step": s, "time": s / 100, "eval/return": v}) + "\n"
                                   for s, v in finals.items()))
    run.update_info(status="finished", step=max(finals))
    return run


def test_the_python_api_reports_mean_iqm_and_intervals_for_runs_that_differ_only_in_seed(runs_root):
    import workbench as wb

    for seed, final in enumerate([18.0, 20.0, 19.0, 21.0]):
        _fake_seed_run(runs_root, f"s{seed}", seed, {50_000: -20.0, 100_000: final})
    c = wb.compare(group="dqn-pong")  # the runs root is WORKBENCH_RUNS = runs_root
    assert "across seeds:" in repr(c) and "IQM" in repr(c)
    rows = c.seeds
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    assert len(rows) == 1
    row = rows[0]
    assert row["seeds"] == 4 and row["mean"] == pytest.approx(19.5)
    # 4 seeds: int(0.25 * 4) = 1 cut from each end -> mean(19, 20)
    assert row["iqm"] == pytest.approx(19.5)
    assert 18.0 <= row["mean_low"] < 19.5 < row["mean_high"] <= 21.0
    assert (row["min"], row["max"]) == (18.0, 21.0)
