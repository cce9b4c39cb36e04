"""Errors that the CLI turns into a one-paragraph message and exit code 2 (no traceback)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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
