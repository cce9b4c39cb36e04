"""DQN's config (light: no torch). Names follow CleanRL's ``dqn_atari.py`` where one exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from workbench.config import (
    BatchSize,
    Interval,
    NonNegative,
    Positive,
    Probability,
)
from workbench.envs.config import EnvConfig as EnvConfig  # noqa: F401 - re-exported (tests import it here)
from workbench.envs.config import check_nature_screen
from workbench.errors import ConfigError
from workbench.options import AttributionMethod
from workbench.rollout.config import AgentConfig, AgentEvalOptions


@dataclass
class DQNEvalOptions(AgentEvalOptions):
    """The workbench's eval options (--pretrained: 10 games, seed 0, --video needs --out) and
    the exploration to play at."""

    epsilon: Annotated[float, Probability] | None = None
    """exploration while playing (default: the run's eval_epsilon, as shipped with --pretrained)"""


@dataclass
class DQNExplainOptions:
    method: AttributionMethod = "saliency"
    """Captum method for the chosen action's Q-value (integrated-gradients: ~steps x slower)"""
    n: int = 8
    """frames in the PNG strip, evenly spaced over the game (Atari; the video shows the whole game)"""
    steps: int = 16
    """integration steps (integrated-gradients) or noise samples (smoothgrad, gradient-shap)"""
    baseline: Literal["blur", "black"] = "blur"
    """Atari reference input of integrated-gradients, gradient-shap and occlusion: each frame blurred (Greydanus et al. 2018) or all black"""
    seed: int = 0
    """seed of the game"""
    epsilon: float | None = None
    """exploration while playing (default: the run's eval_epsilon)"""

    def validate(self) -> None:
        for name in ("n", "steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"config key '{name}' must be positive; got {getattr(self, name)}.")
        if self.epsilon is not None and not 0 <= self.epsilon <= 1:
            raise ConfigError(f"config key 'epsilon' must be in [0, 1]; got {self.epsilon}.")


@dataclass
class DQNConfig(AgentConfig):
    # bf16 autocast + channels_last made the Nature-CNN update faster on a CPU with AMX (73 vs
    # 44 updates/s for fp32: docs/benchmarks.md, reference figures) and on an AMD EPYC with
    # AVX-512 BF16 (1.45x at 2 threads, 1.57x at 1), but 0.6x as fast on an Intel Xeon without AMX
    # (benchmarks/dqn_update_variants.py, docs/dqn.md), so precision=auto is bf16 on those two
    # kinds of CPU (workbench/precision.py)
    auto_cpu_precision: ClassVar[str] = "bf16-amx-or-amd"

    EvalOptions: ClassVar[type] = DQNEvalOptions
    ExplainOptions: ClassVar[type] = DQNExplainOptions
    total_steps: int = 10_000_000
    log_every: int = 10_000
    eval_every: int = 100_000
    checkpoint_every: int = 500_000
    buffer_size: Annotated[int, Positive] = 1_000_000
    """replay capacity in transitions (each frame stored once: 1M Pong transitions = 7.1 GB at 84x84, 3.1 GB at 56x56)"""
    checkpoint_replay: bool | None = None
    """save the replay buffer in checkpoints so a resumed run continues its curve (None = on for Atari)"""
    learning_starts: Annotated[int, NonNegative] = 80_000
    """env steps of random play before learning"""
    batch_size: Annotated[int, BatchSize] = 32
    """transitions per gradient step"""
    train_frequency: Annotated[int, Positive] = 4
    """env steps per gradient step (with num_envs envs, a vector step does num_envs / train_frequency of them)"""
    gradient_steps: Annotated[int, Positive] = 1
    """gradient steps each time train_frequency env steps have passed"""
    gamma: Annotated[float, Probability] = 0.99
    """discount factor"""
    n_step: Annotated[int, Positive] = 1
    """n-step returns (Sutton 1988; Rainbow uses 3)"""
    double: bool = True
    """Double DQN targets (van Hasselt et al. 2016): online net picks, target net evaluates"""
    dueling: bool = False
    """dueling head (Wang et al. 2016)"""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: Huber (smooth L1, delta 1) as Nature DQN, or MSE (with num_quantiles: the quantile Huber loss, kappa 1)"""
    num_quantiles: Annotated[int, NonNegative] = 0
    """QR-DQN (Dabney et al. 2018): predict this many return quantiles per action and regress them with the quantile Huber loss (0 = one Q-value per action; the paper uses 200)"""
    lr: Annotated[float, Positive] = 1e-4
    """Adam learning rate (at step 0, with lr_decay_steps)"""
    end_lr: Annotated[float, NonNegative] | None = None
    """learning rate from lr_decay_steps on (needs lr_decay_steps; None = 0 when lr_decay_steps is set)"""
    lr_decay_steps: Annotated[int, NonNegative] = 0
    """env steps over which the learning rate falls linearly from lr to end_lr, counted from step 0 as epsilon's (0 = constant lr)"""
    prioritized_replay: bool = False
    """sample transitions in proportion to their last TD error (Schaul et al. 2016; Rainbow's replay), with importance weights"""
    priority_alpha: Annotated[float, Probability] = 0.5
    """how much priority counts: P(i) ~ (|td| + 1e-6) ** alpha (0 = uniform; Rainbow 0.5)"""
    priority_beta: Annotated[float, Probability] = 0.4
    """importance-weight exponent at step 0, rising linearly to 1 at total_steps (Schaul et al. 2016: 0.4)"""
    adam_eps: Annotated[float, Positive] = 1.5e-4
    """Adam epsilon (Dopamine and Rainbow use 1.5e-4 with lr 6.25e-5 to 1e-4)"""
    max_grad_norm: Annotated[float, NonNegative] = 10.0
    """clip the gradient norm to this (0 = off)"""
    target_network_frequency: Annotated[int, Positive] = 8_000
    """env steps between target-network updates"""
    tau: Annotated[float, Interval(gt=0, le=1)] = 1.0
    """target update rate: 1 = hard copy, <1 = Polyak averaging at each target update"""
    start_e: Annotated[float, Probability] = 1.0
    """epsilon at the start"""
    end_e: Annotated[float, Probability] = 0.01
    """epsilon after exploration_steps"""
    exploration_steps: Annotated[int, NonNegative] = 250_000
    """env steps over which epsilon falls linearly from start_e to end_e (counted from step 0)"""
    eval_epsilon: Annotated[float, Probability] = 0.001
    """epsilon while evaluating: 0.001 as Dopamine, 0.05 as Nature DQN"""
    hidden: Annotated[int, Positive] = 128
    """hidden units of the MLP (classic control)"""
    network: Literal["nature", "compact"] = "nature"
    """Atari Q-network: the Nature DQN CNN (Mnih et al. 2015), or four 3x3 stride-2 conv layers and a 256-unit head (the A3C universe-starter-agent's, for 42x42 frames: env.screen_size=42)"""
    channels_last: bool = True
    """channels_last memory format for the CNN (faster convolutions on CPU)"""

    def validate(self) -> None:
        # ranges are declared on the fields; these are the rules between two of them
        if self.network == "nature":
            check_nature_screen(self.env, "network=nature",
                                "; network=compact reads any size")
        if self.buffer_size < self.batch_size:
            raise ConfigError(f"buffer_size ({self.buffer_size}) must be at least batch_size "
                              f"({self.batch_size}).")
        if self.num_quantiles and self.loss != "huber":
            raise ConfigError(f"loss={self.loss} does not apply with num_quantiles "
                              f"({self.num_quantiles}): a quantile head is trained with the "
                              "quantile Huber loss. Leave loss at huber, or set num_quantiles=0 "
                              "for one Q-value per action.")
        if self.end_lr is not None and self.lr_decay_steps == 0:
            raise ConfigError(f"end_lr ({self.end_lr:g}) needs lr_decay_steps, the env steps over "
                              "which the learning rate falls from lr to end_lr; without it the "
                              "learning rate stays at lr.")
