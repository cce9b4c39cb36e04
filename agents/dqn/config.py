"""DQN's config (light: no torch). Names follow CleanRL's ``dqn_atari.py`` where one exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from workbench.envs.config import EnvConfig

from workbench.config import RunConfig
from workbench.errors import ConfigError


@dataclass
class DQNEvalOptions:
    episodes: int | None = None
    """full games to play (default: the run's final_eval_episodes; --pretrained: 10)"""
    seed: int | None = None
    """seed of the games and of the exploration draws (default: the next evaluation's; --pretrained: 0)"""
    epsilon: float | None = None
    """exploration while playing (default: the run's eval_epsilon, as shipped with --pretrained)"""
    video: bool = False
    """film the last game as a GIF (Atari): in the run's media/, or in --out"""
    out: str | None = None
    """folder for the video (needed with --pretrained --video: nothing is written unasked)"""

    def validate(self) -> None:
        if self.episodes is not None and self.episodes <= 0:
            raise ConfigError(f"config key 'episodes' must be a positive number of games; "
                              f"got {self.episodes}.")
        if self.epsilon is not None and not 0 <= self.epsilon <= 1:
            raise ConfigError(f"config key 'epsilon' must be in [0, 1]; got {self.epsilon}.")


@dataclass
class DQNConfig(RunConfig):
    # bf16 autocast + channels_last made the Nature-CNN update 1.5x faster on a CPU with AMX
    # (README, issue 17) and 0.6x as fast on one without (benchmarks/dqn_update_variants.py),
    # so precision=auto is bf16 only where the CPU has AMX (workbench/precision.py)
    auto_cpu_precision: ClassVar[str] = "bf16-with-amx"

    EvalOptions: ClassVar[type] = DQNEvalOptions
    total_steps: int = 10_000_000
    log_every: int = 10_000
    eval_every: int = 100_000
    checkpoint_every: int = 500_000
    env: EnvConfig = field(default_factory=EnvConfig)
    """the environment"""
    buffer_size: int = 1_000_000
    """replay capacity in transitions (each 84x84 frame stored once: 1M Pong transitions = 7.1 GB)"""
    checkpoint_replay: bool | None = None
    """save the replay buffer in checkpoints so a resumed run continues its curve (None = on for Atari)"""
    learning_starts: int = 80_000
    """env steps of random play before learning"""
    batch_size: int = 32
    """transitions per gradient step"""
    train_frequency: int = 4
    """env steps per gradient step (with num_envs envs, a vector step does num_envs / train_frequency of them)"""
    gradient_steps: int = 1
    """gradient steps each time train_frequency env steps have passed"""
    gamma: float = 0.99
    """discount factor"""
    n_step: int = 1
    """n-step returns (Sutton 1988; Rainbow uses 3)"""
    double: bool = True
    """Double DQN targets (van Hasselt et al. 2016): online net picks, target net evaluates"""
    dueling: bool = False
    """dueling head (Wang et al. 2016)"""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: Huber (smooth L1, delta 1) as Nature DQN, or MSE"""
    lr: float = 1e-4
    """Adam learning rate"""
    adam_eps: float = 1.5e-4
    """Adam epsilon (Dopamine and Rainbow use 1.5e-4 with lr 6.25e-5 to 1e-4)"""
    max_grad_norm: float = 10.0
    """clip the gradient norm to this (0 = off)"""
    target_network_frequency: int = 8_000
    """env steps between target-network updates"""
    tau: float = 1.0
    """target update rate: 1 = hard copy, <1 = Polyak averaging at each target update"""
    start_e: float = 1.0
    """epsilon at the start"""
    end_e: float = 0.01
    """epsilon after exploration_steps"""
    exploration_steps: int = 250_000
    """env steps over which epsilon falls linearly from start_e to end_e (counted from step 0)"""
    eval_episodes: int = 4
    """full games per evaluation (no life-loss terminal)"""
    final_eval_episodes: int = 10
    """full games of the final evaluation, at total_steps (the figure a run is judged by)"""
    eval_epsilon: float = 0.001
    """epsilon while evaluating: 0.001 as Dopamine, 0.05 as Nature DQN"""
    eval_video: bool = True
    """record one evaluation game as an RGB video (Atari)"""
    hidden: int = 128
    """hidden units of the MLP (classic control)"""
    channels_last: bool = True
    """channels_last memory format for the CNN (faster convolutions on CPU)"""

    def validate(self) -> None:
        for name in ("buffer_size", "batch_size", "train_frequency", "gradient_steps", "n_step",
                     "target_network_frequency", "eval_episodes", "final_eval_episodes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"config key '{name}' must be positive; got {getattr(self, name)}.")
        if self.env.num_envs <= 0:
            raise ConfigError(f"config key 'env.num_envs' must be positive; got {self.env.num_envs}.")
        if not 0 < self.tau <= 1:
            raise ConfigError(f"config key 'tau' must be in (0, 1]; got {self.tau}.")
        if not 0 <= self.gamma <= 1:
            raise ConfigError(f"config key 'gamma' must be in [0, 1]; got {self.gamma}.")
        for name in ("start_e", "end_e", "eval_epsilon"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"config key '{name}' must be in [0, 1]; got {getattr(self, name)}.")
        if self.buffer_size < self.batch_size:
            raise ConfigError(f"buffer_size ({self.buffer_size}) must be at least batch_size "
                              f"({self.batch_size}).")
