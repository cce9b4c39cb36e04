"""What ``workbench serve`` serves for a DQN agent: an observation in, the greedy action and
the Q-value of every action out (``DQN.serving``). Observations of a batch of requests go
through the Q-network as one batch, as the vector envs' do in training; the route, its checks
and its batching are the workbench's (workbench/rollout/serving.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

from workbench.plugin import Serving
from workbench.rollout.serving import observation_serving


class Action(BaseModel):
    action: int = Field(description="the greedy action (argmax of the Q-values)")
    q_values: list[float] = Field(description="the Q-value of every action")


def dqn_serving(q: Callable[[np.ndarray], torch.Tensor], env: Any, example: np.ndarray) -> Serving:
    """POST /act for the Q-network ``q`` (observations -> Q-values) of an agent on ``env``: a
    run's agent, or a weights file (``workbench serve --pretrained dqn-pong``)."""
    def predict(obs: np.ndarray) -> list[dict[str, Any]]:
        values = q(obs).float().cpu()
        return [{"action": int(row.argmax()), "q_values": row.tolist()} for row in values]

    return observation_serving(env, predict, Action, "the greedy action and the Q-values", example)
