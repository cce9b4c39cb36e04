"""DQN: targets, schedules, checkpoints with the replay buffer, resume after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tests.helpers import REPO, read_metrics, tiny_cartpole_run
from workbench import registry
from workbench.agents.dqn.agent import DQN, linear_epsilon, td_target
from workbench.commands.cli import main
from workbench.config import build_config
from workbench.errors import ConfigError
from workbench.logger import Logger
from workbench.plugin import Context
from workbench.runtime import resolve_precision


def make_agent(tmp_path, name: str, **overrides) -> DQN:
    spec, preset = registry.resolve(name)
    layers = [dict(preset.overrides)] if preset else []
    cfg = build_config(registry.load_config_class(spec), *layers, {"torch_threads": 1, **overrides})
    device = torch.device("cpu")
    ctx = Context(device=device, precision=resolve_precision(cfg.precision, device),
                  logger=Logger(tmp_path, wandb_mode="disabled", metrics=False),
                  run_dir=tmp_path, seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    return DQN(cfg, ctx)


def test_double_dqn_target_lets_the_online_net_pick_and_the_target_net_evaluate():
    returns = torch.tensor([1.0, 0.5])
    discounts = torch.tensor([0.9, 0.0])
    online = torch.tensor([[1.0, 5.0, 2.0], [0.0, 1.0, 9.0]])
    target = torch.tensor([[3.0, 2.0, 7.0], [4.0, 4.0, 4.0]])
    # Double: online argmax is action 1 -> target's value 2.0; second row is terminal
    np.testing.assert_allclose(td_target(returns, discounts, online, target), [1 + 0.9 * 2.0, 0.5])
    # plain DQN: the target net's own max, 7.0
    np.testing.assert_allclose(td_target(returns, discounts, None, target), [1 + 0.9 * 7.0, 0.5])


def test_epsilon_falls_linearly_then_stays_at_its_floor():
    assert linear_epsilon(0, 1.0, 0.01, 100) == 1.0
    assert linear_epsilon(50, 1.0, 0.01, 100) == pytest.approx(0.505)
    assert linear_epsilon(100, 1.0, 0.01, 100) == 0.01
    assert linear_epsilon(10**9, 1.0, 0.01, 100) == 0.01
    assert linear_epsilon(5, 1.0, 0.05, 0) == 0.05


def test_the_learning_rate_falls_linearly_to_end_lr_only_when_asked(tmp_path):
    agent = make_agent(tmp_path, "dqn-cartpole", **{"env.num_envs": 4, "learning_starts": 0,
                                                    "batch_size": 8, "lr": 1e-3, "end_lr": 1e-4,
                                                    "lr_decay_steps": 400})
    step, seen = 0, {}
    while step < 600:
        metrics = agent.train_step(step)
        if "train/lr" in metrics:
            seen[step] = metrics["train/lr"]
            assert agent.opt.param_groups[0]["lr"] == metrics["train/lr"]
        step += agent.steps_per_call
    assert agent.updates > 100 and len(seen) > 100
    assert seen[200] == pytest.approx(5.5e-4) and seen[100] == pytest.approx(7.75e-4)
    assert all(seen[s] == pytest.approx(1e-4) for s in seen if s >= 400)
    lrs = [seen[s] for s in sorted(seen)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    agent.close()

    # without lr_decay_steps the rate stays where it was set, and no lr is logged
    constant = make_agent(tmp_path, "dqn-cartpole", **{"env.num_envs": 4, "learning_starts": 0,
                                                       "batch_size": 8, "lr": 1e-3})
    for step in range(0, 400, 4):
        assert "train/lr" not in constant.train_step(step)
    assert constant.updates > 50 and constant.opt.param_groups[0]["lr"] == 1e-3
    constant.close()


def test_end_lr_without_lr_decay_steps_is_refused_with_what_it_needs():
    spec, preset = registry.resolve("dqn-pong")
    with pytest.raises(ConfigError, match=r"end_lr \(0.0001\) needs lr_decay_steps"):
        build_config(registry.load_config_class(spec), dict(preset.overrides), {"end_lr": 1e-4})
    # with it, both are taken; end_lr may be left out (the rate then falls to 0, as PPO's anneal)
    cfg = build_config(registry.load_config_class(spec), dict(preset.overrides),
                       {"lr_decay_steps": 500_000})
    assert cfg.end_lr is None and cfg.lr_decay_steps == 500_000


def test_prioritized_replay_weighs_the_loss_and_moves_priorities_to_td_errors(tmp_path):
    agent = make_agent(tmp_path, "dqn-cartpole", **{"env.num_envs": 4, "learning_starts": 0,
                                                    "batch_size": 8, "prioritized_replay": True,
                                                    "priority_alpha": 0.6, "priority_beta": 0.4,
                                                    "total_steps": 1_000})
    assert agent.priority_beta(0) == 0.4 and agent.priority_beta(500) == pytest.approx(0.7)
    assert agent.priority_beta(1_000) == 1.0
    step = 0
    while step < 400:
        agent.train_step(step)
        step += agent.steps_per_call
    assert agent.updates > 50
    leaves = agent.buffer.tree.leaves
    seen = leaves[(leaves > 0) & (leaves != 1.0)]
    assert len(seen) > 50, "sampled transitions should carry their TD error's priority"
    assert agent.buffer.max_priority >= seen.max()

    # the loss is each transition's TD loss times its importance weight
    batch = agent.buffer.sample(8, beta=1.0)
    args = [agent._to_device(batch[k]) for k in ("obs", "actions", "returns", "discounts", "next_obs")]
    plain, _, td = agent._loss(*args)
    ones, _, _ = agent._loss(*args, torch.ones(8))
    doubled, _, _ = agent._loss(*args, torch.full((8,), 2.0))
    torch.testing.assert_close(ones, plain)
    torch.testing.assert_close(doubled, 2 * plain)
    w = torch.zeros(8)
    w[3] = 1.0  # one transition alone: its Huber loss on |td|, over the batch
    alone, _, _ = agent._loss(*args, w)
    d = td[3]
    torch.testing.assert_close(alone, torch.where(d < 1, 0.5 * d**2, d - 0.5) / 8)
    agent.close()


def test_priority_settings_out_of_range_are_refused():
    spec, preset = registry.resolve("dqn-pong")
    for key, value in (("priority_alpha", 1.5), ("priority_beta", -0.1)):
        with pytest.raises(ConfigError, match=key):
            build_config(registry.load_config_class(spec), dict(preset.overrides),
                         {"prioritized_replay": True, key: value})


def test_updates_follow_train_frequency_in_env_steps_whatever_num_envs(tmp_path):
    # 6 envs, train_frequency 4: 1.5 updates per call on average, carried as fractional credit
    agent = make_agent(tmp_path, "dqn-cartpole", **{"env.num_envs": 6, "learning_starts": 0,
                                                    "train_frequency": 4, "batch_size": 8})
    step = 0
    for _ in range(40):
        agent.train_step(step)
        step += agent.steps_per_call
    first_update_call = 1  # the buffer needs stack + n_step slots before it can sample
    assert agent.updates == pytest.approx((step - 6 * (first_update_call + 3)) / 4, abs=1.5)
    agent.close()


def test_agent_checkpoint_round_trip_keeps_nets_optimizer_replay_and_rngs(tmp_path):
    agent = make_agent(tmp_path, "dqn", **{"env.num_envs": 2, "buffer_size": 400,
                                           "learning_starts": 64, "batch_size": 8,
                                           "env.noop_max": 0})
    assert agent.checkpoint_replay, "replay checkpoints are on by default for Atari"
    step = 0
    for _ in range(60):
        agent.train_step(step)
        step += 2
    assert agent.updates > 0
    torch.save(agent.state_dict(), tmp_path / "ckpt.pt")
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    other = make_agent(tmp_path, "dqn", **{"env.num_envs": 2, "buffer_size": 400,
                                           "learning_starts": 64, "batch_size": 8,
                                           "env.noop_max": 0, "seed": 7})
    other.load_state_dict(state)
    for a, b in zip(agent.q.state_dict().values(), other.q.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(agent.q_target.state_dict().values(), other.q_target.state_dict().values()):
        assert torch.equal(a, b)
    assert other.updates == agent.updates and other.update_credit == agent.update_credit
    assert other.opt.state_dict()["state"][0]["step"] == agent.opt.state_dict()["state"][0]["step"]
    t = agent.buffer.t
    np.testing.assert_array_equal(other.buffer.frames[: t - 1], agent.buffer.frames[: t - 1])
    np.testing.assert_array_equal(other.buffer.rewards[: t - 1], agent.buffer.rewards[: t - 1])
    assert other.buffer.t == t
    # the restarted games are cut from the stored ones: the last slot is never a start
    assert other.buffer.dead[t - 1] .all()
    assert other.rng.random() == agent.rng.random()
    agent.close()
    other.close()


@pytest.mark.slow
def test_resume_after_kill_continues_step_counters_and_epsilon_schedule(tmp_path, runs_root):
    args = ["run", "dqn-cartpole", "--name", "killed", "total_steps=200000",
            "checkpoint_every=600", "log_every=200", "eval_every=0", "learning_starts=200",
            "exploration_steps=20000", "torch_threads=1", "--wandb", "disabled"]
    proc = subprocess.Popen([sys.executable, "-m", "workbench", *args], cwd=REPO,
                            env=os.environ.copy(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    run_dir = runs_root / "dqn-cartpole" / "killed"
    ckpt = run_dir / "checkpoints" / "latest.pt"
    try:
        deadline = time.time() + 90
        while not ckpt.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert ckpt.exists(), "no checkpoint within 90 s"
        time.sleep(1.0)  # let it log a little past the checkpoint
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    saved_step = torch.load(ckpt, weights_only=True)["step"]
    assert saved_step >= 600
    assert main(["resume", str(run_dir), f"total_steps={saved_step + 400}", "--wandb",
                 "disabled"]) == 0
    records = [r for r in read_metrics(run_dir) if "train/epsilon" in r]
    steps = [r["step"] for r in records]
    assert steps == sorted(steps) and len(steps) == len(set(steps)), steps
    assert steps[-1] == saved_step + 400
    after = [r for r in records if r["step"] > saved_step]
    assert after, "the resumed run logged nothing"
    # the schedule continues where it was: epsilon logged after the resume is the one at that
    # step (averaged over the log window), not the 1.0 of a fresh start
    for r in after:
        expected = linear_epsilon(r["step"] - 100, 1.0, 0.05, 20_000)
        assert r["train/epsilon"] == pytest.approx(expected, abs=0.02)
    final = torch.load(ckpt, weights_only=True)
    assert final["step"] == saved_step + 400
    assert final["state"]["updates"] > 0


def test_the_eval_video_plays_the_game_in_real_time(tmp_path):
    from PIL import Image

    agent = make_agent(tmp_path, "dqn-pong", **{"buffer_size": 1_000, "env.num_envs": 1,
                                                "env.noop_max": 0, "env.max_episode_frames": 600})
    try:
        agent.play_evaluation(0, episodes=1, video=True)
    finally:
        agent.close()
    (gif,) = (tmp_path / "media").glob("eval_video_*.gif")
    video = Image.open(gif)
    total_ms = 0
    for i in range(video.n_frames):
        video.seek(i)
        total_ms += video.info["duration"]
    # the game was cut at 600 emulator frames, 10 s of a 60 Hz console: the GIF lasts as long
    assert total_ms == pytest.approx(10_000, abs=100)


def test_eval_video_of_a_cartpole_run_films_a_game_where_it_was_asked(tmp_path, capsys):
    """The rollout films every env that renders rgb_array: `eval --video --out` of a CartPole
    run writes one GIF there and says where (it used to play and write nothing); an --out that
    is a file is refused before anything plays."""
    run = tiny_cartpole_run(tmp_path / "runs")
    media = sorted((run / "media").rglob("*"))
    out = tmp_path / "videos"
    assert main(["eval", str(run), "--episodes", "1", "--seed", "2", "--video", "--out",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    (gif,) = out.glob("*.gif")
    assert f"video: {gif}" in printed and "over 1 games at epsilon" in printed
    assert sorted((run / "media").rglob("*")) == media  # nothing written into the run
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["eval", str(run), "--episodes", "1", "--video", "--out", str(a_file)]) == 2
    assert "--out names" in capsys.readouterr().err


def test_how_often_a_run_evaluates_does_not_change_what_it_learns(tmp_path):
    """Evaluation plays on its own envs with its own RNG, so the evaluation cadence is a pure
    wall-time lever: the training curve at a cadence of 300 and of 900 steps is the same,
    loss for loss (docs/dqn.md counts the time a sparser cadence saves on Pong from this)."""
    from workbench.engine.loop import Launch, start

    curves = []
    for every in (300, 900):
        code, run = start("dqn-cartpole", {"total_steps": 1800, "learning_starts": 300,
                                           "batch_size": 32, "eval_every": every, "eval_episodes": 2,
                                           "final_eval_episodes": 2, "eval_video": False,
                                           "log_every": 150, "checkpoint_every": 0},
                          run_name=f"every{every}", root=tmp_path / "runs",
                          launch=Launch(wandb_mode="disabled", progress=False))
        assert code == 0
        records = read_metrics(run.path)
        curves.append({r["step"]: (r["train/loss"], r["train/q_mean"]) for r in records
                       if "train/loss" in r})
        evals = {r["step"] for r in records if "eval/return" in r}
        assert evals == {*range(every, 1801, every), 1800}  # the cadence, then the final one
    assert len(curves[0]) >= 8
    assert curves[0] == curves[1]
