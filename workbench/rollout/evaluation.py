"""Evaluation games: what a run's evaluations, ``workbench eval RUN`` and a shipped agent's
``eval --pretrained`` share, for every agent.

Evaluation plays full games (no life-loss terminal, true game scores) with a policy
``obs -> actions`` (an agent's ``act(obs, explore=False)``). Each env plays its share of the
games from its start, so long games are not dropped in favour of short ones (the bias of
stopping at the first N episodes to end). One game may be filmed: on Atari an RGB twin emulator
replays the agent's actions at full size (the agent sees 84x84 gray); any other env that
renders ``rgb_array`` is filmed through its own render.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workbench.envs.config import EnvConfig
from workbench.envs.vector import RGBRecorder, VectorEnv, is_atari

Policy = Callable[[np.ndarray], np.ndarray]
"""A batch of observations -> one action per env."""


@dataclass
class Game:
    ret: float
    """the true game score"""
    length: int
    """agent steps (each frame_skip emulator frames on Atari)"""


@dataclass
class Video:
    frames: np.ndarray
    """T, H, W, 3 uint8: one frame per agent step, the first one before any action"""
    fps: float
    """the rate that plays them in real time"""


def eval_env(e: EnvConfig, num_envs: int, seed: int, render: bool = False) -> VectorEnv:
    if render:
        _headless()
    return VectorEnv.from_config(e, seed, num_envs=num_envs, evaluation=True, render=render)


def _headless() -> None:
    """gymnasium draws classic control with pygame, whose SDL would look for a display (and
    print "XDG_RUNTIME_DIR is invalid") though rgb_array renders off-screen."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def play_games(policy: Policy, e: EnvConfig, episodes: int, seed: int) -> list[Game]:
    """``episodes`` full games on up to 8 envs, in the order they end."""
    env = eval_env(e, min(episodes, 8), seed)
    quota = np.bincount(np.arange(episodes) % env.num_envs, minlength=env.num_envs)
    done_count = np.zeros(env.num_envs, int)
    games: list[Game] = []
    obs = env.reset()
    try:
        while (done_count < quota).any():
            obs, _, terminated, truncated, _ = env.step(policy(obs))
            ended = np.flatnonzero(terminated | truncated)
            finished = env.stats.drain()
            for i, ret, length in zip(ended, *finished):
                if done_count[i] < quota[i]:
                    games.append(Game(ret, length))
                done_count[i] += 1
    finally:
        env.close()
    return games


def why_no_video(e: EnvConfig) -> str | None:
    """Why ``e`` cannot be filmed (None: it can), said before a game is played for nothing."""
    if is_atari(e.id):
        if e.repeat_action_probability != 0:
            return ("sticky actions (env.repeat_action_probability > 0) make the RGB twin's game "
                    "differ from the agent's")
        return None
    import gymnasium as gym

    _headless()
    try:
        env = gym.make(e.id, render_mode="rgb_array")
    except gym.error.DependencyNotInstalled as err:
        return f"rendering {e.id} needs a package that is not installed ({err})"
    except (gym.error.Error, TypeError, ValueError) as err:
        return f"{e.id} does not render rgb_array ({err})"
    try:
        if "rgb_array" not in env.metadata.get("render_modes", ()):
            return f"{e.id} does not render rgb_array"
        env.reset(seed=0)
        env.render()
    except gym.error.DependencyNotInstalled as err:
        # classic control draws with pygame: pip install 'workbench[classic-control]'
        return (f"rendering {e.id} needs pygame, which is not installed: pip install "
                f"'workbench[classic-control]' ({err})")
    finally:
        env.close()
    return None


def play_video_game(policy: Policy, e: EnvConfig, seed: int) -> tuple[Game, Video | None]:
    """One full game, filmed (None if the Atari twin diverged from the agent's game)."""
    if is_atari(e.id):
        return _play_atari_video_game(policy, e, seed)
    env = eval_env(e, 1, seed, render=True)
    obs = env.reset()
    frames = [env.render()]
    try:
        while True:
            obs, _, terminated, truncated, _ = env.step(policy(obs))
            frames.append(env.render())
            if terminated[0] or truncated[0]:
                returns, lengths = env.stats.drain()
                return Game(returns[0], lengths[0]), Video(np.stack(frames), env.render_fps)
    finally:
        env.close()


def _play_atari_video_game(policy: Policy, e: EnvConfig, seed: int) -> tuple[Game, Video | None]:
    """One full game while an RGB twin replays the same actions (same seed, no sticky actions:
    the same game, checked reward by reward)."""
    env = eval_env(e, 1, seed)
    twin = RGBRecorder(e.id, seed, e.frame_skip, e.noop_max, e.max_episode_frames)
    obs = env.reset()
    twin.reset()
    in_sync = True
    try:
        while True:
            action = policy(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            if in_sync and twin.step(int(action[0])) != float(reward[0]):
                in_sync = False  # the twin diverged: no video rather than a wrong one
            if terminated[0] or truncated[0]:
                returns, lengths = env.stats.drain()
                # one frame per agent step: the 60 Hz console at 60 / frame_skip frames/s
                video = Video(twin.video(), 60 / e.frame_skip) if in_sync else None
                return Game(returns[0], lengths[0]), video
    finally:
        env.close()
        twin.close()


def play(policy: Policy, e: EnvConfig, episodes: int, seed: int, video: bool
         ) -> tuple[list[Game], Video | None]:
    """An evaluation: ``episodes`` games, the last one filmed when ``video``. Seeded by ``seed``
    alone (envs; the caller seeds the policy's draws from it), so it can be replayed."""
    if not video:
        return play_games(policy, e, episodes, seed), None
    games = play_games(policy, e, episodes - 1, seed) if episodes > 1 else []
    game, film = play_video_game(policy, e, seed + 500)
    return [*games, game], film


def summary(games: list[Game]) -> dict[str, float]:
    returns = [g.ret for g in games]
    return {"eval/return": float(np.mean(returns)), "eval/return_std": float(np.std(returns)),
            "eval/episodes": float(len(returns))}


def report(games: list[Game], seed: int, policy: str = "") -> list[str]:
    """One line per game, then the mean: what ``workbench eval`` prints. ``policy`` says how
    the games were played ("at epsilon 0.001")."""
    lines = [f"game {i:>2}: return {g.ret:+6.1f}  length {g.length:>6,} steps"
             for i, g in enumerate(games, 1)]
    m = summary(games)
    how = f" {policy}" if policy else ""
    lines.append(f"eval/return  {m['eval/return']:.2f} +- {m['eval/return_std']:.2f} over "
                 f"{len(games)} games{how}, seed {seed}")
    return lines


def random_policy_return(env_id: str, episodes: int, seed: int) -> float:
    """Mean return of uniformly random actions (the baseline a learning test must beat)."""
    env = VectorEnv(env_id, min(episodes, 8), seed, life_loss_terminal=False)
    rng = np.random.default_rng(seed)
    env.reset()
    returns: list[float] = []
    while len(returns) < episodes:
        env.step(rng.integers(0, env.num_actions, env.num_envs))
        returns += env.stats.drain()[0]
    env.close()
    return float(np.mean(returns[:episodes]))
