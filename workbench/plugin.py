"""The contract a plugin signs with the loop.

The loop owns time (steps, cadence, precision, compilation, logging, checkpoints, signals,
progress); the plugin owns the math. A plugin::

    class MyModel(Plugin[MyConfig]):       # MyConfig: a dataclass subclassing RunConfig
        def __init__(self, cfg, ctx): ...          # build nets, optimizers, data, envs
        def train_step(self, step): ...            # one unit of learning -> {"train/loss": t}
        def evaluate(self, step): ...              # every eval_every -> {"eval/...": x}; media via ctx
        checkpointed = ("model", "opt")            # or state_dict / load_state_dict

docs/writing-a-plugin.md lists every hook, its signature and when the loop calls it.

``train_step`` advances the run by ``steps_per_call`` steps (an agent: num_envs x its rollout
length env steps per call). Metric values may be floats or 0-d tensors: the loop logs, for each
key, the mean over the calls of the log window that returned it, and only syncs at log time.
Agents subclass ``workbench.rollout.Agent`` instead (act / observe / learn; docs/agents.md). A plugin never opens W&B, parses arguments,
or writes checkpoints itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, get_args, get_origin

from workbench.config import RunConfig

if TYPE_CHECKING:  # keep this module free of torch at import time
    import torch

    from workbench.envs.vector import VectorEnv
    from workbench.logger import Logger
    from workbench.runtime import Precision


@dataclass
class Context:
    """What the loop hands a plugin: device, precision policy, logger, run directory, seed;
    for an agent (workbench.rollout.Agent) also its training envs, ``env``."""

    device: torch.device
    precision: Precision
    logger: Logger
    run_dir: Path
    seed: int
    compile_enabled: bool = False
    rank: int = 0
    world_size: int = 1
    ddp_wrapped: bool = False  # set by ddp(): the loop refuses torchrun for plugins that never call it
    batch_split: tuple[int, int] | None = None  # (global, local) batch, set by local_batch()
    env: VectorEnv | None = None
    """an agent's training envs, built from its config's ``env`` section (None for other plugins)"""
    autocast_entered: bool = False
    """set by autocast(): a plugin that never enters it ran in fp32, whatever precision says"""

    @property
    def ran_precision(self) -> str:
        """The precision the plugin really computed in: fp32 if it never entered autocast()."""
        return self.precision.name if self.autocast_entered else "fp32"

    @property
    def media_dir(self) -> Path:
        return self.run_dir / "media"

    def autocast(self) -> Any:
        self.autocast_entered = True
        return self.precision.autocast()

    def grad_scaler(self) -> torch.amp.GradScaler:
        return self.precision.grad_scaler()

    def compile(self, fn: Callable[..., Any], name: str = "module", **kwargs: Any) -> Callable[..., Any]:
        """``torch.compile`` when ``compile=true`` (eager fallback on failure), else ``fn``.
        Keep the original module for ``state_dict``; call the returned object for speed."""
        from workbench.runtime import maybe_compile

        return maybe_compile(fn, self.compile_enabled, name, **kwargs)

    # ---- multi-process (torchrun) helpers; all are no-ops in a single process.
    # See workbench/distributed.py for the recipe a plugin follows to opt in.
    @property
    def is_main(self) -> bool:
        """True on rank 0 (the only rank that logs, writes media and checkpoints)."""
        return self.rank == 0

    def ddp(self, module: torch.nn.Module, **kwargs: Any) -> torch.nn.Module:
        """``DistributedDataParallel(module)`` under torchrun, else ``module``. Keep the bare
        module for ``state_dict`` and export; train through the returned one."""
        from workbench.distributed import wrap

        self.ddp_wrapped = True
        return wrap(module, self.device, **kwargs)

    def local_batch(self, global_batch: int) -> int:
        """This rank's share of a global batch size (configs give the global batch)."""
        from workbench.distributed import local_batch

        local = local_batch(global_batch)
        self.batch_split = (global_batch, local)  # for the start line
        return local

    def shard(self, batch: Any) -> Any:
        """This rank's rows of a global batch (anything sliceable whose first dimension is the
        global batch): rank r keeps rows ``r * local ... (r + 1) * local``; alone, all of them.

        The recipe for data held in memory: every rank draws the *global* batch (indices, noise,
        augmentation parameters) from a generator seeded alike on all ranks, then keeps its
        shard. The generators stay in step across ranks (rank 0's checkpoint fits every rank on
        resume), and N processes train on exactly the examples one process would."""
        if self.world_size == 1:
            return batch
        from workbench.distributed import local_batch

        local = local_batch(len(batch))
        return batch[self.rank * local:(self.rank + 1) * local]

    def sampler(self, dataset: Any, shuffle: bool = True, drop_last: bool = False) -> Any:
        """A DistributedSampler (disjoint shard per rank) under torchrun, else None."""
        from workbench.distributed import sampler

        return sampler(dataset, shuffle=shuffle, seed=self.seed, drop_last=drop_last)


@dataclass
class ImageRequest:
    """What an ``input="image"`` route's ``prepare`` receives: the uploaded image, decoded by the
    server under its guards (content type, size, pixel limit) and converted to RGB or L, and the
    route's query parameters (an instance of ``Serving.request``, or None)."""

    image: Any  # PIL.Image.Image
    options: Any = None


@dataclass
class Serving:
    """What ``workbench serve RUN`` puts behind HTTP for a plugin (``Plugin.serving``).

    The server (workbench/commands/serve.py) owns everything but the model's math: HTTP, the
    guards, batching, ``torch.inference_mode``, the run's autocast and eval mode. A request goes
    ``body -> request model (pydantic) -> prepare(request) -> [micro-batch] -> predict(items)``;
    ``prepare`` runs once per request (cheap checks and encoding; a UserError / ValueError it
    raises is a 422 naming the problem), ``predict`` once per batch of up to ``--max-batch``
    prepared items and returns one output per item, in order.

    Outputs: ``"json"``: each output is a ``response`` model (or a dict fitting it);
    ``"stream"``: ``predict`` is a generator that yields, at each step, a list with one text
    chunk per item ("" when an item has nothing new) and the server streams each item's chunks
    as text/plain; any other string is a media type (``"image/png"``, ``"audio/midi"``) and each
    output is the file's bytes."""

    route: str
    """URL path of the model route: POST /<route> (e.g. "classify", "generate")"""
    summary: str
    """one line for the OpenAPI description and the /ui page"""
    predict: Callable[[list[Any]], Any]
    """prepared items -> one output per item (a generator of chunk lists for "stream")"""
    request: type | None = None
    """pydantic model of the JSON body (input="json") or of the query parameters (input="image")"""
    input: Literal["json", "image"] = "json"
    """"json": a JSON body; "image": the bytes of a PNG / JPEG / GIF / BMP / WebP file"""
    prepare: Callable[[Any], Any] | None = None
    """request model (or ImageRequest) -> one item of predict's list; None = the request as is"""
    output: str = "json"
    """"json" | "stream" | a media type of bytes ("image/png", "audio/midi")"""
    response: type | None = None
    """pydantic model of a JSON output (OpenAPI)"""
    example: dict[str, Any] | None = None
    """an example JSON body for /ui and the OpenAPI description (None: the request's defaults)"""


C = TypeVar("C", bound=RunConfig)


class Plugin(Generic[C]):
    """Base class, generic over the plugin's config: ``class DQN(Plugin[DQNConfig])`` types
    ``self.cfg`` and sets ``DQN.Config = DQNConfig``. See the module docstring for the contract.

    A plugin's kind (agent | generator | classifier) is the registry's alone
    (``register(..., kind=...)``): ``workbench list`` must show it without importing the plugin,
    so the class does not repeat it."""

    Config: ClassVar[type[RunConfig]]
    steps_per_call: int = 1
    """steps one train_step call advances the run (an agent with N vector envs: N env steps)"""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Config" in cls.__dict__:
            return
        for base in getattr(cls, "__orig_bases__", ()):
            origin, args = get_origin(base), get_args(base)
            if isinstance(origin, type) and issubclass(origin, Plugin) and args and isinstance(args[0], type):
                cls.Config = args[0]
                return

    def __init__(self, cfg: C, ctx: Context) -> None:
        self.cfg: C = cfg
        self.ctx = ctx

    def train_step(self, step: int) -> Mapping[str, Any]:
        raise NotImplementedError

    def evaluate(self, step: int) -> Mapping[str, float]:
        return {}

    def finish(self, step: int) -> Mapping[str, float]:
        """Called once when the run reaches total_steps (final reports, confusion matrices)."""
        return {}

    checkpointed: ClassVar[tuple[str, ...]] = ()
    """Attributes the default state_dict / load_state_dict save and restore: anything with
    ``state_dict()`` (modules, optimizers, grad scalers, schedulers, buffers), a
    ``torch.Generator`` or NumPy ``Generator``, or a plain value (tensor, number, string)."""

    def state_dict(self) -> dict[str, Any]:
        if not self.checkpointed:
            raise NotImplementedError(
                f"{type(self).__name__}: list the attributes to checkpoint in `checkpointed`, "
                "or override state_dict / load_state_dict"
            )
        return {name: _save(getattr(self, name)) for name in self.checkpointed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not self.checkpointed:
            raise NotImplementedError(f"{type(self).__name__}: see state_dict")
        for name in self.checkpointed:
            current = getattr(self, name)
            restored = _restore(current, state[name])
            if restored is not current:
                setattr(self, name, restored)

    def checkpoint_nbytes(self) -> int | None:
        """Optional: the size this plugin's checkpoints will reach, when ``state_dict()`` now
        is far smaller (a replay buffer that fills as the run goes). The loop warns at start if
        the disk cannot hold two of them; ``None`` = measure ``state_dict()`` now."""
        return None

    def eval_report(self, step: int, opts: Any) -> str:
        """``workbench eval RUN_DIR [--option V ...]``: a human-readable report (default: the
        evaluate() metrics). ``opts`` is an instance of the Config's ``EvalOptions`` dataclass
        (workbench/options.py), already typed and validated."""
        metrics = self.evaluate(step)
        return "\n".join(f"{k:<32} {v:.6g}" for k, v in sorted(metrics.items()))

    def sample(self, out: Path | None, opts: Any) -> str:
        """``workbench sample RUN_DIR [--out PATH] [--option V ...]``: write samples (to ``out``
        if the user named it, else under the run's media/); return what was written (or the
        text). ``opts`` is an instance of the Config's ``SampleOptions`` dataclass."""
        from workbench.errors import UserError

        raise UserError(f"plugin {type(self).__name__} does not support `workbench sample`.")

    def explain(self, step: int, out: Path | None, opts: Any) -> str:
        """``workbench explain RUN_DIR [--out DIR] [--method M] [--option V ...]``: what the model
        looked at, as pictures, videos or HTML written through ``workbench.explain.Output`` (to
        ``out`` if the user named it, else the run's media/ and W&B); returns what was written.
        ``step`` is the checkpoint's; ``opts`` is an instance of the Config's ``ExplainOptions``."""
        from workbench.errors import UserError

        raise UserError(f"plugin {type(self).__name__} does not support `workbench explain`.")

    def export_module(self) -> tuple[torch.nn.Module, torch.Tensor]:
        """(the network to export, an example input) for ``workbench export``."""
        from workbench.errors import UserError

        raise UserError(f"plugin {type(self).__name__} does not support `workbench export`.")

    def serving(self) -> Serving | None:
        """``workbench serve RUN``: what this plugin serves over HTTP (see ``Serving``), or None
        (the default) for nothing. Called once, after the last checkpoint is loaded; the server
        then puts every ``torch.nn.Module`` attribute of the plugin in eval mode and calls
        ``predict`` under ``torch.inference_mode`` and the run's autocast, from one worker
        thread. Nothing from a request may be unpickled or used as a file path."""
        return None

    def close(self) -> None:
        """Release environments, worker threads, files."""


def _save(obj: Any) -> Any:
    import numpy as np
    import torch

    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    if hasattr(obj, "state_dict"):
        return obj.state_dict()
    return obj.clone() if isinstance(obj, torch.Tensor) else obj


def _restore(obj: Any, saved: Any) -> Any:
    """Load ``saved`` into ``obj`` in place where it has state; else return the saved value."""
    import numpy as np
    import torch

    if isinstance(obj, torch.Generator):
        obj.set_state(saved)
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = saved
    elif isinstance(obj, torch.amp.GradScaler) and not saved:
        # a disabled scaler saves {} (fp32 / bf16 / CPU runs); resumed under fp16 on CUDA the
        # enabled scaler starts from its initial scale (torch would refuse the empty dict)
        pass
    elif hasattr(obj, "load_state_dict"):
        obj.load_state_dict(saved)
    else:
        return saved
    return obj
