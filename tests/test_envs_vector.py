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


def _max_shrink_by_loops(frame: np.ndarray, side: int) -> np.ndarray:
    """The reference: each cell's brightest pixel, cells the floor(i * H / side) bands."""
    rows = [(i * frame.shape[0]) // side for i in range(side + 1)]
    cols = [(j * frame.shape[1]) // side for j in range(side + 1)]
    return np.array([[frame[rows[i]:rows[i + 1], cols[j]:cols[j + 1]].max() for j in range(side)]
                     for i in range(side)], np.uint8)


def _keep_raw(env: VectorEnv) -> dict:
    """Wraps ale-py's recv so that a test sees the full-size stacks it returned."""
    raw: dict = {}
    recv = env.env.recv

    def keeping():
        raw["last"] = recv()
        return raw["last"]

    env.env.recv = keeping
    return raw


def test_max_resize_equals_shrinking_every_frame_of_every_stack_across_autoresets():
    # env.resize=max resizes only the newest frame on an ordinary step; a stack ale-py rebuilt
    # (reset, autoreset) is resized whole. Short games force autoresets within the walk.
    env = VectorEnv("ALE/Pong-v5", 3, seed=0, num_threads=1, screen_size=56, resize="max",
                    max_episode_frames=300)
    raw = _keep_raw(env)
    obs = env.reset()
    assert obs.shape == (3, 4, 56, 56) and env.obs_shape == (4, 56, 56) and obs.dtype == np.uint8
    rng = np.random.default_rng(0)
    resets = 0
    for t in range(260):
        obs, *_, reset_step = env.step(rng.integers(0, 6, 3))
        full = raw["last"][0]
        assert full.shape == (3, 4, 210, 160)
        resets += int(reset_step.sum())
        if t % 37 == 0 or reset_step.any():  # the loop reference is slow: spot checks
            for e in range(3):
                for k in range(4):
                    np.testing.assert_array_equal(obs[e, k], _max_shrink_by_loops(full[e, k], 56))
        else:
            np.testing.assert_array_equal(obs, env._max.shrink(full))
    assert resets >= 3
    env.close()


def test_max_resize_keeps_the_games_own_gray_levels_where_area_blends_them():
    # the point of resize=max: Pong's ball and paddles keep their full brightness at 56x56
    area = VectorEnv("ALE/Pong-v5", 1, seed=0, num_threads=1, screen_size=56, noop_max=0)
    peak = VectorEnv("ALE/Pong-v5", 1, seed=0, num_threads=1, screen_size=56, resize="max",
                     noop_max=0)
    raw = _keep_raw(peak)
    for env in (area, peak):
        env.reset()
    for _ in range(60):  # the ball is served and in play
        a, p = (env.step(np.zeros(1, np.int64))[0][0, -1] for env in (area, peak))
    palette = set(np.unique(raw["last"][0][0, -1]).tolist())
    assert len(palette) <= 6 and 236 in palette  # background, paddles, ball and walls
    assert set(np.unique(p).tolist()) <= palette
    # between the walls (rows 10-49 of 56) the brightest thing is the ball: 236 as the game
    # draws it after max, blended toward the background (87) after area
    assert p[10:50].max() == 236 and a[10:50].max() < 200
    assert len(set(np.unique(a).tolist()) - palette) > 5  # area averaging makes new levels
    for env in (area, peak):
        env.close()
