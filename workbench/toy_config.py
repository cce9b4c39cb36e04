"""The built-in toy plugin's config and registration: a least-squares line fit on synthetic data.

It exists so that the core (config, loop, checkpoints, resume, logging, CLI) is tested without
the big plugins; it is also the smallest example of a plugin (see workbench/toy.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from workbench.config import BatchSize, Ge, Interval, NonNegative, Positive, RunConfig, Seed
from workbench.registry import register, register_preset


@dataclass
class OptimConfig:
    lr: Annotated[float, Positive] = 0.05
    """SGD learning rate"""
    momentum: Annotated[float, Interval(ge=0, lt=1)] = 0.9
    """SGD momentum"""


@dataclass
class LinRegSampleOptions:
    n: Annotated[int, Positive] = 8
    """inputs to draw and predict"""
    seed: Annotated[int, Seed] = 0
    """seed of the random inputs"""


@dataclass
class LinRegConfig(RunConfig):
    SampleOptions: ClassVar[type] = LinRegSampleOptions
    total_steps: int = 400
    log_every: int = 50
    eval_every: int = 200
    checkpoint_every: int = 100
    features: Annotated[int, Positive] = 8
    """input dimension of the synthetic regression problem"""
    batch_size: Annotated[int, BatchSize] = 64
    """examples per step"""
    noise: Annotated[float, NonNegative] = 0.1
    """standard deviation of the label noise"""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """optimizer settings"""
    nan_at_step: Annotated[int, Ge(-1)] = -1
    """make the loss NaN from this step on (exercises the loop's non-finite guard); -1 = never"""
    sleep_per_step: Annotated[float, NonNegative] = 0.0
    """seconds to sleep in each step (lets tests interrupt a run midway)"""
    sleep_per_eval: Annotated[float, NonNegative] = 0.0
    """seconds each evaluation takes (lets tests stop a run during one, as a long Pong eval)"""


register(
    "linreg",
    entry_point="workbench.toy:LinearRegression",
    config="workbench.toy_config:LinRegConfig",
    kind="generator",
    metric="eval/mse",
    goal="min",
    description="toy: fit a linear map to synthetic data (tests and the plugin tutorial)",
    smoke={"total_steps": 20, "log_every": 5, "eval_every": 10, "checkpoint_every": 10},
)
register_preset("linreg-quick", "linreg", "toy: 100 steps, for smoke tests", total_steps=100,
                eval_every=50, checkpoint_every=50, log_every=10)
