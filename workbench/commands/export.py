"""``workbench export RUN_DIR --format torchscript|onnx|weights [--out F]``.

``weights`` writes the plugin's own compact weights file (the one ``eval --pretrained FILE``
plays and a preset can ship: workbench/commands/pretrained.py); plugins that register weights
hooks have it.

A plugin says what is worth exporting through ``export_module() -> (module, example_input)``:
the policy network of an agent, the generator of a GAN, a classifier. The module is exported
in fp32 on the CPU, in eval mode, with a dynamic batch dimension, then loaded back (torch.jit /
onnxruntime) and checked against the eager module on the example batch and on a batch of
another size; the largest difference is printed.

- TorchScript: ``torch.jit.trace`` (falls back to ``torch.jit.script`` when tracing fails).
- ONNX: the ``torch.export``-based exporter (``dynamo=True``, the default since PyTorch 2.9,
  needs ``onnxscript``), falling back to the TorchScript-based one when it cannot export.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import warnings
from pathlib import Path
from typing import Any

from workbench.errors import UserError

FORMATS = {"torchscript": ".pt", "onnx": ".onnx", "weights": ".weights.pt"}
log = logging.getLogger("workbench")


def _as_tuple(example: Any) -> tuple[Any, ...]:
    return tuple(example) if isinstance(example, (tuple, list)) else (example,)


def _module_and_example(plugin: Any) -> tuple[Any, Any]:
    """``plugin.export_module()``, checked: a plugin author's mistake is an exit-2 message."""
    import torch

    result = plugin.export_module()
    ok = (isinstance(result, tuple) and len(result) == 2
          and isinstance(result[0], torch.nn.Module)
          and all(isinstance(x, torch.Tensor) for x in _as_tuple(result[1])))
    if not ok:
        got = (f"a tuple of {', '.join(type(x).__name__ for x in result)}"
               if isinstance(result, tuple) else f"a {type(result).__name__}")
        raise UserError(
            f"{type(plugin).__name__}.export_module() returned {got}; it must return "
            "(module, example_input): the torch.nn.Module to export and an example input batch "
            "(a tensor, or a tuple of tensors), e.g. `return self.net, torch.zeros(2, 4)`."
        )
    return result


def _prepare(module: Any, example: Any) -> tuple[Any, tuple[Any, ...]]:
    import torch

    if not isinstance(module, torch.nn.Module):
        raise UserError(f"export_module() must return (torch.nn.Module, example input); got {type(module).__name__}.")
    module = copy.deepcopy(module).to("cpu").float().eval()  # the plugin's module stays as it is
    inputs = []
    for x in _as_tuple(example):
        x = x.detach().to("cpu")
        x = x.float() if x.is_floating_point() else x
        if x.dim() > 0 and x.shape[0] == 1:  # a batch of 1 would be specialised as a constant
            x = torch.cat([x, x])
        inputs.append(x)
    return module, tuple(inputs)


@contextlib.contextmanager
def _quiet() -> Any:
    """The exporters are chatty (deprecations, optional torchvision ops); keep the CLI clean."""
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            onnx_log.setLevel(level)


def to_torchscript(module: Any, inputs: tuple[Any, ...], out: Path) -> Path:
    import torch

    with _quiet(), torch.no_grad():
        try:
            scripted = torch.jit.trace(module, inputs)
        except Exception as trace_error:  # noqa: BLE001 - data-dependent control flow: try script
            try:
                scripted = torch.jit.script(module)
            except Exception as e:  # noqa: BLE001
                raise UserError(
                    f"TorchScript export failed: tracing said {trace_error}; scripting said {e}. "
                    "Try --format onnx."
                ) from None
        torch.jit.save(scripted, str(out))
    return out


def to_onnx(module: Any, inputs: tuple[Any, ...], out: Path) -> Path:
    import torch

    names = [f"input{i}" if len(inputs) > 1 else "input" for i in range(len(inputs))]
    with _quiet(), torch.no_grad():
        try:
            batch = torch.export.Dim("batch", min=1)
            dynamic = tuple({0: batch} if x.dim() > 0 else None for x in inputs)
            torch.onnx.export(module, inputs, str(out), dynamo=True, input_names=names,
                              output_names=["output"], dynamic_shapes=dynamic,
                              external_data=False, verbose=False)
        except Exception as e:  # noqa: BLE001 - fall back to the TorchScript-based exporter
            log.warning("torch.export-based ONNX export failed (%s); using the TorchScript-based "
                        "exporter", str(e).split("\n")[0])
            torch.onnx.export(module, inputs, str(out), dynamo=False, input_names=names,
                              output_names=["output"],
                              dynamic_axes={n: {0: "batch"} for n, x in zip(names, inputs, strict=True)
                                            if x.dim() > 0} | {"output": {0: "batch"}})
    return out


def load_and_run(path: Path, fmt: str, inputs: tuple[Any, ...]) -> Any:
    """Run an exported file on ``inputs`` -> a torch tensor (the first output)."""
    import torch

    if fmt == "torchscript":
        with _quiet():
            loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            y = loaded(*inputs)
        return y[0] if isinstance(y, (tuple, list)) else y
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs, strict=True)}
    return torch.from_numpy(session.run(None, feed)[0])


def check(module: Any, path: Path, fmt: str, inputs: tuple[Any, ...]) -> float:
    """Largest |export - eager| over the example batch and a batch of another size (random
    values for float inputs, since examples are often all zeros)."""
    import torch

    def bigger(x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 0:
            return x
        x = torch.cat([x, x[:1]])
        return torch.randn_like(x, generator=torch.Generator().manual_seed(0)) if x.is_floating_point() else x

    other = tuple(bigger(x) for x in inputs)
    worst = 0.0
    for batch in (inputs, other):
        with torch.no_grad():
            eager = module(*batch)
        eager = eager[0] if isinstance(eager, (tuple, list)) else eager
        exported = load_and_run(path, fmt, batch)
        if exported.shape != eager.shape:
            raise UserError(f"the export at {path} gives shape {tuple(exported.shape)}, "
                            f"the eager module {tuple(eager.shape)}.")
        worst = max(worst, (exported.float() - eager.float()).abs().max().item())
    return worst


def export(run_dir: str | Path, fmt: str, out: Path | None = None, verify: bool = True) -> str:
    from workbench.engine.loop import load_for_inference

    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}.")
    if fmt == "weights":
        return _export_weights(run_dir, out)
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            raise UserError("ONNX export needs onnx, onnxscript and onnxruntime: "
                            "pip install 'workbench[export]'.") from None
    plugin, run, step = load_for_inference(run_dir)
    try:
        module, inputs = _prepare(*_module_and_example(plugin))
    finally:
        plugin.close()
    out = Path(out) if out else run.path / "export" / f"{type(module).__name__.lower()}{FORMATS[fmt]}"
    out.parent.mkdir(parents=True, exist_ok=True)
    (to_torchscript if fmt == "torchscript" else to_onnx)(module, inputs, out)
    lines = [f"exported {type(module).__name__} of {run.path} (step {step:,}) as {fmt}: {out}",
             f"input shapes: {', '.join(str(tuple(x.shape)) for x in inputs)} (batch dimension dynamic)"]
    if verify:
        diff = check(module, out, fmt, inputs)
        lines.append(f"max |export - eager| on two batches: {diff:.3g}")
    return "\n".join(lines)


def _export_weights(run_dir: str | Path, out: Path | None) -> str:
    from workbench import registry
    from workbench.commands import pretrained
    from workbench.engine.runs import open_run

    run = open_run(run_dir)
    info = run.read_info()
    spec, _ = registry.resolve(info.plugin)
    hooks = pretrained.hooks(spec)  # refuses before anything is written
    out = Path(out) if out else run.path / "export" / f"{info.preset or info.plugin}{FORMATS['weights']}"
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; name the weights file to write.")
    out.parent.mkdir(parents=True, exist_ok=True)
    return hooks.export_run(run.path, out)


# --------------------------------------------------------------------------- CLI


def cmd_export(args: argparse.Namespace) -> int:
    print(export(args.run_dir, args.format, args.out, verify=not args.no_check))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export a run's network as TorchScript, ONNX or weights",
                       description="Export the network a plugin names in export_module() (policy "
                       "net, generator, classifier) from a run's last checkpoint, then load it "
                       "back and compare its outputs with the eager module.")
    p.add_argument("run_dir")
    p.add_argument("--format", choices=tuple(FORMATS), default="torchscript")
    p.add_argument("--out", type=Path, default=None,
                   help="output file (default: RUN_DIR/export/<module>.pt or .onnx, "
                   "<preset>.weights.pt)")
    p.add_argument("--no-check", action="store_true", help="skip loading the export back")
    p.set_defaults(handler=cmd_export)
