"""workbench: one loop for RL agents, generators and classifiers; every model a plugin.

The Python API (workbench/api.py) is here lazily, so that ``import workbench`` (and with it
``workbench --help``) imports neither torch nor wandb::

    import workbench as wb
    r = wb.run("dqn-cartpole", lr=1e-3, total_steps=20_000)
    r.metrics, r.best(), wb.compare([r, "runs/dqn-cartpole/other"])
"""

import os as _os
from typing import Any as _Any

__version__ = "0.1.0"

# The repo's folders agents/, envs/, generators/ and classifiers/ are the subpackages
# workbench.agents, ... (pyproject's package-dir; a wheel copies them under workbench/). In a
# source checkout the sibling folders are found through __path__, so a git worktree or a
# `python -m pytest` in any checkout imports that checkout's code, not an editable install's.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_root, "agents", "plugins.py")) and _os.path.isfile(
    _os.path.join(_root, "pyproject.toml")
):
    __path__.append(_root)  # noqa: F821 - the package's own search path


_API = ("run", "load", "resume", "rerun", "compare", "list_runs", "Run", "Best")


def __getattr__(name: str) -> _Any:
    # module-level __getattr__ (PEP 562): the API is imported on first use
    if name in _API:
        from workbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
