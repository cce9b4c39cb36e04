"""What ``workbench serve`` serves for the image generators: DCGAN (a seed in, a PNG out),
pix2pix (an image in, its translation as a PNG out) and fast style transfer (a photo in, the
photo in the run's style out). Each batch of requests is one pass of the
generator (``GAN.run_generator``: eval mode, so an output depends on its own input only)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, Field

from workbench.data.images import from_pil, to_float
from workbench.media import image_grid, png_bytes
from workbench.plugin import ImageRequest, Serving


class SampleRequest(BaseModel):
    seed: int = Field(0, ge=0, lt=2**63, description="seed of the latent noise (same seed, same image)")
    n: int = Field(1, ge=1, le=64, description="images: 1, or a grid of n")


def dcgan_serving(gan: Any) -> Serving:
    latent = gan.cfg.latent_size

    def predict(items: list[SampleRequest]) -> list[bytes]:
        z = torch.cat([torch.randn(r.n, latent, generator=torch.Generator().manual_seed(r.seed))
                       for r in items])
        images = gan.run_generator(z, chunk=len(z)).split([r.n for r in items])
        return [png_bytes(image_grid(x) if len(x) > 1 else x[0]) for x in images]

    size = gan.cfg.image_size
    return Serving(route="sample", summary=f"a seed in, a generated {size}x{size} image (or a "
                   "grid of n) out as PNG", request=SampleRequest, predict=predict,
                   output="image/png", example={"seed": 0, "n": 1})


def pix2pix_serving(gan: Any) -> Serving:
    channels, size = gan.train_a.shape[1], gan.cfg.image_size

    def prepare(request: ImageRequest) -> torch.Tensor:
        return from_pil(request.image, channels, (size, size))

    def predict(items: list[torch.Tensor]) -> list[bytes]:
        out = gan.run_generator(to_float(torch.stack(items)), chunk=len(items))
        return [png_bytes(x) for x in out]

    return Serving(route="translate", summary=f"an image in (made {size}x{size}, "
                   f"{'gray' if channels == 1 else 'RGB'}), its translation out as PNG",
                   input="image", prepare=prepare, predict=predict, output="image/png")


class StyleOptions(BaseModel):
    size: int = Field(256, ge=16, le=1024, description="the stylised image's side in pixels")


def style_serving(plugin: Any) -> Serving:
    """A photo is centre-cropped and resized to ``?size=`` (as ``sample --content`` does with
    ``--size``); requests of one size share one pass of the transformation network."""
    from workbench.generators.style.images import square, to_rgb
    from workbench.generators.style.objective import as_batch, as_uint8

    def prepare(request: ImageRequest) -> torch.Tensor:
        size = request.options.size if request.options else 256
        return as_batch(square(to_rgb(request.image), size))[0]

    def predict(items: list[torch.Tensor]) -> list[bytes]:
        out: list[bytes | None] = [None] * len(items)
        for side in {x.shape[-1] for x in items}:  # one pass per requested size
            idx = [i for i, x in enumerate(items) if x.shape[-1] == side]
            for i, y in zip(idx, as_uint8(plugin.apply(torch.stack([items[i] for i in idx]))),
                            strict=True):
                out[i] = png_bytes(y)
        return out  # type: ignore[return-value]

    return Serving(route="stylise", summary="a photo in, the photo in this run's style out as "
                   "PNG (?size=N px, square)", input="image", request=StyleOptions,
                   prepare=prepare, predict=predict, output="image/png")
