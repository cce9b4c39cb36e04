"""The environment options of a run (light: no gymnasium or ale-py import), so that
``workbench describe`` lists them fast; :meth:`workbench.envs.vector.VectorEnv.from_config`
builds the environments from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from workbench.constraints import Interval, MinLen, NonNegative, Positive, Probability


@dataclass
class EnvConfig:
    id: Annotated[str, MinLen(1)] = "ALE/Pong-v5"
    """an ALE id (ALE/Pong-v5, PongNoFrameskip-v4, ...), a gymnasium id with discrete actions (CartPole-v1), or your own as module:EnvId"""
    num_envs: Annotated[int, Interval(ge=1, le=4096)] = 8
    """environments stepped together; one vector step advances num_envs env steps"""
    num_threads: Annotated[int, Interval(ge=0, le=1024)] = 2
    """C++ threads stepping the Atari envs (0 = one per core)"""
    frame_stack: Annotated[int, Interval(ge=1, le=64)] = 4
    """frames per observation (Atari; classic control uses 1)"""
    screen_size: Annotated[int, Interval(ge=16, le=210)] = 84
    """side of the square gray frames the agent sees (Atari): 84 as Nature DQN, 42 as the A3C universe-starter-agent"""
    resize: Literal["area", "max"] = "area"
    """how a 210x160 Atari frame shrinks to screen_size: area (ale-py's own, as Nature DQN) or max (the brightest pixel of each cell, so a small bright ball keeps its contrast)"""
    frame_skip: Annotated[int, Interval(ge=1, le=64)] = 4
    """emulator frames per agent step, max-pooled over the last two (Atari)"""
    noop_max: Annotated[int, NonNegative] = 30
    """up to this many no-op actions at the start of an episode (Atari)"""
    repeat_action_probability: Annotated[float, Probability] = 0.0
    """sticky actions (Machado et al. 2018): 0 as CleanRL and SB3, 0.25 as Dopamine (Atari)"""
    max_episode_frames: Annotated[int, Positive] = 108_000
    """emulator frames before an Atari episode is truncated (108,000 = 30 minutes, as Machado et al.)"""
    life_loss_terminal: bool = True
    """training only: a lost life cuts the bootstrap as in Nature DQN; evaluation plays full games"""
    clip_rewards: bool = True
    """clip training rewards to their sign (episode returns always report the true score)"""


NATURE_MIN_SCREEN = 36
"""The smallest frame the Nature CNN reads: 8x8 stride 4, 4x4 stride 2 and 3x3 leave 1x1 at 36."""


def nature_conv_side(n: int) -> int:
    """The side of the Nature CNN's last conv output for frames of side ``n`` (84 -> 7)."""
    return ((n - 8) // 4 + 1 - 4) // 2 + 1 - 2


def check_nature_screen(env: EnvConfig, network: str, alternative: str = "") -> None:
    """A config's rule between ``env.screen_size`` and a Nature-CNN network (exit 2 before a run)."""
    from workbench.errors import ConfigError

    if env.screen_size < NATURE_MIN_SCREEN:
        raise ConfigError(f"env.screen_size={env.screen_size} is too small for {network}, whose "
                          "Nature-CNN layers (8x8 stride 4, 4x4 stride 2, 3x3) need frames of "
                          f"{NATURE_MIN_SCREEN} or more{alternative}.")
