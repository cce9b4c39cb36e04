"""The agent recipe of docs/agents.md: a complete A2C agent as an out-of-tree package, with at
most 25 lines of glue, installed from the page's own code blocks and trained on CartPole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import cli, read_metrics

DOC = Path(__file__).resolve().parents[1] / "docs" / "agents.md"
BLOCK = re.compile(r"<!-- recipe: (\S+) -->\n```\w*\n(.*?)```", re.S)
# a line of the agent's files that is there for workbench rather than for the algorithm; the
# registration module and the entry point are glue from their first line to their last
GLUE = re.compile(r"^(from (workbench|a2c_recipe|dataclasses)|class |@dataclass|"
                  r"\s*def (__init__|act|observe|learn)\(|\s*super\(\)\.__init__|"
                  r"\s*self\.rollout_length|\s*checkpointed)")


def recipe_files() -> dict[str, str]:
    return dict(BLOCK.findall(DOC.read_text()))


def install(root: Path) -> Path:
    """What `pip install -e .` of the recipe's package leaves behind: the package on the path
    and its entry point in a dist-info folder."""
    files = recipe_files()
    for name, text in files.items():
        if name.endswith(".py"):
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    (root / "a2c_recipe" / "__init__.py").write_text("")
    dist = root / "a2c_recipe-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: a2c_recipe\nVersion: 0.1\n")
    entry = files["pyproject.toml"].replace('[project.entry-points."workbench.plugins"]',
                                            "[workbench.plugins]")
    (dist / "entry_points.txt").write_text(entry.replace('"', ""))  # TOML string -> INI value
    return root


def test_the_agent_recipe_needs_at_most_25_lines_of_glue():
    files = recipe_files()
    assert set(files) == {"a2c_recipe/config.py", "a2c_recipe/agent.py", "a2c_recipe/plugins.py",
                          "pyproject.toml"}
    glue = [line for name, text in files.items() for line in text.splitlines() if line.strip()
            and (GLUE.match(line) or name in ("a2c_recipe/plugins.py", "pyproject.toml"))]
    assert 10 < len(glue) <= 25, "\n".join(glue)
    # the math is all in the agent file: no env building, stepping or evaluation there
    agent = files["a2c_recipe/agent.py"]
    for word in ("make_vec", "gymnasium", "env.step(", "env.reset(", "VectorEnv", "save_gif"):
        assert word not in agent


def test_the_recipe_package_is_found_by_its_entry_point_and_describes_its_config(tmp_path):
    env = {"PYTHONPATH": str(install(tmp_path / "site"))}
    listing = cli("list", env=env).stdout
    assert any(line.startswith("a2c ") and "agent" in line for line in listing.splitlines())
    described = cli("describe", "a2c-cartpole", env=env).stdout
    assert "vector steps per update" in described and "env.id" in described


@pytest.mark.slow
def test_the_recipe_a2c_learns_cartpole_and_plays_eval_with_a_video(tmp_path, runs_root):
    env = {"PYTHONPATH": str(install(tmp_path / "site"))}
    r = cli("run", "a2c-cartpole", "--name", "recipe", "total_steps=30000", "eval_every=10000",
            "torch_threads=1", "--wandb", "disabled", env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    evals = [row["eval/return"] for row in read_metrics(runs_root / "a2c-cartpole" / "recipe")
             if "eval/return" in row]
    # a random policy balances ~22 steps, an untrained greedy one fewer; 30k steps get > 150
    assert len(evals) == 3 and max(evals) >= 150, evals
    out = tmp_path / "video"
    r = cli("eval", str(runs_root / "a2c-cartpole" / "recipe"), "--episodes", "2", "--seed", "3",
            "--video", "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    assert "over 2 games, seed 3" in r.stdout
    (gif,) = out.glob("*.gif")
    assert f"video: {gif}" in r.stdout
