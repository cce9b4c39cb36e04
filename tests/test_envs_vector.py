"""Vector envs: Atari conventions and episode statistics that stay right across auto-resets."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.envs.vector import VectorEnv, ale_rom_name
from workbench.errors import ConfigError


def _play(env: VectorEnv, steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    env.reset()
    rows = []
    for _ in range(steps):
        obs, reward, terminated, truncated, reset_step = env.step(
            rng.integers(0, env.num_actions, env.num_envs))
        rows.append((reward, terminated, truncated, reset_step))
    return [np.stack(x) for x in zip(*rows)]


def _tally(reward, terminated, truncated, reset_step, game_over):
    """Per-env returns and lengths by walking the raw arrays (the reference)."""
    returns, lengths = [], []
    for e in range(reward.shape[1]):
        ret, length = 0.0, 0
        for t in range(len(reward)):
            if reset_step[t, e]:
                continue
            ret += reward[t, e]
            length += 1
            if game_over[t, e]:
                returns.append((t, e, ret))
                lengths.append((t, e, length))
                ret, length = 0.0, 0
    order = sorted(range(len(returns)), key=lambda i: (returns[i][0], returns[i][1]))
    return [returns[i][2] for i in order], [lengths[i][2] for i in order]


def test_cartpole_episode_stats_across_auto_reset_match_a_walk_over_raw_steps():
    env = VectorEnv("CartPole-v1", 3, seed=1)
    reward, terminated, truncated, reset_step = _play(env, 400)
    returns, lengths = env.stats.drain()
    env.close()
    ref_returns, ref_lengths = _tally(reward, terminated, truncated, reset_step,
                                      terminated | truncated)
    assert len(returns) >= 20
    assert returns == ref_returns and lengths == ref_lengths
    # CartPole pays 1 per step: the autoreset step is neither counted nor rewarded
    assert returns == [float(n) for n in lengths]
    # every finished episode is followed by exactly one autoreset step
    ends = np.argwhere((terminated | truncated)[:-1])
    assert reset_step[ends[:, 0] + 1, ends[:, 1]].all()
    assert reset_step.sum() == (terminated | truncated)[:-1].sum()


def test_atari_returns_are_true_game_scores_over_whole_games_even_with_life_loss_terminals():
    env = VectorEnv("ALE/Breakout-v5", 2, seed=2, num_threads=1, life_loss_terminal=True)
    reward, terminated, truncated, reset_step = _play(env, 700, seed=2)
    returns, lengths = env.stats.drain()
    env.close()
    # life losses terminate the bootstrap (terminated) without ending the game (no reset next)
    game_over = np.zeros_like(terminated)
    game_over[:-1] = reset_step[1:]
    life_losses = terminated & ~game_over
    assert life_losses.sum() >= len(returns) * 2, "Breakout has 5 lives per game"
    ref_returns, ref_lengths = _tally(reward, terminated, truncated, reset_step, game_over)
    assert returns == ref_returns[: len(returns)] and len(returns) >= 1
    assert lengths == ref_lengths[: len(lengths)]
    # rewards are not clipped by the env: Breakout bricks are worth 1, 4 or 7 points
    assert set(np.unique(reward)) <= {0.0, 1.0, 4.0, 7.0}


def test_pong_observations_are_stacked_84x84_gray_with_zeroed_frames_at_reset():
    env = VectorEnv("ALE/Pong-v5", 2, seed=0, num_threads=1)
    obs = env.reset()
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
    assert env.num_actions == 6
    assert (obs[:, :3] == 0).all() and obs[:, 3].mean() > 50
    nxt, *_ = env.step(np.zeros(2, np.int64))
    np.testing.assert_array_equal(nxt[:, :3], obs[:, 1:])
    env.close()


def test_ale_ids_map_to_rom_names_and_unknown_ids_are_clear_errors():
    assert ale_rom_name("ALE/Pong-v5") == "pong"
    assert ale_rom_name("BreakoutNoFrameskip-v4") == "breakout"
    assert ale_rom_name("ALE/MsPacman-v5") == "ms_pacman"
    with pytest.raises(ConfigError, match="no ROM"):
        VectorEnv("ALE/NotAGame-v5", 1, seed=0)
    with pytest.raises(ConfigError, match="discrete"):
        VectorEnv("Pendulum-v1", 1, seed=0)
    with pytest.raises(ConfigError, match="not an environment"):
        VectorEnv("NoSuchEnv-v0", 1, seed=0)
