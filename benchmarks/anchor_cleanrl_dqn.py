"""The per-step work of CleanRL's ``dqn_atari.py``, re-written as a timing anchor.

Written from CleanRL's documented settings and the DQN paper (Mnih et al. 2015), not copied.
What it mirrors, step for step:

* **env**: one ``PongNoFrameskip-v4`` (RGB frames from the emulator) inside
  ``gymnasium.vector.SyncVectorEnv``, through Python wrappers equivalent to the SB3 stack that
  CleanRL imports: episode statistics, no-op reset (up to 30), max-and-skip 4 (max over the last
  two RGB frames), episodic life, fire reset, reward clipping to the sign, then gymnasium's
  ``ResizeObservation(84, 84)`` (OpenCV, INTER_AREA), ``GrayscaleObservation`` and
  ``FrameStackObservation(4)`` (gymnasium 1.x names of the wrappers CleanRL uses);
* **acting**: CleanRL's epsilon schedule (linear from ``start_e`` to ``end_e`` over
  ``exploration_fraction x total_timesteps``), Python's ``random.random()`` against epsilon,
  otherwise one greedy forward of the Q-network on ``torch.Tensor(obs)`` (fp32, with autograd
  bookkeeping, as CleanRL does not wrap it in ``no_grad``);
* **replay**: an SB3-style ``ReplayBuffer(optimize_memory_usage=True,
  handle_timeout_termination=False)``: stacks of 4 frames stored per step, next obs at ``pos + 1``,
  ``np.random.randint`` indices, ``torch.tensor`` copies of the uint8 stacks at sampling;
* **learning**: fp32 NCHW Nature CNN, plain DQN target ``r + gamma * max_a Q_target(s', a) *
  (1 - done)``, MSE loss, Adam (lr 1e-4, eps 1e-8), no gradient clipping, one update every 4
  steps after ``learning_starts``, a hard target copy every 1,000 steps, ``loss.item()`` and
  ``q.mean().item()`` every 100 steps (where CleanRL writes TensorBoard scalars).

What it does not do: write TensorBoard files or print, record videos, or seed exactly as CleanRL
(the numbers it learns are not the point; its cost per step is).
"""

from __future__ import annotations

import random
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------- env wrappers
class NoopReset(gym.Wrapper):
    """After a reset, 1..noop_max no-op actions (a random start state)."""

    def __init__(self, env: gym.Env, noop_max: int = 30) -> None:
        super().__init__(env)
        self.noop_max = noop_max

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        obs, info = self.env.reset(**kwargs)
        for _ in range(int(self.unwrapped.np_random.integers(1, self.noop_max + 1))):
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


class MaxAndSkip(gym.Wrapper):
    """Repeat the action ``skip`` frames; the observation is the max of the last two frames."""

    def __init__(self, env: gym.Env, skip: int = 4) -> None:
        super().__init__(env)
        self.skip = skip
        self.frames = np.zeros((2, *env.observation_space.shape), env.observation_space.dtype)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        total, terminated, truncated, info = 0.0, False, False, {}
        for i in range(self.skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            if i >= self.skip - 2:
                self.frames[i - (self.skip - 2)] = obs
            total += float(reward)
            if terminated or truncated:
                break
        return self.frames.max(axis=0), total, terminated, truncated, info


class EpisodicLife(gym.Wrapper):
    """A lost life ends the episode for learning; the game itself resets only when it is over."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives, self.game_over = 0, True

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:  # a no-op step moves on from the lost-life state
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = self.unwrapped.ale.lives()
        return obs, info


class FireReset(gym.Wrapper):
    """Press FIRE (then action 2) after a reset, for games that wait for it."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        self.env.reset(**kwargs)
        obs = None
        for action in (1, 2):
            obs, _, terminated, truncated, _ = self.env.step(action)
            if terminated or truncated:
                self.env.reset(**kwargs)
        return obs, {}


class ClipReward(gym.RewardWrapper):
    def reward(self, reward: float) -> float:
        return float(np.sign(float(reward)))


def make_env(env_id: str, seed: int) -> gym.Env:
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make(env_id)
    env = gym.wrappers.RecordEpisodeStatistics(env)
    env = NoopReset(env, noop_max=30)
    env = MaxAndSkip(env, skip=4)
    env = EpisodicLife(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireReset(env)
    env = ClipReward(env)
    env = gym.wrappers.ResizeObservation(env, (84, 84))
    env = gym.wrappers.GrayscaleObservation(env)
    env = gym.wrappers.FrameStackObservation(env, 4)
    env.action_space.seed(seed)
    return env


# ----------------------------------------------------------------------------- network, replay
class QNetwork(nn.Module):
    """Nature DQN (Mnih et al. 2015): three convolutions, 512 hidden units, NCHW fp32."""

    def __init__(self, num_actions: int) -> None:
        super().__init__()
        self.network = nn.Sequential(
            nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, num_actions),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x / 255.0)


class SB3StyleReplay:
    """SB3's ``ReplayBuffer`` layout with ``optimize_memory_usage=True``: one array of stacked
    observations; the next observation of slot ``i`` is written into slot ``i + 1``."""

    def __init__(self, size: int, obs_shape: tuple[int, ...], n_envs: int = 1) -> None:
        self.size, self.n_envs = size, n_envs
        self.observations = np.zeros((size, n_envs, *obs_shape), np.uint8)
        self.actions = np.zeros((size, n_envs, 1), np.int64)
        self.rewards = np.zeros((size, n_envs), np.float32)
        self.dones = np.zeros((size, n_envs), np.float32)
        self.pos, self.full = 0, False

    def add(self, obs: np.ndarray, next_obs: np.ndarray, action: np.ndarray,
            reward: np.ndarray, done: np.ndarray) -> None:
        self.observations[self.pos] = np.array(obs)
        self.observations[(self.pos + 1) % self.size] = np.array(next_obs)
        self.actions[self.pos] = np.array(action).reshape(self.n_envs, 1)
        self.rewards[self.pos] = np.array(reward)
        self.dones[self.pos] = np.array(done)
        self.pos += 1
        if self.pos == self.size:
            self.full, self.pos = True, 0

    def sample(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        if self.full:  # slot pos has no valid next obs yet
            inds = (np.random.randint(1, self.size, size=batch_size) + self.pos) % self.size
        else:
            inds = np.random.randint(0, self.pos, size=batch_size)
        env = np.random.randint(0, self.n_envs, size=batch_size)
        next_obs = self.observations[(inds + 1) % self.size, env]
        data = (self.observations[inds, env], self.actions[inds, env], next_obs,
                self.dones[inds, env].reshape(-1, 1), self.rewards[inds, env].reshape(-1, 1))
        return tuple(torch.tensor(x) for x in data)


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    slope = (end_e - start_e) / duration
    return max(slope * t + start_e, end_e)


# ----------------------------------------------------------------------------- the worker
class CleanRLDQN:
    """CleanRL's training loop, advanced ``chunk_steps`` env steps per ``chunk()``."""

    def __init__(self, total_timesteps: int, learning_starts: int = 10_000,
                 buffer_size: int = 100_000, chunk_steps: int = 2_000, env_id: str = "PongNoFrameskip-v4",
                 exploration_fraction: float = 0.1, start_e: float = 1.0, end_e: float = 0.01,
                 batch_size: int = 32, train_frequency: int = 4, target_network_frequency: int = 1_000,
                 gamma: float = 0.99, lr: float = 1e-4, seed: int = 1) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        self.envs = gym.vector.SyncVectorEnv(
            [lambda: make_env(env_id, seed)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        n_actions = int(self.envs.single_action_space.n)
        self.q_network = QNetwork(n_actions)
        self.optimizer = torch.optim.Adam(self.q_network.parameters(), lr=lr)
        self.target_network = QNetwork(n_actions)
        self.target_network.load_state_dict(self.q_network.state_dict())
        self.rb = SB3StyleReplay(buffer_size, self.envs.single_observation_space.shape)
        self.obs, _ = self.envs.reset(seed=seed)
        self.global_step = 0
        self.total_timesteps, self.learning_starts, self.chunk_steps = total_timesteps, learning_starts, chunk_steps
        self.exploration = exploration_fraction * total_timesteps
        self.start_e, self.end_e = start_e, end_e
        self.batch_size, self.train_frequency = batch_size, train_frequency
        self.target_network_frequency, self.gamma = target_network_frequency, gamma
        self.episode_returns: list[float] = []

    def _step(self) -> None:
        global_step = self.global_step
        epsilon = linear_schedule(self.start_e, self.end_e, self.exploration, global_step)
        if random.random() < epsilon:
            actions = np.array([self.envs.single_action_space.sample()])
        else:
            q_values = self.q_network(torch.Tensor(self.obs))
            actions = torch.argmax(q_values, dim=1).cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = self.envs.step(actions)
        if "episode" in infos:
            self.episode_returns += [float(r) for r in infos["episode"]["r"][infos["_episode"]]]
        real_next_obs = next_obs.copy()
        for idx, trunc in enumerate(truncations):
            if trunc:
                real_next_obs[idx] = infos["final_obs"][idx]
        self.rb.add(self.obs, real_next_obs, actions, rewards, terminations)
        self.obs = next_obs
        if global_step > self.learning_starts:
            if global_step % self.train_frequency == 0:
                self._update(global_step)
            if global_step % self.target_network_frequency == 0:
                for t, q in zip(self.target_network.parameters(), self.q_network.parameters()):
                    t.data.copy_(q.data)  # tau = 1
        self.global_step += 1

    def _update(self, global_step: int) -> None:
        obs, actions, next_obs, dones, rewards = self.rb.sample(self.batch_size)
        with torch.no_grad():
            target_max, _ = self.target_network(next_obs).max(dim=1)
            td_target = rewards.flatten() + self.gamma * target_max * (1 - dones.flatten())
        old_val = self.q_network(obs).gather(1, actions).squeeze()
        loss = F.mse_loss(td_target, old_val)
        if global_step % 100 == 0:  # where CleanRL logs scalars
            loss.item(), old_val.mean().item()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def prepare(self) -> dict[str, float]:
        """Random play up to ``learning_starts``; returns its steps/s."""
        t = time.perf_counter()
        while self.global_step <= self.learning_starts:
            self._step()
        return {"sps_before_learning": self.global_step / (time.perf_counter() - t)}

    def chunk(self) -> dict[str, float]:
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(self.chunk_steps):
            self._step()
        return {"sps": self.chunk_steps / (time.perf_counter() - t),
                "cpu_sps": self.chunk_steps / (time.process_time() - cpu)}

    def close(self) -> None:
        self.envs.close()
