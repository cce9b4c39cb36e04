"""Plugins from the user's own package: entry points, WORKBENCH_PLUGINS, broken plugins."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

from helpers import cli, read_metrics

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "writing-a-plugin.md"
BLOCK = re.compile(r"<!-- recipe: (\S+) -->\n```\w*\n(.*?)```", re.S)


def recipe_files() -> dict[str, str]:
    """The generator recipe of docs/writing-a-plugin.md, one code block per file."""
    return dict(BLOCK.findall(DOC.read_text()))


def make_package(root: Path, pkg: str, name: str, entry_point: bool = True) -> Path:
    """The docs' recipe package as ``pkg``, registering ``name`` and ``name``-five."""
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    for path, text in recipe_files().items():
        if path.endswith(".py"):
            text = text.replace("const_recipe", pkg).replace('"const', f'"{name}')
            (root / pkg / Path(path).name).write_text(text)
    if entry_point:  # what `pip install` of a package with [project.entry-points] leaves behind
        dist = root / f"{pkg}-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {pkg}\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text(f"[workbench.plugins]\n{pkg} = {pkg}.plugins\n")
    return root


def _env(root: Path, **extra: str) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]), **extra}


def test_a_third_party_package_is_found_by_its_entry_point_and_runs(tmp_path, runs_root):
    root = make_package(tmp_path / "site", "wbt_const", "const")
    env = _env(root)
    listing = cli("list", env=env).stdout
    assert any(x.startswith("const ") and "learn a constant" in x for x in listing.splitlines())
    assert "const-five" in listing
    assert "step size" in cli("describe", "const", env=env).stdout
    r = cli("run", "const-five", "--name", "tp", env=env)
    assert r.returncode == 0, r.stderr
    rows = read_metrics(runs_root / "const-five" / "tp")
    assert abs(rows[-1]["eval/value"] - 5.0) < 0.01


def test_workbench_plugins_env_var_loads_a_registration_module(tmp_path):
    root = make_package(tmp_path / "src", "wbt_env", "envconst", entry_point=False)
    assert "envconst" not in cli("list", env=_env(root)).stdout
    assert "envconst" in cli("list", env=_env(root, WORKBENCH_PLUGINS="wbt_env.plugins")).stdout


def test_a_broken_plugin_is_listed_as_broken_and_does_not_break_the_command(tmp_path):
    root = make_package(tmp_path / "site", "wbt_bad", "badconst")
    # a registration module that fails to import, and a plugin module that is missing
    bad = tmp_path / "site" / "wbt_worse"
    bad.mkdir()
    (bad / "__init__.py").write_text("")
    (bad / "plugins.py").write_text("import a_module_that_does_not_exist\n")
    dist = tmp_path / "site" / "wbt_worse-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wbt_worse\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[workbench.plugins]\nworse = wbt_worse.plugins\n")
    (root / "wbt_bad" / "model.py").unlink()
    r = cli("list", env=_env(root))
    assert r.returncode == 0
    assert "a_module_that_does_not_exist" in r.stdout
    assert any(x.startswith("badconst ") and "[broken]" in x for x in r.stdout.splitlines())
    assert "linreg" in r.stdout  # everything else still listed
    r = cli("run", "badconst", env=_env(root))
    assert r.returncode == 2 and "could not be imported" in r.stderr and "Traceback" not in r.stderr


def test_the_plugin_shape_on_the_docs_page_registers_a_plugin_in_under_25_lines():
    doc = DOC.read_text()
    start = doc.index("<!-- plugin-recipe -->")
    end = doc.index("<!-- /plugin-recipe -->")
    recipe = [x for x in doc[start:end].splitlines()[1:] if x.strip() and not x.startswith("```")]
    assert 5 < len(recipe) <= 25
    assert "register(" in textwrap.dedent("\n".join(recipe)) and "workbench.plugins" in "\n".join(recipe)


def test_the_docs_recipe_is_a_whole_package_with_its_entry_point():
    files = recipe_files()
    assert set(files) == {"const_recipe/config.py", "const_recipe/model.py",
                          "const_recipe/plugins.py", "pyproject.toml"}
    assert 'const_recipe = "const_recipe.plugins"' in files["pyproject.toml"]
    assert "import torch" not in files["const_recipe/config.py"] + files["const_recipe/plugins.py"]


def test_bad_input_found_by_the_plugin_itself_leaves_no_run_directory(tmp_path, runs_root):
    pkg = tmp_path / "src" / "wbt_data"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(
        "from workbench.plugin import Plugin\nfrom workbench.errors import UserError\n"
        "from wbt_data.config import ConstConfig\n"
        "class NeedsData(Plugin):\n    Config = ConstConfig\n"
        "    def __init__(self, cfg, ctx):\n"
        "        raise UserError('data.path /nope does not exist; give a folder of images')\n")
    (pkg / "config.py").write_text(recipe_files()["const_recipe/config.py"])
    (pkg / "plugins.py").write_text(
        "from workbench.registry import register\n"
        "register('needs-data', entry_point='wbt_data.model:NeedsData', "
        "config='wbt_data.config:ConstConfig', kind='generator')\n")
    r = cli("run", "needs-data", env=_env(tmp_path / "src", WORKBENCH_PLUGINS="wbt_data.plugins"))
    assert r.returncode == 2 and "/nope does not exist" in r.stderr and "Traceback" not in r.stderr
    assert not (runs_root / "needs-data").exists()


def test_a_plugin_generic_over_its_config_needs_no_separate_Config_attribute():
    from workbench import registry
    from workbench.plugin import Plugin
    from workbench.toy import LinearRegression
    from workbench.toy_config import LinRegConfig

    class Wider(LinearRegression):  # a subclass keeps its parent's config
        pass

    assert LinearRegression.Config is LinRegConfig and Wider.Config is LinRegConfig
    assert not hasattr(Plugin, "kind") and "kind" not in vars(LinearRegression)
    # registered without config=..., describe/run find the config through the class
    spec = registry.PluginSpec("t", "workbench.toy:LinearRegression", "generator")
    assert registry.load_config_class(spec) is LinRegConfig
