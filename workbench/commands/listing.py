"""``workbench runs [--group G] [--json]``: every run directory, newest first, in one table.

    name                plugin/preset  status    step/total     best             age
    20250101-120000-s0  dqn-cartpole   finished  50,000/50,000  eval/return 500  2h

Reads only ``run.json``, ``config.yaml`` and ``metrics.jsonl`` (no torch, no W&B). A run whose
``run.json`` still says "running" but whose process is gone is shown as "died" (resume it).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import UserError

if TYPE_CHECKING:  # `workbench --help` imports this module to add the verb: keep it light
    from workbench.engine.runs import RunDir


def _alive(pid: int | None, host: str | None) -> bool:
    import socket

    if not pid or host != socket.gethostname():
        return True  # another machine's process: trust run.json
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(max(seconds, 0))}s"


def best_of(run: RunDir, metric: str, goal: str) -> tuple[float, int] | None:
    """Best value of ``metric`` in the run's metrics.jsonl and its step."""
    best: tuple[float, int] | None = None
    for rec in run.read_metrics():
        v = rec.get(metric)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            continue
        if best is None or (v < best[0] if goal == "min" else v > best[0]):
            best = (float(v), int(rec.get("step", 0)))
    return best


def describe_run(run: RunDir, now: float | None = None) -> dict[str, Any]:
    """One row: what ``workbench runs --json`` prints per run."""
    from workbench import registry

    info = run.read_info()
    status = info.status
    if status == "running" and not _alive(info.pid, info.host):
        status = "died"
    try:
        config = run.read_config()
        total = int(config.get("total_steps", 0))
    except (UserError, TypeError, ValueError):
        config, total = {}, None
    env = config.get("env") if isinstance(config, dict) else None
    env_id = env.get("id") if isinstance(env, dict) else None  # an agent's game
    try:
        primary = registry.primary_metric(info.plugin)
    except UserError:  # a plugin that is not installed here
        primary = None
    best = best_of(run, *primary) if primary else None
    return {
        "path": str(run.path), "name": info.name, "group": info.group, "plugin": info.plugin,
        "preset": info.preset, "env": env_id, "status": status, "step": info.step,
        "total_steps": total,
        "metric": primary[0] if primary else None, "goal": primary[1] if primary else None,
        "best": best[0] if best else None, "best_step": best[1] if best else None,
        "created": info.created, "age_s": round((now or time.time()) - info.created, 1),
    }


def list_runs(group: str | None = None, root: Path | None = None) -> list[dict[str, Any]]:
    """Rows of every run (of one group), newest first; unreadable directories are skipped."""
    from workbench.engine.runs import find_runs, runs_root

    root = root or runs_root()
    rows = []
    for run in find_runs(root, group):
        try:
            rows.append(describe_run(run))
        except UserError:
            continue  # a damaged run.json: `workbench resume` explains it when asked
    if group and not rows:
        groups = sorted({r.path.parent.name for r in find_runs(root)})
        raise UserError(f"no runs in group '{group}' under {root}. Groups there: "
                        f"{', '.join(groups) or '(none)'}.")
    return sorted(rows, key=lambda r: -r["created"])


def table(rows: list[dict[str, Any]]) -> str:
    from workbench.studies.comparison import text_table

    envs = any(r.get("env") for r in rows)  # agents' runs: which game each one played
    header = ["name", "plugin/preset", *(["env"] if envs else []), "status", "step/total", "best",
              "age"]
    lines = []
    for r in rows:
        total = f"/{r['total_steps']:,}" if r["total_steps"] else ""
        best = f"{r['metric']} {r['best']:.4g}" if r["best"] is not None else "-"
        lines.append([r["name"], r["preset"] or r["plugin"], *([r.get("env") or "-"] if envs else []),
                      r["status"], f"{r['step']:,}{total}", best, age(r["age_s"])])
    return text_table(header, lines)


def cmd_runs(args: argparse.Namespace) -> int:
    import json

    from workbench.engine.runs import runs_root

    rows = list_runs(args.group)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print(table(rows))
    else:
        print(f"no runs under {runs_root()} yet; start one with `workbench run NAME`.")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("runs", help="the runs under runs/: status, step, best metric, age",
                       description="Every run directory under runs/ (WORKBENCH_RUNS), newest "
                       "first: name, preset, env (agents), status, step / total, best primary "
                       "metric, age.")
    p.add_argument("--group", default=None, help="only the runs of this preset (runs/<group>/)")
    p.add_argument("--json", action="store_true", help="one JSON list, for scripts")
    p.set_defaults(handler=cmd_runs)
