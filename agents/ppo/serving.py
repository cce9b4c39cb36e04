"""What ``workbench serve`` serves for a PPO agent: an observation in, the policy's most
probable action, the probability of every action and the value estimate out (``PPO.serving``).
The most probable action keeps answers reproducible; a client that wants the stochastic policy
samples from ``probabilities`` itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

from workbench.plugin import Serving
from workbench.rollout.serving import observation_serving


class PolicyAnswer(BaseModel):
    action: int = Field(description="the most probable action")
    probabilities: list[float] = Field(description="the policy's probability of every action")
    value: float = Field(description="the critic's estimate of the discounted return")


def ppo_serving(agent: Any) -> Serving:
    def predict(obs: np.ndarray) -> list[dict[str, Any]]:
        logits, values = agent.forward(agent._to_device(obs))
        probs = torch.softmax(logits.float(), dim=-1).cpu()
        return [{"action": int(p.argmax()), "probabilities": p.tolist(), "value": float(v)}
                for p, v in zip(probs, values.float().cpu())]

    return observation_serving(agent.env, predict, PolicyAnswer, "the most probable action, "
                               "the policy's probabilities and the value", agent.obs[0])
