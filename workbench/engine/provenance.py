"""What ran, where: recorded in run.json so a run can be reproduced and its speed explained."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from typing import Any

import workbench


def git_commit(path: str | None = None) -> tuple[str | None, bool | None]:
    """(commit, has uncommitted changes) of the checkout holding workbench's code, or
    (None, None) for an installed wheel or when git is missing."""
    where = path or os.path.dirname(os.path.abspath(workbench.__file__))
    try:
        head = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5)
        if head.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None


def provenance(ctx: Any, command: str | None = None) -> dict[str, Any]:
    """The run.json fields of one training session (the latest session's, after a resume)."""
    import torch

    commit, dirty = git_commit()
    return {
        "device": str(ctx.device),
        "precision": ctx.precision.name,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "workbench": workbench.__version__},
        "git_commit": commit,
        "git_dirty": dirty,
        "command": command or shlex.join(["workbench", *sys.argv[1:]]),
        "world_size": ctx.world_size,
    }
