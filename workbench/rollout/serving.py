"""What ``workbench serve`` gives every agent: POST /act, one observation in (checked against
the env's shape, dtype and range), the agent's answer out. The agent supplies only ``predict``
(a batch of observations -> one answer each) and the response model; DQN answers with its
Q-values, PPO with its policy's probabilities and its value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from workbench.errors import UserError
from workbench.plugin import Serving


class ActRequest(BaseModel):
    observation: list[Any] = Field(description="one observation as nested lists, in the env's "
                                   "shape (Atari: 4 stacked gray frames of env.screen_size, 84x84 "
                                   "by default, 0-255, shrunk as env.resize says)")


def observation_serving(env: Any, predict: Callable[[np.ndarray], list[dict[str, Any]]],
                        response: type[BaseModel], answer: str, example: np.ndarray) -> Serving:
    """POST /act for an agent whose env is ``env`` (a :class:`~workbench.envs.vector.VectorEnv`:
    its ``obs_shape``, ``obs_dtype``, ``env_id``, ``num_actions``): ``predict`` gets the stacked
    observations of a micro-batch; ``answer`` ends the route's summary ("the greedy action and
    its Q-values"); ``example`` is one observation for /ui and the OpenAPI description."""
    shape, dtype = tuple(env.obs_shape), np.dtype(env.obs_dtype)

    def prepare(request: ActRequest) -> np.ndarray:
        try:
            obs = np.asarray(request.observation, dtype=np.float64)
        except (ValueError, TypeError):
            raise UserError(f"'observation' must be nested lists of numbers in the shape "
                            f"{shape}; its lists are ragged or hold something else.") from None
        if obs.shape != shape:
            raise UserError(f"'observation' has the shape {obs.shape}; this agent's env "
                            f"({env.env_id}) gives observations of shape {shape}.")
        if not np.isfinite(obs).all():
            raise UserError("'observation' holds nan or infinite numbers.")
        if dtype == np.uint8:
            if obs.min() < 0 or obs.max() > 255:
                raise UserError("'observation' is a picture of uint8 pixels: values from 0 to 255.")
            return obs.round().astype(np.uint8)
        return obs.astype(dtype)

    return Serving(route="act", summary=f"an observation of {env.env_id} in, {answer} out "
                   f"({env.num_actions} actions)", request=ActRequest, prepare=prepare,
                   predict=lambda items: predict(np.stack(items)), response=response,
                   example={"observation": np.asarray(example).tolist()})
