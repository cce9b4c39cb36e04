"""Errors that the CLI turns into a one-paragraph message and exit code 2 (no traceback)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path


class UserError(Exception):
    """Bad input from the user: an unknown name, a wrong type, a missing path, a corrupt file."""


class ConfigError(UserError):
    """An override or config file that does not fit the plugin's Config."""


class CheckpointError(UserError):
    """A checkpoint that cannot be read or does not belong to this run."""


class RunFailed(UserError):
    """A run that stopped itself (a non-finite loss): raised by the Python API, where the CLI
    exits with the run's code."""

    def __init__(self, message: str, run_dir: object = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.run_dir = run_dir
        self.exit_code = exit_code


def nearest(name: str, choices: Iterable[str]) -> str:
    """' Did you mean "x"?' for the closest choice, or '' when nothing is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f' Did you mean "{match[0]}"?' if match else ""


def check_folder(path: Path, what: str, fix: str, *, for_file: bool = False) -> Path:
    """``path`` as a folder this process can write into (made later, with its parents, if
    missing), or a UserError: ``what`` names where the path came from (``--out``,
    ``WORKBENCH_RUNS``), ``fix`` says what to give instead; ``for_file``: ``path`` is a file
    to write, and its folder is checked. Checked through the nearest existing ancestor, with
    access(2): that is what mkdir meets, so root passes a folder without write bits (root may
    write there) and fails a read-only file system (nobody may)."""
    full = Path(os.path.abspath(path))
    existing = full.parent if for_file else full
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "it" if existing == full else f"{existing}, on its path,"
        raise UserError(f"{what} names {path}, but {where} is a file, not a folder. {fix}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{what} names {path}, but {existing} is read-only for this user "
                        f"(or on a read-only file system), so nothing can be written there. {fix}")
    return path
