"""Multi-process data-parallel training with torchrun + DistributedDataParallel.

    torchrun --standalone --nproc-per-node 2 -m workbench run PRESET [key=value ...]

torchrun starts N copies of ``workbench run`` and sets RANK / WORLD_SIZE / LOCAL_RANK /
MASTER_ADDR / MASTER_PORT. The loop then (see ``session``):

- joins the process group: gloo on CPU, NCCL on CUDA (each rank on cuda:LOCAL_RANK);
- validates the config on every rank, lets rank 0 create the run directory and broadcasts
  its path, so the directory looks exactly like a single-process run's;
- logs, writes media, checkpoints and ``run.json`` on rank 0 only (Logger(enabled=rank0)).

A plugin opts in with a few lines (the toy plugin, workbench/toy.py, is the worked example)::

    self.model = Net().to(ctx.device)                   # keep it for state_dict / export
    self.forward = ctx.compile(ctx.ddp(self.model))     # DDP wrapper; the model itself when N=1

and one of two ways to give each rank its share of the data:

- data held in memory (every built-in plugin): draw the *global* batch of indices, noise and
  augmentation parameters from a generator seeded alike on every rank, and keep this rank's
  rows with ``ctx.shard(batch)``. The generator stays in step on all ranks (so rank 0's
  checkpoint fits them all on resume), and N processes see exactly the examples one would;
- a DataLoader::

    self.sampler = ctx.sampler(ds, shuffle=True)        # each rank its own shard; None when N=1
    loader = DataLoader(ds, batch_size=ctx.local_batch(cfg.batch_size),
                        sampler=self.sampler, shuffle=self.sampler is None)
    # at the start of each epoch: if self.sampler is not None: self.sampler.set_epoch(epoch)

Several networks (a GAN): wrap each one that is trained, ``self.g = ctx.ddp(generator)`` and
``self.d = ctx.ddp(discriminator)``; each optimizer steps its own wrapped network. BatchNorm
layers normalise over the local batch (``batch_size / N`` examples), as in any DDP run; their
running statistics are rank 0's (DDP broadcasts buffers at each forward). Evaluation that only
logs can return ``{}`` on ranks other than 0 (``ctx.is_main``): only rank 0 logs.

Randomness: every rank builds the plugin from the same seed (identical initial weights; DDP
also broadcasts rank 0's at wrap time), then the loop reseeds Python / NumPy / torch per rank
(``rank_seed``), so noise vectors, dropout masks and augmentations differ between ranks. Data
shards come from the sampler, whose shuffling uses ``ctx.seed`` and is the same on all ranks.

Batch size convention: ``batch_size`` in a config is the *global* batch; each rank takes
``batch_size // world_size`` examples, so the learning rate and the step count mean the same
thing with 1 or N processes (DDP averages the gradients). Metrics are rank 0's; average them
with ``all_reduce_mean`` when that matters (e.g. accuracy over a sharded eval set).

Without torchrun (WORLD_SIZE unset or 1) everything here is a no-op.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.distributed as dist

from workbench.errors import ConfigError


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def enabled() -> bool:
    return world_size() > 1


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def init(device_name: str = "auto") -> None:
    """Join the process group torchrun set up (once per process)."""
    if not enabled() or is_initialized():
        return
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; run without torchrun.")
    use_cuda = torch.cuda.is_available() and device_name.startswith(("auto", "cuda"))
    local_ranks, gpus = int(os.environ.get("LOCAL_WORLD_SIZE", "1")), torch.cuda.device_count()
    if use_cuda and local_ranks > gpus:
        # every rank sees this and stops; one rank alone would leave the others waiting for it
        # in init_process_group (and two ranks on one GPU make NCCL fail)
        raise ConfigError(
            f"torchrun started {local_ranks} processes on this machine, which has {gpus} GPU(s): "
            f"start one process per GPU (--nproc-per-node {gpus}), or pass device=cpu to train "
            "on the CPU with gloo.")
    if use_cuda:
        torch.cuda.set_device(local_rank())
    backend = "nccl" if use_cuda else "gloo"
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=10))


def shutdown() -> None:
    if is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def session(device_name: str = "auto") -> Iterator[None]:
    """The process group for the length of one run (no-op without torchrun)."""
    init(device_name)
    try:
        yield
    finally:
        shutdown()


def device_for_rank(device: torch.device) -> torch.device:
    """Each rank on its own GPU: ``cuda`` -> ``cuda:LOCAL_RANK`` under torchrun."""
    if enabled() and device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank())
    return device


def rank_seed(seed: int, step: int = 0) -> int:
    """The seed of this rank's global RNGs once the plugin is built (and again on resume at
    ``step``): distinct per rank, so noise, dropout and augmentations differ between ranks."""
    return seed + 1_000_003 * rank() + 7_919 * step


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s Python object on every rank (the run directory path, an error text)."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if is_initialized():
        dist.barrier()


def wrap(module: torch.nn.Module, device: torch.device, **kwargs: Any) -> torch.nn.Module:
    """``DistributedDataParallel(module)`` under torchrun, the module itself otherwise."""
    if not is_initialized():
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else local_rank()] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, **kwargs)


def local_batch(global_batch: int) -> int:
    """This rank's share of the global batch size."""
    n = world_size()
    if global_batch % n:
        raise ConfigError(
            f"batch_size={global_batch} does not split evenly over {n} processes; "
            f"use a multiple of {n}."
        )
    return global_batch // n


def sampler(dataset: Any, shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> Any:
    """A DistributedSampler under torchrun (each rank a disjoint shard), else None (use the
    DataLoader's own ``shuffle``)."""
    if not is_initialized():
        return None
    from torch.utils.data.distributed import DistributedSampler

    return DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over ranks (the tensor itself without torchrun)."""
    if not is_initialized():
        return value
    out = value.detach().clone().float()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world_size()


@torch.no_grad()
def param_divergence(params: torch.nn.Module | Iterable[torch.nn.Parameter]) -> float:
    """Largest difference of any parameter between ranks (0.0 when they are in sync, as DDP
    promises; a diagnostic for plugin authors and the DDP tests). Call it on every rank."""
    if isinstance(params, torch.nn.Module):
        params = params.parameters()
    params = list(params)
    if not is_initialized() or not params:
        return 0.0
    flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in params])
    if backend_for(params[0].device) == "nccl":
        flat = flat.cuda()
    hi, lo = flat.clone(), flat.clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    return (hi - lo).abs().max().item()


def plugin_divergence(plugin: Any) -> float:
    """``param_divergence`` over every network a plugin holds as an attribute (G and D of a
    GAN, the model of a classifier; each parameter once): the loop logs it at the end of a
    torchrun run as ``ddp/param_divergence``."""
    params: dict[int, torch.nn.Parameter] = {}
    for value in vars(plugin).values():
        if isinstance(value, torch.nn.Module):
            params.update((id(p), p) for p in value.parameters())
    return param_divergence(params.values())


def describe(ctx: Any) -> str:
    """The start line's words on the process group: '' in a single process."""
    if not is_initialized():
        return ""
    text = f" on {world_size()} processes ({dist.get_backend()})"
    if ctx.batch_split is not None:
        global_batch, local = ctx.batch_split
        text += f", local batch {local} of {global_batch}"
    return text
