"""The Python API, for notebooks and scripts: the CLI's verbs as functions that return objects.

    import workbench as wb

    r = wb.run("dqn-cartpole", lr=1e-3, total_steps=20_000)   # a widget bar in Jupyter ([notebook] extra)
    r.metrics        # a pandas DataFrame (a list of dicts when pandas is not installed)
    r.best()         # Best(metric='eval/return', value=500.0, step=15000, goal='max')
    r.config         # the resolved config, a nested dict
    r2 = wb.rerun(r, seed=1)                   # the same config, another seed
    wb.compare([r, r2]).table                  # ranked by the primary metric
    wb.load("runs/dqn-cartpole/<run>")         # any run directory, finished or not

Keys with dots go through a dict: ``wb.run("dqn", **{"env.id": "ALE/Breakout-v5"})``. Bad input
raises the CLI's exceptions (:class:`~workbench.errors.UserError` and its subclasses, with the
same one-paragraph messages) instead of exiting; a run that stops on a non-finite loss raises
:class:`~workbench.errors.RunFailed`. Importing this module imports neither torch nor wandb.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import RunFailed

__all__ = ["Best", "Run", "compare", "list_runs", "load", "rerun", "resume", "run"]


@dataclass(frozen=True)
class Best:
    """The best value of a metric in a run, and the step it was reached at."""

    metric: str
    value: float
    step: int
    goal: str


class Run:
    """A run directory: its config, status and metrics, read fresh on each access."""

    def __init__(self, path: str | Path) -> None:
        from workbench.engine.runs import open_run

        self._dir = open_run(path)
        self.path = self._dir.path

    @property
    def info(self) -> Any:
        """run.json: plugin, preset, status, step, device, versions, command, ..."""
        return self._dir.read_info()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def status(self) -> str:
        return self.info.status

    @property
    def config(self) -> dict[str, Any]:
        return self._dir.read_config()

    @property
    def metrics(self) -> Any:
        """Every log line of metrics.jsonl (step, time, train/..., eval/..., perf/...)."""
        from workbench.studies.comparison import records_or_frame

        return records_or_frame(self._dir.read_metrics())

    def best(self, metric: str | None = None, goal: str | None = None) -> Best | None:
        """The best value of ``metric`` (default: the plugin's primary metric, with its goal);
        None when it was not logged yet."""
        from workbench import registry
        from workbench.commands.listing import best_of
        from workbench.errors import UserError

        declared = registry.primary_metric(self.info.plugin)
        if metric is None:
            if declared is None:
                raise UserError(f"plugin '{self.info.plugin}' declares no primary metric; "
                                "name one: run.best('eval/...').")
            metric = declared[0]
        if goal is None:
            goal = declared[1] if declared and declared[0] == metric else _guess_goal(metric)
        found = best_of(self._dir, metric, goal)
        return Best(metric, found[0], found[1], goal) if found else None

    def __repr__(self) -> str:
        info = self.info
        total = self.config.get("total_steps")
        best = self.best() if _has_primary(info.plugin) else None
        shown = f", best {best.metric}={best.value:.4g} @ {best.step:,}" if best else ""
        steps = f"{info.step:,}/{total:,}" if isinstance(total, int) else f"{info.step:,}"
        return f"Run('{self.path}', {info.status}, step {steps}{shown})"

    def __fspath__(self) -> str:  # a Run goes wherever a run directory path does
        return str(self.path)


def _has_primary(plugin: str) -> bool:
    from workbench import registry
    from workbench.errors import UserError

    try:
        return registry.primary_metric(plugin) is not None
    except UserError:
        return False


def _guess_goal(metric: str) -> str:
    from workbench.studies.comparison import lower_is_better

    return "min" if lower_is_better(metric) else "max"


def _call(verb: str, first: Any, overrides: Mapping[str, Any]) -> str:
    """The call as a line for run.json's command field."""
    args = [repr(str(first))] + [f"{k}={v!r}" for k, v in overrides.items()]
    return f"workbench.{verb}({', '.join(args)})"


def _launch(wandb: str | None, tags: Iterable[str], project: str, progress: bool,
            command: str) -> Any:
    from workbench.engine.loop import Launch

    return Launch(wandb_mode=wandb, tags=tuple(tags), project=project, progress=progress,
                  command=command)


def _finished(code: int, path: Path) -> Run:
    """The Run, or RunFailed for a run that stopped itself (a signal's stop is not a failure:
    the checkpoint is saved and ``resume`` continues it)."""
    if code == 0 or code >= 128:
        return Run(path)
    raise RunFailed(f"the run in {path} stopped with exit code {code} (see the message above); "
                    f"its last good checkpoint is kept: wb.resume('{path}') continues it.",
                    run_dir=path, exit_code=code)


def run(name: str | None = None, *, config: str | Path | None = None, run_name: str | None = None,
        wandb: str | None = None, tags: Iterable[str] = (), project: str = "workbench",
        progress: bool = True, **overrides: Any) -> Run:
    """``workbench run NAME [--config FILE] key=value ...`` in-process; returns the finished
    Run. ``wandb``: "online" | "offline" | "disabled" (default: online if logged in, else
    offline)."""
    from workbench.engine.loop import start
    from workbench.errors import UserError

    if config is not None:
        from workbench.commands.configfile import with_config_file

        name, overrides = with_config_file(config, name, overrides)
    elif name is None:
        raise UserError("wb.run needs a plugin or preset name (wb.run('dqn-cartpole', lr=1e-3)) "
                        "or config='FILE.yaml'.")
    launch = _launch(wandb, tags, project, progress, _call("run", name, overrides))
    code, run_dir = start(name, overrides, run_name=run_name, launch=launch)
    return _finished(code, run_dir.path)


def load(run_dir: str | Path | Run) -> Run:
    """A run directory as a Run (finished, running or stopped)."""
    return Run(run_dir)


def resume(run_dir: str | Path | Run, *, wandb: str | None = None, progress: bool = True,
           **overrides: Any) -> Run:
    """``workbench resume RUN_DIR key=value ...``: continue from the last checkpoint."""
    from workbench.engine.loop import resume as resume_run

    launch = _launch(wandb, (), "workbench", progress, _call("resume", run_dir, overrides))
    code, run_dir_ = resume_run(Path(run_dir), overrides, launch=launch)
    return _finished(code, run_dir_.path)


def rerun(run_dir: str | Path | Run, *, run_name: str | None = None, wandb: str | None = None,
          progress: bool = True, **overrides: Any) -> Run:
    """``workbench rerun RUN_DIR key=value ...``: a new run with that run's config."""
    from workbench.commands.configfile import rerun_args
    from workbench.engine.loop import start

    name, merged, info = rerun_args(Path(run_dir), overrides)
    launch = _launch(wandb, info.tags or (), info.project, progress,
                     _call("rerun", run_dir, overrides))
    code, new = start(name, merged, run_name=run_name, launch=launch)
    return _finished(code, new.path)


def compare(runs: Iterable[str | Path | Run] = (), *, group: str | None = None,
            metric: str | None = None, goal: str = "auto", x: str = "step",
            out: str | Path | None = None, rank_by: str = "final") -> Any:
    """``workbench compare``: a :class:`~workbench.studies.comparison.Comparison` (printing it gives
    the CLI's report; ``.table`` and ``.curves`` are DataFrames with pandas). ``out``: a PNG;
    ``rank_by``: ``"final"`` (the value the run ends with) or ``"best"``."""
    from workbench.studies.comparison import build, plot

    c = build([Path(r) for r in runs], group=group, metric=metric, x=x, goal=goal,
              rank_by=rank_by)
    if out is not None:
        plot(c.groups, c.metric, x, Path(out), c.keys)
    return c


def list_runs(group: str | None = None) -> list[Run]:
    """Every run under runs/ (of one group), newest first."""
    from workbench.commands.listing import list_runs as rows

    return [Run(r["path"]) for r in rows(group)]

