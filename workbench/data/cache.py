"""The one cache directory of decoded data: ``$WORKBENCH_CACHE``, else ``~/.cache/workbench``.

What is cached is a function of its key (a version, a library version, file stamps), so a stale
entry is never read; a cache that cannot be written is not an error, only slower next time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger("workbench")


def cache_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_CACHE", Path.home() / ".cache" / "workbench"))


def cached_arrays(key: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``make()`` once, then read back ``<cache>/<key>.npz`` (missing or corrupt: made again)."""
    file = cache_dir() / f"{key}.npz"
    try:
        with np.load(file, allow_pickle=False) as z:
            return dict(z)
    except Exception:  # noqa: BLE001 - missing or corrupt: rebuild
        pass
    arrays = make()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, file)
    except OSError as e:
        log.info("could not cache %s: %s", file, e)
    return arrays


def cached_text(name: str, make: Callable[[], str]) -> str:
    """``make()`` once, then read back ``<cache>/<name>`` (UTF-8)."""
    file = cache_dir() / name
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    text = make()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, file)
    except OSError as e:
        log.info("could not cache %s: %s", file, e)
    return text
