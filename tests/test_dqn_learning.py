"""dqn-cartpole learns: at a small budget its greedy policy clearly beats random play."""

from __future__ import annotations

import pytest

from tests.helpers import read_metrics
from workbench.agents.dqn.agent import random_policy_return
from workbench.commands.cli import main

pytestmark = pytest.mark.slow  # a learning test: DQN trains CartPole for real


def test_dqn_cartpole_at_a_small_budget_beats_random_by_a_wide_margin(runs_root):
    random_return = random_policy_return("CartPole-v1", episodes=20, seed=0)
    assert random_return < 40  # a random policy balances the pole for ~22 steps
    code = main(["run", "dqn-cartpole", "--name", "small", "total_steps=4000",
                 "learning_starts=500", "exploration_steps=2500", "eval_every=0",
                 "checkpoint_every=0", "log_every=1000", "eval_episodes=10", "torch_threads=1",
                 "--wandb", "disabled"])
    assert code == 0
    evals = [r for r in read_metrics(runs_root / "dqn-cartpole" / "small") if "eval/return" in r]
    final = evals[-1]["eval/return"]
    assert final >= 4 * random_return and final >= 100, (final, random_return)
