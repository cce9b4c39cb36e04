"""PPO: advantages, what a rollout learns from, checkpoints, and a small-budget learning test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import read_metrics
from workbench import registry
from workbench.agents.ppo.agent import PPO, gae
from workbench.commands.cli import main
from workbench.config import build_config
from workbench.logger import Logger
from workbench.plugin import Context
from workbench.rollout.evaluation import random_policy_return
from workbench.runtime import resolve_precision


def make_agent(tmp_path, name: str = "ppo-cartpole", **overrides) -> PPO:
    spec, preset = registry.resolve(name)
    layers = [dict(preset.overrides)] if preset else []
    cfg = build_config(registry.load_config_class(spec), *layers, {"torch_threads": 1, **overrides})
    device = torch.device("cpu")
    ctx = Context(device=device, precision=resolve_precision(cfg.precision, device),
                  logger=Logger(tmp_path, wandb_mode="disabled", metrics=False),
                  run_dir=tmp_path, seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    return PPO(cfg, ctx)


def test_gae_cuts_at_terminals_and_bootstraps_a_truncation_from_the_final_value():
    g, lam = 0.9, 0.5
    rewards = np.array([[1.0], [1.0], [0.0], [1.0]], np.float32)
    values = np.array([[0.5], [2.0], [3.0], [0.25]], np.float32)
    terminated = np.array([[0.0], [1.0], [0.0], [0.0]], np.float32)
    ends = np.array([[0.0], [1.0], [0.0], [1.0]], np.float32)  # step 3: a time limit
    next_value = np.array([7.0], np.float32)
    adv = gae(rewards, values, terminated, ends, next_value, g, lam)
    # step 3 is truncated: it bootstraps from next_value, and nothing flows back past step 1
    d3 = 1.0 + g * 7.0 - 0.25
    d2 = 0.0 + g * 0.25 - 3.0
    d1 = 1.0 - 2.0  # terminal: no bootstrap
    d0 = 1.0 + g * 2.0 - 0.5
    np.testing.assert_allclose(adv[:, 0], [d0 + g * lam * d1, d1, d2 + g * lam * d3, d3], rtol=1e-6)


def test_one_call_collects_a_rollout_learns_from_it_and_leaves_out_reset_steps(tmp_path):
    agent = make_agent(tmp_path, **{"num_steps": 64, "env.num_envs": 2})
    assert agent.steps_per_call == 128
    before = [p.detach().clone() for p in agent.net.parameters()]
    seen = []
    observe = agent.observe
    agent.observe = lambda t: (seen.append(t), observe(t))  # type: ignore[method-assign]
    metrics = agent.train_step(0)
    assert len(seen) == 64 and agent.t == 0, "the rollout is learned from and emptied"
    for key in ("train/loss", "train/policy_loss", "train/value_loss", "train/entropy",
                "train/approx_kl", "train/clipfrac", "train/lr", "train/explained_variance"):
        assert key in metrics, key
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.net.parameters()))
    # episodes of a random CartPole policy last ~22 steps: reset steps happened, and exactly
    # those rows are left out of the loss
    reset_rows = np.stack([t.reset_step for t in seen])
    assert reset_rows.any()
    np.testing.assert_array_equal(agent.valid, ~reset_rows)
    # the learning rate anneals linearly from lr at step 0
    assert metrics["train/lr"] == pytest.approx(agent.cfg.lr)
    agent.close()


def test_ppo_checkpoint_round_trip_keeps_network_optimizer_and_minibatch_rng(tmp_path):
    agent = make_agent(tmp_path, **{"num_steps": 32})
    agent.train_step(0)
    other = make_agent(tmp_path, **{"num_steps": 32, "seed": 9})
    other.load_state_dict(agent.state_dict())
    obs = torch.randn(16, 4)
    torch.testing.assert_close(agent.net(obs), other.net(obs), rtol=0, atol=0)
    assert other.rng.bit_generator.state == agent.rng.bit_generator.state
    assert other.opt.state_dict()["state"][0]["step"] == agent.opt.state_dict()["state"][0]["step"]
    agent.close()
    other.close()


def test_evaluation_by_sampling_replays_by_seed_without_touching_the_training_rng(tmp_path):
    agent = make_agent(tmp_path, **{"eval_deterministic": False, "eval_video": False})
    torch_state = torch.get_rng_state()
    first = agent.play_evaluation(0, episodes=3, seed=5).games
    assert torch.equal(torch.get_rng_state(), torch_state)
    again = agent.play_evaluation(0, episodes=3, seed=5).games
    assert [(g.ret, g.length) for g in first] == [(g.ret, g.length) for g in again]
    agent.close()


@pytest.mark.slow
def test_ppo_cartpole_at_a_small_budget_beats_random_by_a_wide_margin(runs_root):
    random_return = random_policy_return("CartPole-v1", episodes=20, seed=0)
    assert random_return < 40
    # 50 rollouts of 4 x 128 steps; the full preset reaches 500 by ~100k steps
    code = main(["run", "ppo-cartpole", "--name", "small", "total_steps=25600", "eval_every=0",
                 "checkpoint_every=0", "eval_episodes=10", "final_eval_episodes=10",
                 "eval_video=false", "torch_threads=1", "--wandb", "disabled"])
    assert code == 0
    evals = [r for r in read_metrics(runs_root / "ppo-cartpole" / "small") if "eval/return" in r]
    final = evals[-1]["eval/return"]
    assert final >= 150 and final >= 5 * random_return, (final, random_return)


@pytest.mark.parametrize("side", [84, 56, 36])
def test_the_atari_trunk_sizes_its_dense_layer_to_the_frames(side):
    from workbench.agents.ppo.agent import CNNActorCritic

    net = CNNActorCritic(4, 6, (side, side))
    logits, value = net(torch.zeros(3, 4, side, side, dtype=torch.uint8))
    assert logits.shape == (3, 6) and value.shape == (3,)
    # 84x84 keeps CleanRL's 64x7x7 -> 512 layer, so its checkpoints still load
    assert net.features[7].in_features == 64 * {84: 7, 56: 3, 36: 1}[side] ** 2
