"""Studies over many runs: sweeps, Optuna studies, comparisons and aggregates over seeds."""
