"""Run directories: ``runs/<preset-or-plugin>/<run-name>/`` and how to find them again.

A run directory holds everything needed to resume or compare it::

    run.json          plugin, preset, name, W&B id, status, last step (updated as it runs);
                      device, precision, versions, git commit, command line, world size
    config.yaml       the fully resolved config
    metrics.jsonl     one JSON object per log event (step, time, train/..., eval/..., perf/...)
    checkpoints/      latest.pt (atomic)
    media/            images, videos, audio, text samples
    wandb/            W&B's own files
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import string
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from workbench.engine.runlock import LOCK_FILE, RunLock
from workbench.errors import UserError, check_folder

log = logging.getLogger("workbench")

RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT = "checkpoints/latest.pt"


def runs_root() -> Path:
    return Path(os.environ.get("WORKBENCH_RUNS", "runs"))


def check_runs_root(root: Path | None = None) -> Path:
    """The folder runs go into (``root``, else WORKBENCH_RUNS, else ./runs), checked before
    anything is created in it: a file or a read-only folder is exit 2, not a traceback."""
    if root is not None:
        what = "the runs folder"
    elif "WORKBENCH_RUNS" in os.environ:
        what = "WORKBENCH_RUNS"
    else:
        what = "the default runs folder"
    return check_folder(root or runs_root(), what,
                        "Point WORKBENCH_RUNS at a folder you can write (it is created if "
                        "missing), or unset it to use ./runs.")


def check_run_name(name: str, what: str = "run name", example: str = "--name lr3e-4-seed1") -> str:
    """A run name is one path component under ``runs/<group>/``: refuse anything that would
    put the run elsewhere or break a table (``../x``, ``/tmp/x``, a newline). Sweep and study
    names (``what``), which name folders of runs too, follow the same rule."""
    rule = (f"a {what} is one folder name: not empty, no '/' or '\\', not '.' or '..', no "
            "control characters (newline, tab, ...), at most 255 bytes")
    bad = (not name or name in (".", "..") or "/" in name or "\\" in name
           or any(unicodedata.category(ch) == "Cc" for ch in name) or len(name.encode()) > 255)
    if bad:
        raise UserError(f"invalid {what} {name!r}: {rule}. For example {example}.")
    return name


def new_run_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


@dataclass
class RunInfo:
    plugin: str
    preset: str | None
    name: str
    group: str
    wandb_id: str
    created: float
    status: str = "created"  # created | running | finished | interrupted | failed | pruned
    step: int = 0
    tags: list[str] | None = None
    project: str = "workbench"
    pid: int | None = None  # the last training process (informative: runlock.py decides)
    host: str | None = None
    reason: str | None = None  # why, when status is "failed" for a reason outside the code
    resumes: list[dict[str, Any]] | None = None
    """one entry per `workbench resume`: the checkpoint's step and clock (metrics' ``time``), and
    what the crash had logged past it (``lost_steps``, ``lost_seconds``: work done twice)"""
    # provenance of the latest training session (workbench/engine/provenance.py)
    device: str | None = None  # resolved: "cpu", "cuda:0"
    precision: str | None = None  # resolved: fp32 | bf16 | fp16
    versions: dict[str, str] | None = None  # python, torch, workbench
    git_commit: str | None = None  # of the checkout holding workbench's code, if any
    git_dirty: bool | None = None  # uncommitted changes in that checkout
    command: str | None = None  # the command line (or API call) that started it
    world_size: int | None = None  # processes (torchrun)
    evaluation_cut_at: int | None = None
    """the step whose evaluation a stop signal cut short (not logged; the resumed run goes on)"""


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # paths
    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    # creation
    @classmethod
    def create(cls, group: str, name: str | None, info: dict[str, Any], config: dict[str, Any],
               root: Path | None = None, lock: RunLock | None = None) -> RunDir:
        """A new run directory; with ``lock``, locked (workbench/engine/runlock.py) before anything
        is written in it, so two processes given the same --name cannot both fill it."""
        root = check_runs_root(root)
        if name is None:
            base = time.strftime("%Y%m%d-%H%M%S") + f"-s{config.get('seed', 0)}"
            name, n = base, 1
            while True:  # mkdir claims the name atomically: two runs started at once differ
                try:
                    (root / group / name).mkdir(parents=True)
                    break
                except FileExistsError:
                    n += 1
                    name = f"{base}-{n}"
        else:
            check_run_name(name)
            (root / group / name).mkdir(parents=True, exist_ok=True)
        path = root / group / name
        if lock is not None:
            lock.acquire(path)
        if any(p.name != LOCK_FILE for p in path.iterdir()):
            if lock is not None:
                lock.release()
            raise UserError(
                f"the run directory {path} already exists; pick another --name, or continue it "
                f"with `workbench resume {path}`."
            )
        for sub in ("checkpoints", "media"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        run = cls(path)
        run.write_info(RunInfo(name=name, group=group, **info))
        run.write_config(config)
        return run

    def write_config(self, config: dict[str, Any]) -> None:
        import yaml

        _atomic_write(self.config_file, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        import yaml

        try:
            data = yaml.safe_load(self.config_file.read_text())
        except FileNotFoundError:
            raise UserError(f"{self.path} has no {CONFIG_FILE}; is it a workbench run directory?") from None
        except yaml.YAMLError as e:
            raise UserError(f"{self.config_file} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise UserError(f"{self.config_file} does not hold a config mapping.")
        return data

    def read_info(self) -> RunInfo:
        try:
            data = json.loads((self.path / RUN_FILE).read_text())
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            known = {f.name for f in fields(RunInfo)}  # a newer workbench's keys are kept out
            return RunInfo(**{k: v for k, v in data.items() if k in known})
        except FileNotFoundError:
            raise UserError(
                f"{self.path} is not a workbench run directory (no {RUN_FILE}); "
                "run directories live under runs/<preset>/<run-name>/."
            ) from None
        except (json.JSONDecodeError, TypeError) as e:
            raise UserError(f"{self.path / RUN_FILE} is damaged: {e}") from None

    def write_info(self, info: RunInfo) -> None:
        _atomic_write(self.path / RUN_FILE, json.dumps(asdict(info), indent=2))

    def update_info(self, **changes: Any) -> None:
        info = self.read_info()
        for k, v in changes.items():
            setattr(info, k, v)
        self.write_info(info)

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.metrics)

    def truncate_metrics_after(self, step: int) -> list[dict[str, Any]]:
        """On resume from a checkpoint at ``step``, drop log lines the crash made obsolete, so
        the curve continues instead of repeating steps. Returns the dropped records."""
        if not self.metrics.exists():
            return []
        records = read_metrics(self.metrics, note="; resume rewrites the file without them")
        keep = [json.dumps(r) for r in records if r.get("step", 0) <= step]
        _atomic_write(self.metrics, "".join(line + "\n" for line in keep))
        return [r for r in records if r.get("step", 0) > step]

    def record_resume(self, step: int, elapsed: float, dropped: list[dict[str, Any]]) -> None:
        """Append this resume to run.json, so a curve can mark where the run was continued."""
        entry: dict[str, Any] = {"step": int(step), "time": round(float(elapsed), 3),
                                 "resumed_at": round(time.time(), 3)}
        if dropped:
            entry["lost_steps"] = max(int(r.get("step", 0)) for r in dropped) - int(step)
            entry["lost_seconds"] = round(max(float(r.get("time", elapsed)) for r in dropped)
                                          - float(elapsed), 3)
        info = self.read_info()
        self.update_info(resumes=[*(info.resumes or []), entry])


def read_metrics(path: Path, note: str = "") -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``: the one reader (resume, compare, the benchmarks).
    A damaged line (not UTF-8, not JSON, not an object with a numeric step) is skipped with
    one warning naming the file and the lines, instead of making the run unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out, damaged = [], []
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            for key in ("step", "time"):
                if key in record and (isinstance(record[key], bool)
                                      or not isinstance(record[key], (int, float))):
                    raise ValueError(f"{key} is not a number")
        except UnicodeDecodeError as e:
            damaged.append(f"line {number} (not UTF-8: byte 0x{raw[e.start]:02x} at column {e.start + 1})")
            continue
        except ValueError as e:
            why = f"not JSON: {e.msg} column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
            cut = "; cut short, as by kill -9" if number == len(lines) else ""
            damaged.append(f"line {number} ({why}{cut})")
            continue
        out.append(record)
    if damaged:
        log.warning("%s: skipped %d damaged line(s)%s: %s", path, len(damaged), note,
                    ", ".join(damaged[:5]) + (", ..." if len(damaged) > 5 else ""))
    return out


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists():
            raise
        # a full disk has no room for a second copy; a small file rewritten in place keeps
        # the blocks it has (not atomic, so only as the fallback)
        with open(path, "r+") as f:
            f.write(text)
            f.truncate()


def find_runs(root: Path | None = None, group: str | None = None) -> Iterator[RunDir]:
    root = root or runs_root()
    pattern = f"{group}/*/{RUN_FILE}" if group else f"*/*/{RUN_FILE}"
    for f in sorted(root.glob(pattern)):
        yield RunDir(f.parent)


def open_run(path: str | Path) -> RunDir:
    run = RunDir(Path(path))
    if not run.path.is_dir():
        raise UserError(f"no run directory at {run.path}.")
    run.read_info()  # validates
    return run
