"""What ``workbench serve`` serves for a DQN agent: an observation in, the greedy action and
the Q-value of every action out (``DQN.serving``). Observations of a batch of requests go
through the Q-network as one batch, as the vector envs' do in training."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from workbench.errors import UserError
from workbench.plugin import Serving


class ActRequest(BaseModel):
    observation: list[Any] = Field(description="one observation as nested lists, in the env's "
                                   "shape (Atari: 4 stacked 84x84 gray frames, 0-255)")


class Action(BaseModel):
    action: int = Field(description="the greedy action (argmax of the Q-values)")
    q_values: list[float] = Field(description="the Q-value of every action")


def dqn_serving(agent: Any) -> Serving:
    shape = tuple(agent.env.obs_shape)
    dtype = np.dtype(agent.env.obs_dtype)

    def prepare(request: ActRequest) -> np.ndarray:
        try:
            obs = np.asarray(request.observation, dtype=np.float64)
        except (ValueError, TypeError):
            raise UserError(f"'observation' must be nested lists of numbers in the shape "
                            f"{shape}; its lists are ragged or hold something else.") from None
        if obs.shape != shape:
            raise UserError(f"'observation' has the shape {obs.shape}; this agent's env "
                            f"({agent.env.env_id}) gives observations of shape {shape}.")
        if not np.isfinite(obs).all():
            raise UserError("'observation' holds nan or infinite numbers.")
        if dtype == np.uint8:
            if obs.min() < 0 or obs.max() > 255:
                raise UserError("'observation' is a picture of uint8 pixels: values from 0 to 255.")
            return obs.round().astype(np.uint8)
        return obs.astype(dtype)

    def predict(items: list[np.ndarray]) -> list[dict[str, Any]]:
        q = agent.q(agent._to_device(np.stack(items))).float().cpu()
        return [{"action": int(row.argmax()), "q_values": row.tolist()} for row in q]

    example = {"observation": np.asarray(agent.obs[0]).tolist()}
    return Serving(route="act", summary=f"an observation of {agent.env.env_id} in, the greedy "
                   f"action of {agent.env.num_actions} and their Q-values out", request=ActRequest,
                   prepare=prepare, predict=predict, response=Action, example=example)
