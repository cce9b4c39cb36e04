"""Console output that cannot change a run's fate.

``workbench resume RUN | head -1`` closes the pipe after one line; every later write to it
raises BrokenPipeError, from a progress line, a warning, a plugin's print. Training must not
notice: the CLI wraps stdout and stderr so that the first write into a closed pipe points the
stream at /dev/null and the run goes on (it finishes, checkpoints and writes run.json as if
the reader were still there). Only the console output stops.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO


class PipeSafe:
    """A text stream whose writes never raise for a closed pipe (EPIPE)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except OSError as e:
                self._gone(e)
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except OSError as e:
                self._gone(e)

    def _gone(self, e: OSError) -> None:
        if e.errno not in (errno.EPIPE, errno.EINVAL):  # EINVAL: some platforms' closed pipe
            raise e
        self.reader_gone = True
        try:  # what is still buffered, and anything written at exit, goes nowhere quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ... of the real stream
        return getattr(self._stream, name)


def guard() -> Callable[[], None]:
    """Wrap sys.stdout and sys.stderr; returns the function that puts the originals back."""
    saved = {name: getattr(sys, name) for name in ("stdout", "stderr")}
    for name, stream in saved.items():
        if stream is not None and not isinstance(stream, PipeSafe):
            setattr(sys, name, PipeSafe(stream))

    def restore() -> None:
        for name, stream in saved.items():
            setattr(sys, name, stream)

    return restore
