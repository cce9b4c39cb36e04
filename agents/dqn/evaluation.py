"""Playing full games with a Q-network: what a run's evaluation, ``workbench eval RUN`` and
``workbench eval --pretrained`` share.

Evaluation plays full games (no life-loss terminal, true game scores) at a small epsilon:
0.001 as Dopamine (Castro et al. 2018), 0.05 as Nature DQN (Mnih et al. 2015). Each env plays
its share of the games from its start, so long games are not dropped in favour of short ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.envs.config import EnvConfig
from workbench.envs.vector import RGBRecorder, VectorEnv, is_atari
from workbench.errors import UserError, check_folder

Act = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


@dataclass
class Game:
    ret: float
    """the true game score"""
    length: int
    """agent steps (each frame_skip emulator frames)"""


def epsilon_greedy(obs: np.ndarray, epsilon: float, rng: np.random.Generator, num_actions: int,
                   greedy: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Uniform random actions with probability ``epsilon``, else the Q-network's argmax (which
    is skipped when every env explores)."""
    n = len(obs)
    explore = rng.random(n) < epsilon
    actions = rng.integers(0, num_actions, n)
    if not explore.all():
        actions = np.where(explore, actions, greedy(obs))
    return actions.astype(np.int64)


def check_video(env_id: str, out: str | None) -> None:
    """``eval --video`` films through ALE's RGB twin of the game, so only Atari games have a
    video: refuse it elsewhere rather than play the games and quietly write none. And the
    ``--out`` folder must be one, before the games are played."""
    if not is_atari(env_id):
        raise UserError(f"--video films Atari games only: {env_id} is not an Atari env, so no "
                        "video would be written. Leave out --video to play the games without one "
                        "(or evaluate a run on an ALE id such as ALE/Pong-v5).")
    if out is not None:
        check_folder(Path(out), "--out", "Give a folder (new or existing) for the video.")


def eval_env(e: EnvConfig, num_envs: int, seed: int) -> VectorEnv:
    return VectorEnv.from_config(e, seed, num_envs=num_envs, evaluation=True)


def play_games(act: Act, e: EnvConfig, episodes: int, seed: int, epsilon: float,
               rng: np.random.Generator) -> list[Game]:
    """``episodes`` full games on up to 8 envs, in the order they end."""
    env = eval_env(e, min(episodes, 8), seed)
    quota = np.bincount(np.arange(episodes) % env.num_envs, minlength=env.num_envs)
    done_count = np.zeros(env.num_envs, int)
    games: list[Game] = []
    obs = env.reset()
    try:
        while (done_count < quota).any():
            obs, _, terminated, truncated, _ = env.step(act(obs, epsilon, rng))
            ended = np.flatnonzero(terminated | truncated)
            finished = env.stats.drain()
            for i, ret, length in zip(ended, *finished):
                if done_count[i] < quota[i]:
                    games.append(Game(ret, length))
                done_count[i] += 1
    finally:
        env.close()
    return games


def play_video_game(act: Act, e: EnvConfig, seed: int, epsilon: float, rng: np.random.Generator
                    ) -> tuple[Game, np.ndarray | None]:
    """One full game while an RGB twin replays the same actions for the video (None if the
    twin cannot follow: sticky actions, or it diverged)."""
    env = eval_env(e, 1, seed)
    twin = (RGBRecorder(e.id, seed, e.frame_skip, e.noop_max, e.max_episode_frames)
            if e.repeat_action_probability == 0 else None)
    obs = env.reset()
    if twin is not None:
        twin.reset()
    in_sync = twin is not None
    try:
        while True:
            action = act(obs, epsilon, rng)
            obs, reward, terminated, truncated, _ = env.step(action)
            if in_sync and twin.step(int(action[0])) != float(reward[0]):
                in_sync = False  # the twin diverged: no video rather than a wrong one
            if terminated[0] or truncated[0]:
                returns, lengths = env.stats.drain()
                return Game(returns[0], lengths[0]), twin.video() if in_sync else None
    finally:
        env.close()
        if twin is not None:
            twin.close()


def play(act: Act, e: EnvConfig, episodes: int, seed: int, epsilon: float, video: bool
         ) -> tuple[list[Game], np.ndarray | None]:
    """An evaluation: ``episodes`` games, the last one filmed when ``video`` (Atari only).
    Seeded by ``seed`` alone (envs and the exploration draws), so it can be replayed."""
    rng = np.random.default_rng(seed)
    games = play_games(act, e, episodes - 1, seed, epsilon, rng) if video and episodes > 1 else []
    frames = None
    if video:
        game, frames = play_video_game(act, e, seed + 500, epsilon, rng)
        games.append(game)
    else:
        games = play_games(act, e, episodes, seed, epsilon, rng)
    return games, frames


def summary(games: list[Game]) -> dict[str, float]:
    returns = [g.ret for g in games]
    return {"eval/return": float(np.mean(returns)), "eval/return_std": float(np.std(returns)),
            "eval/episodes": float(len(returns))}


def report(games: list[Game], epsilon: float, seed: int) -> list[str]:
    """One line per game, then the mean: what ``workbench eval`` prints."""
    lines = [f"game {i:>2}: return {g.ret:+6.1f}  length {g.length:>6,} steps"
             for i, g in enumerate(games, 1)]
    m = summary(games)
    lines.append(f"eval/return  {m['eval/return']:.2f} +- {m['eval/return_std']:.2f} over "
                 f"{len(games)} games at epsilon {epsilon:g}, seed {seed}")
    return lines
