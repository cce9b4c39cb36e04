"""One checkpoint format: written atomically, read with ``weights_only=True``.

A checkpoint that does not fit on the disk is a :class:`DiskFullError` (the previous checkpoint
untouched), found before writing when the free space is visibly short and otherwise from the
write's ENOSPC; never torch's ``unexpected pos`` traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.config import flatten, to_dict
from workbench.errors import CheckpointError

log = logging.getLogger("workbench")

FORMAT_VERSION = 1
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(Exception):
    """No room on the disk for a checkpoint. Not a UserError: the run is kept, not cleaned up."""

    def __init__(self, path: Path, needed: int, free: int, previous_intact: bool) -> None:
        self.path, self.needed, self.free, self.previous_intact = path, needed, free, previous_intact
        super().__init__(self.describe())

    def describe(self, previous_step: int | None = None) -> str:
        at = f" (step {previous_step:,})" if previous_step is not None else ""
        previous = (f"The previous checkpoint {self.path}{at} is intact." if self.previous_intact
                    else "No checkpoint of this run had been written yet.")
        return (f"disk full: the checkpoint {self.path} needs about {human_bytes(self.needed)} "
                f"and only {human_bytes(self.free)} is free on that disk. {previous}")


def human_bytes(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def estimate_bytes(obj: Any) -> int:
    """About what ``torch.save(obj)`` writes: every tensor storage once (torch saves whole
    storages, shared ones once), NumPy arrays, strings, plus a margin for the zip and pickle
    records. Reads sizes only: no copy, no device sync."""
    seen: set[tuple[Any, int]] = set()

    def size(o: Any) -> int:
        if isinstance(o, torch.Tensor):
            storage = o.untyped_storage()
            key = (o.device, storage.data_ptr())
            if key in seen:
                return 0
            seen.add(key)
            return storage.nbytes() + 128
        if isinstance(o, np.ndarray):
            return o.nbytes + 128
        if isinstance(o, (str, bytes)):
            return len(o) + 16
        if isinstance(o, dict):
            return sum(size(k) + size(v) for k, v in o.items())
        if isinstance(o, (list, tuple)):
            return sum(size(v) for v in o) + 8
        return 16

    raw = size(obj)
    return int(raw * 1.01) + 64 * 1024


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _is_disk_full(e: BaseException) -> bool:
    """ENOSPC anywhere in the chain: torch reports it as RuntimeError('... unexpected pos ...')
    with the OSError from the file object as its context."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _DISK_FULL:
            return True
        e = e.__cause__ or e.__context__
    return False


def save(state: dict[str, Any], path: Path) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over ``path``: a crash or
    ``kill -9`` at any moment leaves either the old checkpoint or the new one, never half.
    Raises DiskFullError, before writing if the free space is short of the estimated size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, **state}
    needed = estimate_bytes(payload)
    if free_bytes(path.parent) < needed:
        raise DiskFullError(path, needed, free_bytes(path.parent), path.exists())
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except Exception as e:
        if tmp.exists():
            tmp.unlink()
        if _is_disk_full(e):
            raise DiskFullError(path, needed, free_bytes(path.parent), path.exists()) from None
        raise
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def load(path: Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint; a missing, truncated or foreign file is a clear CheckpointError.
    ``mmap`` maps tensors from the file instead of reading them (a reader that needs only the
    network of a checkpoint that also holds a 7 GB replay buffer)."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the file is bad
        raise CheckpointError(
            f"the checkpoint {path} is corrupt or truncated and cannot be read "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). "
            "Delete it to start over, or restore it from a copy."
        ) from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise CheckpointError(f"{path} is not a workbench checkpoint.")
    if state["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer workbench (format {state['format_version']}); "
            "upgrade workbench to read it."
        )
    return state


def check_fits(state: dict[str, Any], spec: Any, cfg: Any, path: Path) -> None:
    """Refuse a checkpoint of another plugin or of a config shape the plugin no longer has."""
    if state.get("plugin") != spec.name:
        raise CheckpointError(
            f"{path} belongs to plugin '{state.get('plugin')}', not '{spec.name}'; refusing to load it."
        )
    saved = set(flatten(state.get("config", {})))
    now = flatten(to_dict(cfg))
    gone = sorted(saved - set(now))
    if gone:
        raise CheckpointError(
            f"{path} was written with a different config shape (keys the plugin no longer has: "
            f"{', '.join(gone[:10])}); refusing to load it."
        )
    added = sorted(set(now) - saved)
    if added:  # options the plugin gained since the run started: they take their defaults
        log.warning("the plugin gained config keys since %s was written; they take their values "
                    "from now: %s", path, ", ".join(f"{k}={now[k]}" for k in added[:10]))


def load_into(plugin: Any, state: dict[str, Any], path: Path) -> None:
    """The plugin's state from a checkpoint; a shape mismatch is a clear CheckpointError."""
    try:
        plugin.load_state_dict(state["state"])
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as e:
        raise CheckpointError(
            f"{path} does not fit plugin {type(plugin).__name__} as configured now "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). Did an override "
            "change the model's shape? Resume with the run's own config, or start a new run."
        ) from None


def space_warning(checkpoint_bytes: int, path: Path) -> str | None:
    """A warning when the disk under ``path`` cannot hold the checkpoint twice: while a new
    checkpoint is written the previous one stays, so that a crash mid-write loses nothing."""
    folder = path.parent if path.parent.exists() else path.parent.parent
    existing = path.stat().st_size if path.exists() else 0
    free = free_bytes(folder)
    if free + existing >= 2 * checkpoint_bytes:
        return None
    fits = "room for only one" if free + existing >= checkpoint_bytes else "not room for even one"
    return (f"the disk holding {folder} has {human_bytes(free)} free and a checkpoint of this run "
            f"will be about {human_bytes(checkpoint_bytes)}; writing one keeps the previous one "
            f"until the new one is complete, so it needs room for two, and there is {fits}. "
            "Free some space, or checkpoints will fail (the run then stops with its previous "
            "checkpoint intact).")


def warn_if_disk_small(plugin: Any, path: Path) -> None:
    """Say at the start of a run, not hours later, that the disk cannot hold its checkpoints."""
    try:
        size = plugin.checkpoint_nbytes() or estimate_bytes(plugin.state_dict())
        warning = space_warning(size, path)
    except Exception as e:  # noqa: BLE001 - a warning must never stop a run
        log.debug("no disk-space estimate for %s: %s", path, e)
        return
    if warning:
        log.warning(warning)
