"""Studies over many runs: grids, Optuna studies, comparisons and seed aggregates."""
