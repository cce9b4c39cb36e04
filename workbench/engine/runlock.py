"""One trainer per run directory: an exclusive ``flock`` on ``RUN/.lock``, held for the life of
the training process.

The kernel drops the lock when the process dies, however it dies (``kill -9``, a crash, a
container stopped), so there is no stale state to clean up and no PID to compare: a resume in
a container, where every trainer is PID 1, is not mistaken for the run's old trainer. The
holder writes its pid, host, start time and command into the file for the error message the
next process prints; that text is only ever read for the message, never to decide.

The lock is taken before anything in the run directory is written, by ``run`` and ``resume``
alike; under torchrun only rank 0 takes it. Once it is held, no other process can be writing
the directory, so every ``*.tmp-<pid>`` file there is a leftover of a killed write and is
removed (:func:`remove_stale_temp_files`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from workbench.errors import UserError

log = logging.getLogger("workbench")
LOCK_FILE = ".lock"


class RunLocked(UserError):
    """Another live process trains this run directory."""


class RunLock:
    """``acquire()`` once the directory exists, ``release()`` when training is over (also safe
    to call when it was never acquired, as on torchrun ranks other than 0)."""

    def __init__(self, run_dir: Path | None = None) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, run_dir: Path | None = None, remove_temp: bool = False) -> None:
        """Lock the run (RunLocked naming the holder if another process has it); with
        ``remove_temp``, then delete the temp files killed writes left behind."""
        if run_dir is not None:
            self.run_dir = Path(run_dir)
        assert self.run_dir is not None, "RunLock needs the run directory"
        path = self.run_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder, pid = _describe_holder(fd)
            os.close(fd)
            raise RunLocked(
                f"{self.run_dir} is still being trained by {holder}; two processes training one "
                "run would mix their checkpoints and logs. Wait for it to finish, or stop it "
                f"(Ctrl-C, or `kill {pid}` on its host: it writes a checkpoint first), then resume."
            ) from None
        self._fd = fd
        argv = list(sys.argv)
        if argv and Path(argv[0]).name in ("workbench", "__main__.py"):
            argv[0] = "workbench"
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                  "command": " ".join(argv)}
        try:  # for the message only: a full disk here must not stop the lock from working
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        except OSError:
            pass
        if remove_temp:
            remove_stale_temp_files(self.run_dir)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # nobody holds it now; the file itself stays (see below)
        except OSError:
            pass
        # The file is never deleted: a process that opened it just before an unlink would lock
        # the deleted file while a third one creates and locks a new one.
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _describe_holder(fd: int) -> tuple[str, str]:
    """('process 123 on host h, started ...: `workbench resume ...`', '123') from the lock file."""
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict) or "pid" not in record:
        return "another process (it has only just started)", "PID"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.get("started", 0)))
    command = f": `{record['command']}`" if record.get("command") else ""
    return (f"process {record['pid']} on host {record.get('host', '?')}, started {started}{command}",
            str(record["pid"]))


def remove_stale_temp_files(run_dir: Path) -> list[str]:
    """Delete the ``*.tmp-<pid>`` files that killed writes left in ``run_dir`` (a checkpoint's
    can be as large as the checkpoint: ~700 MB for Pong). Call it only while holding the lock:
    then no live process is writing any of them. Returns what was removed, with sizes."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints"):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            stem, sep, pid = path.name.rpartition(".tmp-")
            if not (sep and stem and pid.isdigit() and path.is_file()):
                continue
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError:
                continue
            removed.append(f"{path.relative_to(run_dir)} ({size / 1e6:.1f} MB)")
    if removed:
        log.warning("removed %d temp file(s) left in %s by a write that was killed: %s",
                    len(removed), run_dir, ", ".join(removed))
    return removed
