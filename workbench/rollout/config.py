"""The config keys every agent has (light: no torch, gymnasium or ale-py import), so that
``workbench describe`` lists them fast. An agent's Config subclasses :class:`AgentConfig`; the
rollout code (workbench/rollout/agent.py) reads these keys, the agent reads its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from workbench.config import Positive, RunConfig, Seed
from workbench.envs.config import EnvConfig


@dataclass
class AgentEvalOptions:
    """Options of ``workbench eval RUN`` for every agent (an agent may subclass them)."""

    episodes: Annotated[int, Positive] | None = None
    """full games to play (default: the run's final_eval_episodes)"""
    seed: Annotated[int, Seed] | None = None
    """seed of the games and of the policy's random draws (default: the next evaluation's)"""
    video: bool = False
    """film one game as a GIF (any env that renders rgb_array): in the run's media/, or in --out"""
    out: str | None = None
    """folder for the video (default: the run's media/)"""


@dataclass
class AgentConfig(RunConfig):
    """What the workbench needs to build an agent's envs and play its evaluation games."""

    EvalOptions: ClassVar[type] = AgentEvalOptions
    env: EnvConfig = field(default_factory=EnvConfig)
    """the environment"""
    eval_episodes: Annotated[int, Positive] = 4
    """full games per evaluation (no life-loss terminal)"""
    final_eval_episodes: Annotated[int, Positive] = 10
    """full games of the final evaluation, at total_steps (the figure a run is judged by)"""
    eval_video: bool = True
    """film one game of each evaluation as a GIF (Atari: full-size RGB; other envs: their rgb_array render)"""
