"""The core's shape (docs/design.md): it imports no plugin, and its parts import one way."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "workbench"
PLUGIN_FOLDERS = ("agents", "generators", "classifiers")
# a part may import the parts after it in this order, never one before it
ORDER = ("commands", "studies", "data", "engine", "rollout", "contract")


def _core_modules() -> dict[str, Path]:
    mods = {}
    for path in CORE.rglob("*.py"):
        rel = path.relative_to(CORE)
        if rel.parts[0] in (*PLUGIN_FOLDERS, "envs"):  # the links to the repo's folders
            continue
        name = ".".join(("workbench", *rel.with_suffix("").parts)).removesuffix(".__init__")
        mods[name] = path
    return mods


def _imports(path: Path) -> set[str]:
    """Every workbench module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("workbench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workbench"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else "contract"  # a package __init__ too


def test_the_core_imports_no_plugin():
    bad = [f"{name} imports {target}" for name, path in _core_modules().items()
           for target in _imports(path)
           if target.split(".")[1:2] and target.split(".")[1] in PLUGIN_FOLDERS]
    assert bad == []


def test_the_core_parts_import_one_way():
    modules = _core_modules()
    bad = []
    for name, path in modules.items():
        if name in ("workbench", "workbench.__main__"):  # the entry points reach the verbs
            continue
        for target in _imports(path):
            if target not in modules:  # a name inside a module (from x import y), or not core
                continue
            if ORDER.index(_part(target)) < ORDER.index(_part(name)):
                bad.append(f"{name} ({_part(name)}) imports {target} ({_part(target)})")
    assert bad == []


def test_the_plugin_contract_names_stay_importable():
    """Plugins import these by name; the grouping of the core must not move them."""
    import importlib

    for name in ("plugin", "config", "constraints", "options", "errors", "registry", "media",
                 "runtime", "precision", "explain", "logger", "distributed"):
        assert (CORE / f"{name}.py").is_file()
        importlib.import_module(f"workbench.{name}")


def _package_modules() -> list[str]:
    """Every module of the installed package: the core and, through its links, the plugins
    and envs (``__main__`` runs the CLI when imported, so it is left out)."""
    import os

    names = []
    for folder, _, files in os.walk(CORE, followlinks=True):  # into agents/, envs/, ...
        for file in files:
            rel = (Path(folder) / file).relative_to(CORE).with_suffix("")
            if file.endswith(".py") and rel.name != "__main__":
                names.append(".".join(("workbench", *rel.parts)).removesuffix(".__init__"))
    return sorted(names)


def test_every_module_of_the_package_imports():
    """The fast tier touches every module at least this far: a module that only slow tests
    exercise (a torchrun path, an Optuna report) still fails fast on a broken import."""
    import importlib

    modules = _package_modules()
    assert "workbench.agents.dqn.agent" in modules and "workbench.studies.optuna_report" in modules
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - every failure is listed, not just the first
            failed.append(f"{name}: {type(e).__name__}: {e}")
    assert failed == []
