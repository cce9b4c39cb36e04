"""One checkpoint format: written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from workbench.config import flatten, to_dict
from workbench.errors import CheckpointError

log = logging.getLogger("workbench")

FORMAT_VERSION = 1


def save(state: dict[str, Any], path: Path) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over ``path``: a crash or
    ``kill -9`` at any moment leaves either the old checkpoint or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format_version": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
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
