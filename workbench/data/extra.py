"""The offline data sources are an optional extra (``pip install 'workbench[data]'``, part of
``[all]``): a run whose source is missing says which extra installs it, before it starts."""

from __future__ import annotations

import importlib
from types import ModuleType

from workbench.errors import UserError

EXTRA = "data"


def require(module: str, package: str, what: str) -> ModuleType:
    """``import module``, or a UserError naming the extra that installs ``package``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"{what} needs the package {package}, which is not installed. It comes with "
            f"workbench's `{EXTRA}` extra: pip install 'workbench[{EXTRA}]' (in a checkout: "
            f"pip install -e '.[{EXTRA}]'; `.[all]` has it too), or pip install {package}."
        ) from None
