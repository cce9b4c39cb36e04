"""The per-step work of CleanRL's ``ppo.py`` (CartPole) and ``ppo_atari.py`` (Pong), re-written
as a timing anchor.

Written from CleanRL's scripts and documented settings (Huang et al. 2022, "The 37
Implementation Details of PPO"), not copied. What it mirrors, step for step:

* **env**: ``gymnasium.vector.SyncVectorEnv`` of ``num_envs`` envs, each wrapped in
  ``RecordEpisodeStatistics``, with same-step autoreset (the gymnasium 0.29 behaviour CleanRL
  was written for). CartPole: 4 ``CartPole-v1``. Pong: 8 ``PongNoFrameskip-v4`` through the
  Python Atari wrappers of ``anchor_cleanrl_dqn.make_env`` (no-op reset, max-and-skip 4,
  episodic life, fire reset, reward clipping, 84x84 gray, a stack of 4), CleanRL's stack;
* **acting**: ``get_action_and_value`` under ``no_grad`` on ``torch.Tensor(obs)`` (fp32; Pong:
  ``x / 255.0`` first), a ``Categorical`` sample, its log-prob and the critic's value stored in
  preallocated (num_steps, num_envs) tensors; ``torch.tensor(reward)`` and ``torch.Tensor``
  copies of the next obs and dones each step; the ``final_info`` scan for episode returns;
* **learning**: CleanRL's learning-rate annealing, its GAE loop over torch tensors, the flatten,
  ``update_epochs`` epochs of ``np.random.shuffle``-d minibatches with the clipped surrogate,
  clipped value loss, entropy bonus, per-minibatch advantage normalisation, gradient clipping
  at 0.5 and Adam (eps 1e-5); ``.item()`` of the clip fraction every minibatch and of the
  losses once per update (where CleanRL writes TensorBoard scalars); the explained variance.

What it does not do: write TensorBoard files or print, record videos, or seed each env as
CleanRL (the returns it learns are not the point; its cost per step is).
"""

from __future__ import annotations

import random
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions.categorical import Categorical

SETTINGS = {  # CleanRL's defaults for the two scripts
    "cartpole": {"env_id": "CartPole-v1", "num_envs": 4, "num_steps": 128, "clip_coef": 0.2,
                 "total_timesteps": 500_000},
    "pong": {"env_id": "PongNoFrameskip-v4", "num_envs": 8, "num_steps": 128, "clip_coef": 0.1,
             "total_timesteps": 10_000_000},
}


def layer_init(layer: nn.Module, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Module:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class MLPAgent(nn.Module):
    def __init__(self, obs_dim: int, num_actions: int) -> None:
        super().__init__()
        self.critic = nn.Sequential(layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(),
                                    layer_init(nn.Linear(64, 64)), nn.Tanh(),
                                    layer_init(nn.Linear(64, 1), std=1.0))
        self.actor = nn.Sequential(layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(),
                                   layer_init(nn.Linear(64, 64)), nn.Tanh(),
                                   layer_init(nn.Linear(64, num_actions), std=0.01))

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None
                             ) -> tuple[torch.Tensor, ...]:
        probs = Categorical(logits=self.actor(x))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


class CNNAgent(nn.Module):
    def __init__(self, num_actions: int) -> None:
        super().__init__()
        self.network = nn.Sequential(
            layer_init(nn.Conv2d(4, 32, 8, stride=4)), nn.ReLU(),
            layer_init(nn.Conv2d(32, 64, 4, stride=2)), nn.ReLU(),
            layer_init(nn.Conv2d(64, 64, 3, stride=1)), nn.ReLU(),
            nn.Flatten(), layer_init(nn.Linear(64 * 7 * 7, 512)), nn.ReLU())
        self.actor = layer_init(nn.Linear(512, num_actions), std=0.01)
        self.critic = layer_init(nn.Linear(512, 1), std=1)

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(self.network(x / 255.0))

    def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None
                             ) -> tuple[torch.Tensor, ...]:
        hidden = self.network(x / 255.0)
        probs = Categorical(logits=self.actor(hidden))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(hidden)


def make_env(env_id: str, seed: int) -> Any:
    def thunk() -> gym.Env:
        if env_id.startswith("CartPole"):
            env = gym.wrappers.RecordEpisodeStatistics(gym.make(env_id))
            env.action_space.seed(seed)
            return env
        from anchor_cleanrl_dqn import make_env as atari_env  # the same wrapper stack

        return atari_env(env_id, seed)
    return thunk


class CleanRLPPO:
    """CleanRL's PPO loop, advanced ``iterations`` updates (rollout + learning) per ``chunk()``."""

    def __init__(self, game: str = "cartpole", iterations: int = 2, seed: int = 1,
                 learning_rate: float = 2.5e-4, gamma: float = 0.99, gae_lambda: float = 0.95,
                 num_minibatches: int = 4, update_epochs: int = 4, ent_coef: float = 0.01,
                 vf_coef: float = 0.5, max_grad_norm: float = 0.5) -> None:
        s = SETTINGS[game]
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        self.num_envs, self.num_steps, self.clip_coef = s["num_envs"], s["num_steps"], s["clip_coef"]
        self.envs = gym.vector.SyncVectorEnv(
            [make_env(s["env_id"], seed + i) for i in range(self.num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        n = int(self.envs.single_action_space.n)
        shape = self.envs.single_observation_space.shape
        self.agent = CNNAgent(n) if game == "pong" else MLPAgent(int(np.prod(shape)), n)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=learning_rate, eps=1e-5)
        self.lr, self.gamma, self.gae_lambda = learning_rate, gamma, gae_lambda
        self.update_epochs, self.ent_coef, self.vf_coef = update_epochs, ent_coef, vf_coef
        self.max_grad_norm = max_grad_norm
        self.batch_size = self.num_envs * self.num_steps
        self.minibatch_size = self.batch_size // num_minibatches
        self.num_iterations = s["total_timesteps"] // self.batch_size
        T, N = self.num_steps, self.num_envs
        self.obs = torch.zeros((T, N) + shape)
        self.actions = torch.zeros((T, N))
        self.logprobs = torch.zeros((T, N))
        self.rewards = torch.zeros((T, N))
        self.dones = torch.zeros((T, N))
        self.values = torch.zeros((T, N))
        next_obs, _ = self.envs.reset(seed=seed)
        self.next_obs, self.next_done = torch.Tensor(next_obs), torch.zeros(N)
        self.iteration, self.global_step, self.iterations = 1, 0, iterations
        self.episode_returns: list[float] = []

    def _iteration(self) -> None:
        frac = 1.0 - (self.iteration - 1.0) / self.num_iterations
        self.optimizer.param_groups[0]["lr"] = frac * self.lr
        for step in range(self.num_steps):
            self.global_step += self.num_envs
            self.obs[step] = self.next_obs
            self.dones[step] = self.next_done
            with torch.no_grad():
                action, logprob, _, value = self.agent.get_action_and_value(self.next_obs)
                self.values[step] = value.flatten()
            self.actions[step] = action
            self.logprobs[step] = logprob
            next_obs, reward, terminations, truncations, infos = self.envs.step(action.cpu().numpy())
            next_done = np.logical_or(terminations, truncations)
            self.rewards[step] = torch.tensor(reward).view(-1)
            self.next_obs, self.next_done = torch.Tensor(next_obs), torch.Tensor(next_done)
            if "final_info" in infos:  # CleanRL's final_info scan, in gymnasium 1.x's form
                final = infos["final_info"]
                for i in np.flatnonzero(final.get("_episode", ())):
                    self.episode_returns.append(float(final["episode"]["r"][i]))
        self._learn()
        self.iteration += 1

    def _learn(self) -> None:
        with torch.no_grad():
            next_value = self.agent.get_value(self.next_obs).reshape(1, -1)
            advantages = torch.zeros_like(self.rewards)
            lastgaelam = 0
            for t in reversed(range(self.num_steps)):
                if t == self.num_steps - 1:
                    nextnonterminal = 1.0 - self.next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - self.dones[t + 1]
                    nextvalues = self.values[t + 1]
                delta = self.rewards[t] + self.gamma * nextvalues * nextnonterminal - self.values[t]
                advantages[t] = lastgaelam = (delta + self.gamma * self.gae_lambda * nextnonterminal
                                              * lastgaelam)
            returns = advantages + self.values
        b_obs = self.obs.reshape((-1,) + self.envs.single_observation_space.shape)
        b_logprobs, b_actions = self.logprobs.reshape(-1), self.actions.reshape(-1)
        b_advantages, b_returns = advantages.reshape(-1), returns.reshape(-1)
        b_values = self.values.reshape(-1)
        b_inds = np.arange(self.batch_size)
        clipfracs = []
        c = self.clip_coef
        for _ in range(self.update_epochs):
            np.random.shuffle(b_inds)
            for start in range(0, self.batch_size, self.minibatch_size):
                mb = b_inds[start:start + self.minibatch_size]
                _, newlogprob, entropy, newvalue = self.agent.get_action_and_value(
                    b_obs[mb], b_actions.long()[mb])
                logratio = newlogprob - b_logprobs[mb]
                ratio = logratio.exp()
                with torch.no_grad():
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > c).float().mean().item()]
                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(-mb_adv * ratio, -mb_adv * torch.clamp(ratio, 1 - c, 1 + c)).mean()
                newvalue = newvalue.view(-1)
                v_unclipped = (newvalue - b_returns[mb]) ** 2
                v_clipped = b_values[mb] + torch.clamp(newvalue - b_values[mb], -c, c)
                v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - b_returns[mb]) ** 2).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - self.ent_coef * entropy_loss + v_loss * self.vf_coef
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.agent.parameters(), self.max_grad_norm)
                self.optimizer.step()
        y_pred, y_true = b_values.cpu().numpy(), b_returns.cpu().numpy()
        var_y = np.var(y_true)
        _ = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        # the scalars CleanRL writes once per iteration
        (v_loss.item(), pg_loss.item(), entropy_loss.item(), old_approx_kl.item(), approx_kl.item(),
         np.mean(clipfracs))

    def prepare(self) -> dict[str, float]:
        return {}

    def chunk(self) -> dict[str, float]:
        t, cpu, start = time.perf_counter(), time.process_time(), self.global_step
        for _ in range(self.iterations):
            self._iteration()
        steps = self.global_step - start
        return {"sps": steps / (time.perf_counter() - t),
                "cpu_sps": steps / (time.process_time() - cpu)}

    def close(self) -> None:
        self.envs.close()
