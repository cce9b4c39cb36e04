"""The workbench's rollout loop for agents: transitions and episode statistics across
auto-resets, evaluation seeds across a resume, and what the trial of a new agent found (the
precision recorded, total_steps not a multiple of a call, the env id in runs and compare)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from helpers import cli
from test_compare import fake_run
from test_plugins import _env, make_package

from workbench.commands.listing import list_runs, table
from workbench.config import build_config
from workbench.logger import Logger
from workbench.plugin import Context
from workbench.rollout.agent import Agent, Transition
from workbench.rollout.config import AgentConfig
from workbench.runtime import resolve_precision
from workbench.studies.comparison import compare


class RandomAgent(Agent[AgentConfig]):
    """Uniform random actions; keeps every transition it is shown."""

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.rollout_length = 300
        self.rng = np.random.default_rng(0)
        self.seen: list[Transition] = []
        self.learned_at: list[int] = []

    def act(self, obs, explore):
        rng = self.rng if explore else self.eval_rng
        return rng.integers(0, self.env.num_actions, len(obs))

    def observe(self, transition):
        self.seen.append(transition)

    def learn(self, step):
        self.learned_at.append(step)
        return {"train/seen": float(len(self.seen))}

    checkpointed = ("rng",)


def make(tmp_path: Path, **overrides) -> RandomAgent:
    cfg = build_config(AgentConfig, {"env.id": "CartPole-v1", "env.num_envs": 3,
                                     "eval_video": False, **overrides})
    device = torch.device("cpu")
    ctx = Context(device=device, precision=resolve_precision("fp32", device),
                  logger=Logger(tmp_path, wandb_mode="disabled", metrics=False),
                  run_dir=tmp_path, seed=cfg.seed)
    return RandomAgent(cfg, ctx)


def test_episode_statistics_span_auto_resets_and_match_the_transitions(tmp_path):
    agent = make(tmp_path)
    assert agent.steps_per_call == 900 and agent.env is agent.ctx.env
    metrics = agent.train_step(0)
    assert agent.learned_at == [0] and len(agent.seen) == 300  # one learn after the rollout
    returns, running = [], np.zeros(3)
    for t in agent.seen:
        assert not (t.reset_step & (t.terminated | t.truncated)).any()
        running += np.where(t.reset_step, 0.0, t.rewards)
        for i in np.flatnonzero(t.terminated | t.truncated):
            returns.append(running[i])
            running[i] = 0
        # the step after an episode's end only resets its env, and the next obs starts anew
    firsts = np.stack([t.first for t in agent.seen[1:]])
    resets = np.stack([t.reset_step for t in agent.seen[:-1]])
    np.testing.assert_array_equal(firsts, resets)
    assert len(returns) > 20  # random CartPole episodes last ~22 steps
    assert metrics["train/episode_return"] == np.mean(returns)
    assert agent.obs is agent.seen[-1].next_obs
    agent.close()


def test_a_resumed_agent_plays_its_next_evaluation_with_the_seed_it_would_have_had(tmp_path):
    live = make(tmp_path)
    first = live.play_evaluation(1_000, episodes=2)
    state = live.state_dict()
    second = live.play_evaluation(2_000, episodes=2)
    resumed = make(tmp_path, seed=0)
    resumed.load_state_dict(state)
    again = resumed.play_evaluation(2_000, episodes=2)
    assert first.seed != second.seed == again.seed
    assert [(g.ret, g.length) for g in second.games] == [(g.ret, g.length) for g in again.games]
    live.close()
    resumed.close()


def test_an_atari_evaluation_films_env_0s_game_while_all_its_games_play():
    """All games at once (10 games: 10 envs) and the video costs no extra game: the RGB twin
    follows env 0, and stays in sync with it (reward by reward) to the game's end."""
    from workbench.envs.config import EnvConfig
    from workbench.rollout import evaluation

    e = EnvConfig(id="ALE/Pong-v5", noop_max=0)
    rng = np.random.default_rng(0)
    calls: list[int] = []
    env0: list[int] = []

    def policy(obs):
        calls.append(len(obs))
        actions = rng.integers(0, 6, len(obs))
        env0.append(int(actions[0]))
        return actions

    games, video = evaluation.play(policy, e, 3, seed=5, video=True)
    assert len(games) == 3 and set(calls) == {3}  # three envs, one game each, nothing after
    assert video is not None, "the twin lost env 0's game"
    assert len(video.frames) - 1 in [g.length for g in games]  # a frame per step, plus the first
    assert len(calls) == max(g.length for g in games)  # as long as the longest game, no more
    # env 0's game is the game a one-env evaluation with the same seed and actions plays
    replay = iter(env0)
    alone, _ = evaluation.play_games(lambda obs: np.array([next(replay)]), e, 1, seed=5)
    filmed = [g for g in games if g.length == len(video.frames) - 1]
    assert len(alone) == 1 and alone[0] in filmed


def test_a_plugin_that_never_autocasts_records_fp32_in_run_json(tmp_path, runs_root):
    root = make_package(tmp_path / "site", "wbt_prec", "precconst")
    r = cli("run", "precconst", "--name", "p", "precision=bf16", env=_env(root))
    assert r.returncode == 0, r.stderr
    info = json.loads((runs_root / "precconst" / "p" / "run.json").read_text())
    assert info["precision"] == "fp32"
    config = (runs_root / "precconst" / "p" / "config.yaml").read_text()
    assert "precision: bf16" in config  # what was asked stays in the config


def test_total_steps_that_is_not_a_multiple_of_a_call_is_said_at_the_start(runs_root):
    r = cli("run", "ppo-cartpole", "--name", "odd", "total_steps=300", "num_steps=32",
            "eval_every=0", "checkpoint_every=0", "final_eval_episodes=1", "eval_video=false",
            "torch_threads=1", "--wandb", "disabled")
    assert r.returncode == 0, r.stderr
    assert "one training call advances 128 steps, so total_steps=300 ends at step 384" in (
        r.stdout + r.stderr)
    info = json.loads((runs_root / "ppo-cartpole" / "odd" / "run.json").read_text())
    assert info["step"] == 384


def test_runs_and_compare_show_each_agent_run_s_game_and_warn_about_a_mixed_group(runs_root):
    env = {"id": "ALE/Pong-v5", "num_envs": 8}
    fake_run(runs_root, "dqn-pong", "a", {"seed": 0, "env": env}, {100: 1.0, 200: 2.0})
    fake_run(runs_root, "dqn-pong", "b", {"seed": 1, "env": {**env, "id": "ALE/Breakout-v5"}},
             {100: 3.0, 200: 9.0})
    rows = list_runs(root=runs_root)
    assert {r["env"] for r in rows} == {"ALE/Pong-v5", "ALE/Breakout-v5"}
    assert "env" in table(rows).splitlines()[0].split()
    report = compare([], group="dqn-pong", metric="eval/return", root=runs_root)
    assert "warning: the runs of group 'dqn-pong' played different games" in report
    assert "ALE/Breakout-v5: b" in report


def test_compare_of_one_game_shows_the_env_column_without_a_warning(runs_root):
    env = {"id": "ALE/Pong-v5"}
    fake_run(runs_root, "dqn-pong", "a", {"seed": 0, "env": env}, {100: 1.0})
    fake_run(runs_root, "dqn-pong", "b", {"seed": 1, "env": env}, {100: 2.0})
    report = compare([], group="dqn-pong", metric="eval/return", root=runs_root)
    header = report.splitlines()[2].split()
    assert header[:3] == ["rank", "run", "env"] and "ALE/Pong-v5" in report
    assert "different games" not in report

