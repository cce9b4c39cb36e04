"""What did the model look at? Attribution through Captum (Kokhlikyan et al. 2020, "Captum: a
unified and generic model interpretability library for PyTorch"), and the pictures, videos and
HTML pages that show it.

Each family's explain module (classifiers/explain.py, agents/dqn/explain.py,
generators/seq/explain.py) picks the inputs, the output to explain and the baseline; this module
runs the Captum method the user named and draws the result. No attribution math lives here.

The methods of ``workbench explain --method``:

=====================  ===================================================================
integrated-gradients   gradients integrated from a baseline to the input; the attributions
                       sum to output(input) - output(baseline) (Sundararajan et al. 2017)
saliency               the gradient's magnitude (Simonyan et al. 2014)
smoothgrad             saliency averaged over noisy copies of the input (Smilkov et al. 2017)
input-x-gradient       input times gradient (Shrikumar et al. 2016)
gradient-shap          expected gradients between noisy baselines and the input (Lundberg &
                       Lee 2017, "A unified approach to interpreting model predictions")
occlusion              how much the output drops when a patch is replaced by the baseline
                       (Zeiler & Fergus 2014)
=====================  ===================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench import media
from workbench.errors import UserError

if TYPE_CHECKING:
    import torch

    from workbench.logger import Logger

SIGNED = {"integrated-gradients", "input-x-gradient", "gradient-shap", "occlusion"}
"""Methods whose attributions have a sign (for or against the output); saliency and
smoothgrad give magnitudes."""

USES_BASELINE = {"integrated-gradients", "gradient-shap", "occlusion"}
"""Methods that compare the input with a reference input (``attribute``'s ``baseline``)."""


def captum_attr() -> Any:
    """``captum.attr``, or a clear error naming the extra that installs it."""
    try:
        import captum.attr
    except ImportError:
        raise UserError("`workbench explain` needs Captum, an optional extra: "
                        "pip install 'workbench[explain]' (or pip install captum).") from None
    return captum.attr


def attribute(forward: Callable[..., torch.Tensor], inputs: torch.Tensor, method: str, *,
              target: Any = None, baseline: torch.Tensor | float = 0.0, steps: int = 32,
              window: tuple[int, ...] | None = None, stride: tuple[int, ...] | None = None,
              chunk: int = 32) -> torch.Tensor:
    """Attributions of ``forward(inputs)`` (at ``target``: Captum's output index, one per
    example or one for all) to every element of ``inputs``, shaped like it.

    ``baseline`` is the reference input (integrated gradients, gradient-shap, occlusion's
    fill): one example's shape (shared by all) or one per example (e.g. each frame blurred;
    gradient-shap then draws from the chunk's); ``steps`` is the integration steps or noise samples;
    ``window`` / ``stride`` are occlusion's patch and step, per example dimension. Examples go
    through Captum ``chunk`` at a time (each expands to ``steps`` or more model inputs).
    """
    import torch

    if not torch.is_tensor(baseline):
        baseline = torch.full((1, *inputs.shape[1:]), float(baseline))
    baseline = baseline.to(inputs.device, torch.float32).reshape(-1, *inputs.shape[1:])
    per_example = len(baseline) == len(inputs) > 1
    # noise for smoothgrad / gradient-shap: 15% of the input's range (Smilkov et al. 2017)
    noise = 0.15 * float(inputs.max() - inputs.min()) or 0.15
    parts = []
    for start in range(0, len(inputs), chunk):
        part = slice(start, start + chunk)
        t = target[part] if torch.is_tensor(target) or isinstance(target, list) else target
        base = baseline[part] if per_example else baseline[:1]
        parts.append(_captum(forward, inputs[part], method, t, base, steps, window, stride,
                             noise).detach())
    return torch.cat(parts)


def _captum(forward: Callable[..., torch.Tensor], inputs: torch.Tensor, method: str, target: Any,
            baseline: torch.Tensor, steps: int, window: tuple[int, ...] | None,
            stride: tuple[int, ...] | None, noise: float) -> torch.Tensor:
    attr = captum_attr()
    x = inputs.detach().float().clone().requires_grad_(method != "occlusion")
    if method == "integrated-gradients":
        return attr.IntegratedGradients(forward).attribute(x, baselines=baseline,
                                                           target=target, n_steps=steps)
    if method == "saliency":
        return attr.Saliency(forward).attribute(x, target=target, abs=True)
    if method == "smoothgrad":
        return attr.NoiseTunnel(attr.Saliency(forward)).attribute(
            x, nt_type="smoothgrad", nt_samples=steps, stdevs=noise, target=target)
    if method == "input-x-gradient":
        return attr.InputXGradient(forward).attribute(x, target=target)
    if method == "gradient-shap":
        return attr.GradientShap(forward).attribute(x, baselines=baseline, n_samples=steps,
                                                    stdevs=noise, target=target)
    if method == "occlusion":
        if window is None:
            raise ValueError("occlusion needs a window shape")
        return attr.Occlusion(forward).attribute(
            x, sliding_window_shapes=window, strides=stride or window, baselines=baseline,
            target=target, perturbations_per_eval=8)
    raise UserError(f"unknown attribution method {method!r}; allowed: integrated-gradients, "
                    "saliency, smoothgrad, input-x-gradient, gradient-shap, occlusion.")


# --------------------------------------------------------------------------- pictures


def scale(attr: np.ndarray, signed: bool, axis: tuple[int, ...] | None = None) -> np.ndarray:
    """Attributions -> [-1, 1] (signed) or [0, 1], divided by their 99th percentile of |a| over
    ``axis`` (default: all) so that one hot pixel does not wash out the rest (Captum's own
    visualizer clips the top 2% the same way)."""
    a = np.asarray(attr, np.float32)
    a = a if signed else np.abs(a)
    top = np.percentile(np.abs(a), 99, axis=axis, keepdims=axis is not None)
    return np.clip(a / np.maximum(top, 1e-12), -1.0, 1.0)


def resize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., h, w) float maps -> (..., H, W), bilinear (e.g. DQN's 84x84 to the 210x160 frame)."""
    import torch
    import torch.nn.functional as F

    m = torch.from_numpy(np.ascontiguousarray(maps, np.float32))
    lead = m.shape[:-2]
    m = F.interpolate(m.reshape(-1, 1, *m.shape[-2:]), size=size, mode="bilinear",
                      align_corners=False)
    return m.reshape(*lead, *size).numpy()


def colorize(scaled: np.ndarray, signed: bool) -> np.ndarray:
    """Scaled maps (..., H, W) -> RGB uint8: red for, blue against (signed), or red to yellow
    (magnitudes; bright at every level, so an overlay never darkens the picture)."""
    import matplotlib

    cmap = matplotlib.colormaps["bwr" if signed else "autumn"]
    values = (scaled + 1) / 2 if signed else scaled
    return (cmap(values)[..., :3] * 255).astype(np.uint8)


def overlay(rgb: np.ndarray, scaled: np.ndarray, signed: bool, alpha: float = 0.7,
            gamma: float = 1.0) -> np.ndarray:
    """Blend the coloured attribution onto ``rgb`` (..., H, W, 3 uint8), each pixel in proportion
    to |attribution| ** gamma, so that where the model did not look the image shows through
    unchanged (gamma > 1 hides the faint rest further)."""
    weight = alpha * np.abs(scaled)[..., None] ** gamma
    blend = rgb.astype(np.float32) * (1 - weight) + colorize(scaled, signed) * weight
    return blend.astype(np.uint8)


def figure_array(fig: Any) -> np.ndarray:
    """A matplotlib figure -> RGB uint8 (and the figure closed)."""
    import matplotlib.pyplot as plt

    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --------------------------------------------------------------------------- where files go


class Output:
    """Where ``workbench explain`` writes: the run's media/ through the logger (so W&B shows it
    too), or the folder the user named with ``--out``. Names say what a file is and how it was
    made, e.g. ``explain/occlusion_grid``."""

    def __init__(self, logger: Logger | None, out: Path | None, step: int) -> None:
        self.logger, self.out, self.step = logger, out, step
        self.written: list[Path] = []

    def _file(self, name: str, suffix: str) -> Path:
        assert self.out is not None
        self.out.mkdir(parents=True, exist_ok=True)
        return self.out / f"{name.replace('/', '_')}{suffix}"

    def _keep(self, path: Path | None) -> Path:
        if path is None:
            raise UserError("explain: this process does not write media (not rank 0).")
        self.written.append(path)
        return path

    def image(self, name: str, image: np.ndarray, caption: str | None = None) -> Path:
        if self.out is not None:
            return self._keep(media.save_png(image, self._file(name, ".png")))
        assert self.logger is not None
        return self._keep(self.logger.log_image(f"explain/{name}", image, self.step, caption))

    def video(self, name: str, frames: np.ndarray, fps: float) -> Path:
        if self.out is not None:
            return self._keep(media.save_gif(frames, self._file(name, ".gif"), fps=fps))
        assert self.logger is not None
        return self._keep(self.logger.log_video(f"explain/{name}", frames, self.step, fps=fps))

    def html(self, name: str, page: str) -> Path:
        if self.out is not None:
            path = self._file(name, ".html")
            path.write_text(page, encoding="utf-8")
            return self._keep(path)
        assert self.logger is not None
        return self._keep(self.logger.log_html(f"explain/{name}", page, self.step))

    def report(self, lines: list[str]) -> str:
        """The lines, then every file written."""
        return "\n".join([*lines, *(f"wrote {p}" for p in self.written)])
