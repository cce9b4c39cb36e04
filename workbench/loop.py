"""The common loop: it owns time, the plugin owns the math.

    start()  name + overrides -> validated config -> new run directory -> train()
    resume() run directory    -> config + last checkpoint          -> train()
    train()  repeat plugin.train_step; on its own cadence log, evaluate, checkpoint;
             Ctrl-C / SIGTERM -> checkpoint and exit 130 / 143; non-finite loss -> stop, keep
             the last good checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import checkpoint, registry
from workbench.config import apply_overrides, build_config, flatten, from_dict, to_dict
from workbench.errors import CheckpointError, ConfigError, UserError
from workbench.runs import RunDir, RunInfo, new_run_id, open_run

log = logging.getLogger("workbench")

EXIT_OK, EXIT_FAILED, EXIT_NONFINITE = 0, 1, 3


# --------------------------------------------------------------------------- metric window


class MetricWindow:
    """Averages what train_step returns over a log window; tensors are summed on their device
    and turned into floats only at log time (no per-step host sync on CUDA)."""

    def __init__(self) -> None:
        self.sums: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: Mapping[str, Any]) -> None:
        for k, v in metrics.items():
            if hasattr(v, "detach"):
                v = v.detach().float()
            if k in self.sums:
                self.sums[k] = self.sums[k] + v
                self.counts[k] += 1
            else:
                self.sums[k], self.counts[k] = v, 1

    def means(self) -> dict[str, float]:
        return {k: float(v) / self.counts[k] for k, v in self.sums.items()}

    def clear(self) -> None:
        self.sums.clear()
        self.counts.clear()


def non_finite(metrics: Mapping[str, float]) -> list[str]:
    return [k for k, v in metrics.items() if "loss" in k and not math.isfinite(v)]


# --------------------------------------------------------------------------- signals


class StopFlag:
    """First Ctrl-C / SIGTERM asks the loop to checkpoint and stop; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# --------------------------------------------------------------------------- entry points


@dataclass
class Launch:
    """How to run: what the CLI adds to the config."""

    wandb_mode: str | None = None  # None = online if logged in, else offline
    tags: tuple[str, ...] = ()
    project: str = "workbench"
    progress: bool = True


def _group_name(name: str) -> str:
    return name.replace("/", "_")


def prepare(name: str, overrides: Mapping[str, Any]) -> tuple[registry.PluginSpec, Any, Any, str]:
    """Resolve and validate everything a run needs, before any directory exists."""
    spec, preset = registry.resolve(name)
    cfg_cls = registry.load_config_class(spec)
    cfg = build_config(cfg_cls, dict(preset.overrides) if preset else {}, overrides)
    plugin_cls = registry.load_plugin_class(spec)
    return spec, cfg, plugin_cls, _group_name(preset.name if preset else spec.name)


def start(name: str, overrides: Mapping[str, Any], run_name: str | None = None,
          launch: Launch | None = None, root: Path | None = None) -> tuple[int, RunDir]:
    launch = launch or Launch()
    spec, cfg, plugin_cls, group = prepare(name, overrides)  # every rank validates
    preset = name if name != spec.name else None
    # a W&B sweep agent chooses the run id; otherwise a fresh one
    info = dict(plugin=spec.name, preset=preset,
                wandb_id=os.environ.get("WANDB_RUN_ID") or new_run_id(), created=time.time(),
                tags=list(launch.tags), project=launch.project)
    with _distributed(cfg.device):
        # DDP: rank 0 creates the directory and broadcasts its path; the others train alongside
        run = RunDir(_on_rank0(lambda: RunDir.create(group, run_name, info, to_dict(cfg), root=root).path))
        try:
            return train(run, plugin_cls, cfg, spec, launch, state=None), run
        except UserError:
            # bad input found by the plugin itself (a missing data path, say): leave nothing behind
            if _rank() == 0 and not run.checkpoint.exists():
                shutil.rmtree(run.path, ignore_errors=True)
                with contextlib.suppress(OSError):
                    run.path.parent.rmdir()  # only if it is now empty
            raise


def load_run(path: str | Path, overrides: Mapping[str, Any] | None = None
             ) -> tuple[RunDir, RunInfo, registry.PluginSpec, Any, type]:
    run = open_run(path)
    info = run.read_info()
    spec, _ = registry.resolve(info.plugin)
    cfg_cls = registry.load_config_class(spec)
    try:
        cfg = from_dict(cfg_cls, run.read_config())
    except ConfigError as e:
        raise ConfigError(
            f"the saved config of {run.path} does not match plugin '{spec.name}' as installed now "
            f"({e}) Was the plugin's Config changed since the run started?"
        ) from None
    if overrides:
        apply_overrides(cfg, overrides)
    return run, info, spec, cfg, registry.load_plugin_class(spec)


def _check_checkpoint(state: dict[str, Any], spec: registry.PluginSpec, cfg: Any, path: Path) -> None:
    if state.get("plugin") != spec.name:
        raise CheckpointError(
            f"{path} belongs to plugin '{state.get('plugin')}', not '{spec.name}'; refusing to load it."
        )
    saved = set(flatten(state.get("config", {})))
    now = flatten(to_dict(cfg))
    gone = sorted(saved - set(now))
    if gone:
        raise CheckpointError(
            f"{path} was written with a different config shape (keys the plugin no longer has: "
            f"{', '.join(gone[:10])}); refusing to load it."
        )
    added = sorted(set(now) - saved)
    if added:  # options the plugin gained since the run started: they take their defaults
        log.warning("the plugin gained config keys since %s was written; they take their values "
                    "from now: %s", path, ", ".join(f"{k}={now[k]}" for k in added[:10]))


def _load_plugin_state(plugin: Any, state: dict[str, Any], path: Path) -> None:
    try:
        plugin.load_state_dict(state["state"])
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as e:
        raise CheckpointError(
            f"{path} does not fit plugin {type(plugin).__name__} as configured now "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). Did an override "
            "change the model's shape? Resume with the run's own config, or start a new run."
        ) from None


def _refuse_if_alive(run: RunDir, info: RunInfo) -> None:
    """Two processes training into one directory would corrupt it."""
    import socket

    if info.status != "running" or not info.pid or info.host != socket.gethostname():
        return
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return  # it died (kill -9, a crash): safe to resume
    except PermissionError:
        pass
    raise UserError(
        f"{run.path} is still being trained by process {info.pid} on this machine; stop it first "
        f"(Ctrl-C or `kill {info.pid}` writes a checkpoint), then resume."
    )


def resume(path: str | Path, overrides: Mapping[str, Any], launch: Launch | None = None
           ) -> tuple[int, RunDir]:
    launch = launch or Launch()
    run, info, spec, cfg, plugin_cls = load_run(path, overrides)
    if _rank() == 0:
        _refuse_if_alive(run, info)
    with _distributed(cfg.device):
        return _resume(run, info, spec, cfg, plugin_cls, launch)


def _resume(run: RunDir, info: RunInfo, spec: registry.PluginSpec, cfg: Any, plugin_cls: type,
            launch: Launch) -> tuple[int, RunDir]:
    state = None
    if run.checkpoint.exists():
        state = checkpoint.load(run.checkpoint)
        _check_checkpoint(state, spec, cfg, run.checkpoint)
        if state["step"] >= cfg.total_steps:
            print(f"{run.path} is already at step {state['step']:,} of total_steps={cfg.total_steps:,};"
                  " pass total_steps=N to train it further.")
            return EXIT_OK, run
    else:
        print(f"{run.path} has no checkpoint yet: starting it again from step 0.")
    if _rank() == 0:
        run.truncate_metrics_after(state["step"] if state else 0)
        run.write_config(to_dict(cfg))
    launch.tags = tuple(info.tags or ()) or launch.tags
    launch.project = info.project
    return train(run, plugin_cls, cfg, spec, launch, state=state), run


def build_plugin(run: RunDir, info: RunInfo, spec: registry.PluginSpec, cfg: Any,
                 plugin_cls: type, logger: Any) -> Any:
    """Device, precision, seed, context -> the plugin (used by train, eval, sample, export)."""
    from workbench.plugin import Context
    from workbench.runtime import resolve_device, resolve_precision, seed_everything

    device = resolve_device(cfg.device)
    if _world() > 1:  # torchrun: each rank on its own GPU
        from workbench.distributed import device_for_rank

        device = device_for_rank(device)
    precision = resolve_precision(cfg.precision, device, type(cfg).auto_cpu_precision)
    seed_everything(cfg.seed)
    ctx = Context(device=device, precision=precision, logger=logger, run_dir=run.path,
                  seed=cfg.seed, compile_enabled=cfg.compile, rank=_rank(), world_size=_world())
    plugin = plugin_cls(cfg, ctx)
    if _world() > 1 and not ctx.ddp_wrapped:
        # N unsynchronised copies of one run would only waste N-1 processes
        raise UserError(
            f"plugin '{spec.name}' does not support multi-process training (it never wraps a "
            "network with ctx.ddp); run it without torchrun. Plugin authors: see "
            "workbench/distributed.py for the few lines that opt in."
        )
    if _world() > 1:
        # the same weights on every rank (one seed), then different noise / dropout per rank
        from workbench.distributed import rank_seed

        seed_everything(rank_seed(cfg.seed))
    return plugin


def load_for_inference(path: str | Path) -> tuple[Any, RunDir, int]:
    """The plugin of a run with its last checkpoint loaded; logging to media/ only."""
    from workbench.logger import Logger

    run, info, spec, cfg, plugin_cls = load_run(path)
    state = checkpoint.load(run.checkpoint)
    _check_checkpoint(state, spec, cfg, run.checkpoint)
    logger = Logger(run.path, wandb_mode="disabled", metrics=False)
    plugin = build_plugin(run, info, spec, cfg, plugin_cls, logger)
    _load_plugin_state(plugin, state, run.checkpoint)
    return plugin, run, int(state["step"])


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _distributed(device: str) -> Any:
    """The torchrun process group for the length of a run (see workbench/distributed.py)."""
    if _world() <= 1:
        import contextlib

        return contextlib.nullcontext()
    from workbench.distributed import session

    return session(device)


def _on_rank0(fn: Any) -> Any:
    """``fn()`` on rank 0, its result on every rank; a UserError there is raised everywhere
    (so no rank waits forever for a directory that was refused)."""
    if _world() <= 1:
        return fn()
    from workbench.distributed import broadcast_object

    result: Any = None
    error: str | None = None
    if _rank() == 0:
        try:
            result = fn()
        except UserError as e:
            error = str(e)
    result, error = broadcast_object((result, error))
    if error is not None:
        raise UserError(error)
    return result


# --------------------------------------------------------------------------- the loop


def _crossed(before: int, after: int, every: int) -> bool:
    return every > 0 and before // every != after // every


def train(run: RunDir, plugin_cls: type, cfg: Any, spec: registry.PluginSpec, launch: Launch,
          state: dict[str, Any] | None) -> int:
    from workbench.logger import Logger, default_wandb_mode
    from workbench.progress import Progress
    from workbench.runtime import rng_state, set_rng_state

    info = run.read_info()
    rank0 = _rank() == 0
    logger = Logger(
        run.path,
        wandb_mode=launch.wandb_mode or default_wandb_mode(),
        project=launch.project,
        group=info.group,
        job_type=spec.kind,
        name=f"{info.group}/{info.name}",
        config=to_dict(cfg),
        tags=list(launch.tags),
        run_id=info.wandb_id,
        time_offset=float(state["elapsed"]) if state else 0.0,
        enabled=rank0,
    )
    plugin = None
    progress = None
    exit_code = EXIT_FAILED
    step = 0
    try:
        plugin = build_plugin(run, info, spec, cfg, plugin_cls, logger)
        if state is not None:
            _load_plugin_state(plugin, state, run.checkpoint)
            set_rng_state(state["rng"])
            step = int(state["step"])
            if _world() > 1:  # rank 0's saved RNG state would give every rank the same draws
                from workbench.distributed import rank_seed
                from workbench.runtime import seed_everything

                seed_everything(rank_seed(cfg.seed, step))
        if rank0:
            import socket

            run.update_info(status="running", step=step, pid=os.getpid(), host=socket.gethostname())

        def save_checkpoint() -> None:
            if rank0:
                checkpoint.save(
                    {"plugin": spec.name, "config": to_dict(cfg), "step": step,
                     "elapsed": logger.elapsed(), "rng": rng_state(), "state": plugin.state_dict()},
                    run.checkpoint,
                )
                run.update_info(step=step)

        progress = Progress(f"{info.group}/{info.name}", cfg.total_steps, step,
                            enabled=launch.progress and rank0)
        progress.message(f"workbench: {'resuming' if state else 'starting'} {spec.name} at step "
                         f"{step:,} of {cfg.total_steps:,} in {run.path}")
        window = MetricWindow()
        last_eval_step = -1
        window_start_step, window_time = step, 0.0
        stop = StopFlag()
        with stop:
            while step < cfg.total_steps and stop.signum is None:
                t = time.perf_counter()
                metrics = plugin.train_step(step)
                before, step = step, step + plugin.steps_per_call
                window.add(metrics)
                window_time += time.perf_counter() - t
                progress.update(step)

                if _crossed(before, step, cfg.log_every) or step >= cfg.total_steps:
                    means = window.means()
                    bad = non_finite(means)
                    if bad:
                        return _stop_non_finite(run, logger, progress, bad, step, rank0)
                    means["perf/sps"] = (step - window_start_step) / max(window_time, 1e-9)
                    logger.log(means, step)
                    progress.show(means)
                    window.clear()
                    window_start_step, window_time = step, 0.0

                if _crossed(before, step, cfg.eval_every) or (
                    step >= cfg.total_steps and last_eval_step != step
                ):
                    results = dict(plugin.evaluate(step))
                    last_eval_step = step
                    if results:
                        logger.log(results, step)
                        progress.show(results)

                if _crossed(before, step, cfg.checkpoint_every) and step < cfg.total_steps:
                    bad = non_finite(window.means())
                    if bad:
                        return _stop_non_finite(run, logger, progress, bad, step, rank0)
                    save_checkpoint()

            if stop.signum is not None:
                save_checkpoint()
                exit_code = 128 + stop.signum
                progress.message(
                    f"stopped by {signal.Signals(stop.signum).name} at step {step:,}; checkpoint saved. "
                    f"Continue with: workbench resume {run.path}"
                )
                if rank0:
                    run.update_info(status="interrupted", step=step)
                return exit_code

            final = dict(plugin.finish(step))
            if final:
                logger.log(final, step)
            save_checkpoint()
            if rank0:
                run.update_info(status="finished", step=step)
            exit_code = EXIT_OK
            return exit_code
    except KeyboardInterrupt:
        exit_code = 130
        if rank0:
            run.update_info(status="interrupted")
        raise
    except BaseException:
        if rank0:
            run.update_info(status="failed")
        raise
    finally:
        if progress is not None:
            progress.close()
        if plugin is not None:
            plugin.close()
        logger.close(exit_code)


def _stop_non_finite(run: RunDir, logger: Any, progress: Any, keys: list[str], step: int,
                     rank0: bool) -> int:
    msg = (f"non-finite {', '.join(keys)} near step {step:,}: training stopped. The last good "
           f"checkpoint (if any) is kept at {run.checkpoint}; lower the learning rate or try "
           "precision=fp32, then `workbench resume` it.")
    progress.message("error: " + msg)
    log.error(msg)
    if rank0:
        run.update_info(status="failed")
    return EXIT_NONFINITE
