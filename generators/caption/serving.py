"""What ``workbench serve`` serves for a captioner: an image in, its caption out
(``Captioner.serving``); the image is prepared exactly as ``sample --image`` prepares it."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from workbench.generators.caption.data import square_array
from workbench.plugin import ImageRequest, Serving


class CaptionOptions(BaseModel):
    beam: int = Field(1, ge=1, le=10, description="beam width (1: greedy decoding)")


class Caption(BaseModel):
    caption: str = Field(description="the generated sentence")
    words: list[str] = Field(description="the caption's words, in order")


def caption_serving(plugin: Any) -> Serving:
    """Greedy requests of a batch share one encoder and decoder pass; beam requests are decoded
    one by one (beam search keeps its own batch of hypotheses)."""
    size = plugin.cfg.image_size

    def prepare(request: ImageRequest) -> tuple[np.ndarray, int]:
        beam = request.options.beam if request.options else 1
        return square_array(request.image.convert("RGB"), size), beam

    def predict(items: list[tuple[np.ndarray, int]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any] | None] = [None] * len(items)
        for beam in sorted({b for _, b in items}):
            idx = [i for i, (_, b) in enumerate(items) if b == beam]
            words, _ = plugin.caption(np.stack([items[i][0] for i in idx]), beam)
            for i, w in zip(idx, words, strict=True):
                out[i] = {"caption": " ".join(w), "words": list(w)}
        return out  # type: ignore[return-value]

    return Serving(route="caption", summary=f"an image in, its caption out (the model sees "
                   f"3x{size}x{size}; ?beam=N for beam search)", input="image",
                   request=CaptionOptions, prepare=prepare, predict=predict, response=Caption)
