"""`workbench explain` on DQN: integrated gradients of Q(s, a) are complete on a trained CartPole
agent, and on Atari the attribution video covers the whole evaluation game."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from workbench.agents.dqn import pretrained
from workbench.agents.dqn.config import EnvConfig
from workbench.agents.dqn.explain import blurred, play, q_attributions
from workbench.commands.cli import main
from workbench.commands.pretrained import resolve
from workbench.config import from_dict
from workbench.engine.loop import load_for_inference
from workbench.engine.runs import find_runs
from workbench.envs.vector import VectorEnv

pytest.importorskip("captum")  # the `explain` extra; CI installs it with [all]


def _train(root: Path, name: str, overrides: list[str]) -> Path:
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_RUNS", str(root))
    mp.setenv("WANDB_MODE", "disabled")
    try:
        assert main(["run", name, "--name", "explain", "--wandb", "disabled", *overrides]) == 0
    finally:
        mp.undo()
    return next(find_runs(root)).path


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory) -> Path:
    # ~10 s on one thread; eval return ~100-250 (a random policy scores ~20)
    return _train(tmp_path_factory.mktemp("runs"), "dqn-cartpole", [
        "total_steps=3000", "eval_every=3000", "checkpoint_every=3000", "log_every=1000",
        "eval_episodes=2", "torch_threads=1"])


@pytest.mark.slow  # trains a CartPole run; the dqn-cartpole smoke run explains in the fast tier
def test_integrated_gradients_of_q_sum_to_q_minus_the_baselines_q(cartpole_run):
    agent, _, _ = load_for_inference(cartpole_run)
    rec, game, frames = play(agent.policy(0.0, np.random.default_rng(0)), agent.cfg.env, seed=0)
    assert frames is None and len(rec.actions) == game.length == game.ret  # +1 per step
    obs, actions = np.stack(rec.obs), np.asarray(rec.actions)
    with torch.no_grad():
        x = torch.from_numpy(obs).float()
        a = torch.as_tensor(actions)[:, None]
        gap = (agent.q(x).gather(1, a) - agent.q(torch.zeros_like(x)).gather(1, a)).squeeze(1)
    errors = {}
    for steps in (16, 128):
        attr = q_attributions(agent.q, obs, actions, "integrated-gradients", steps, torch.device("cpu"))
        assert attr.shape == obs.shape and torch.isfinite(attr).all()
        errors[steps] = (attr.sum(1) - gap).abs()
    # ReLU kinks make the quadrature converge slowly: measured max error 4% of the mean gap at
    # 128 steps (30% at 16); completeness must hold within 5% and improve with more steps
    assert errors[128].max() < 0.05 * gap.abs().mean(), (errors[128].max(), gap.abs().mean())
    assert errors[128].mean() < errors[16].mean()


@pytest.mark.slow  # trains a CartPole run; the dqn-cartpole smoke run explains in the fast tier
def test_cartpole_explain_charts_each_features_attribution(cartpole_run, capsys):
    assert main(["explain", str(cartpole_run), "--method", "integrated-gradients",
                 "--wandb", "disabled"]) == 0
    out = capsys.readouterr().out
    assert "mean |attribution| per feature: cart position" in out
    charts = list((cartpole_run / "media").glob("explain_integrated-gradients_features_*.png"))
    assert len(charts) == 1 and Image.open(charts[0]).size[0] > 500


@pytest.fixture(scope="module")
def pong_run(tmp_path_factory) -> Path:
    # the smoke run of dqn-pong, its games cut at 400 emulator frames = 100 agent steps
    return _train(tmp_path_factory.mktemp("runs"), "dqn-pong", [
        "total_steps=600", "learning_starts=300", "buffer_size=1000", "env.num_envs=4",
        "batch_size=8", "eval_every=0", "checkpoint_every=600", "log_every=300",
        "env.noop_max=0", "torch_threads=1", "env.max_episode_frames=400"])


def _video_frames(gif: Path) -> int:
    """Frames at 15 fps in a GIF; the writer merges identical frames, adding up their delays."""
    with Image.open(gif) as im:
        assert im.size == (160, 210)  # the RGB frame, not the 84x84 the agent sees
        return round(sum(f.info["duration"] for f in ImageSequence.Iterator(im)) * 15 / 1000)


@pytest.mark.slow
def test_atari_explain_video_has_the_games_length(pong_run, capsys):
    assert main(["explain", str(pong_run), "--n", "4", "--wandb", "disabled"]) == 0
    out = capsys.readouterr().out
    assert "length 100 steps" in out and "explained 100 of its steps" in out
    assert _video_frames(next((pong_run / "media").glob("explain_saliency_game_*.gif"))) == 100
    strip = next((pong_run / "media").glob("explain_saliency_strip_*.png"))
    assert Image.open(strip).size[0] > 4 * 100


@pytest.mark.slow
def test_explain_pretrained_writes_only_where_told(pong_run, tmp_path, capsys):
    weights = tmp_path / "agent.pt"
    pretrained.export_run(pong_run, weights)
    assert main(["explain", "--pretrained", str(weights), "--method", "integrated-gradients",
                 "--steps", "4"]) == 2
    assert "needs --out DIR" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["explain", "--pretrained", str(weights), "--out", str(out), "--n", "2",
                 "--method", "integrated-gradients", "--steps", "4"]) == 0
    assert "length 100 steps" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "integrated-gradients_game.gif", "integrated-gradients_strip.png"]
    assert _video_frames(out / "integrated-gradients_game.gif") == 100


def test_blur_keeps_a_flat_frame_and_spreads_a_point_keeping_its_mass():
    flat = torch.full((1, 4, 84, 84), 87.0)
    assert torch.allclose(blurred(flat), flat, atol=1e-3)
    spike = torch.zeros(1, 1, 84, 84)
    spike[0, 0, 40, 40] = 255.0
    b = blurred(spike, sigma=3.0)
    assert b.shape == spike.shape
    assert b[0, 0, 40, 40] < 0.05 * 255 and abs(float(b.sum()) - 255.0) < 1e-2


def test_shipped_pong_agent_integrated_gradients_are_complete_against_the_blurred_frames():
    # real frames of Pong, the shipped network: attributions sum to Q(s, a) - Q(blur(s), a)
    net, meta = pretrained.load(resolve("dqn-pong")[1])
    env = VectorEnv.from_config(from_dict(EnvConfig, meta["env"]), seed=0, num_envs=1, evaluation=True)
    env.reset()
    rng, obs = np.random.default_rng(0), []
    for _ in range(60):
        o = env.step(rng.integers(0, env.num_actions, 1))[0]
        obs.append(o[0])
    env.close()
    obs = np.stack(obs[-45::15])  # three observations from the middle of a rally
    x = torch.from_numpy(obs).float()
    with torch.no_grad():
        actions = net(x).argmax(1)
        a = actions[:, None]
        gap = (net(x).gather(1, a) - net(blurred(x)).gather(1, a)).squeeze(1)
    attr = q_attributions(net, obs, actions.numpy(), "integrated-gradients", 64,
                          torch.device("cpu"), baseline="blur")
    black = q_attributions(net, obs, actions.numpy(), "integrated-gradients", 64,
                           torch.device("cpu"), baseline="black")
    assert attr.shape == obs.shape and torch.isfinite(attr).all()
    error = (attr.sum((1, 2, 3)) - gap).abs()
    assert error.max() < 0.1 * gap.abs().mean() + 1e-3, (error, gap)
    assert not torch.allclose(attr, black)  # the baseline option reaches Captum
