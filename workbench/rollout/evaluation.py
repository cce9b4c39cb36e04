"""Evaluation games: what a run's evaluations, ``workbench eval RUN`` and a shipped agent's
``eval --pretrained`` share, for every agent.

Evaluation plays full games (no life-loss terminal, true game scores) with a policy
``obs -> actions`` (an agent's ``act(obs, explore=False)``). Each env plays its share of the
games from its start, so long games are not dropped in favour of short ones (the bias of
stopping at the first N episodes to end). One game may be filmed: on Atari an RGB twin emulator
replays the agent's actions at full size (the agent sees small gray frames); any other env that
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


MAX_EVAL_ENVS = 16
"""most envs an evaluation plays at once (10 games: 10 envs, one game each)"""


def play_games(policy: Policy, e: EnvConfig, episodes: int, seed: int, film: bool = False
               ) -> tuple[list[Game], Video | None]:
    """``episodes`` full games on up to MAX_EVAL_ENVS envs at once, in the order they end. With
    ``film`` (Atari), an RGB twin follows env 0's first game, which is the filmed one: the
    video costs no extra game (a vector env's env 0 plays the game a one-env vector env with the
    same seed plays)."""
    env = eval_env(e, min(episodes, MAX_EVAL_ENVS), seed)
    quota = np.bincount(np.arange(episodes) % env.num_envs, minlength=env.num_envs)
    done_count = np.zeros(env.num_envs, int)
    games: list[Game] = []
    twin = RGBRecorder(e.id, seed, e.frame_skip, e.noop_max, e.max_episode_frames) if film else None
    filming, in_sync, video = twin is not None, True, None
    obs = env.reset()
    if twin is not None:
        twin.reset()
    try:
        while (done_count < quota).any():
            actions = policy(obs)
            obs, reward, terminated, truncated, _ = env.step(actions)
            if filming and in_sync and twin.step(int(actions[0])) != float(reward[0]):
                in_sync = False  # the twin diverged: no video rather than a wrong one
            ended = np.flatnonzero(terminated | truncated)
            finished = env.stats.drain()
            for i, ret, length in zip(ended, *finished):
                if done_count[i] < quota[i]:
                    games.append(Game(ret, length))
                done_count[i] += 1
                if i == 0 and filming:
                    filming = False  # env 0's first game is over: so is the film
                    # one frame per agent step: the 60 Hz console at 60 / frame_skip frames/s
                    video = Video(twin.video(), 60 / e.frame_skip) if in_sync else None
    finally:
        env.close()
        if twin is not None:
            twin.close()
    return games, video


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
    """One full game, filmed (the video is None if the Atari twin diverged from the agent's game)."""
    if is_atari(e.id):
        games, video = play_games(policy, e, 1, seed, film=True)
        return games[0], video
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


def play(policy: Policy, e: EnvConfig, episodes: int, seed: int, video: bool
         ) -> tuple[list[Game], Video | None]:
    """An evaluation: ``episodes`` games, one of them filmed when ``video`` (Atari: env 0's game,
    filmed while all play; other envs: the last game, played alone and rendered). Seeded by ``seed``
    alone (envs; the caller seeds the policy's draws from it), so it can be replayed."""
    if not video:
        return play_games(policy, e, episodes, seed)[0], None
    if is_atari(e.id):  # env 0's first game is filmed while all of them play
        return play_games(policy, e, episodes, seed, film=True)
    games = play_games(policy, e, episodes - 1, seed)[0] if episodes > 1 else []
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
