"""``workbench sweep``: many runs of one preset, locally, as a W&B sweep, or as an Optuna study.

    workbench sweep dqn-cartpole lr=1e-4,3e-4 seed=0,1,2 total_steps=3e4 --name lr-study
    workbench sweep dqn-cartpole lr=loguniform(1e-5,1e-3) seed=0,1 --random 8 --parallel 2
    workbench sweep dqn-cartpole lr=1e-4,3e-4 seed=0,1,2 --wandb-sweep
    workbench sweep dqn-cartpole --optuna --trials 12 lr=loguniform(1e-4,3e-3) n_step=choice(1,3,5)

This module is the grid / random runner and the W&B hand-off; ``--optuna`` (TPE, pruning, many
workers on one shared study) lives in workbench/studies/optuna_sweep.py and imports Optuna only then.

Each argument is ``key=SPEC`` with SPEC one of

    v               one value for every run (total_steps=3000)
    a,b,c           a grid axis (for list-valued keys separate the values with ';')
    choice(a,b,c)   the same axis, spelled out
    loguniform(lo,hi) | uniform(lo,hi) | randint(lo,hi)   ranges: need --random K

Without ``--random`` the runs are the grid (the product of the axes); with ``--random K`` they
are K points drawn with a fixed seed (``--sample-seed``), so the same command draws the same
points again. Every run is an ordinary run directory ``runs/<preset>/<GROUP>_<values>``, tagged
``sweep-<GROUP>`` (find them with ``workbench compare --group PRESET --tag sweep-GROUP``); in
W&B they share the preset's group and carry the same tag.

Run the same command again after a Ctrl-C, a crash or a reboot: finished runs are skipped,
interrupted ones resume from their last checkpoint (``workbench resume``), missing ones start.
Each run is a subprocess ``python -m workbench run ...``, ``--parallel N`` of them at a time
(torch threads are split between them); with N > 1 their output goes to
``runs/<preset>/_sweep-<GROUP>/<run>.log``.

``--wandb-sweep`` instead creates a W&B sweep with the same grid or ranges and prints the
``wandb agent`` command; every agent, on any machine, runs ``workbench run PRESET key=value ...``.
It needs a W&B login; without one it stops with a message saying how to log in.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, UserError
from workbench.studies.axes import Axis, arg_text, parse_axis, points


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_show(x) for x in v)
    return str(v)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-")


def run_names(group: str, pts: list[dict[str, Any]], axes: list[Axis], random_k: int | None) -> list[str]:
    """``GROUP_lr0.0003_seed1``: the values that vary, so a name says what the run is and the
    same command maps to the same directories (what makes restarts work)."""
    varying = [a.key for a in axes if a.varies]
    names = []
    for i, p in enumerate(pts):
        parts = [f"{k.rsplit('.', 1)[-1]}{_slug(_show(p[k]))}" for k in varying]
        if random_k is not None:
            parts.insert(0, f"r{i:03d}")
        names.append("_".join([group, *parts])[:120])
    if len(set(names)) != len(names):  # a clash after shortening: fall back to indices
        names = [f"{group}_{i:03d}" for i in range(len(pts))]
    return names


def default_group(name: str, args: list[str], random_k: int | None, sample_seed: int) -> str:
    """A name that only depends on the command, so re-running the command finds its runs."""
    text = json.dumps([name, sorted(args), random_k, sample_seed])
    return hashlib.sha1(text.encode()).hexdigest()[:6]


# --------------------------------------------------------------------------- local sweeps


@dataclass
class Job:
    name: str
    values: dict[str, Any]
    path: Path
    command: list[str] = field(default_factory=list)
    action: str = "start"  # start | resume | skip
    status: str = ""
    exit_code: int | None = None
    process: Any = None
    log: Any = None


def _plan(job: Job, retry_failed: bool) -> None:
    info_file = job.path / "run.json"
    if not info_file.is_file():
        job.action = "start"
        return
    try:
        status = json.loads(info_file.read_text()).get("status", "created")
    except (OSError, json.JSONDecodeError):
        status = "created"
    job.status = status
    if status == "finished":
        job.action = "skip"
    elif status == "failed" and not retry_failed:
        job.action = "skip"
    else:  # created / running (killed) / interrupted / failed with --retry-failed
        job.action = "resume"


def _threads_per_run(parallel: int) -> str:
    return str(max(1, (os.cpu_count() or 1) // parallel))


def run_local(jobs: list[Job], parallel: int, log_dir: Path) -> int:
    """Run the jobs, ``parallel`` at a time; Ctrl-C / SIGTERM stop them cleanly (each run
    checkpoints), and the same command continues later."""
    todo = [j for j in jobs if j.action != "skip"]
    env = dict(os.environ)
    if parallel > 1:
        env.setdefault("OMP_NUM_THREADS", _threads_per_run(parallel))
        log_dir.mkdir(parents=True, exist_ok=True)
    running: list[Job] = []
    stopping: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        stopping.append(signum)
        for j in running:
            if j.process.poll() is None:
                j.process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while (todo and not stopping) or running:
            while todo and len(running) < parallel and not stopping:
                job = todo.pop(0)
                print(f"[sweep] {job.action} {job.name}: {' '.join(job.command[3:])}", flush=True)
                out = None
                if parallel > 1:
                    job.log = open(log_dir / f"{job.name}.log", "a")  # noqa: SIM115
                    out = job.log
                job.process = subprocess.Popen(job.command, env=env, stdout=out,
                                               stderr=subprocess.STDOUT if out else None)
                running.append(job)
            time.sleep(0.2)
            for job in [j for j in running if j.process.poll() is not None]:
                running.remove(job)
                job.exit_code = job.process.returncode
                if job.log:
                    job.log.close()
                word = "finished" if job.exit_code == 0 else f"exit code {job.exit_code}"
                print(f"[sweep] {job.name}: {word}", flush=True)
    except KeyboardInterrupt:
        # a terminal's Ctrl-C reached the children too; otherwise ask them now. SIGTERM, not a
        # second SIGINT: a run that already stops treats a second Ctrl-C as "abort now".
        stopping.append(signal.SIGINT)
        for job in running:
            if job.process.poll() is None:
                job.process.send_signal(signal.SIGTERM)
        for job in running:
            try:
                job.exit_code = job.process.wait(timeout=120)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                job.process.kill()
                job.exit_code = job.process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 128 + stopping[0] if stopping else 0


def summary(jobs: list[Job]) -> tuple[str, bool]:
    lines, ok = [], True
    for j in jobs:
        if j.action == "skip":
            state = f"skipped ({j.status})"
            ok &= j.status == "finished"
        elif j.exit_code is None:
            state, ok = "not started", False
        elif j.exit_code == 0:
            state = "finished"
        else:
            state, ok = f"exit code {j.exit_code}", False
        lines.append(f"  {j.name:<60} {state}")
    return "\n".join(lines), ok


# --------------------------------------------------------------------------- W&B sweeps


def wandb_sweep_config(preset: str, axes: list[Axis], method: str, group: str, project: str,
                       metric: str | None, goal: str) -> dict[str, Any]:
    """The W&B sweep config: the same values or ranges, and a command that is
    ``python -m workbench run PRESET key=value ...`` (``${args_no_hyphens}``)."""
    def value(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v  # YAML / JSON have lists, not tuples

    params: dict[str, Any] = {}
    for a in axes:
        if a.kind == "fixed":
            params[a.key] = {"value": value(a.values[0])}
        elif a.kind == "choice":
            params[a.key] = {"values": [value(v) for v in a.values]}
        elif a.kind == "loguniform":
            params[a.key] = {"distribution": "log_uniform_values", "min": a.low, "max": a.high}
        elif a.kind == "uniform":
            params[a.key] = {"distribution": "uniform", "min": a.low, "max": a.high}
        else:
            params[a.key] = {"distribution": "int_uniform", "min": int(a.low), "max": int(a.high)}
    config: dict[str, Any] = {
        "name": group,
        "project": project,
        "method": method,
        "parameters": params,
        "command": ["${env}", "${interpreter}", "-m", "workbench", "run", preset,
                    "--tag", f"sweep-{group}", "--wandb", "online", "${args_no_hyphens}"],
    }
    if metric:
        config["metric"] = {"name": metric, "goal": "minimize" if goal == "min" else "maximize"}
    return config


def _logged_in() -> bool:
    import netrc

    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("//")[-1]
        return bool(netrc.netrc().authenticators(host))
    except (OSError, netrc.NetrcParseError):
        return False


def create_wandb_sweep(config: dict[str, Any], saved: Path, wandb_mode: str | None,
                       count: int | None, timeout: float = 60.0) -> str:
    """Create the sweep on the W&B server; return the text telling how to start agents."""
    again = (f"The sweep config is saved in {saved}; once logged in, create it with "
             f"`wandb sweep {saved}` or run this command again.")
    mode = wandb_mode or os.environ.get("WANDB_MODE")
    if mode in ("offline", "disabled", "dryrun"):
        raise UserError(f"--wandb-sweep needs W&B online, but W&B is {mode} here "
                        f"(--wandb or WANDB_MODE). {again}")
    if not _logged_in():
        raise UserError("--wandb-sweep needs a W&B login and none was found (no WANDB_API_KEY, "
                        "no api.wandb.ai entry in ~/.netrc). Log in with `wandb login` (key from "
                        "https://wandb.ai/authorize) or `export WANDB_API_KEY=...`; for a local "
                        f"server also set WANDB_BASE_URL. {again} Without W&B, run the same "
                        "sweep locally: drop --wandb-sweep.")
    import threading

    result: dict[str, Any] = {}

    def create() -> None:
        try:
            import wandb

            result["id"] = wandb.sweep(sweep=config, project=config["project"])
            result["entity"] = wandb.Api().default_entity
        except BaseException as e:  # noqa: BLE001 - reported below as one paragraph
            result["error"] = e

    worker = threading.Thread(target=create, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise UserError(f"W&B did not answer within {timeout:.0f} s while creating the sweep "
                        f"(no network?). {again}")
    if "error" in result:
        e = result["error"]
        raise UserError(f"creating the W&B sweep failed: {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}. {again}")
    path = "/".join(p for p in (result.get("entity"), config["project"], result["id"]) if p)
    agent = f"wandb agent {'--count ' + str(count) + ' ' if count else ''}{path}"
    return (f"created W&B sweep {path} ({config['method']}, {len(config['parameters'])} keys)\n"
            f"start one agent per machine (or per GPU) with:\n  {agent}")


# --------------------------------------------------------------------------- the command


def sweep(name: str, args: list[str], group: str | None = None, parallel: int = 1,
          random_k: int | None = None, sample_seed: int = 0, wandb_sweep: bool = False,
          wandb_mode: str | None = None, tags: tuple[str, ...] = (), project: str = "workbench",
          retry_failed: bool = False, dry_run: bool = False, metric: str | None = None,
          goal: str | None = None, root: Path | None = None) -> int:
    from workbench import registry
    from workbench.config import build_config
    from workbench.engine.loop import _group_name
    from workbench.engine.runs import check_run_name, check_runs_root, runs_root

    if group is not None:  # the runs are GROUP_<values>: a path there would put them elsewhere
        check_run_name(group, "sweep name", "--name lr-study")
    check_runs_root(root)
    spec, preset = registry.resolve(name)
    if metric is None and spec.metric:  # the plugin's primary metric, with its declared goal
        metric, goal = spec.metric, goal or spec.goal
    goal = goal or "max"
    cfg_cls = registry.load_config_class(spec)
    axes = [parse_axis(a, cfg_cls) for a in args]
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"a key is given twice: {', '.join(k for k in keys if keys.count(k) > 1)}.")
    if parallel < 1:
        raise UserError(f"--parallel takes a positive number; got {parallel}.")
    group = _slug(group) if group else default_group(name, args, random_k, sample_seed)
    pts = points(axes, random_k, sample_seed)
    base = dict(preset.overrides) if preset else {}
    for p in pts:  # every run's config is valid before the first one starts
        build_config(cfg_cls, base, p)
    run_dir_group = _group_name(preset.name if preset else spec.name)
    folder = (root or runs_root()) / run_dir_group
    sweep_dir = folder / f"_sweep-{group}"

    if wandb_sweep:
        method = "random" if random_k is not None else "grid"
        config = wandb_sweep_config(name, axes, method, group, project, metric, goal)
        import yaml

        sweep_dir.mkdir(parents=True, exist_ok=True)
        saved = sweep_dir / "wandb-sweep.yaml"
        saved.write_text(yaml.safe_dump(config, sort_keys=False))
        if dry_run:
            print(saved.read_text())
            return 0
        print(create_wandb_sweep(config, saved, wandb_mode, random_k))
        return 0

    names = run_names(group, pts, axes, random_k)
    jobs = []
    for run_name, p in zip(names, pts, strict=True):
        job = Job(run_name, p, folder / run_name)
        _plan(job, retry_failed)
        flags = ["--wandb", wandb_mode] if wandb_mode else []
        if job.action == "resume":
            job.command = [sys.executable, "-m", "workbench", "resume", str(job.path), *flags]
        else:
            overrides = [f"{k}={arg_text(v)}" for k, v in p.items()]
            job.command = [sys.executable, "-m", "workbench", "run", name, *overrides,
                           "--name", run_name, "--project", project, "--tag", f"sweep-{group}",
                           *[f"--tag={t}" for t in tags], *flags]
        jobs.append(job)

    counts = {a: sum(j.action == a for j in jobs) for a in ("start", "resume", "skip")}
    print(f"[sweep] {name} group {group}: {len(jobs)} runs ({counts['start']} to start, "
          f"{counts['resume']} to resume, {counts['skip']} done or failed before) in {folder}",
          flush=True)
    if dry_run:
        for j in jobs:
            print(f"  {j.action:<6} {' '.join(j.command[3:])}")
        return 0
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.json").write_text(json.dumps(
        {"name": name, "group": group, "args": args, "random": random_k, "sample_seed": sample_seed,
         "runs": [{"name": j.name, "values": j.values} for j in jobs]}, indent=2, default=str))
    code = run_local(jobs, parallel, sweep_dir)
    table, ok = summary(jobs)
    print(f"[sweep] {group}:\n{table}")
    if code:
        print("[sweep] stopped; run the same command again to continue (finished runs are "
              "skipped, interrupted ones resume).")
        return code
    from workbench.studies.comparison import ranked_report

    print("[sweep] " + ranked_report([j.path for j in jobs], metric))
    print(f"[sweep] compare them with: workbench compare --group {run_dir_group} --tag sweep-{group}")
    return 0 if ok else 1



# --------------------------------------------------------------------------- CLI


_OPTUNA_ONLY = ("trials", "storage", "study", "sampler", "pruner", "pruner_startup",
                "pruner_warmup", "objective")


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.optuna:  # Optuna is imported only here: `workbench --help` stays fast
        if args.wandb_sweep or args.random is not None or args.parallel != 1 or args.dry_run:
            raise UserError("--optuna runs its own search: leave out --wandb-sweep, --random, "
                            "--parallel and --dry-run (start the command N times for N workers).")
        from workbench.studies.optuna_sweep import sweep_optuna

        return sweep_optuna(
            args.name, list(args.overrides), args.trials, storage=args.storage,
            study_name=args.study, sampler=args.sampler or "tpe", pruner=args.pruner or "median",
            pruner_startup=5 if args.pruner_startup is None else args.pruner_startup,
            pruner_warmup=args.pruner_warmup or 0, seed=args.sample_seed, metric=args.metric,
            goal=args.goal, use=args.objective or "last", wandb_mode=args.wandb,
            tags=tuple(args.tag), project=args.project)
    given = [f"--{k.replace('_', '-')}" for k in _OPTUNA_ONLY if getattr(args, k) is not None]
    if given:
        raise UserError(f"{', '.join(given)} belong{'s' if len(given) == 1 else ''} to Optuna "
                        "sweeps: add --optuna.")
    metric, goal = args.metric, args.goal
    if args.wandb_sweep and metric is None:  # the plugin's primary metric, declared at registration
        from workbench import registry

        metric, goal = registry.primary_metric(args.name) or (None, goal)
    return sweep(args.name, list(args.overrides), group=args.group, parallel=args.parallel,
                 random_k=args.random, sample_seed=args.sample_seed or 0,
                 wandb_sweep=args.wandb_sweep, wandb_mode=args.wandb, tags=tuple(args.tag),
                 project=args.project, retry_failed=args.retry_failed, dry_run=args.dry_run,
                 metric=metric, goal=goal or "max")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sweep", help="many runs of a preset: a grid, random search, or a W&B sweep",
        description="Run a grid (lr=1e-4,3e-4 seed=0,1,2) or K random draws (--random K with "
        "lr=loguniform(1e-5,1e-3)) of a plugin or preset. Single values (total_steps=3000) apply "
        "to every run. Run the same command again to continue: finished runs are skipped, "
        "interrupted ones resume.",
    )
    p.add_argument("name", help="plugin or preset")
    p.add_argument("overrides", nargs="*", metavar="key=SPEC",
                   help="v | a,b,c | choice(a,b) | loguniform(lo,hi) | uniform(lo,hi) | randint(lo,hi)")
    p.add_argument("--name", dest="group", default=None,
                   help="sweep name: run names start with it and runs are tagged sweep-NAME "
                   "(default: derived from the command, so re-running it continues the sweep)")
    p.add_argument("--parallel", type=int, default=1, help="runs at a time (default 1)")
    p.add_argument("--random", type=int, default=None, metavar="K", help="K random draws instead of the grid")
    p.add_argument("--sample-seed", type=int, default=None,
                   help="seed of the random draws (default 0; with --optuna: the sampler's seed, "
                   "default random, which several workers need)")
    p.add_argument("--retry-failed", action="store_true", help="resume runs that failed (default: skip them)")
    p.add_argument("--dry-run", action="store_true", help="print the runs (or the W&B sweep config) only")
    p.add_argument("--wandb-sweep", action="store_true",
                   help="create a W&B sweep and print the `wandb agent` command instead of running")
    p.add_argument("--metric", default=None,
                   help="metric to optimise (default: the plugin's primary metric, e.g. eval/return)")
    p.add_argument("--goal", choices=("min", "max"), default=None,
                   help="is higher (max) or lower (min) better (default: the primary metric's goal)")
    o = p.add_argument_group("Optuna (pip install 'workbench[sweep]')")
    o.add_argument("--optuna", action="store_true",
                   help="search with Optuna: key=SPACE with choice(a,b), loguniform(lo,hi), "
                   "uniform(lo,hi), int(lo,hi[,log]), float(lo,hi[,log]); start the same command "
                   "N times for N workers on one study")
    o.add_argument("--trials", type=int, default=None,
                   help="trials in the study, over all workers and restarts (grid: its size)")
    o.add_argument("--storage", default=None, metavar="URL",
                   help="journal file path, sqlite:///FILE.db, postgresql://... or mysql://... "
                   "(default: a journal file in runs/<study>/)")
    o.add_argument("--study", default=None, metavar="NAME",
                   help="study name = the run folder runs/<NAME>/ (default: NAME-<hash of the keys>)")
    o.add_argument("--sampler", choices=("tpe", "random", "grid"), default=None,
                   help="Optuna sampler (default tpe)")
    o.add_argument("--pruner", choices=("median", "hyperband", "none"), default=None,
                   help="stop bad trials at an evaluation (default median)")
    o.add_argument("--pruner-startup", type=int, default=None, metavar="N",
                   help="median pruner: finished trials before it prunes (default 5)")
    o.add_argument("--pruner-warmup", type=int, default=None, metavar="STEPS",
                   help="median pruner: never prune before this step (default 0)")
    o.add_argument("--objective", choices=("last", "best"), default=None,
                   help="a trial's value: its last evaluation (default) or its best")
    p.add_argument("--tag", action="append", default=[], help="extra W&B tag for every run (repeatable)")
    p.add_argument("--project", default="workbench", help="W&B project (default: workbench)")
    p.add_argument("--wandb", choices=("online", "offline", "disabled"), default=None,
                   help="W&B mode of the runs (default: online if logged in, else offline)")
    p.set_defaults(handler=cmd_sweep)
