"""workbench: one loop for RL agents, generators and classifiers; every model a plugin."""

import os as _os

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
