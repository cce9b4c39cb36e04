"""What ``workbench serve`` serves for the sequence models (``Plugin.serving``): the request
model and the batched generation that text (streamed characters) and music (a MIDI file) share.

Requests are sampled together: one forward pass per step for every prompt of the batch
(``sampling.generate_rows``), each with its own settings and seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from workbench.generators.seq.sampling import generate_rows

MAX_TOKENS = 2000  # per request: bounds the time one request can hold the model


class GenerateRequest(BaseModel):
    """Sampling settings; a field left out takes the run's ``sample.*`` setting."""

    prompt: str | None = Field(None, description="text to continue (default: the run's prompt)")
    tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="tokens to generate")
    temperature: float | None = Field(None, ge=0, le=10, description="softmax temperature (0 = greedy)")
    top_k: int | None = Field(None, ge=0, description="keep only the k most likely tokens (0 = off)")
    top_p: float | None = Field(None, gt=0, le=1, description="nucleus sampling mass (1 = off)")
    seed: int = Field(0, ge=0, lt=2**63, description="seed of the sampling (same seed, same text)")


def settings(plugin: Any, request: GenerateRequest, prompt_ids: list[int]) -> dict[str, Any]:
    """One prepared item: the prompt's token ids and the sampling settings, defaults filled in."""
    s = plugin.cfg.sample
    pick = lambda given, default: default if given is None else given  # noqa: E731
    return {"prompt": prompt_ids, "tokens": pick(request.tokens, s.tokens),
            "temperature": pick(request.temperature, s.temperature),
            "top_k": pick(request.top_k, s.top_k), "top_p": pick(request.top_p, s.top_p),
            "seed": request.seed}


def sample_rows(plugin: Any, items: list[dict[str, Any]], stop_token: int | None = None
                ) -> Iterator[list[int | None]]:
    """The batched sampler over prepared items: each step's new token per item (None: done)."""
    return generate_rows(plugin.model, [i["prompt"] for i in items], [i["tokens"] for i in items],
                         [i["temperature"] for i in items], [i["top_k"] for i in items],
                         [i["top_p"] for i in items], [i["seed"] for i in items],
                         device=plugin.ctx.device, stop_token=stop_token)
