"""What ``workbench serve`` serves for an image classifier: an image in, the top-k labels with
their probabilities out (``ImageClassifier.serving``)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, Field

from workbench.data.images import from_pil, to_float
from workbench.plugin import ImageRequest, Serving


class ClassifyOptions(BaseModel):
    k: int = Field(5, ge=1, le=1000, description="how many labels, most probable first")


class Label(BaseModel):
    label: str
    probability: float


class Classification(BaseModel):
    predictions: list[Label] = Field(description="the k most probable labels, most probable first")


def classifier_serving(plugin: Any) -> Serving:
    """Any image is converted to the training images' channels and size (bilinear), then
    scaled to [-1, 1] as in training; one forward pass classifies the whole batch."""
    channels, height, width = plugin.train_set.shape
    classes: list[str] = list(plugin.classes)

    def prepare(request: ImageRequest) -> tuple[torch.Tensor, int]:
        k = min(request.options.k if request.options else 5, len(classes))
        return from_pil(request.image, channels, (height, width)), k

    def predict(items: list[tuple[torch.Tensor, int]]) -> list[dict[str, Any]]:
        x = to_float(torch.stack([image for image, _ in items]).to(plugin.ctx.device))
        probs = plugin.model(x).float().softmax(1).cpu()
        out = []
        for p, (_, k) in zip(probs, items):
            top = p.topk(k)
            out.append({"predictions": [{"label": classes[i], "probability": round(v, 6)}
                                        for v, i in zip(top.values.tolist(), top.indices.tolist())]})
        return out

    return Serving(route="classify", summary=f"an image in, the top-k of {len(classes)} labels "
                   f"with probabilities out (the model sees {channels}x{height}x{width})",
                   input="image", request=ClassifyOptions, prepare=prepare, predict=predict,
                   response=Classification)
