"""The Atari replay buffer: frames stored once, stacks and n-step targets rebuilt exactly."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from workbench.agents.dqn.replay import ReplayBuffer, SumTree
from workbench.envs.vector import VectorEnv


def _fill_from_env(env_id: str, steps: int, capacity: int, n_step: int, gamma: float,
                   life_loss_terminal: bool = False, seed: int = 3):
    """Play random actions, feeding the buffer exactly as the agent does, and keep every
    observation the env returned (the naive stacks) for comparison."""
    env = VectorEnv(env_id, 2, seed, num_threads=1, life_loss_terminal=life_loss_terminal)
    buf = ReplayBuffer(capacity, 2, env.obs_shape[1:], stack=env.obs_shape[0], n_step=n_step,
                       gamma=gamma, seed=seed)
    rng = np.random.default_rng(seed)
    obs, first = env.reset(), np.ones(2, bool)
    log = {"obs": [], "reward": [], "terminal": [], "truncated": [], "dead": []}
    for _ in range(steps):
        actions = rng.integers(0, env.num_actions, 2)
        nxt, reward, terminated, truncated, reset_step = env.step(actions)
        buf.add(obs[:, -1], actions, reward, first, terminated, truncated, reset_step)
        for k, v in zip(log, (obs, reward, terminated, truncated, reset_step)):
            log[k].append(v.copy())
        obs, first = nxt, reset_step
    log["obs"].append(obs.copy())
    env.close()
    return buf, {k: np.stack(v) for k, v in log.items()}


def _naive_nstep(log, t: int, e: int, n: int, gamma: float):
    ret = 0.0
    for i in range(n):
        ret += gamma**i * log["reward"][t + i, e]
        if log["terminal"][t + i, e]:
            return ret, 0.0, t + i + 1
        if log["truncated"][t + i, e]:
            return ret, gamma ** (i + 1), t + i + 1
    return ret, gamma**n, t + n


@pytest.fixture(scope="module")
def pong_buffer():
    # random Pong games last ~800 steps: 2,000 steps cross several episode boundaries, and a
    # 1,500-slot-per-env capacity makes the ring wrap around as well
    return _fill_from_env("ALE/Pong-v5", 2_000, capacity=3_000, n_step=3, gamma=0.9)


def test_frame_stacks_match_the_envs_own_stacks_across_episode_boundaries(pong_buffer):
    buf, log = pong_buffer
    assert log["dead"].sum() >= 2, "the run should cross episode boundaries"
    low, high = buf._valid_range()
    assert low > 0, "the ring should have wrapped"
    # every start time near each boundary, plus a random sample elsewhere
    boundary_t = np.flatnonzero(log["dead"].any(1))
    times = np.unique(np.clip(np.concatenate([boundary_t[:, None] + np.arange(-5, 6)]).ravel(),
                              low, high + buf.n_step))
    times = np.concatenate([times, np.random.default_rng(0).integers(low, high, 200)])
    for e in range(2):
        got = buf.stacks(times, np.full(len(times), e))
        np.testing.assert_array_equal(got, log["obs"][times, e])


def test_channels_last_stacks_are_the_envs_stacks_transposed_across_episode_starts(pong_buffer):
    buf, log = pong_buffer
    starts = np.flatnonzero(log["dead"].any(1))
    low, high = buf._valid_range()
    times = np.unique(np.clip((starts[:, None] + np.arange(-4, 5)).ravel(), low, high))
    for e in range(2):
        env = np.full(len(times), e)
        nhwc = buf.stacks(times, env, channels_last=True)
        assert nhwc.shape == (len(times), 84, 84, 4)
        np.testing.assert_array_equal(nhwc, log["obs"][times, e].transpose(0, 2, 3, 1))
        # some of these stacks begin an episode: their older frames are the zeros of a reset
        assert (nhwc[..., 0].reshape(len(times), -1).max(1) == 0).any()


def test_a_channels_last_sample_is_the_same_batch_transposed(pong_buffer):
    buf, _ = pong_buffer
    twin = copy.deepcopy(buf)  # the same RNG state: the same transitions
    a, b = buf.sample(64), twin.sample(64, channels_last=True)
    for key in ("obs", "next_obs"):
        np.testing.assert_array_equal(b[key], a[key].transpose(0, 2, 3, 1))
    for key in ("actions", "returns", "discounts"):
        np.testing.assert_array_equal(b[key], a[key])


def test_sampled_nstep_transitions_match_a_hand_walk_through_the_episode(pong_buffer):
    buf, log = pong_buffer
    t, env = buf.sample_indices(512)
    assert not buf.dead[t % buf.slots, env].any(), "autoreset steps are never sampled"
    returns, discounts, t_next = buf.nstep(t, env)
    for i in range(len(t)):
        ret, disc, nxt = _naive_nstep(log, t[i], env[i], buf.n_step, buf.gamma)
        assert returns[i] == pytest.approx(ret, abs=1e-5)
        assert discounts[i] == pytest.approx(disc, abs=1e-6)
        assert t_next[i] == nxt
    np.testing.assert_array_equal(buf.stacks(t_next, env), log["obs"][t_next, env])


def test_nstep_return_against_a_hand_computed_example():
    buf = ReplayBuffer(100, 1, (1,), np.float32, stack=1, n_step=3, gamma=0.5)
    # rewards 1, 2, 4, 8 then a terminal after the 5th step (reward 16), then a new episode
    rewards = [1, 2, 4, 8, 16, 0, 32, 64, 128, 0]
    terminal = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    dead = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    first = [1, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    for i in range(10):
        buf.add(np.array([[float(i)]]), np.array([0]), np.array([rewards[i]], np.float32),
                np.array([first[i]], bool), np.array([terminal[i]], bool),
                np.array([False]), np.array([dead[i]], bool))
    t = np.array([0, 2, 3, 4, 6])
    returns, discounts, t_next = buf.nstep(t, np.zeros(5, int))
    # t=0: 1 + .5*2 + .25*4 = 3, bootstrap .125 from t=3; t=2: 4 + .5*8 + .25*16 = 12, terminal
    # t=3: 8 + .5*16 = 16, terminal at t=4; t=4: 16, terminal; t=6: 32 + 32 + 32 = 96
    np.testing.assert_allclose(returns, [3, 12, 16, 16, 96])
    np.testing.assert_allclose(discounts, [0.125, 0, 0, 0, 0.125])
    np.testing.assert_array_equal(t_next, [3, 5, 5, 5, 9])


def test_life_loss_cuts_the_bootstrap_but_not_the_frame_stack():
    buf, log = _fill_from_env("ALE/Breakout-v5", 600, capacity=2_000, n_step=1, gamma=0.99,
                              life_loss_terminal=True)
    life_losses = log["terminal"] & ~np.roll(log["dead"], -1, axis=0)
    assert life_losses.any()
    t, e = np.nonzero(life_losses[:-2])
    _, discounts, t_next = buf.nstep(t, e)
    assert (discounts == 0).all()
    # the game goes on: the next stack still holds frames from before the life was lost
    np.testing.assert_array_equal(buf.stacks(t_next, e), log["obs"][t_next, e])
    assert not buf.first[t_next % buf.slots, e].any()


def test_buffer_state_dict_round_trip_is_exact_and_loadable_weights_only(tmp_path, pong_buffer):
    buf, _ = pong_buffer
    path = tmp_path / "replay.pt"
    torch.save(buf.state_dict(), path)
    state = torch.load(path, weights_only=True)
    copy = ReplayBuffer(3_000, 2, (84, 84), stack=4, n_step=3, gamma=0.9, seed=99)
    copy.load_state_dict(state)
    for k in ReplayBuffer._ARRAYS:
        np.testing.assert_array_equal(getattr(copy, k), getattr(buf, k))
    a, b = buf.sample(64), copy.sample(64)  # same RNG state: the same batch
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_a_million_pong_transitions_fit_in_under_8_gb():
    buf = ReplayBuffer(1_000_000, 8, (84, 84), stack=4, n_step=3)
    total = sum(getattr(buf, k).nbytes for k in ReplayBuffer._ARRAYS)
    assert total < 8e9


# ---------------------------------------------------------------- prioritized replay


def test_the_sum_tree_keeps_every_sum_and_finds_the_leaf_holding_each_prefix():
    rng = np.random.default_rng(0)
    tree = SumTree(1_000)  # not a power of two: the padding leaves stay empty
    values = np.zeros(1_000)
    for _ in range(50):  # batches with repeated leaves: the last value of a leaf wins
        idx = rng.integers(0, 1_000, 64)
        idx[-1] = idx[0]
        val = rng.random(64) * (rng.random(64) > 0.3)
        tree.set(idx, val)
        for i, v in zip(idx, val):
            values[i] = v
    np.testing.assert_array_equal(tree.leaves, values)
    assert tree.total == pytest.approx(values.sum(), rel=1e-12)
    # every inner node is the sum of its children, and a rebuild from the leaves is bitwise the same
    inner = tree.tree[1:tree.size]
    np.testing.assert_array_equal(inner, tree.tree[2:2 * tree.size:2] + tree.tree[3:2 * tree.size:2])
    rebuilt = SumTree(1_000)
    rebuilt.leaves[:] = values
    rebuilt.rebuild()
    np.testing.assert_array_equal(rebuilt.tree, tree.tree)
    # find: the leaf whose span of the running sum holds the mass; an empty leaf is never found
    mass = rng.random(10_000) * tree.total
    found = tree.find(mass)
    edges = np.cumsum(values)
    np.testing.assert_array_equal(found, np.searchsorted(edges, mass, side="right"))
    assert (values[found] > 0).all()
    assert values[tree.find(np.array([np.nextafter(tree.total, 0)]))][0] > 0


def _prioritized(capacity=40, num_envs=2, n_step=3, stack=4, steps=30, dead_at=(12,)):
    buf = ReplayBuffer(capacity, num_envs, (1,), np.float32, stack=stack, n_step=n_step,
                       gamma=0.9, seed=0, prioritized=True, alpha=0.5)
    for i in range(steps):
        dead = np.zeros(num_envs, bool)
        if i in dead_at:
            dead[0] = True
        buf.add(np.full((num_envs, 1), float(i)), np.zeros(num_envs, np.int64),
                np.ones(num_envs, np.float32), dead, np.zeros(num_envs, bool),
                np.zeros(num_envs, bool), dead)
    return buf


def _samplable(buf) -> set[tuple[int, int]]:
    low, high = buf._valid_range()
    return {(t, e) for t in range(low, high + 1) for e in range(buf.num_envs)
            if not buf.dead[t % buf.slots, e]}


@pytest.mark.parametrize("steps", [5, 8, 19, 20, 21, 33, 57])  # before, at and after the wrap
def test_the_prioritized_buffer_weighs_exactly_the_transitions_uniform_sampling_could_draw(steps):
    buf = _prioritized(steps=steps, dead_at=(3, 12, 25, 44))
    nonzero = {(int(t), int(e)) for t, e in zip(*np.nonzero(buf.tree.leaves.reshape(buf.slots, 2)))}
    expect = {(t % buf.slots, e) for t, e in _samplable(buf)}
    assert nonzero == expect
    if expect:
        t, env, leaf = buf.sample_prioritized(256)
        assert {(int(a), int(b)) for a, b in zip(t, env)} <= _samplable(buf)
        # the leaf ids and the (time, env) pairs name the same transitions
        np.testing.assert_array_equal(leaf, (t % buf.slots) * buf.num_envs + env)


def test_prioritized_sampling_follows_priority_and_weights_undo_it():
    buf = _prioritized(steps=30)
    low, high = buf._valid_range()
    t_hi, t_lo = np.array([low + 2]), np.array([low + 5])
    leaf_hi = (t_hi % buf.slots) * buf.num_envs  # env 0
    leaf_lo = (t_lo % buf.slots) * buf.num_envs
    # TD errors 8.999999 and 0.999999: priorities 3 and 1 (alpha 0.5, eps 1e-6)
    buf.update_priorities(leaf_hi, np.array([9.0 - 1e-6]))
    buf.update_priorities(leaf_lo, np.array([1.0 - 1e-6]))
    assert buf.max_priority == pytest.approx(3.0)
    others = len(_samplable(buf)) - 2  # still at the first max priority, 1
    counts = np.zeros(buf.slots * buf.num_envs)
    for _ in range(400):
        _, _, leaf = buf.sample_prioritized(32)
        np.add.at(counts, leaf, 1)
    share = counts / counts.sum()
    total = 3.0 + 1.0 + others
    assert share[leaf_hi[0]] == pytest.approx(3.0 / total, rel=0.1)
    assert share[leaf_lo[0]] == pytest.approx(1.0 / total, rel=0.15)
    # importance weights: (P / P_min) ** -beta, the batch's largest 1
    w = buf.importance_weights(np.concatenate([leaf_hi, leaf_lo]), beta=0.5)
    np.testing.assert_allclose(w, [3.0 ** -0.5, 1.0], rtol=1e-6)
    # a new transition enters at the largest priority seen
    buf.add(np.full((2, 1), 99.0), np.zeros(2, np.int64), np.ones(2, np.float32),
            np.zeros(2, bool), np.zeros(2, bool), np.zeros(2, bool), np.zeros(2, bool))
    newest = buf._valid_range()[1]
    assert buf.tree.leaves[(newest % buf.slots) * 2] == pytest.approx(3.0)
    # a batch sample carries the ids and the weights
    batch = buf.sample(16, beta=1.0)
    assert batch["weights"].max() == 1.0 and len(batch["leaves"]) == 16


def test_a_prioritized_buffer_state_round_trip_keeps_priorities_and_draws(tmp_path):
    buf = _prioritized(steps=57, dead_at=(3, 44))
    buf.update_priorities(np.array([8, 9, 30]), np.array([4.0, 0.25, 16.0]))
    path = tmp_path / "replay.pt"
    torch.save(buf.state_dict(), path)
    twin = _prioritized(steps=0)
    twin.load_state_dict(torch.load(path, weights_only=True))
    np.testing.assert_array_equal(twin.tree.tree, buf.tree.tree)
    assert twin.max_priority == buf.max_priority
    for a, b in zip(buf.sample_prioritized(32), twin.sample_prioritized(32)):
        np.testing.assert_array_equal(a, b)
    # a checkpoint of a uniform buffer loads into a prioritized one at one priority each
    uniform = ReplayBuffer(40, 2, (1,), np.float32, stack=4, n_step=3, gamma=0.9)
    for k in ReplayBuffer._ARRAYS:
        getattr(uniform, k)[:] = getattr(buf, k)
    uniform.t = buf.t
    third = _prioritized(steps=0)
    third.load_state_dict(uniform.state_dict())
    nonzero = {(int(t), int(e)) for t, e in zip(*np.nonzero(third.tree.leaves.reshape(third.slots, 2)))}
    assert nonzero == {(t % third.slots, e) for t, e in _samplable(third)}
    assert set(third.tree.leaves[third.tree.leaves > 0]) == {1.0}
