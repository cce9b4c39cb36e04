"""Proximal Policy Optimization (Schulman et al. 2017, "Proximal Policy Optimization
Algorithms") with the details of CleanRL's ``ppo.py`` and ``ppo_atari.py`` (Huang et al. 2022,
"The 37 Implementation Details of PPO"): generalized advantage estimation (Schulman et al.
2016), the clipped surrogate and clipped value loss, advantages normalized per minibatch, an
entropy bonus, several epochs of minibatches over each rollout, and a learning rate annealed
linearly to 0.

The workbench's rollout loop (workbench/rollout/agent.py) steps the envs: ``act`` samples an
action and remembers its log-probability and value, ``observe`` writes each vector step into
the rollout, and ``learn`` runs after every ``num_steps`` vector steps on that rollout alone.

One difference from CleanRL, forced by gymnasium 1.x's next-step autoreset (ale-py's vector
env does the same): the step after an episode ends only resets its env, so it is left out of
the loss; and a time-limit truncation bootstraps from the final observation's value instead of
counting as a terminal (the final observation is the one the reset step was acting on).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.agents.ppo.config import PPOConfig
from workbench.envs.config import nature_conv_side
from workbench.plugin import Context, Serving
from workbench.rollout.agent import Agent, Transition
from workbench.runtime import fused_optimizer_ok


def layer_init(layer: nn.Module, std: float = 2 ** 0.5, bias: float = 0.0) -> nn.Module:
    """Orthogonal weights (Saxe et al. 2014) and constant biases, as CleanRL's PPO."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class MLPActorCritic(nn.Module):
    """CleanRL's ppo.py network: separate 64-64 tanh actor and critic."""

    def __init__(self, in_features: int, num_actions: int, hidden: int) -> None:
        super().__init__()

        def trunk() -> list[nn.Module]:
            return [nn.Flatten(), layer_init(nn.Linear(in_features, hidden)), nn.Tanh(),
                    layer_init(nn.Linear(hidden, hidden)), nn.Tanh()]

        self.actor = nn.Sequential(*trunk(), layer_init(nn.Linear(hidden, num_actions), 0.01))
        self.critic = nn.Sequential(*trunk(), layer_init(nn.Linear(hidden, 1), 1.0))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = obs.float()
        return self.actor(x), self.critic(x).squeeze(-1)


class CNNActorCritic(nn.Module):
    """CleanRL's ppo_atari.py network: the Nature-DQN trunk shared by a policy and a value head."""

    def __init__(self, in_channels: int, num_actions: int, frame_size: tuple[int, int] = (84, 84)) -> None:
        super().__init__()
        side = nature_conv_side
        self.features = nn.Sequential(
            layer_init(nn.Conv2d(in_channels, 32, 8, stride=4)), nn.ReLU(),
            layer_init(nn.Conv2d(32, 64, 4, stride=2)), nn.ReLU(),
            layer_init(nn.Conv2d(64, 64, 3, stride=1)), nn.ReLU(),
            nn.Flatten(), layer_init(nn.Linear(64 * side(frame_size[0]) * side(frame_size[1]), 512)), nn.ReLU(),
        )
        self.actor = layer_init(nn.Linear(512, num_actions), 0.01)
        self.critic = layer_init(nn.Linear(512, 1), 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # conv1(x / 255) == conv1 with its weight / 255: the scale touches 8k weights, not the
        # whole uint8 batch (which travels to the device as uint8)
        first = self.features[0]
        x = F.conv2d(obs.float(), first.weight * (1.0 / 255.0), first.bias, stride=first.stride)
        h = self.features[1:](x)
        return self.actor(h), self.critic(h).squeeze(-1)


def gae(rewards: np.ndarray, values: np.ndarray, terminated: np.ndarray, ends: np.ndarray,
        next_value: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalized advantage estimates (Schulman et al. 2016) of a (T, N) rollout.
    ``terminated``: no bootstrap after the step; ``ends``: an episode ended there (terminated or
    truncated), so no advantage flows back across it; a truncated step still bootstraps from the
    next slot's value (the final observation's)."""
    advantages = np.zeros_like(values)
    last = np.zeros_like(next_value)
    for t in reversed(range(len(rewards))):
        nxt = next_value if t == len(rewards) - 1 else values[t + 1]
        delta = rewards[t] + gamma * nxt * (1.0 - terminated[t]) - values[t]
        last = delta + gamma * lam * (1.0 - ends[t]) * last
        advantages[t] = last
    return advantages


class PPO(Agent[PPOConfig]):

    def __init__(self, cfg: PPOConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)  # builds self.env (= ctx.env) and resets it
        env = self.env
        self.rollout_length = cfg.num_steps
        self.atari = env.atari
        if self.atari:
            self.net: nn.Module = CNNActorCritic(env.obs_shape[0], env.num_actions, tuple(env.obs_shape[1:]))
        else:
            self.net = MLPActorCritic(int(np.prod(env.obs_shape)), env.num_actions, cfg.hidden)
        self.channels_last = cfg.channels_last and self.atari
        self.net.to(ctx.device)
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, eps=cfg.adam_eps,
                                    fused=fused_optimizer_ok(ctx.device))
        self.scaler = ctx.grad_scaler()
        self.forward = ctx.compile(self.net, "actor_critic")
        self.rng = np.random.default_rng(cfg.seed + 1)  # minibatch order
        # the rollout: observations on the device (uint8 frames stay uint8), the rest NumPy
        T, N = cfg.num_steps, env.num_envs
        obs_dtype = torch.uint8 if env.obs_dtype == np.uint8 else torch.float32
        self.obs_buf = torch.zeros((T, N, *env.obs_shape), dtype=obs_dtype, device=ctx.device)
        self.actions = np.zeros((T, N), np.int64)
        self.logprobs = np.zeros((T, N), np.float32)
        self.values = np.zeros((T, N), np.float32)
        self.rewards = np.zeros((T, N), np.float32)
        self.terminated = np.zeros((T, N), np.float32)
        self.ends = np.zeros((T, N), np.float32)
        self.valid = np.zeros((T, N), bool)
        self.t = 0
        self._acted: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ acting
    def _to_device(self, obs: np.ndarray | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(obs).to(self.ctx.device, non_blocking=True)
        if self.channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        with self.ctx.autocast():
            logits, value = self.forward(self._to_device(obs))
        logp = torch.log_softmax(logits.float(), dim=-1)
        if explore:  # sample, and keep what the loss will compare against
            action = torch.multinomial(logp.exp(), 1)
            self._acted = (logp.gather(1, action).squeeze(1).cpu().numpy(),
                           value.float().cpu().numpy())
            return action.squeeze(1).cpu().numpy()
        if self.cfg.eval_deterministic:
            return logp.argmax(dim=1).cpu().numpy()
        # a sample drawn from the evaluation's own seeded generator (Gumbel-max), so that an
        # evaluation can be replayed and never moves the training RNG
        gumbel = -np.log(-np.log(self.eval_rng.random(logp.shape)))
        return (logp.cpu().numpy() + gumbel).argmax(axis=1)

    def observe(self, t: Transition) -> None:
        i = self.t
        self.obs_buf[i].copy_(torch.from_numpy(t.obs))
        self.actions[i] = t.actions
        self.logprobs[i], self.values[i] = self._acted
        self.rewards[i] = t.rewards
        self.terminated[i] = t.terminated
        self.ends[i] = t.terminated | t.truncated
        self.valid[i] = ~t.reset_step  # a reset step's action was ignored: learn nothing from it
        self.next_obs = t.next_obs
        self.t += 1

    # ------------------------------------------------------------------ learning
    def learn(self, step: int) -> dict[str, Any]:
        """Epochs of clipped-surrogate minibatch updates on the rollout just collected."""
        c = self.cfg
        self.t = 0
        lr = c.lr * max(0.0, 1.0 - step / c.total_steps) if c.anneal_lr else c.lr
        for group in self.opt.param_groups:
            group["lr"] = lr
        with torch.no_grad(), self.ctx.autocast():
            next_value = self.forward(self._to_device(self.next_obs))[1].float().cpu().numpy()
        advantages = gae(self.rewards, self.values, self.terminated, self.ends, next_value,
                         c.gamma, c.gae_lambda)
        returns = advantages + self.values
        keep = np.flatnonzero(self.valid.reshape(-1))
        dev = self.ctx.device
        b_obs = self.obs_buf.reshape(-1, *self.obs_buf.shape[2:])
        b = {k: torch.from_numpy(v.reshape(-1)).to(dev) for k, v in (
            ("actions", self.actions), ("logprobs", self.logprobs), ("values", self.values),
            ("advantages", advantages), ("returns", returns))}
        clipped = torch.zeros((), device=dev)
        minibatches = 0
        for _ in range(c.update_epochs):
            for idx in np.array_split(self.rng.permutation(keep), c.num_minibatches):
                mb = torch.from_numpy(idx).to(dev)
                out = self._update(self._to_device(b_obs[mb]), *(b[k][mb] for k in (
                    "actions", "logprobs", "values", "advantages", "returns")))
                clipped += out.pop("clipfrac")
                minibatches += 1
            if c.target_kl is not None and float(out["train/approx_kl"]) > c.target_kl:
                break
        var = float(np.var(returns.reshape(-1)[keep]))
        explained = (1.0 - float(np.var((returns - self.values).reshape(-1)[keep])) / var
                     if var > 0 else float("nan"))
        return {**out, "train/clipfrac": clipped / minibatches, "train/lr": lr,
                "train/explained_variance": explained}

    def _update(self, obs: torch.Tensor, actions: torch.Tensor, old_logprobs: torch.Tensor,
                old_values: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        c = self.cfg
        with self.ctx.autocast():
            logits, value = self.forward(obs)
        logp = torch.log_softmax(logits.float(), dim=-1)
        logratio = logp.gather(1, actions[:, None]).squeeze(1) - old_logprobs
        ratio = logratio.exp()
        if c.norm_adv and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        pg_loss = torch.max(-advantages * ratio,
                            -advantages * ratio.clamp(1 - c.clip_coef, 1 + c.clip_coef)).mean()
        value = value.float()
        if c.clip_vloss:
            v_clipped = old_values + (value - old_values).clamp(-c.clip_coef, c.clip_coef)
            v_loss = 0.5 * torch.max((value - returns) ** 2, (v_clipped - returns) ** 2).mean()
        else:
            v_loss = 0.5 * ((value - returns) ** 2).mean()
        entropy = -(logp.exp() * logp).sum(1).mean()
        loss = pg_loss - c.ent_coef * entropy + c.vf_coef * v_loss
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if c.max_grad_norm > 0:
            self.scaler.unscale_(self.opt)
            nn.utils.clip_grad_norm_(self.net.parameters(), c.max_grad_norm)
        self.scaler.step(self.opt)
        self.scaler.update()
        with torch.no_grad():  # http://joschu.net/blog/kl-approx.html
            approx_kl = ((ratio - 1) - logratio).mean()
            clipfrac = ((ratio - 1).abs() > c.clip_coef).float().mean()
        return {"train/loss": loss.detach(), "train/policy_loss": pg_loss.detach(),
                "train/value_loss": v_loss.detach(), "train/entropy": entropy.detach(),
                "train/approx_kl": approx_kl, "clipfrac": clipfrac}

    def eval_policy(self) -> str:
        return "greedy" if self.cfg.eval_deterministic else "sampling from the policy"

    # ------------------------------------------------------------------ checkpoints
    # a call of the loop ends with a learned, emptied rollout: nothing of it to save
    checkpointed = ("net", "opt", "scaler", "rng")

    def export_module(self) -> tuple[nn.Module, torch.Tensor]:
        return self.net, torch.from_numpy(np.ascontiguousarray(self.obs[:1]))

    def serving(self) -> Serving:
        """``workbench serve``: POST /act, an observation in, the policy's answer out."""
        from workbench.agents.ppo.serving import ppo_serving

        return ppo_serving(self)
