"""The speed benchmarks and their anchors: argument checks, the anchors' semantics, and a
few-step run of each script (benchmarks are not tests; this only keeps them runnable)."""

from __future__ import annotations

import math
import sys

import gymnasium as gym
import numpy as np
import pytest

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import anchor_cleanrl_dqn as cleanrl  # noqa: E402
import anchor_cleanrl_ppo as cleanrl_ppo  # noqa: E402
import anchor_nanogpt as nanogpt  # noqa: E402
import dqn_throughput  # noqa: E402
import dqn_update_variants  # noqa: E402
import env_resize  # noqa: E402
import gpt_speed  # noqa: E402
import ppo_throughput  # noqa: E402
from ab import parse_threads  # noqa: E402


class Frames(gym.Env):
    """A fake game: frame i is filled with the value i, reward i, a life lost at step 5."""

    observation_space = gym.spaces.Box(0, 255, (2, 2), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.i = 0

    def reset(self, **kwargs):
        self.i = 0
        return np.zeros((2, 2), np.uint8), {}

    def step(self, action):
        self.i += 1
        frame = np.full((2, 2), (7 * self.i) % 11, np.uint8)
        return frame, float(self.i), False, False, {}


def test_max_and_skip_repeats_the_action_and_max_pools_the_last_two_frames():
    env = cleanrl.MaxAndSkip(Frames(), skip=4)
    env.reset()
    obs, reward, *_ = env.step(0)
    # frames 1..4 hold 7, 3, 10, 6: the max of the last two is 10; rewards 1+2+3+4
    assert obs.max() == obs.min() == 10 and reward == 10.0


def test_reward_clipping_keeps_only_the_sign():
    env = cleanrl.ClipReward(Frames())
    env.reset()
    assert env.step(0)[1] == 1.0
    assert env.reward(-3.5) == -1.0 and env.reward(0.0) == 0.0


def test_cleanrl_epsilon_schedule_is_linear_over_its_fraction_then_flat():
    assert cleanrl.linear_schedule(1.0, 0.01, 100, 0) == 1.0
    assert cleanrl.linear_schedule(1.0, 0.01, 100, 50) == pytest.approx(0.505)
    assert cleanrl.linear_schedule(1.0, 0.01, 100, 10_000) == 0.01


def test_the_cleanrl_anchor_plays_stores_and_learns_from_pong():
    worker = cleanrl.CleanRLDQN(total_timesteps=200, learning_starts=40, buffer_size=128,
                                chunk_steps=16)
    try:
        assert worker.obs.shape == (1, 4, 84, 84) and worker.obs.dtype == np.uint8
        worker.prepare()
        assert not worker.optimizer.state  # random play only, so far
        result = worker.chunk()
        assert result["sps"] > 0 and result["cpu_sps"] > 0
        assert worker.optimizer.state  # updates happened after learning_starts
        assert worker.rb.pos == worker.global_step == 41 + 16
        obs, actions, next_obs, dones, rewards = worker.rb.sample(8)
        assert obs.shape == next_obs.shape == (8, 4, 84, 84) and actions.shape == (8, 1)
        assert str(obs.dtype) == "torch.uint8"  # frames stay uint8 until the network scales them
        assert set(rewards.flatten().tolist()) <= {-1.0, 0.0, 1.0} and dones.shape == (8, 1)
    finally:
        worker.close()


def test_nanogpt_anchor_schedule_is_warmup_then_cosine_to_min_lr():
    worker = nanogpt.NanoGPT.__new__(nanogpt.NanoGPT)  # the schedule needs only the config
    worker.c = dict(nanogpt.CPU_CONFIG)
    assert worker.get_lr(0) == pytest.approx(1e-3 / 101)
    mid = 100 + (2000 - 100) // 2
    assert worker.get_lr(mid) == pytest.approx(1e-4 + 0.5 * (1 + math.cos(math.pi * 0.5)) * 9e-4)
    assert worker.get_lr(2000) == pytest.approx(1e-4) and worker.get_lr(5000) == 1e-4


def test_the_nanogpt_anchor_trains_and_scores_fixed_blocks():
    worker = nanogpt.NanoGPT(chunk_iters=2, evals=True,
                             overrides={"n_layer": 1, "n_embd": 32, "n_head": 2, "eval_iters": 1})
    try:
        chars = worker.prepare()["chars"]
        blocks = gpt_speed.val_blocks(chars, n=24)
        before = worker.loss_on(blocks)
        assert before == pytest.approx(math.log(len(chars)), rel=0.1)  # untrained: ~uniform
        result = worker.chunk()
        assert result["iter"] == 2 and result["tokens_per_s"] > 0
        assert worker.best_val_loss < 1e9  # its evaluation at iteration 0 ran
    finally:
        worker.close()


def test_benchmark_arguments_are_checked():
    assert parse_threads("1,2") == [1, 2]
    for bad in ("0", "a", ""):
        with pytest.raises(SystemExit, match="--threads"):
            parse_threads(bad)
    with pytest.raises(SystemExit, match="key=value"):
        dqn_throughput.parse_overrides(["precision"])
    with pytest.raises(SystemExit, match="unknown variants"):
        dqn_update_variants.main(["--variants", "today,warp-drive"])
    with pytest.raises(SystemExit, match="key=value"):
        gpt_speed.main(["--ours", "lr"])
    with pytest.raises(SystemExit, match="--screen-size"):
        env_resize.main(["--screen-size", "210"])


def test_env_resize_times_both_sides_on_frames_of_the_same_shape(capsys):
    worker = env_resize.EnvWorker(resize="max", screen_size=56, num_envs=2, env_threads=1, steps=4)
    try:
        assert worker.prepare() == {"obs": [4, 56, 56]}
        assert worker.chunk()["vector steps/s"] > 0
    finally:
        worker.close()
    env_resize.main(["--quick", "--threads", "1"])
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert row.startswith("| 1 |") and row.count("|") == 6


@pytest.mark.slow
def test_dqn_throughput_runs_both_sides_in_a_few_steps(capsys):
    dqn_throughput.main(["--threads", "1", "--repeats", "1", "--steps", "16",
                         "--learning-starts", "64", "--buffer-size", "256"])
    out = capsys.readouterr().out
    assert "| 1 | cleanrl |" in out
    assert "| 1 | ours (fp32) |" in out or "| 1 | ours (bf16) |" in out  # with the precision it ran


def test_the_cleanrl_ppo_anchor_collects_a_rollout_and_learns_from_it():
    worker = cleanrl_ppo.CleanRLPPO("cartpole", iterations=1)
    try:
        before = [p.detach().clone() for p in worker.agent.parameters()]
        result = worker.chunk()
        assert worker.global_step == 4 * 128 and result["sps"] > 0
        assert worker.episode_returns, "random CartPole episodes end within 128 steps"
        assert any(not (a == b).all() for a, b in zip(before, worker.agent.parameters()))
        # the learning rate was annealed from its first iteration on
        assert worker.optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-4)
        assert worker.iteration == 2
    finally:
        worker.close()


@pytest.mark.slow
def test_ppo_throughput_runs_both_sides_in_a_few_steps(capsys):
    ppo_throughput.main(["--quick"])
    out = capsys.readouterr().out
    assert "| cartpole | 1 |" in out and "ours (fp32)" in out


@pytest.mark.slow
def test_dqn_update_variants_quick_run(capsys):
    dqn_update_variants.main(["--quick"])
    out = capsys.readouterr().out
    assert "| today |" in out and "| - folded 1/255 |" in out


@pytest.mark.slow
def test_gpt_speed_quick_run(capsys):
    gpt_speed.main(["--quick"])
    out = capsys.readouterr().out
    assert "nanoGPT anchor tokens/s" in out and "time ratio" in out
