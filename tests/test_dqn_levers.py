"""benchmarks/dqn_levers.py: variants, the per-lever table and its medians (no training)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
spec = importlib.util.spec_from_file_location("dqn_levers", REPO / "benchmarks" / "dqn_levers.py")
levers = importlib.util.module_from_spec(spec)
sys.modules["dqn_levers"] = levers
spec.loader.exec_module(levers)
R = levers.Result


def test_a_variant_is_base_or_overrides_joined_by_plus():
    assert levers.overrides("base") == []
    assert levers.overrides("tau=1.0+target_network_frequency=500") == [
        "tau=1.0", "target_network_frequency=500"]
    cmd = levers.command("dqn-cartpole", "n_step=1", 2, ["total_steps=100"])
    assert cmd[-3:] == ["seed=2", "total_steps=100", "n_step=1"]
    with pytest.raises(SystemExit, match="not key=value"):
        levers.overrides("n_step")


def test_the_median_counts_only_when_most_seeds_reach_the_target():
    assert levers.median_or_none([10, 30, None]) == 20
    assert levers.median_or_none([10, None, None]) is None


def test_the_table_gives_medians_per_seed_values_and_the_time_ratio_against_the_first_variant():
    results = [R("base", 1, 20_000, 9_500, 30.0, 500, 40), R("base", 0, 15_000, 7_000, 20.0, 480, 41),
               R("base", 2, None, None, None, 300, 42),
               R("n_step=1", 0, None, None, None, 100, 40), R("n_step=1", 1, 25_000, 12_000, 50, 475, 40),
               R("n_step=1", 2, None, None, None, 120, 40),
               R("lr=0.003", 0, 10_000, 4_500, 12.5, 500, 44), R("lr=0.003", 1, 10_000, 4_500, 12.5, 500, 44)]
    rows = levers.table(results, ["base", "n_step=1", "lr=0.003"], 475).splitlines()
    assert rows[2] == "| `base` | 2/3 | 17,500 (15,000, 20,000, -) | 8,250 | 25.0 | 1.00 | 480.0 | 41.0 |"
    assert rows[3].startswith("| `n_step=1` | 1/3 | not reached (-, 25,000, -) | not reached |")
    assert "| 12.5 | 0.50 |" in rows[4]
