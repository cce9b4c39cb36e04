"""``workbench sweep NAME --optuna``: a hyperparameter search on Optuna (Akiba et al. 2019).

    workbench sweep dqn-cartpole --optuna --trials 12 total_steps=20000 \\
        "lr=loguniform(1e-4,3e-3)" "n_step=choice(1,3,5)" "target_network_frequency=int(1,500,log)"

Start the same command several times (one machine: several terminals; a cluster: one per
machine with ``--storage postgresql://...``) and the workers share one study: Optuna's sampler
(TPE by default) proposes each trial's values, each trial is an ordinary run directory
``runs/<study>/trial-NNNN`` (``workbench resume`` and ``workbench compare --group <study>``
work on it), and the loop reports every evaluation of the plugin's primary metric (declared at
registration) to the trial, so the pruner can stop a bad trial early. A pruned run keeps its
directory with status ``pruned`` (``workbench resume`` trains it on).

The study's result is written to ``runs/<study>/``: ``trials.md`` (the ranked trials),
``best-config.yaml`` (the best trial's config.yaml), ``best-command.txt`` (the ``workbench
run`` line that repeats it), and Optuna's own plots (``history.png``, ``importances.png``,
``intermediate.png``, from ``optuna.visualization.matplotlib``).

Ctrl-C (or SIGTERM) checkpoints the running trial, which Optuna marks failed; the same command
continues the study (``--trials`` counts finished and pruned trials), and the failed trial's
directory can be trained on with ``workbench resume``. A worker killed outright leaves its trial
"running" in the storage: a restarted worker on the same machine marks it failed (its process
is gone); SQL storages also expire it after a missed heartbeat on any machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, UserError

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
_NUMERIC = re.compile(r"^(int|float)\((.*)\)$")


class TrialFailed(Exception):
    """A trial that cannot give a value (non-finite loss, a config the plugin refuses); Optuna
    marks it failed and the study goes on."""


# --------------------------------------------------------------------------- the search space


@dataclass
class Param:
    """One key of the search space, typed for its config field."""

    key: str  # the full dotted config path
    kind: str  # fixed | categorical | float | int
    choices: list[Any] = field(default_factory=list)  # fixed: [value]; categorical: the values
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: int | None = None

    def encoded(self) -> list[Any]:
        """Categorical values as Optuna stores them (None, bool, int, float or str): a
        list-valued key's tuples travel as their command-line text."""
        return [v if v is None or isinstance(v, (bool, int, float, str)) else _text(v)
                for v in self.choices]

    def suggest(self, trial: Any) -> Any:
        if self.kind == "fixed":
            return self.choices[0]
        if self.kind == "categorical":
            picked = trial.suggest_categorical(self.key, self.encoded())
            return self.choices[self.encoded().index(picked)]
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log)
        return trial.suggest_int(self.key, int(self.low), int(self.high), step=self.step or 1,
                                 log=self.log)

    def corners(self) -> list[Any]:
        """The values a config is built with before anything runs (validation)."""
        if self.kind in ("fixed", "categorical"):
            return list(self.choices)
        cast = int if self.kind == "int" else float
        return [cast(self.low), cast(self.high)]


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (list, tuple)):
        return ",".join(_text(x) for x in v)
    return repr(v) if isinstance(v, float) else str(v)


def parse_param(arg: str, cfg_cls: type) -> Param:
    """``key=SPACE`` -> a Param. SPACE is a value, ``a,b,c`` / ``choice(a,b,c)``,
    ``loguniform(lo,hi)``, ``uniform(lo,hi)``, ``randint(lo,hi)``, ``int(lo,hi[,log][,step=k])``
    or ``float(lo,hi[,log])``; values are typed for the key's config field."""
    from workbench.config import resolve_key
    from workbench.studies.axes import _field_types, parse_axis

    key, sep, space = arg.partition("=")
    numeric = _NUMERIC.match(space.strip()) if sep and key.strip() else None
    if numeric is None:
        axis = parse_axis(arg, cfg_cls)  # values, choices and the ranges of the local sweeps
        if axis.kind in ("fixed", "choice"):
            return Param(axis.key, "fixed" if axis.kind == "fixed" else "categorical", axis.values)
        if axis.kind == "randint":
            return Param(axis.key, "int", low=axis.low, high=axis.high)
        return Param(axis.key, "float", low=axis.low, high=axis.high, log=axis.kind == "loguniform")
    path = resolve_key(cfg_cls, key.strip())
    tp, kind = _field_types(cfg_cls)[path], numeric.group(1)
    if tp is not {"int": int, "float": float}[kind]:
        raise ConfigError(f"{arg}: '{path}' is {getattr(tp, '__name__', tp)}; {kind}(lo,hi) is for "
                          f"{kind} keys (int(...) for integers, float(...) or loguniform(...) for floats).")
    parts = [p.strip() for p in numeric.group(2).split(",")]
    log, step = False, None
    for extra in parts[2:]:
        if extra == "log":
            log = True
        elif kind == "int" and extra.startswith("step=") and extra[5:].isdigit() and int(extra[5:]) > 0:
            step = int(extra[5:])
        else:
            raise ConfigError(f"{arg}: cannot read {extra!r}; write {kind}(low,high), {kind}(low,high,log)"
                              + (" or int(low,high,step=K)" if kind == "int" else "") + ".")
    try:
        low, high = (int(p) if kind == "int" else float(p) for p in parts[:2])
    except ValueError:
        raise ConfigError(f"{arg}: the bounds of {kind}(low,high) must be {kind}s.") from None
    if len(parts) < 2 or not low < high or (log and low <= 0) or (log and step):
        raise ConfigError(f"{arg}: need low < high, low > 0 with log, and no step with log.")
    return Param(path, kind, low=low, high=high, log=log, step=step)


def parse_space(name: str, args: list[str]) -> tuple[Any, Any, list[Param]]:
    """(plugin spec, preset, params), every value typed and every corner of the space a valid
    config of the plugin: a bad space is an exit-2 error before anything is created."""
    from workbench import registry
    from workbench.config import build_config

    spec, preset = registry.resolve(name)
    cfg_cls = registry.load_config_class(spec)
    params = [parse_param(a, cfg_cls) for a in args]
    keys = [p.key for p in params]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"a key is given twice: {', '.join(sorted({k for k in keys if keys.count(k) > 1}))}.")
    if not any(p.kind != "fixed" for p in params):
        raise UserError("an Optuna sweep needs at least one key to search, e.g. "
                        "lr=loguniform(1e-5,1e-3), n_step=choice(1,3,5) or batch_size=int(32,256,log).")
    base = dict(preset.overrides) if preset else {}
    low = {p.key: p.corners()[0] for p in params}
    for p in params:
        for value in p.corners():
            try:
                build_config(cfg_cls, base, {**low, p.key: value})
            except ConfigError as e:
                raise ConfigError(f"the search space is not valid for {name} at {p.key}={_text(value)}: "
                                  f"{e}") from None
    return spec, preset, params


# --------------------------------------------------------------------------- Optuna's parts


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError("--optuna needs Optuna: pip install 'workbench[sweep]' (or pip install "
                        "optuna).") from None
    return optuna


def open_storage(url: str | None, study_dir: Path) -> tuple[Any, str]:
    """(an Optuna storage, its description). No URL: a journal file in the study folder.
    ``sqlite:///f.db``, ``postgresql://...``, ``mysql://...``: Optuna's RDB storage with a
    heartbeat. Anything else is the path of a journal file (several processes may share it)."""
    optuna = _optuna()
    if url and "://" in url:
        scheme = url.split("://", 1)[0].split("+", 1)[0]
        if scheme not in RDB_SCHEMES:
            raise UserError(f"--storage {url}: unknown kind of storage '{scheme}'. Use a journal file "
                            "path (runs on one machine or a shared filesystem), sqlite:///FILE.db, "
                            "or a postgresql:// or mysql:// URL.")
        db = sqlite_file(url)
        with file_lock(db):  # the first worker creates the tables, the others find them
            store = _rdb_storage(url)
        if db is not None:
            serialize_trial_claims(store, db)
        return store, url
    path = Path(url) if url else study_dir / "optuna.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path))), f"journal file {path}"


def sqlite_file(url: str | None) -> Path | None:
    """The database file of a ``sqlite:///FILE`` URL (None for other URLs and in-memory ones)."""
    if not url or not url.split("+", 1)[0].startswith("sqlite") or ":///" not in url:
        return None
    db = url.split(":///", 1)[1]
    return Path(db) if db and db != ":memory:" else None


def _rdb_storage(url: str) -> Any:
    """Optuna's RDB storage. Workers started together race to create its tables: on SQLite the
    file lock has serialised them; a server database may still answer the loser with "already
    exists" or a duplicate key, and a second try finds the tables made."""
    optuna = _optuna()
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
        except Exception as e:  # noqa: BLE001 - a driver or server problem, told in one paragraph
            text = str(e)
            lost_race = any(w in text.lower() for w in ("already exists", "duplicate", "unique"))
            if lost_race and attempt < 2:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise UserError(f"--storage {url}: Optuna could not open it ({type(e).__name__}: "
                            f"{text.splitlines()[0] if text else ''}).") from None
    raise AssertionError("unreachable")


@contextlib.contextmanager
def file_lock(db: Path | None) -> Iterator[None]:
    """An exclusive lock on ``DB.lock`` beside a database file, across the processes that share
    it (released when the file closes, so a killed worker never leaves it held). A no-op
    without a file, and on Windows (no fcntl): there the races stay as Optuna has them."""
    try:
        import fcntl
    except ImportError:
        fcntl = None  # type: ignore[assignment]
    if db is None or fcntl is None:
        yield
        return
    with open(db.with_name(db.name + ".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def open_study(url: str | None, study_dir: Path, study_name: str, direction: str,
               sampler: Any = None, pruner: Any = None) -> tuple[Any, str]:
    """(the study, its storage's description): created by the first worker, loaded by the
    others. Two workers started together on a new SQLite file is the README's "two terminals"
    case: creating the tables and the study is one step under the lock beside the database."""
    optuna = _optuna()
    store, where = open_storage(url, study_dir)
    with file_lock(sqlite_file(url)):
        study = optuna.create_study(study_name=study_name, storage=store, sampler=sampler,
                                    pruner=pruner, direction=direction, load_if_exists=True)
    return study, where


def serialize_trial_claims(storage: Any, db: Path) -> None:
    """SQLite ignores the ``SELECT ... FOR UPDATE`` with which Optuna moves a waiting (enqueued)
    trial to running, so two workers could both claim it and train it twice. The file lock beside
    the database makes each state change one step across the processes that share it."""
    inner = storage.set_trial_state_values

    def set_trial_state_values(trial_id: int, state: Any, values: Any = None) -> bool:
        with file_lock(db):
            return inner(trial_id, state=state, values=values)

    storage.set_trial_state_values = set_trial_state_values


def make_sampler(kind: str, params: list[Param], seed: int | None) -> Any:
    optuna = _optuna()
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    ranged = [p.key for p in params if p.kind in ("float", "int")]
    if ranged:
        raise UserError(f"--sampler grid takes only listed values, but {', '.join(ranged)} "
                        f"{'is a range' if len(ranged) == 1 else 'are ranges'}; write them as "
                        "choice(a,b,c), or use --sampler tpe or random.")
    space = {p.key: p.encoded() for p in params if p.kind == "categorical"}
    return optuna.samplers.GridSampler(space, seed=seed)


def make_pruner(kind: str, startup: int, warmup: int, first_eval: int, total_steps: int) -> Any:
    """median: Optuna's MedianPruner (stop a trial whose best value so far is worse than the
    median of finished trials at the same step); hyperband: Li et al. 2018, from the first
    evaluation's step to total_steps; none: every trial runs to the end."""
    optuna = _optuna()
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, first_eval), max_resource=total_steps)
    return optuna.pruners.NopPruner()


def default_study_name(name: str, args: list[str]) -> str:
    """NAME-xxxxxx from the command's keys and spaces, so re-running it continues the study."""
    digest = hashlib.sha1(json.dumps([name, sorted(args)]).encode()).hexdigest()[:6]
    return f"{name}-{digest}"


# --------------------------------------------------------------------------- one trial


def metric_values(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    """(step, value) of every evaluation of ``metric`` in a run's metrics.jsonl."""
    from workbench.engine.runs import RunDir

    return [(int(r["step"]), float(r[metric])) for r in RunDir(run_dir).read_metrics()
            if isinstance(r.get(metric), (int, float)) and math.isfinite(r[metric])]


@dataclass
class Objective:
    """Runs one trial as an ordinary run in this process and returns the primary metric."""

    name: str
    params: list[Param]
    study_name: str
    metric: str
    goal: str
    use: str = "last"  # last | best evaluation of the metric
    wandb_mode: str | None = None
    tags: tuple[str, ...] = ()
    project: str = "workbench"
    root: Path | None = None
    stopped_by: list[int] = field(default_factory=list)  # the exit code of a Ctrl-C / SIGTERM
    current: Path | None = None  # the run directory of the trial being run

    def __call__(self, trial: Any) -> float:
        from workbench.engine.loop import Launch, start
        from workbench.engine.runs import runs_root

        values = {p.key: p.suggest(trial) for p in self.params}
        run_name = f"trial-{trial.number:04d}"
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("run", run_name)
        self.current = (self.root or runs_root()) / self.study_name / run_name
        launch = Launch(wandb_mode=self.wandb_mode, tags=(f"study-{self.study_name}", *self.tags),
                        project=self.project, group=self.study_name, on_eval=self.reporter(trial))
        try:
            code, run = start(self.name, values, run_name=run_name, launch=launch, root=self.root)
        except UserError as e:  # this point of the space is refused by the plugin: next trial
            trial.set_user_attr("error", str(e))
            raise TrialFailed(str(e)) from None
        if code in (130, 143):  # Ctrl-C / SIGTERM: the run checkpointed; stop the worker
            self.stopped_by.append(code)
            raise KeyboardInterrupt
        self.current = None
        if code != 0:
            raise TrialFailed(f"{run.path} ended with exit code {code} (see its output above)")
        info = run.read_info()
        trial.set_user_attr("step", info.step)
        if info.status == "pruned":
            import optuna

            raise optuna.TrialPruned(f"{run.path} pruned at step {info.step:,}")
        found = metric_values(run.path, self.metric)
        if not found:
            raise TrialFailed(f"{run.path} never logged {self.metric}, the objective")
        values_only = [v for _, v in found]
        if self.use == "best":
            return max(values_only) if self.goal == "max" else min(values_only)
        return values_only[-1]

    def reporter(self, trial: Any) -> Any:
        """The loop's on_eval hook: report the metric at each evaluation; 'pruned' to stop."""
        def on_eval(step: int, metrics: Mapping[str, float]) -> str | None:
            value = metrics.get(self.metric)
            if value is None or not math.isfinite(float(value)):
                return None
            trial.report(float(value), step)
            return "pruned" if trial.should_prune() else None

        return on_eval


# --------------------------------------------------------------------------- the study


def fail_dead_trials(study: Any) -> list[int]:
    """Trials left 'running' by a worker of this machine whose process is gone (kill -9, a
    reboot): tell Optuna they failed, so the study does not wait for them."""
    optuna = _optuna()
    here, dead = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
        if host != here or not pid.isdigit() or _alive(int(pid)):
            continue
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        dead.append(t.number)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def counted(study: Any) -> int:
    """Trials that count towards --trials: finished, pruned, and running (being finished)."""
    optuna = _optuna()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
              optuna.trial.TrialState.RUNNING)
    return len(study.get_trials(deepcopy=False, states=states))


def run_worker(study: Any, objective: Objective, trials: int) -> None:
    """Trials one at a time until the study holds ``trials`` finished or pruned ones (with
    several workers, trials that another worker is running count too, so none overshoots)."""
    optuna = _optuna()
    sampler = study.sampler
    while counted(study) < trials and not objective.stopped_by:
        if isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study):
            break
        study.optimize(objective, n_trials=1, catch=(TrialFailed,))


def _signal_stops(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # between trials; during one, the loop's own handler checkpoints


def sweep_optuna(name: str, args: list[str], trials: int | None, storage: str | None = None,
                 study_name: str | None = None, sampler: str = "tpe", pruner: str = "median",
                 pruner_startup: int = 5, pruner_warmup: int = 0, seed: int | None = None,
                 metric: str | None = None, goal: str | None = None, use: str = "last",
                 wandb_mode: str | None = None, tags: tuple[str, ...] = (), project: str = "workbench",
                 root: Path | None = None) -> int:
    from workbench import registry
    from workbench.config import build_config
    from workbench.engine.loop import _group_name
    from workbench.engine.runs import check_run_name, check_runs_root, runs_root

    if study_name is not None:  # the study's folder of runs: runs/<study>/
        check_run_name(study_name, "study name", "--study lr-search")
    check_runs_root(root)
    spec, preset, params = parse_space(name, args)
    primary = registry.primary_metric(name)
    metric = metric or (primary[0] if primary else None)
    goal = goal or (primary[1] if primary and primary[0] == metric else None)
    if not metric or goal not in ("min", "max"):
        raise UserError(f"{name} declares no primary metric (register(..., metric=, goal=)); give "
                        "one with --metric eval/NAME --goal min|max.")
    grid_size = math.prod(len(p.choices) for p in params if p.kind == "categorical")
    if trials is None:
        if sampler != "grid":
            raise UserError("--optuna needs --trials N (the study's number of trials; with "
                            "--sampler grid it defaults to the size of the grid).")
        trials = grid_size
    if trials < 1 or pruner_startup < 0 or pruner_warmup < 0:
        raise UserError("--trials must be positive and --pruner-startup / --pruner-warmup >= 0.")
    cfg = build_config(registry.load_config_class(spec), dict(preset.overrides) if preset else {},
                       {p.key: p.corners()[0] for p in params})
    study_name = _group_name(study_name or default_study_name(name, args))
    _optuna()  # exit 2 here, before anything is made, when Optuna is missing
    sampler_obj = make_sampler(sampler, params, seed)  # exit 2 here for a grid over ranges
    study_dir = (root or runs_root()) / study_name
    study, where = open_study(storage, study_dir, study_name,
                              "maximize" if goal == "max" else "minimize", sampler_obj,
                              make_pruner(pruner, pruner_startup, pruner_warmup, cfg.eval_every,
                                          cfg.total_steps))
    _check_study(study, spec.name, metric, goal)
    dead = fail_dead_trials(study)
    study_dir.mkdir(parents=True, exist_ok=True)
    print(f"[optuna] study {study_name} ({where}): {trials} trials of {name}, {metric} "
          f"({'higher' if goal == 'max' else 'lower'} is better), {sampler} sampler, {pruner} pruner; "
          f"{counted(study)} done or running. Runs in {study_dir}", flush=True)
    for n in dead:
        print(f"[optuna] trial {n}'s worker is gone: marked failed. Train its run on with: "
              f"workbench resume {study_dir / f'trial-{n:04d}'}", flush=True)
    objective = Objective(name, params, study_name, metric, goal, use, wandb_mode, tags, project, root)
    previous = signal.signal(signal.SIGTERM, _signal_stops)
    code = 0
    try:
        run_worker(study, objective, trials)
    except KeyboardInterrupt:
        code = objective.stopped_by[0] if objective.stopped_by else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    from workbench.studies.optuna_report import write_report

    print(write_report(study, study_dir, name, params, metric, goal), flush=True)
    if code:
        where = f" (train it on: workbench resume {objective.current})" if objective.current else ""
        print(f"[optuna] stopped; Optuna marked the running trial failed{where}. Run the same "
              "command again to continue the study.", file=sys.stderr)
    return code


def _check_study(study: Any, plugin: str, metric: str, goal: str) -> None:
    """A study is one plugin and one objective: a restart or another worker must agree."""
    want = {"plugin": plugin, "metric": metric, "goal": goal}
    have = {k: study.user_attrs.get(k) for k in want}
    # two workers starting together may see some of these written and not yet the others:
    # only a value that is there and differs is a clash; the missing ones are written (alike)
    if any(v is not None and v != want[k] for k, v in have.items()):
        raise UserError(f"study {study.study_name} was created for {have}, not {want}; pick another "
                        "--study name.")
    for k, v in want.items():
        if have[k] is None:
            study.set_user_attr(k, v)
