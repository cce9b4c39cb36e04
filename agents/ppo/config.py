"""PPO's config (light: no torch). Names and defaults follow CleanRL's ``ppo_atari.py``; the
``ppo-cartpole`` preset sets those of its ``ppo.py`` (agents/plugins.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from workbench.config import Interval, NonNegative, Positive, Probability
from workbench.envs.config import check_nature_screen
from workbench.errors import ConfigError
from workbench.rollout.config import AgentConfig


@dataclass
class PPOConfig(AgentConfig):
    # measured like DQN's Nature-CNN update: bf16 pays only where the CPU has AMX
    auto_cpu_precision: ClassVar[str] = "bf16-with-amx"

    total_steps: int = 10_000_000
    log_every: int = 10_240
    eval_every: int = 250_000
    checkpoint_every: int = 500_000
    lr: Annotated[float, Positive] = 2.5e-4
    """Adam learning rate (at the start, with anneal_lr)"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0 at total_steps"""
    adam_eps: Annotated[float, Positive] = 1e-5
    """Adam epsilon (CleanRL: 1e-5)"""
    num_steps: Annotated[int, Positive] = 128
    """vector steps per rollout: each update learns from num_envs x num_steps transitions"""
    gamma: Annotated[float, Probability] = 0.99
    """discount factor"""
    gae_lambda: Annotated[float, Probability] = 0.95
    """lambda of generalized advantage estimation (Schulman et al. 2016)"""
    num_minibatches: Annotated[int, Positive] = 4
    """minibatches per epoch over the rollout"""
    update_epochs: Annotated[int, Positive] = 4
    """passes over each rollout"""
    norm_adv: bool = True
    """normalize advantages within each minibatch"""
    clip_coef: Annotated[float, Interval(gt=0, lt=1)] = 0.1
    """surrogate clipping range epsilon (ppo_atari.py: 0.1; ppo.py: 0.2); also clips the value update"""
    clip_vloss: bool = True
    """clip the value loss around the rollout's values, as the PPO paper's code does"""
    ent_coef: Annotated[float, NonNegative] = 0.01
    """weight of the entropy bonus"""
    vf_coef: Annotated[float, NonNegative] = 0.5
    """weight of the value loss"""
    max_grad_norm: Annotated[float, NonNegative] = 0.5
    """clip the gradient norm to this (0 = off)"""
    target_kl: Annotated[float, Positive] | None = None
    """stop a rollout's epochs early once the approximate KL exceeds this (None = never)"""
    hidden: Annotated[int, Positive] = 64
    """hidden units of the actor and critic MLPs (classic control)"""
    eval_deterministic: bool = True
    """evaluation plays the most likely action; false: samples from the policy (seeded per evaluation)"""
    channels_last: bool = True
    """channels_last memory format for the CNN (faster convolutions on CPU)"""

    def validate(self) -> None:
        check_nature_screen(self.env, "PPO")
        batch = self.env.num_envs * self.num_steps
        if self.num_minibatches > batch:
            raise ConfigError(f"num_minibatches ({self.num_minibatches}) must be at most "
                              f"env.num_envs x num_steps ({batch}), the transitions per rollout.")
