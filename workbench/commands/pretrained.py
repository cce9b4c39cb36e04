"""Trained weights that ship with a preset, or a file written by ``export --format weights``.

The registry holds which presets ship a weights file and which module of a plugin exports and
plays such files (``register(..., weights="pkg.module")``, ``register_preset(..., weights=PATH)``;
see :class:`workbench.registry.WeightsHooks`), the way timm keeps pretrained tags beside its
model names. This module only resolves a name to a file and a plugin and calls the plugin's
hooks: a second plugin that ships weights needs no edit here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from workbench import registry
from workbench.errors import UserError


def shipped() -> dict[str, Path]:
    """Preset name -> weights file, for every preset whose file is in this install."""
    registry.load_all()
    return {p.name: Path(p.weights) for p in registry.PRESETS.values()
            if p.weights and Path(p.weights).is_file()}


def _plugin_of_file(path: Path) -> str:
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the file is not ours
        raise UserError(f"{path} cannot be read as a weights file ({type(e).__name__}: a file "
                        "written by `workbench export RUN --format weights` is expected).") from None
    name = blob.get("plugin") if isinstance(blob, dict) else None
    if not isinstance(name, str):
        raise UserError(f"{path} is not a workbench weights file: it names no plugin. Write one "
                        "with `workbench export RUN --format weights`.")
    return name


def resolve(name: str) -> tuple[registry.PluginSpec, Path]:
    """A preset that ships weights, or a weights file -> (its plugin, the file)."""
    files = shipped()
    if name in files:
        return registry.resolve(registry.PRESETS[name].plugin)[0], files[name]
    path = Path(name)
    if path.is_file():
        return registry.resolve(_plugin_of_file(path))[0], path
    names = ", ".join(files) or "none in this install"
    raise UserError(f"--pretrained {name!r} is neither a preset that ships weights nor a file. "
                    f"Presets with weights: {names}. A file written by `workbench export RUN "
                    "--format weights` works too.")


def hooks(spec: registry.PluginSpec) -> Any:
    """The plugin's :class:`~workbench.registry.WeightsHooks` module."""
    if not spec.weights:
        raise UserError(f"plugin '{spec.name}' has no weights files: it registers no `weights` "
                        "hooks, so its runs export as torchscript or onnx only.")
    try:
        return importlib.import_module(spec.weights)
    except ImportError as e:
        raise UserError(f"plugin '{spec.name}' names weights hooks {spec.weights!r}, which do not "
                        f"import ({e}).") from None


def play(name: str, opts: Any) -> str:
    """``workbench eval --pretrained NAME|FILE``."""
    spec, path = resolve(name)
    return hooks(spec).play(path, opts)


def explain(name: str, out: Path | None, opts: Any) -> str:
    """``workbench explain --pretrained NAME|FILE --out DIR``."""
    spec, path = resolve(name)
    module = hooks(spec)
    if not hasattr(module, "explain"):
        raise UserError(f"plugin '{spec.name}' cannot explain a weights file; explain a run "
                        "directory of it instead.")
    return module.explain(path, out, opts)


def serving(name: str) -> tuple[Any, dict[str, Any]]:
    """``workbench serve --pretrained NAME|FILE``: the plugin's Serving of the file, and what
    /info says of it."""
    spec, path = resolve(name)
    module = hooks(spec)
    if not hasattr(module, "serving"):
        raise UserError(f"plugin '{spec.name}' cannot serve a weights file; serve a run "
                        "directory of it instead.")
    return module.serving(path)
