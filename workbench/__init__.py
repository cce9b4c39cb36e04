"""workbench: one loop for RL agents, generators and classifiers; every model a plugin.

The Python API (workbench/commands/api.py) is here lazily, so that ``import workbench`` (and with it
``workbench --help``) imports neither torch nor wandb::

    import workbench as wb
    r = wb.run("dqn-cartpole", lr=1e-3, total_steps=20_000)
    r.metrics, r.best(), wb.compare([r, "runs/dqn-cartpole/other"])
"""

from typing import Any as _Any

__version__ = "0.1.0"

# The repo's folders agents/, envs/, generators/ and classifiers/ are the subpackages
# workbench.agents, ... through relative links inside this folder (workbench/agents ->
# ../agents): packaging, ruff, type checkers and a `python -m pytest` in any checkout or git
# worktree all see one ordinary package tree, with no import-time path edit (docs/design.md).


_API = ("run", "load", "resume", "rerun", "compare", "list_runs", "Run", "Best")


def __getattr__(name: str) -> _Any:
    # module-level __getattr__ (PEP 562): the API is imported on first use
    if name in _API:
        from workbench.commands import api

        return getattr(api, name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
