"""Device, precision, compilation, seeding, threads, and the optimizer step and learning-rate
schedule that plugins share: each in exactly one place."""

from __future__ import annotations

import logging
import math
import random
import warnings
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

log = logging.getLogger("workbench")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda, then mps, then cpu. An unavailable explicit device is a clear error."""
    from workbench.errors import ConfigError

    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"  # on through the checks below, which set up cuDNN as for device=cuda
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        else:
            return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} was asked for, but CUDA is not available here; use device=cpu or auto.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device={name}: only {torch.cuda.device_count()} CUDA device(s) here.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device=mps was asked for, but MPS is not available here; use device=cpu or auto.")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes in every plugin: let cuDNN pick
    return device


@dataclass(frozen=True)
class Precision:
    """The mixed-precision policy of a run. ``autocast()`` wraps forward passes and losses;
    ``grad_scaler()`` gives each optimizer its own scaler (enabled only for fp16 on CUDA)."""

    name: str  # fp32 | bf16 | fp16
    device_type: str

    @property
    def dtype(self) -> torch.dtype:
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.name]

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(
            device_type=self.device_type, dtype=self.dtype, enabled=self.name != "fp32"
        )

    def grad_scaler(self) -> torch.amp.GradScaler:
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
        enabled = self.name == "fp16" and self.device_type == "cuda"
        return torch.amp.GradScaler("cuda" if enabled else "cpu", enabled=enabled)


def resolve_precision(name: str, device: torch.device, cpu_auto: str = "bf16-with-amx") -> Precision:
    """``cpu_auto``: the plugin's ``Config.auto_cpu_precision`` (see workbench/precision.py)."""
    if name == "auto":
        if device.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif device.type == "cpu":
            from workbench.precision import auto_cpu

            name = auto_cpu(cpu_auto)
        else:  # mps: autocast support varies by macOS version; stay exact
            name = "fp32"
    if name == "fp16" and device.type == "cpu":
        log.warning("precision=fp16 on CPU runs without loss scaling; bf16 is the safer choice")
    return Precision(name, device.type)


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    parameters: Iterable[torch.nn.Parameter] | None = None,
    max_grad_norm: float | None = None,
) -> torch.Tensor | None:
    """backward, (unscale), optional grad-norm clip, step, scaler update. Returns the grad norm."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    norm = None
    if max_grad_norm is not None and max_grad_norm > 0:
        scaler.unscale_(optimizer)
        params = (
            parameters
            if parameters is not None
            else [p for g in optimizer.param_groups for p in g["params"]]
        )
        norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    return norm


def fused_optimizer_ok(device: torch.device) -> bool:
    """Whether torch's fused Adam/AdamW kernels (one pass over all weights instead of a chain of
    ops per tensor) exist for ``device``: CPU and CUDA in the torch versions we support."""
    if device.type not in ("cpu", "cuda"):
        return False
    try:
        torch.optim.Adam([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def warmup_cosine_lr(step: int, peak_lr: float, warmup_steps: int, total_steps: int,
                     min_lr: float = 0.0, schedule: str = "cosine") -> float:
    """The learning rate at ``step``: a linear warm-up to ``peak_lr`` over ``warmup_steps``, then
    a cosine decay to ``min_lr`` at ``total_steps`` (Loshchilov & Hutter 2017, "SGDR"; nanoGPT's
    schedule), held there after it; ``schedule="constant"`` keeps ``peak_lr`` after the warm-up."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return peak_lr
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (peak_lr - min_lr)


class CompiledWithFallback:
    """``torch.compile(fn)`` that falls back to eager, with one warning, if compiling or running
    the compiled graph fails (compilation is lazy: errors surface at the first call)."""

    def __init__(self, fn: Callable[..., Any], name: str, **compile_kwargs: Any) -> None:
        self.eager = fn
        self.name = name
        self.compiled: Callable[..., Any] | None = None
        try:
            self.compiled = torch.compile(fn, **compile_kwargs)
        except Exception as e:  # noqa: BLE001
            self._fail(e)

    def _fail(self, e: BaseException) -> None:
        log.warning("torch.compile of %s failed (%s: %s); running it eagerly", self.name, type(e).__name__, str(e).split("\n")[0])
        self.compiled = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as e:  # noqa: BLE001
                self._fail(e)
        return self.eager(*args, **kwargs)


def maybe_compile(fn: Callable[..., Any], enabled: bool, name: str, **kwargs: Any) -> Callable[..., Any]:
    if not enabled:
        return fn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CompiledWithFallback(fn, name, **kwargs)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Global RNG states in a form ``torch.load(weights_only=True)`` accepts."""
    py = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np_state[1].numpy().astype(np.uint32), *np_state[2:]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # one state per GPU of the saving machine; a resume on a machine with fewer GPUs (or on
        # a different GPU count under torchrun) restores the ones that exist
        for i, gpu_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(gpu_state, i)


def set_threads(torch_threads: int) -> None:
    """The run's ``torch_threads`` key: CPU threads for torch's intra-op pool (0 = torch's own
    default, one per core). Set before the plugin is built, so every plugin gets it the same way."""
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
