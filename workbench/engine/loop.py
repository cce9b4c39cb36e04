"""The common loop: it owns time, the plugin owns the math.

    start()  name + overrides -> validated config -> new run directory -> train()
    resume() run directory    -> config + last checkpoint          -> train()
    train()  a Trainer: build the plugin (threads, device, seed), repeat plugin.train_step; on
             its own cadence log, evaluate, checkpoint; Ctrl-C / SIGTERM -> checkpoint and
             exit 130 / 143; non-finite loss -> stop, keep the last good checkpoint.

Rank and world size come from workbench/distributed.py; without torchrun its calls are no-ops.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import distributed, registry
from workbench.config import apply_overrides, build_config, from_dict, to_dict
from workbench.engine import checkpoint
from workbench.engine.runlock import RunLock
from workbench.engine.runs import (
    RunDir,
    RunInfo,
    check_run_name,
    check_runs_root,
    new_run_id,
    open_run,
)
from workbench.errors import ConfigError, UserError

log = logging.getLogger("workbench")

EXIT_OK, EXIT_FAILED, EXIT_NONFINITE, EXIT_DISK_FULL = 0, 1, 3, 4


# --------------------------------------------------------------------------- metric window


class MetricWindow:
    """Averages what train_step returns over a log window: each key's value is the mean over
    the calls in the window that returned that key (a call without it does not count as 0).
    Tensors are summed on their device and turned into floats only at log time (no per-step
    host sync on CUDA)."""

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


class EvaluationStopped(BaseException):
    """Raised inside an evaluation by the first Ctrl-C / SIGTERM. Ten games of a middling Pong
    agent take minutes; a stop must not wait for them. A BaseException, so that no plugin's or
    logger's ``except Exception`` swallows it."""


class StopFlag:
    """First Ctrl-C / SIGTERM asks the loop to checkpoint and stop; a second Ctrl-C aborts.

    Between steps the loop polls ``signum``. During an evaluation (``with stop.evaluating():``)
    the first signal also cuts the evaluation short by raising ``EvaluationStopped`` in it: an
    evaluation only reads the training state, so the checkpoint that follows is the same as
    one taken just before it."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._in_evaluation = False

    def __enter__(self) -> StopFlag:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        first = self.signum is None
        self.signum = signum
        if first and self._in_evaluation:
            self._in_evaluation = False
            raise EvaluationStopped(signum)

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        self._in_evaluation = self.signum is None
        try:
            yield
        finally:
            self._in_evaluation = False

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
    command: str | None = None  # recorded in run.json (default: this process's command line)
    group: str | None = None  # the run directory's group folder (default: the preset or plugin)
    on_eval: Callable[[int, Mapping[str, float]], str | None] | None = None
    """Called after each evaluation in the loop with (step, metrics), e.g. to report to an
    Optuna trial. A returned word ("pruned") stops the run cleanly before total_steps: a
    checkpoint, run.json status = that word, exit code 0. Under torchrun rank 0 decides."""

    @classmethod
    def from_args(cls, args: Any) -> Launch:
        """From the CLI's parsed arguments (``--wandb``, ``--tag``, ``--project``)."""
        return cls(wandb_mode=args.wandb, tags=tuple(getattr(args, "tag", ()) or ()),
                   project=getattr(args, "project", "workbench"),
                   command=getattr(args, "command_line", None))


def _group_name(name: str) -> str:
    return name.replace("/", "_")


def prepare(name: str, overrides: Mapping[str, Any]) -> tuple[registry.PluginSpec, Any, Any, str]:
    """Resolve and validate everything a run needs, before any directory exists."""
    spec, preset = registry.resolve(name)
    cfg_cls = registry.load_config_class(spec)
    cfg = build_config(cfg_cls, dict(preset.overrides) if preset else {}, overrides)
    # the files a new run reads (images, weights), checked here rather than in validate(), which
    # also runs when a saved config is reloaded: a later sample or export needs none of them
    check_inputs = getattr(cfg, "check_inputs", None)
    if callable(check_inputs):
        check_inputs()
    plugin_cls = registry.load_plugin_class(spec)
    return spec, cfg, plugin_cls, _group_name(preset.name if preset else spec.name)


def start(name: str, overrides: Mapping[str, Any], run_name: str | None = None,
          launch: Launch | None = None, root: Path | None = None) -> tuple[int, RunDir]:
    launch = launch or Launch()
    if run_name is not None:
        check_run_name(run_name)  # before anything is imported or created
    check_runs_root(root)
    spec, cfg, plugin_cls, group = prepare(name, overrides)  # every rank validates
    group = _group_name(launch.group) if launch.group else group
    preset = name if name != spec.name else None
    # a W&B sweep agent chooses the run id; otherwise a fresh one
    info = dict(plugin=spec.name, preset=preset,
                wandb_id=os.environ.get("WANDB_RUN_ID") or new_run_id(), created=time.time(),
                tags=list(launch.tags), project=launch.project)
    lock = RunLock()  # rank 0's, held until training ends (workbench/engine/runlock.py)
    with distributed.session(cfg.device), lock:  # the session is a no-op without torchrun
        # DDP: rank 0 creates the directory and broadcasts its path; the others train alongside
        run = RunDir(_on_rank0(lambda: RunDir.create(group, run_name, info, to_dict(cfg), root=root,
                                                     lock=lock).path))
        try:
            return train(run, plugin_cls, cfg, spec, launch, state=None), run
        except UserError:
            # bad input found by the plugin itself (a missing data path, say): leave nothing behind
            if distributed.rank() == 0 and not run.checkpoint.exists():
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


def resume(path: str | Path, overrides: Mapping[str, Any], launch: Launch | None = None
           ) -> tuple[int, RunDir]:
    launch = launch or Launch()
    run, info, spec, cfg, plugin_cls = load_run(path, overrides)
    lock = RunLock(run.path)  # one trainer per run: a second resume is exit 2 naming the first
    with distributed.session(cfg.device), lock:  # the session is a no-op without torchrun
        _on_rank0(lambda: lock.acquire(remove_temp=True))
        return _resume(run, info, spec, cfg, plugin_cls, launch)


def _resume(run: RunDir, info: RunInfo, spec: registry.PluginSpec, cfg: Any, plugin_cls: type,
            launch: Launch) -> tuple[int, RunDir]:
    state = None
    if run.checkpoint.exists():
        state = checkpoint.load(run.checkpoint)
        checkpoint.check_fits(state, spec, cfg, run.checkpoint)
        # a run stopped at total_steps (in its last evaluation, or by a crash in finish) is
        # resumed to play that evaluation and finish; a finished one has nothing left to do
        if state["step"] >= cfg.total_steps and info.status == "finished":
            print(f"{run.path} is already at step {state['step']:,} of total_steps={cfg.total_steps:,};"
                  " pass total_steps=N to train it further.")
            return EXIT_OK, run
    else:
        print(f"{run.path} has no checkpoint yet: starting it again from step 0.")
    if distributed.rank() == 0:
        dropped = run.truncate_metrics_after(state["step"] if state else 0)
        run.record_resume(state["step"] if state else 0, float(state["elapsed"]) if state else 0.0,
                          dropped)
        run.write_config(to_dict(cfg))
    launch.tags = tuple(info.tags or ()) or launch.tags
    launch.project = info.project
    return train(run, plugin_cls, cfg, spec, launch, state=state), run


def build_plugin(run: RunDir, info: RunInfo, spec: registry.PluginSpec, cfg: Any,
                 plugin_cls: type, logger: Any) -> Any:
    """Threads, device, precision, seed, context -> the plugin (used by train, eval, sample,
    export)."""
    from workbench.plugin import Context
    from workbench.runtime import resolve_device, resolve_precision, seed_everything, set_threads

    set_threads(cfg.torch_threads)
    device = distributed.device_for_rank(resolve_device(cfg.device))  # torchrun: a GPU per rank
    precision = resolve_precision(cfg.precision, device, type(cfg).auto_cpu_precision)
    seed_everything(cfg.seed)
    world = distributed.world_size()
    ctx = Context(device=device, precision=precision, logger=logger, run_dir=run.path,
                  seed=cfg.seed, compile_enabled=cfg.compile, rank=distributed.rank(), world_size=world)
    plugin = plugin_cls(cfg, ctx)
    if world > 1 and not ctx.ddp_wrapped:
        # N unsynchronised copies of one run would only waste N-1 processes
        raise UserError(
            f"plugin '{spec.name}' does not support multi-process training (it never wraps a "
            "network with ctx.ddp); run it without torchrun. Plugin authors: see "
            "workbench/distributed.py for the few lines that opt in."
        )
    if world > 1:  # the same weights on every rank (one seed), then different noise / dropout per rank
        seed_everything(distributed.rank_seed(cfg.seed))
    return plugin


def load_for_inference(path: str | Path, wandb_mode: str = "disabled") -> tuple[Any, RunDir, int]:
    """The plugin of a run with its last checkpoint loaded; logging to media/ only, and to the
    run's own W&B run when ``wandb_mode`` is not disabled (``workbench explain``)."""
    from workbench.logger import Logger

    run, info, spec, cfg, plugin_cls = load_run(path)
    state = checkpoint.load(run.checkpoint)
    checkpoint.check_fits(state, spec, cfg, run.checkpoint)
    logger = Logger(run.path, wandb_mode=wandb_mode, metrics=False, project=info.project,
                    group=info.group, job_type=spec.kind, name=f"{info.group}/{info.name}",
                    run_id=info.wandb_id)
    plugin = build_plugin(run, info, spec, cfg, plugin_cls, logger)
    checkpoint.load_into(plugin, state, run.checkpoint)
    return plugin, run, int(state["step"])


def _on_rank0(fn: Any) -> Any:
    """``fn()`` on rank 0, its result on every rank; a UserError there is raised everywhere
    (so no rank waits forever for a directory that was refused)."""
    if distributed.world_size() <= 1:
        return fn()
    result: Any = None
    error: str | None = None
    if distributed.rank() == 0:
        try:
            result = fn()
        except UserError as e:
            error = str(e)
    result, error = distributed.broadcast_object((result, error))
    if error is not None:
        raise UserError(error)
    return result


# --------------------------------------------------------------------------- the loop


def _crossed(before: int, after: int, every: int) -> bool:
    return every > 0 and before // every != after // every


def train(run: RunDir, plugin_cls: type, cfg: Any, spec: registry.PluginSpec, launch: Launch,
          state: dict[str, Any] | None) -> int:
    """Train ``run`` to ``cfg.total_steps`` (from ``state`` when resuming); the exit code."""
    return Trainer(run, plugin_cls, cfg, spec, launch, state).train()


class Trainer:
    """One training session of one run. ``train()`` builds the plugin, repeats ``train_step``
    and, on the run's cadence, logs the metric window, evaluates and checkpoints; it ends at
    ``total_steps`` (``finish``), on a signal (checkpoint, exit 128 + signum) or on a non-finite
    loss (exit 3, the last good checkpoint kept). Under torchrun every rank trains; only rank 0
    logs, checkpoints and writes run.json."""

    def __init__(self, run: RunDir, plugin_cls: type, cfg: Any, spec: registry.PluginSpec,
                 launch: Launch, state: dict[str, Any] | None) -> None:
        self.run, self.plugin_cls, self.cfg, self.spec = run, plugin_cls, cfg, spec
        self.launch, self.state = launch, state
        self.info = run.read_info()
        self.rank0 = distributed.rank() == 0
        self.logger = self._open_logger()
        self.plugin: Any = None
        self.progress: Any = None
        self.step = 0
        self.window = MetricWindow()
        self.window_start_step, self.window_time = 0, 0.0
        self.last_eval_step = -1
        self.recorded_precision: str | None = None
        self.summary: str | None = None  # the console's closing lines

    def train(self) -> int:
        exit_code = EXIT_FAILED
        try:
            self._build()
            with StopFlag() as stop:
                failed = self._run_steps(stop)
                if failed is None and stop.signum is None:
                    try:
                        with stop.evaluating():  # the final evaluation; cut short, resume replays it
                            final = dict(self.plugin.finish(self.step))
                        failed = self._finish(final)
                    except EvaluationStopped:
                        self._evaluation_cut()
                exit_code = failed if failed is not None else self._stopped_by(stop.signum)
            return exit_code
        except KeyboardInterrupt:
            exit_code = 130
            self._mark("interrupted")
            raise
        except checkpoint.DiskFullError as e:
            exit_code = self._stop_disk_full(e)
            return exit_code
        except BaseException:
            self._mark("failed")
            raise
        finally:
            if self.progress is not None:
                self.progress.close(self.summary)
            if self.plugin is not None:
                self.plugin.close()
            self.logger.close(exit_code)

    # ------------------------------------------------------------------ start
    def _open_logger(self) -> Any:
        from workbench.logger import Logger, default_wandb_mode

        info, launch = self.info, self.launch
        return Logger(
            self.run.path, wandb_mode=launch.wandb_mode or default_wandb_mode(),
            project=launch.project, group=info.group, job_type=self.spec.kind,
            name=f"{info.group}/{info.name}", config=to_dict(self.cfg), tags=list(launch.tags),
            run_id=info.wandb_id, time_offset=float(self.state["elapsed"]) if self.state else 0.0,
            enabled=self.rank0, primary=(self.spec.metric, self.spec.goal) if self.spec.metric else None,
        )

    def _build(self) -> None:
        """The plugin, restored from the checkpoint when resuming; run.json says running."""
        from workbench.engine.progress import Progress
        from workbench.runtime import seed_everything, set_rng_state

        cfg, state = self.cfg, self.state
        self.plugin = build_plugin(self.run, self.info, self.spec, cfg, self.plugin_cls, self.logger)
        if state is not None:
            checkpoint.load_into(self.plugin, state, self.run.checkpoint)
            set_rng_state(state["rng"])
            self.step = self.window_start_step = int(state["step"])
            if distributed.world_size() > 1:  # rank 0's saved RNG state would give every rank the same draws
                seed_everything(distributed.rank_seed(cfg.seed, self.step))
        if self.rank0:
            import socket

            from workbench.engine.provenance import provenance

            self.run.update_info(status="running", step=self.step, pid=os.getpid(),
                                 host=socket.gethostname(), reason=None,
                                 **provenance(self.plugin.ctx, self.launch.command))
            checkpoint.warn_if_disk_small(self.plugin, self.run.checkpoint)
        spec = self.spec
        self.progress = Progress(f"{self.info.group}/{self.info.name}", cfg.total_steps, self.step,
                                 enabled=self.launch.progress and self.rank0,
                                 primary=(spec.metric, spec.goal) if spec.metric else None,
                                 headline=spec.train_metric,
                                 history=self.run.read_metrics() if state else ())
        self.progress.message(f"workbench: {'resuming' if state else 'starting'} {self.spec.name} "
                              f"at step {self.step:,} of {cfg.total_steps:,} in {self.run.path}"
                              f"{distributed.describe(self.plugin.ctx)}")
        per_call = self.plugin.steps_per_call
        if cfg.total_steps % per_call and self.step < cfg.total_steps:
            last = -(-cfg.total_steps // per_call) * per_call
            self.progress.message(
                f"note: one training call advances {per_call:,} steps, so total_steps="
                f"{cfg.total_steps:,} ends at step {last:,}; total_steps={last - per_call:,} or "
                f"{last:,} ends exactly")
        if (cfg.eval_every > cfg.total_steps or cfg.eval_every == 0) and not cfg.eval_at_start:
            self.progress.message(f"note: eval_every={cfg.eval_every:,} evaluates only at the end "
                                  f"(total_steps={cfg.total_steps:,}): one point per eval curve")
        if cfg.eval_at_start and self.step == 0:
            self._evaluate(ask=False)  # the untrained model: what later evaluations are read against

    # ------------------------------------------------------------------ the steps
    def _run_steps(self, stop: StopFlag) -> int | None:
        """train_step until total_steps or a signal; EXIT_NONFINITE if a loss went bad."""
        cfg = self.cfg
        if self.step >= cfg.total_steps and self.run.read_info().evaluation_cut_at == self.step:
            try:  # a stop cut the last evaluation short: a resumed run plays it again
                self._evaluate(ask=False, stop=stop)
            except EvaluationStopped:
                self._evaluation_cut()
        while self.step < cfg.total_steps and stop.signum is None:
            before = self._train_step()
            at_end = self.step >= cfg.total_steps
            if _crossed(before, self.step, cfg.log_every) or at_end:
                means = self.window.means()
                if non_finite(means):
                    return self._stop_non_finite(means)
                self._log_window(means)
            if _crossed(before, self.step, cfg.eval_every) or (at_end and self.last_eval_step != self.step):
                try:
                    early = self._evaluate(stop=stop)
                except EvaluationStopped:
                    self._evaluation_cut()
                    return None
                if early and not at_end:
                    return self._stopped_early(early)
            if _crossed(before, self.step, cfg.checkpoint_every) and not at_end:
                means = self.window.means()  # what was trained since the last log
                if non_finite(means):
                    return self._stop_non_finite(means)
                self._save_checkpoint()
        return None

    def _train_step(self) -> int:
        """One call of plugin.train_step into the metric window; the step before it."""
        t = time.perf_counter()
        metrics = self.plugin.train_step(self.step)
        before = self.step
        self.step += self.plugin.steps_per_call
        self.window.add(metrics)
        self.window_time += time.perf_counter() - t
        self.progress.update(self.step)
        return before

    def _record_precision(self) -> None:
        """run.json and W&B say the precision the plugin really computed in, checked at each
        log: fp32 until it enters ctx.autocast() (a plugin that never does ran in fp32)."""
        ran = self.plugin.ctx.ran_precision
        if ran == self.recorded_precision or not self.rank0:
            return
        self.recorded_precision = ran
        self.run.update_info(precision=ran)
        self.logger.update_config({"precision": ran, "precision_requested": self.cfg.precision})

    def _log_window(self, means: dict[str, float]) -> None:
        means["perf/sps"] = (self.step - self.window_start_step) / max(self.window_time, 1e-9)
        self._record_precision()
        self.logger.log(means, self.step)
        self.progress.show(means)
        self.window.clear()
        self.window_start_step, self.window_time = self.step, 0.0

    def _evaluate(self, ask: bool = True, stop: StopFlag | None = None) -> str | None:
        """plugin.evaluate, logged; then launch.on_eval's answer (rank 0's, on every rank).
        With ``stop``, a stop signal cuts plugin.evaluate short (EvaluationStopped)."""
        with stop.evaluating() if stop is not None else contextlib.nullcontext():
            results = dict(self.plugin.evaluate(self.step))
        self.last_eval_step = self.step
        if results:
            self.logger.log(results, self.step)
            self.progress.evaluation(self.step, results)
        on_eval = self.launch.on_eval
        if not ask or on_eval is None:
            return None
        return _on_rank0(lambda: on_eval(self.step, results) if results else None)

    def _save_checkpoint(self) -> None:
        if not self.rank0:
            return
        from workbench.runtime import rng_state

        checkpoint.save(
            {"plugin": self.spec.name, "config": to_dict(self.cfg), "step": self.step,
             "elapsed": self.logger.elapsed(), "rng": rng_state(), "state": self.plugin.state_dict()},
            self.run.checkpoint,
        )
        self.run.update_info(step=self.step)

    # ------------------------------------------------------------------ the ends
    def _finish(self, final: dict[str, Any]) -> int:
        if distributed.world_size() > 1:  # the ranks' weights agree (0.0) if DDP did its job
            final["ddp/param_divergence"] = distributed.plugin_divergence(self.plugin)
        if final:
            self.logger.log(final, self.step)
            self.progress.evaluation(self.step, final, label="final")
        self._record_precision()
        self._save_checkpoint()
        self._mark("finished", step=self.step)
        self.summary = self.progress.summary("finished", self.run.path, self.logger.sync_hint)
        return EXIT_OK

    def _evaluation_cut(self) -> None:
        """A stop signal cut the evaluation at this step short: nothing of it is logged. The
        resumed run evaluates next at the next eval_every (or, at total_steps, plays the final
        evaluation again), with the seeds an uninterrupted run would have used."""
        self.progress.message(f"the evaluation at step {self.step:,} was cut short by the stop "
                              "signal and is not logged")
        self.run.update_info(evaluation_cut_at=self.step)

    def _stopped_by(self, signum: int) -> int:
        self._save_checkpoint()
        self.progress.message(
            f"stopped by {signal.Signals(signum).name} at step {self.step:,}; checkpoint saved. "
            f"Continue with: workbench resume {self.run.path}"
        )
        self._mark("interrupted", step=self.step)
        self.summary = self.progress.summary("stopped", self.run.path, self.logger.sync_hint)
        return 128 + signum

    def _stopped_early(self, status: str) -> int:
        """launch.on_eval asked to stop (an Optuna pruner): checkpoint, run.json status, exit 0."""
        self._save_checkpoint()
        self.progress.message(f"stopped at step {self.step:,}: {status}. Train it on with: "
                              f"workbench resume {self.run.path}")
        self._mark(status, step=self.step)
        return EXIT_OK

    def _stop_non_finite(self, means: Mapping[str, float]) -> int:
        msg = (f"non-finite {', '.join(non_finite(means))} near step {self.step:,}: training "
               f"stopped. The last good checkpoint (if any) is kept at {self.run.checkpoint}; "
               "lower the learning rate or try precision=fp32, then `workbench resume` it.")
        self.progress.message("error: " + msg)
        log.error(msg)
        self._mark("failed")
        return EXIT_NONFINITE

    def _stop_disk_full(self, err: checkpoint.DiskFullError) -> int:
        """A checkpoint did not fit: say what, keep the previous one, mark the run failed."""
        msg = (f"{err.describe(self.run.read_info().step)} Training stopped. Free some space (or "
               f"move {self.run.path} to a bigger disk), then continue with: "
               f"workbench resume {self.run.path}")
        if self.progress is not None and self.progress.enabled:
            self.progress.message("error: " + msg)
        else:
            log.error(msg)
        try:
            self._mark("failed", reason=str(err))
        except OSError as e:  # the disk may not even have room for run.json
            log.error("could not mark %s failed: %s", self.run.path / "run.json", e)
        return EXIT_DISK_FULL

    def _mark(self, status: str, **changes: Any) -> None:
        """run.json's status (rank 0 writes it; the other ranks have no say)."""
        if self.rank0:
            self.run.update_info(status=status, **changes)
