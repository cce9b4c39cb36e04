"""Vector environments for every agent: Atari through ale-py's C++ ``AtariVectorEnv``,
everything else through ``gymnasium.make_vec`` (registered ids such as ``CartPole-v1``, and a
user's own env by gymnasium's ``module:EnvId`` form, which imports ``module`` first so that its
``gymnasium.register`` call runs), behind one small interface.

The DQN conventions of Mnih et al. (2015, "Human-level control through deep reinforcement
learning") and Machado et al. (2018, "Revisiting the ALE") are options here, not inside the agent:
frame skip 4 with max-pooling, 84x84 grayscale (``screen_size``), a stack of 4, up to 30 no-op starts, fire on
reset, sticky actions, and terminal-on-life-loss. Rewards come back *unclipped* (the true game
score); the agent clips where DQN needs it, so episode returns are always real scores.

Both backends reset a finished sub-env on the *next* step (gymnasium's ``NEXT_STEP`` autoreset):
the step that returns ``terminated``/``truncated`` carries the final observation, and the next step
ignores its action and returns the first observation of a new episode. :class:`VectorEnv` reports
that step as ``reset_step`` so the agent neither learns from it nor counts it in episode stats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.envs.config import EnvConfig
from workbench.errors import ConfigError


@dataclass
class EpisodeStats:
    """Returns (true game score) and lengths of the episodes that ended, across auto-resets."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def drain(self) -> tuple[list[float], list[int]]:
        out = (self.returns, self.lengths)
        self.returns, self.lengths = [], []
        return out


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or env_id.endswith("NoFrameskip-v4")


def ale_rom_name(env_id: str) -> str:
    """``ALE/Pong-v5`` or ``PongNoFrameskip-v4`` -> ``pong``; ``MsPacman`` -> ``ms_pacman``."""
    name = env_id.removeprefix("ALE/")
    name = re.sub(r"(NoFrameskip)?-v\d+$", "", name)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class VectorEnv:
    """``num_envs`` environments stepped together, with ``send``/``recv`` so that a learner can
    update its network while the C++ envs step in their own threads.

    ``recv`` returns ``(obs, reward, terminated, truncated, reset_step)`` where ``terminated``
    includes life losses when ``life_loss_terminal`` is set (for bootstrapping only: the game goes
    on), ``truncated`` is the time limit, and ``reset_step`` marks the autoreset step.
    """

    def __init__(self, env_id: str, num_envs: int, seed: int, *, num_threads: int = 0,
                 frame_stack: int = 4, frame_skip: int = 4, noop_max: int = 30,
                 repeat_action_probability: float = 0.0, life_loss_terminal: bool = False,
                 max_episode_frames: int = 108_000, screen_size: int = 84,
                 resize: str = "area", render: bool = False) -> None:
        self.env_id = env_id
        self.num_envs = num_envs
        self.atari = is_atari(env_id)
        self.life_loss_terminal = life_loss_terminal and self.atari
        self._max: MaxResize | None = None
        if self.atari:
            from ale_py import roms
            from ale_py.vector_env import AtariVectorEnv

            rom = ale_rom_name(env_id)
            if roms.get_rom_path(rom) is None:
                raise ConfigError(
                    f"env.id={env_id!r}: ale-py has no ROM named {rom!r}. Use an ALE id such as "
                    "ALE/Pong-v5, ALE/Breakout-v5 or PongNoFrameskip-v4."
                )
            # resize=max: ale-py hands over full 210x160 frames and MaxResize shrinks them here
            if resize == "max" and screen_size < 210:
                self._max = MaxResize(num_envs, frame_stack, (210, 160), screen_size)
                img = (210, 160)
            else:
                img = (screen_size, screen_size)
            self.env: Any = AtariVectorEnv(
                rom, num_envs, num_threads=num_threads, stack_num=frame_stack,
                frameskip=frame_skip, noop_max=noop_max,
                repeat_action_probability=repeat_action_probability,
                max_num_frames_per_episode=max_episode_frames,
                reward_clipping=False, episodic_life=False, use_fire_reset=True,
                img_height=img[0], img_width=img[1],
            )
        else:
            import gymnasium as gym

            kwargs = {"render_mode": "rgb_array"} if render else {}
            try:
                self.env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                                        **kwargs)
            except (gym.error.Error, ModuleNotFoundError) as e:
                raise ConfigError(
                    f"env.id={env_id!r} is not an environment gymnasium knows ({e}). Use an ALE "
                    "id (ALE/Pong-v5), a gymnasium id with a discrete action space "
                    "(CartPole-v1, Acrobot-v1, MountainCar-v0), or your own env as "
                    "'my_package.envs:MyEnv-v0' (gymnasium imports my_package.envs, whose "
                    "gymnasium.register(...) call makes MyEnv-v0 known)."
                ) from None
        space = self.env.single_action_space
        if not hasattr(space, "n"):
            raise ConfigError(f"env.id={env_id!r} has a {type(space).__name__} action space; "
                              "the agents here need a discrete one (gymnasium.spaces.Discrete).")
        self.num_actions = int(space.n)
        self.obs_shape: tuple[int, ...] = tuple(self.env.single_observation_space.shape)
        if self._max is not None:
            self.obs_shape = (frame_stack, screen_size, screen_size)
        self.obs_dtype = self.env.single_observation_space.dtype
        self.seed = seed
        self.stats = EpisodeStats()
        self._pending: np.ndarray | None = None
        self._ep_return = np.zeros(num_envs, np.float64)
        self._ep_length = np.zeros(num_envs, np.int64)
        self._lives = np.zeros(num_envs, np.int64)
        self._was_done = np.zeros(num_envs, bool)

    @classmethod
    def from_config(cls, cfg: EnvConfig, seed: int, *, num_envs: int | None = None,
                    evaluation: bool = False, render: bool = False) -> VectorEnv:
        """The envs a run's ``env`` options describe: ``cfg.num_envs`` of them for training, or
        ``num_envs`` full games (no life-loss terminal) for ``evaluation``; ``render``: a
        gymnasium env made with ``render_mode="rgb_array"`` (see :meth:`render`)."""
        return cls(cfg.id, cfg.num_envs if num_envs is None else num_envs, seed,
                   num_threads=cfg.num_threads, frame_stack=cfg.frame_stack,
                   frame_skip=cfg.frame_skip, noop_max=cfg.noop_max,
                   repeat_action_probability=cfg.repeat_action_probability,
                   life_loss_terminal=cfg.life_loss_terminal and not evaluation,
                   max_episode_frames=cfg.max_episode_frames, screen_size=cfg.screen_size,
                   resize=cfg.resize, render=render)

    @property
    def render_fps(self) -> float:
        """The rate the env's frames play in real time (Atari: 60 Hz / frame_skip per step)."""
        return float(self.env.metadata.get("render_fps") or 30)

    def render(self) -> np.ndarray:
        """The first sub-env as an RGB frame (a gymnasium env built with ``render=True``)."""
        return np.asarray(self.env.render()[0])

    def reset(self) -> np.ndarray:
        obs, info = self.env.reset(seed=self.seed)
        self._ep_return[:] = 0
        self._ep_length[:] = 0
        self._was_done[:] = False
        if self.atari:
            self._lives[:] = info["lives"]
            if self._max is not None:
                obs = self._max.reset(obs)
        return obs

    def send(self, actions: np.ndarray) -> None:
        if self.atari:
            self.env.send(actions.astype(np.int64, copy=False))
        else:
            self._pending = actions

    def recv(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.atari:
            obs, reward, terminated, truncated, info = self.env.recv()
        else:
            obs, reward, terminated, truncated, info = self.env.step(self._pending)
        reward = np.asarray(reward, np.float32)
        terminated = np.asarray(terminated, bool)
        truncated = np.asarray(truncated, bool)
        reset_step = self._was_done.copy()
        live = ~reset_step
        self._ep_return[live] += reward[live]
        self._ep_length[live] += 1
        done = (terminated | truncated) & live
        for i in np.flatnonzero(done):
            self.stats.returns.append(float(self._ep_return[i]))
            self.stats.lengths.append(int(self._ep_length[i]))
        self._ep_return[reset_step | done] = 0
        self._ep_length[reset_step | done] = 0
        if self.atari:
            if self._max is not None:
                obs = self._max.step(obs, reset_step)
            lives = np.asarray(info["lives"], np.int64)
            if self.life_loss_terminal:
                # Mnih et al. (2015): a lost life ends the bootstrap, not the game
                terminated = terminated | ((lives < self._lives) & live)
            self._lives = lives
        self._was_done = done
        return obs, reward, terminated & live, truncated & live, reset_step

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.send(actions)
        return self.recv()

    def close(self) -> None:
        self.env.close()


class MaxResize:
    """Shrinks stacks of gray frames by taking the brightest pixel of each cell (``env.resize=max``).

    ale-py's area resize averages a cell, so at 56x56 Pong's 2x4-pixel ball covers a fraction of a
    cell and stands out from the background by about half its contrast at 84x84; the maximum keeps
    it at full brightness (the game's background is darker than its ball and paddles). Cells are
    the ``floor(i * H / side)`` bands of rows and columns, none overlapping.

    Only the newest frame of a stack is new on an ordinary step, so only it is resized and the
    rest shift along; a stack that ale-py rebuilt (reset, or a sub-env's autoreset step) is resized
    whole. The result equals resizing every frame of every stack (tests/test_envs_vector.py checks
    it)."""

    def __init__(self, num_envs: int, stack: int, full: tuple[int, int], side: int) -> None:
        self.rows = self._offsets(full[0], side)
        self.cols = self._offsets(full[1], side)
        self.out = np.zeros((num_envs, stack, side, side), np.uint8)

    @staticmethod
    def _offsets(n: int, side: int) -> list[np.ndarray]:
        """Index k of every cell, for k up to the widest cell (a narrower cell repeats its last):
        the max over these gathers is the max over each cell, with no Python loop over cells
        (10x faster than ``np.maximum.reduceat`` on 8 Pong frames)."""
        edges = (np.arange(side + 1) * n) // side
        return [np.minimum(edges[:-1] + k, edges[1:] - 1) for k in range(int(np.diff(edges).max()))]

    def shrink(self, frames: np.ndarray) -> np.ndarray:
        rows = frames[..., self.rows[0], :]
        for index in self.rows[1:]:
            rows = np.maximum(rows, frames[..., index, :])
        out = rows[..., self.cols[0]]
        for index in self.cols[1:]:
            out = np.maximum(out, rows[..., index])
        return out

    def reset(self, obs: np.ndarray) -> np.ndarray:
        self.out[:] = self.shrink(obs)
        return self.out.copy()

    def step(self, obs: np.ndarray, rebuilt: np.ndarray) -> np.ndarray:
        self.out[:, :-1] = self.out[:, 1:]
        self.out[:, -1] = self.shrink(obs[:, -1])
        if rebuilt.any():
            self.out[rebuilt] = self.shrink(obs[rebuilt])
        return self.out.copy()


class RGBRecorder:
    """A one-env Atari twin that replays the evaluation agent's actions in RGB at full size, so
    the evaluation video shows the game as a person sees it (the agent sees small gray frames).
    With sticky actions off, the same seed and actions give the same game (checked by rewards)."""

    def __init__(self, env_id: str, seed: int, frame_skip: int, noop_max: int,
                 max_episode_frames: int = 108_000) -> None:
        from ale_py.vector_env import AtariVectorEnv

        self.env = AtariVectorEnv(ale_rom_name(env_id), 1, grayscale=False, img_height=210,
                                  img_width=160, stack_num=1, frameskip=frame_skip,
                                  noop_max=noop_max, reward_clipping=False, num_threads=1,
                                  max_num_frames_per_episode=max_episode_frames)
        self.seed = seed
        self.frames: list[np.ndarray] = []

    def reset(self) -> None:
        obs, _ = self.env.reset(seed=self.seed)
        self.frames = [obs[0, -1]]

    def step(self, action: int) -> float:
        obs, reward, *_ = self.env.step(np.array([action], np.int64))
        self.frames.append(obs[0, -1])
        return float(reward[0])

    def video(self) -> np.ndarray:
        return np.stack(self.frames)

    def close(self) -> None:
        self.env.close()
