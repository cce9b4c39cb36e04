"""The result of an Optuna study, written to its folder ``runs/<study>/``:

    trials.md          the trials ranked: finished by value, then pruned, failed, running
    best-config.yaml   the best trial's resolved config (the format of a run's config.yaml)
    best-command.txt   the ``workbench run`` line that trains the best trial's config again
    history.png        Optuna's optimisation history
    importances.png    Optuna's hyperparameter importances (fANOVA; needs 2 finished trials)
    intermediate.png   each trial's evaluations over steps (where the pruner stopped them)

Every worker rewrites these when it stops, so the last one to finish leaves the whole study.
A plot that cannot be drawn (too few finished trials) is skipped with a note, never an error.
"""

from __future__ import annotations

import datetime
import os
import shlex
import warnings
from pathlib import Path
from typing import Any

from workbench.studies.comparison import markdown_table, text_table

_ORDER = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}


def trial_values(trial: Any, params: list[Any]) -> dict[str, Any]:
    """The config values of a trial: the fixed keys and what the sampler chose (decoded)."""
    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "fixed":
            out[p.key] = p.choices[0]
        elif p.key in trial.params:
            value = trial.params[p.key]
            out[p.key] = p.choices[p.encoded().index(value)] if p.kind == "categorical" else value
    return out


def _last_report(trial: Any) -> tuple[int | None, float | None]:
    if not trial.intermediate_values:
        return None, None
    step = max(trial.intermediate_values)
    return step, trial.intermediate_values[step]


def _show(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return str(v).lower() if isinstance(v, bool) else str(v)


def ranked(study: Any, goal: str) -> list[Any]:
    sign = -1.0 if goal == "max" else 1.0

    def key(t: Any) -> tuple[int, float, int]:
        value = t.value if t.state.name == "COMPLETE" else _last_report(t)[1]
        return _ORDER.get(t.state.name, 5), sign * value if value is not None else 0.0, t.number

    return sorted(study.get_trials(deepcopy=False), key=key)


def table(study: Any, params: list[Any], goal: str) -> tuple[list[str], list[list[str]]]:
    swept = [p for p in params if p.kind != "fixed"]
    header = ["rank", "trial", "state", "value", "step", *[p.key.rsplit(".", 1)[-1] for p in swept],
              "seconds", "run"]
    rows = []
    for i, t in enumerate(ranked(study, goal), 1):
        step, last = _last_report(t)
        value = t.value if t.state.name == "COMPLETE" else last
        values = trial_values(t, params)
        seconds = t.duration.total_seconds() if isinstance(t.duration, datetime.timedelta) else None
        rows.append([str(i), str(t.number), t.state.name.lower(), _show(value),
                     _show(t.user_attrs.get("step", step)), *[_show(values.get(p.key)) for p in swept],
                     "-" if seconds is None else f"{seconds:.1f}", str(t.user_attrs.get("run", "-"))])
    return header, rows


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no finished trial yet
        return None


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_best(study_dir: Path, name: str, params: list[Any], best: Any) -> list[str]:
    """best-config.yaml (the preset, the fixed keys and the best values, resolved and validated
    as a run's config.yaml is) and best-command.txt."""
    import yaml

    from workbench import registry
    from workbench.config import build_config, to_dict

    spec, preset = registry.resolve(name)
    values = trial_values(best, params)
    cfg = build_config(registry.load_config_class(spec), dict(preset.overrides) if preset else {}, values)
    _write(study_dir / "best-config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    from workbench.studies.axes import arg_text

    command = shlex.join(["workbench", "run", name, *[f"{k}={arg_text(v)}" for k, v in values.items()]])
    _write(study_dir / "best-command.txt", command + "\n")
    return [f"best: trial {best.number}, value {best.value:.6g} "
            f"({best.user_attrs.get('run', '-')}); its config: {study_dir / 'best-config.yaml'}",
            f"train it again: {command}"]


def write_plots(study: Any, study_dir: Path) -> list[str]:
    """Optuna's matplotlib plots as PNGs; returns notes on the ones that could not be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    notes = []
    for filename, plot in (("history.png", vis.plot_optimization_history),
                           ("importances.png", vis.plot_param_importances),
                           ("intermediate.png", vis.plot_intermediate_values)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks these plots experimental
                ax = plot(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            fig.savefig(study_dir / filename, dpi=100)
            plt.close(fig)
        except (ValueError, RuntimeError, ZeroDivisionError, IndexError) as e:
            notes.append(f"{filename} not drawn: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
            plt.close("all")
    return notes


def write_report(study: Any, study_dir: Path, name: str, params: list[Any], metric: str,
                 goal: str) -> str:
    """Write the study's files; return the text the command prints."""
    header, rows = table(study, params, goal)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in _ORDER if states.count(s))
    title = (f"study {study.study_name}: {len(states)} trials of {name} ({counts}); "
             f"{metric}, {'higher' if goal == 'max' else 'lower'} is better")
    _write(study_dir / "trials.md", f"# {title}\n\n{markdown_table(header, rows)}\n")
    lines = [f"[optuna] {title}", text_table(header, rows) if rows else "(no trials yet)"]
    best = _best(study)
    if best is not None:
        lines += write_best(study_dir, name, params, best)
    lines += write_plots(study, study_dir) if len(states) else []
    lines.append(f"tables and plots: {study_dir}; curves: workbench compare --group "
                 f"{study.study_name} --metric {metric}")
    return "\n".join(lines)
