"""The GPU path, checked and timed from one script (docs/gpu.md): run it on the device tool's GPU
machine in two or three commands of at most 10 minutes each; try it on a CPU first.

Phases (``--phase``, several allowed, in this order):

* ``tests``: the fast test tier (``-m "not slow"``) with ``device=auto``, i.e. on CUDA there;
  tests marked ``cuda`` run instead of skipping. Counts, failures and skip reasons.
* ``smoke``: each plugin (and the presets whose code paths differ) at its ``smoke=`` budget
  with ``device=cuda`` under ``precision=bf16``, ``precision=fp16`` and ``compile=true``; under
  fp16 the loss scalers per optimizer, and for the GANs a longer fp16 run that counts
  inf/NaN-skipped steps after the first ones; ``torch.compile`` falling back to eager is a
  failure here; then the bitwise resume test of a DQN Atari run (tests/test_dqn_resume.py), as
  it is and with deterministic cuDNN/cuBLAS.
* ``timing``: interleaved in one process, each against the same code with the feature off:
  dqn-pong env steps/s (fp32, bf16, bf16 + compile, bf16 with pageable instead of pinned
  copies) with the update-only and env-only rates; DCGAN and GPT (gpt-shakespeare-gpu) ms per
  training step (fp32, bf16, bf16 + compile).
* ``shakespeare``: the whole ``gpt-shakespeare-gpu`` run (nanoGPT's shakespeare_char GPU config,
  compile=true): val loss and wall time, against nanoGPT's published 1.4697 in ~3 min on an A100.
* ``pong``: ``dqn-pong`` on the GPU until eval >= 18 (``--target``) or ``--pong-seconds``; the
  same command again continues that run as ``workbench resume`` does (the run directory stays
  under runs/ while the machine is warm).

Every figure goes to ``gpu_check.json`` and ``gpu_check.md`` in ``--out`` (default ``$OUT``,
else runs/gpu_check), rewritten after each item, so a command killed at its limit still brings
back what it measured. Wheels carried in ``.whl/`` (benchmarks/gpu_wheels.sh) are installed
into /tmp/site first when ale-py is missing. docs/gpu.md gives the device-tool commands.

    python3 benchmarks/gpu_check.py --device cpu --quick                  # every step, tiny
    python3 benchmarks/gpu_check.py --phase tests smoke                   # on the GPU machine
    python3 benchmarks/gpu_check.py --phase timing shakespeare
    python3 benchmarks/gpu_check.py --phase pong --pong-seconds 540       # twice: run, resume
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import logging
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SITE = Path("/tmp/site")
PHASES = ("tests", "smoke", "timing", "shakespeare", "pong")
VARIANTS: dict[str, dict[str, Any]] = {
    "bf16": {"precision": "bf16"}, "fp16": {"precision": "fp16"}, "compile": {"compile": True}}
# presets whose code paths their plugin's own smoke run does not take (Atari CNN, GPT, LSTM,
# real MNIST, the edges pairs, a ResNet)
SMOKE_PRESETS = ("dqn-pong", "gpt-shakespeare", "lstm-shakespeare", "dcgan-mnist",
                 "pix2pix-edges", "classifier-cifar10")
QUICK_SMOKE = ("linreg-quick", "dcgan-digits")
# --quick compiles only the toy: inductor takes a minute per CNN on 2 CPU cores
QUICK_COMPILE = ("linreg-quick",)
GAN_FP16_STEPS, GAN_FP16_WARM = 300, 50  # a longer fp16 run; skips allowed in the first steps
NANOGPT = {"val_loss": 1.4697, "minutes": 3, "gpu": "A100"}  # nanoGPT's README, shakespeare_char


# --------------------------------------------------------------------------- the report


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                            "python": platform.python_version(), "host": platform.node(),
                            "cpu_cores": os.cpu_count(), "command": " ".join(sys.argv)}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines()
                            if ln.startswith("Model name")), "?")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                        capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    import torch

    info["torch"] = torch.__version__
    info["cuda"] = torch.cuda.is_available()
    if info["cuda"]:
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    return info


class Report:
    """gpu_check.json (all figures, merged with an earlier command's in the same folder) and
    gpu_check.md (the same as tables), written after every item."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.json_path, self.md_path = out / "gpu_check.json", out / "gpu_check.md"
        self.data: dict[str, Any] = {"runs": [], "phases": {}}
        if self.json_path.is_file():
            with contextlib.suppress(ValueError):
                self.data = json.loads(self.json_path.read_text())
        self.data["runs"].append(machine())

    def phase(self, name: str) -> dict[str, Any]:
        ph = {"rows": [], "notes": [], "started": time.strftime("%H:%M:%S")}
        self.data["phases"][name] = ph
        return ph

    def add(self, ph: dict[str, Any], row: dict[str, Any]) -> None:
        ph["rows"].append(row)
        print("  " + ", ".join(f"{k}={_cell(v)}" for k, v in row.items()), flush=True)
        self.save()

    def note(self, ph: dict[str, Any], text: str) -> None:
        ph["notes"].append(text)
        print("  note: " + text, flush=True)
        self.save()

    def save(self) -> None:
        self.json_path.write_text(json.dumps(self.data, indent=1, default=str))
        lines = ["# benchmarks/gpu_check.py", ""]
        for run in self.data["runs"]:
            lines.append("- " + ", ".join(f"{k}: {v}" for k, v in run.items()))
        for name, ph in self.data["phases"].items():
            lines += ["", f"## {name}", ""]
            keys = list(dict.fromkeys(k for row in ph["rows"] for k in row))
            if keys:
                lines.append("| " + " | ".join(keys) + " |")
                lines.append("|" + "---|" * len(keys))
                lines += ["| " + " | ".join(_cell(r.get(k, "")).replace("|", "/") for k in keys) + " |"
                          for r in ph["rows"]]
            lines += [f"- {n}" for n in ph["notes"]]
        self.md_path.write_text("\n".join(lines) + "\n")


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


# --------------------------------------------------------------------------- set-up


def install_wheels(mode: str) -> str:
    """pip-install the carried wheels into /tmp/site (no index: that machine reaches nothing)."""
    wheels = sorted((REPO / ".whl").glob("*.whl"))
    wanted = mode == "yes" or (mode == "auto" and wheels and importlib.util.find_spec("ale_py") is None)
    if wanted and wheels:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
               "--no-cache-dir", "--upgrade", "--target", str(SITE), *map(str, wheels)]
        subprocess.run(cmd, check=True)
    if SITE.is_dir():
        sys.path.insert(0, str(SITE))
    # subprocesses (pytest, workbench) import this checkout and the carried packages
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), str(SITE) if SITE.is_dir() else "", os.environ.get("PYTHONPATH", "")) if p)
    return f"installed {len(wheels)} wheels into {SITE}" if wanted and wheels else "no wheels installed"


def _loop() -> Any:
    from workbench.engine import loop

    return loop


def smoke_overrides(name: str) -> dict[str, Any]:
    from workbench import registry

    spec, preset = registry.resolve(name)
    return {**spec.smoke, **(preset.smoke if preset else {})}


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


class CompileFallbacks(logging.Handler):
    """Collects 'torch.compile of X failed' warnings: on a GPU compile=true must compile."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.failed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "torch.compile of" in msg:
            self.failed.append(msg[:300])


@contextlib.contextmanager
def watching(fallbacks: CompileFallbacks) -> Iterator[None]:
    log = logging.getLogger("workbench")
    log.addHandler(fallbacks)
    try:
        yield
    finally:
        log.removeHandler(fallbacks)


class ScalerWatch:
    """Wraps a plugin's train_step: its optimizers and grad scalers, and the calls after which
    a scaler's scale fell (GradScaler halves it exactly when it skipped a step for inf/NaN)."""

    def __init__(self, plugin: Any) -> None:
        import torch

        attrs = vars(plugin)
        self.optimizers = sorted(k for k, v in attrs.items() if isinstance(v, torch.optim.Optimizer))
        self.scalers = {k: v for k, v in attrs.items() if isinstance(v, torch.amp.GradScaler)}
        self.enabled = {k: v for k, v in self.scalers.items() if v.is_enabled()}
        self.distinct = len({id(v) for v in self.enabled.values()})
        self.skips: list[int] = []
        self.calls = 0
        original = plugin.train_step

        def train_step(step: int) -> Any:
            before = {k: s.get_scale() for k, s in self.enabled.items()}
            out = original(step)
            self.calls += 1
            if any(s.get_scale() < before[k] for k, s in self.enabled.items()):
                self.skips.append(self.calls)
            return out

        if self.enabled:
            plugin.train_step = train_step


@contextlib.contextmanager
def instrumented(watches: list[ScalerWatch]) -> Iterator[None]:
    """Every plugin the loop builds meanwhile gets a ScalerWatch."""
    loop = _loop()
    build = loop.build_plugin

    def build_plugin(*args: Any, **kwargs: Any) -> Any:
        plugin = build(*args, **kwargs)
        watches.append(ScalerWatch(plugin))
        return plugin

    loop.build_plugin = build_plugin
    try:
        yield
    finally:
        loop.build_plugin = build


def build(name: str, overrides: dict[str, Any], root: Path) -> Any:
    """A plugin built as the loop builds it (threads, device, precision, seed), no run loop."""
    from workbench.config import to_dict
    from workbench.engine.runs import RunDir
    from workbench.logger import Logger

    loop = _loop()
    spec, cfg, plugin_cls, group = loop.prepare(name, overrides)
    info = dict(plugin=spec.name, preset=name, wandb_id="gpu-check", created=time.time(), tags=[],
                project="workbench")
    run = RunDir.create(group, None, info, to_dict(cfg), root=root)
    logger = Logger(run.path, wandb_mode="disabled", metrics=False)
    return loop.build_plugin(run, run.read_info(), spec, cfg, plugin_cls, logger)


# --------------------------------------------------------------------------- phase: tests


def phase_tests(args: argparse.Namespace, rep: Report) -> None:
    ph = rep.phase("tests")
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
               f"--junitxml={junit}"]
        if args.quick:
            cmd += ["tests/test_cuda_paths.py"]
        if importlib.util.find_spec("wandb") is None:  # not carried (benchmarks/gpu_wheels.sh)
            cmd += ["--ignore=tests/test_wandb.py", "--ignore=tests/test_compare_wandb_step.py",
                    "-k", "not wandb"]
            rep.note(ph, "wandb is not installed here: the W&B tests were left out (CPU CI runs them)")
        if importlib.util.find_spec("xdist") is not None:  # tests/conftest.py defaults to -n auto
            cmd += ["-n", str(max(args.test_workers, 0))]
        rep.note(ph, "command: " + " ".join(cmd[1:]))
        t = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                                  timeout=args.tests_seconds)
            tail = (proc.stdout + proc.stderr)[-3000:]
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            rep.note(ph, f"pytest passed its {args.tests_seconds} s budget and was stopped; "
                         f"last output: {out[-1500:]}")
            return
        seconds = time.perf_counter() - t
        if not junit.is_file():
            rep.note(ph, f"pytest wrote no report (exit {proc.returncode}): {tail}")
            return
        suite = ET.parse(junit).getroot()
        suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
        reasons: dict[str, int] = {}
        failures = []
        for case in suite.iter("testcase"):
            test = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
            for kind in ("failure", "error"):
                el = case.find(kind)
                if el is not None:
                    failures.append({"test": test, kind: (el.get("message") or "")[:300]})
            skipped = case.find("skipped")
            if skipped is not None:
                why = (skipped.get("message") or "")[:160]
                reasons[why] = reasons.get(why, 0) + 1
            elif "test_cuda_paths" in test or "test_dqn_resume" in test:
                ok = case.find("failure") is None and case.find("error") is None
                rep.add(ph, {"test": test, "result": "passed" if ok else "FAILED"})
        total = int(suite.get("tests", 0))
        bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        rep.add(ph, {"test": "(all)", "result": f"{total - bad - int(suite.get('skipped', 0))} passed, "
                     f"{bad} failed, {suite.get('skipped')} skipped of {total}",
                     "seconds": round(seconds, 1), "exit": proc.returncode})
        for f in failures:
            rep.add(ph, {"test": f["test"], "result": "FAILED: " + f.get("failure", f.get("error", ""))})
        for why, n in sorted(reasons.items(), key=lambda x: -x[1]):
            rep.note(ph, f"skipped {n}: {why}")


# --------------------------------------------------------------------------- phase: smoke


def smoke_names(args: argparse.Namespace) -> list[str]:
    from workbench import registry

    if args.names:
        return [n.strip() for n in args.names.split(",") if n.strip()]
    if args.quick:
        return list(QUICK_SMOKE)
    return sorted(registry.PLUGINS) + [p for p in SMOKE_PRESETS if p in registry.PRESETS]


def smoke_run(name: str, overrides: dict[str, Any], run_name: str, root: Path) -> dict[str, Any]:
    """One ``workbench run`` in this process, its figures, its scalers and compile fallbacks."""
    loop = _loop()
    watches: list[ScalerWatch] = []
    fallbacks = CompileFallbacks()
    t = time.perf_counter()
    row: dict[str, Any] = {}
    try:
        with watching(fallbacks), instrumented(watches):
            code, run = loop.start(name, overrides, run_name=run_name, root=root,
                                   launch=loop.Launch(wandb_mode="disabled", progress=False))
        losses = [v for r in run.read_metrics() for k, v in r.items()
                  if "loss" in k and isinstance(v, float)]
        info = run.read_info()
        row.update(exit=code, step=info.step, device=info.device, precision=info.precision,
                   finite=bool(losses) and all(math.isfinite(v) for v in losses))
    except Exception as e:  # noqa: BLE001 - one broken run must not hide the others' figures
        row.update(exit="error", error=f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    row["seconds"] = round(time.perf_counter() - t, 1)
    if watches:
        w = watches[0]
        row.update(optimizers=len(w.optimizers), scalers_on=len(w.enabled),
                   one_scaler_per_optimizer=(w.distinct == len(w.optimizers)) if w.enabled else "off",
                   skipped_steps=w.skips[:20])
    if fallbacks.failed:
        row["compile_fallbacks"] = fallbacks.failed
    return row


def phase_smoke(args: argparse.Namespace, rep: Report) -> None:
    from workbench import registry

    ph = rep.phase("smoke")
    root = args.runs_root / "smoke"
    names = smoke_names(args)
    deadline = time.monotonic() + args.smoke_seconds
    # every name under each variant in turn: the quick ones first, compile (slow) last
    for variant in args.variants.split(","):
        for name in names:
            if time.monotonic() > deadline:
                rep.note(ph, f"budget of {args.smoke_seconds} s spent: {variant} {name} not run")
                continue
            if args.quick and variant == "compile" and name not in QUICK_COMPILE:
                continue
            overrides = {**smoke_overrides(name), "device": args.device, **VARIANTS[variant]}
            row = smoke_run(name, overrides, f"{variant}-{int(time.time() * 1000) % 10**8}", root)
            if variant == "compile" and row.get("compile_fallbacks"):
                row["ok"] = False
            else:
                row["ok"] = row.get("exit") == 0 and row.get("finite", False)
            rep.add(ph, {"name": name, "variant": variant, **row})
    # GANs under fp16: one scaler per optimizer, and no skipped steps once the scale has settled
    steps, warm = (12, 4) if args.quick else (GAN_FP16_STEPS, GAN_FP16_WARM)
    for name in names:
        spec, _ = registry.resolve(name)
        if spec.entry_point.split(":")[0].rsplit(".", 2)[-2] not in ("dcgan", "pix2pix"):
            continue
        overrides = {**smoke_overrides(name), "device": args.device, "precision": "fp16",
                     "total_steps": steps, "eval_every": steps, "checkpoint_every": steps,
                     "log_every": max(1, steps // 10)}
        row = smoke_run(name, overrides, f"fp16-long-{int(time.time() * 1000) % 10**8}", root)
        late = [s for s in row.get("skipped_steps", []) if s > warm]
        row["ok"] = row.get("exit") == 0 and not late and row.get("one_scaler_per_optimizer") in (True, "off")
        rep.add(ph, {"name": name, "variant": f"fp16 x{steps} (skips after {warm}: {len(late)})", **row})
    phase_resume(args, rep, ph)


def phase_resume(args: argparse.Namespace, rep: Report, ph: dict[str, Any]) -> None:
    """tests/test_dqn_resume.py (a fresh plugin from the checkpoint file trains on bitwise like
    the saved one) on this device: as the loop runs, then with deterministic kernels."""
    select = ["-k", "fp32"] if args.quick else []
    modes = {"as is": ("", {}),
             "deterministic": ("import torch; torch.backends.cudnn.deterministic = True; "
                               "torch.use_deterministic_algorithms(True, warn_only=True); ",
                               {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"})}
    if args.quick:  # one of the two: they differ only in the flags set first
        modes.pop("as is")
    for mode, (prelude, env) in modes.items():
        code = (f"{prelude}import pytest, sys; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
                f"'tests/test_dqn_resume.py', *{select!r}]))")
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=600)
        last = (proc.stdout.strip().splitlines() or [""])[-1]
        rep.add(ph, {"name": "dqn-pong resume (tests/test_dqn_resume.py)", "variant": mode,
                     "exit": proc.returncode, "ok": proc.returncode == 0, "result": last[:200],
                     "seconds": round(time.perf_counter() - t, 1)})


# --------------------------------------------------------------------------- phase: timing


def _pageable(agent: Any) -> None:
    """The feature off: batches copied from pageable memory, synchronously."""
    import torch

    def to_device(array: Any, nhwc: bool = False) -> Any:
        t = torch.from_numpy(array)
        if nhwc:
            t = t.permute(0, 3, 1, 2)
        t = t.to(agent.ctx.device)
        if agent.channels_last and t.dim() == 4 and not nhwc:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    agent._to_device = to_device


def _interleave(sides: dict[str, Callable[[], dict[str, float]]], rounds: int) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
    for _ in range(rounds):
        for name, chunk in sides.items():
            out[name].append(chunk())
    return out


def time_dqn(args: argparse.Namespace, rep: Report, ph: dict[str, Any], root: Path) -> None:
    import numpy as np

    dev = args.device
    if args.quick:
        base = {**smoke_overrides("dqn-pong"), "buffer_size": 1_000, "learning_starts": 300,
                "total_steps": 10**7}
        chunk_steps, rounds, updates = 100, 1, 4
    else:
        base = {"buffer_size": 50_000, "learning_starts": 5_000, "eval_video": False,
                "total_steps": 10**7, "checkpoint_replay": False}
        chunk_steps, rounds, updates = 4_000, 3, 100
    variants = {"fp32": ({"precision": "fp32"}, None), "bf16": ({"precision": "bf16"}, None),
                "bf16+compile": ({"precision": "bf16", "compile": True}, None),
                "bf16 pageable copies": ({"precision": "bf16"}, _pageable)}
    if args.quick:  # compiling on a CPU takes a minute per network: not for the quick run
        variants.pop("bf16+compile")
    agents, state = {}, {}
    for name, (extra, patch) in variants.items():
        agent = build("dqn-pong", {**base, "device": dev, **extra}, root)
        if patch is not None:
            patch(agent)
        step = 0
        while step < agent.cfg.learning_starts + chunk_steps:  # the buffer, then a warm-up chunk
            agent.train_step(step)
            step += agent.steps_per_call
        agents[name], state[name] = agent, step

    def chunk(name: str) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            agent, start = agents[name], state[name]
            sync(dev)
            t = time.perf_counter()
            step = start
            while step < start + chunk_steps:
                agent.train_step(step)
                step += agent.steps_per_call
            sync(dev)
            sps = (step - start) / (time.perf_counter() - t)
            state[name] = step
            t = time.perf_counter()
            for _ in range(updates):
                agent.update()
            sync(dev)
            return {"sps": sps, "ms_per_update": 1000 * (time.perf_counter() - t) / updates}
        return run

    results = _interleave({n: chunk(n) for n in agents}, rounds)
    env = agents["fp32"].env
    rng = np.random.default_rng(0)
    t, calls = time.perf_counter(), max(1, chunk_steps // env.num_envs)
    for _ in range(calls):
        env.step(rng.integers(0, env.num_actions, env.num_envs))
    env_sps = calls * env.num_envs / (time.perf_counter() - t)
    k = agents["fp32"].cfg.train_frequency / agents["fp32"].cfg.gradient_steps
    base_sps = statistics.median(r["sps"] for r in results["fp32"])
    for name, res in results.items():
        sps = statistics.median(r["sps"] for r in res)
        ms = statistics.median(r["ms_per_update"] for r in res)
        rep.add(ph, {"what": "dqn-pong env steps/s", "variant": name, "value": round(sps, 1),
                     "x_vs_fp32": round(sps / base_sps, 3), "ms_per_update": round(ms, 3),
                     "update_bound_sps": round(1000 / ms * k, 1), "env_only_sps": round(env_sps, 1),
                     "rounds": [round(r["sps"], 1) for r in res]})
    for agent in agents.values():
        agent.close()


def time_steps(args: argparse.Namespace, rep: Report, ph: dict[str, Any], root: Path, name: str) -> None:
    dev = args.device
    if args.quick:
        base, warm, steps, rounds = {**smoke_overrides(name), "total_steps": 10**6}, 2, 2, 1
    else:
        base, warm, steps, rounds = {"total_steps": 10**6}, 10, 50, 3
    variants = {"fp32": {"precision": "fp32"}, "bf16": {"precision": "bf16"},
                "bf16+compile": {"precision": "bf16", "compile": True}}
    if args.quick:
        variants.pop("bf16+compile")
    plugins, state = {}, {}
    for v, extra in variants.items():
        plugin = build(name, {**base, "device": dev, **extra}, root)
        for s in range(warm):  # warm-up, and compilation for compile=true
            plugin.train_step(s)
        plugins[v], state[v] = plugin, warm

    def chunk(v: str) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            sync(dev)
            t = time.perf_counter()
            for s in range(state[v], state[v] + steps):
                plugins[v].train_step(s)
            sync(dev)
            state[v] += steps
            return {"ms": 1000 * (time.perf_counter() - t) / steps}
        return run

    results = _interleave({v: chunk(v) for v in plugins}, rounds)
    base_ms = statistics.median(r["ms"] for r in results["fp32"])
    for v, res in results.items():
        ms = statistics.median(r["ms"] for r in res)
        rep.add(ph, {"what": f"{name} ms/step", "variant": v, "value": round(ms, 3),
                     "x_vs_fp32": round(base_ms / ms, 3), "rounds": [round(r["ms"], 3) for r in res]})
    for plugin in plugins.values():
        plugin.close()


def phase_timing(args: argparse.Namespace, rep: Report) -> None:
    ph = rep.phase("timing")
    rep.note(ph, "x_vs_fp32: speed relative to fp32 measured in the same process, rounds interleaved"
                 + ("; --quick leaves the compile sides out" if args.quick else ""))
    root = args.runs_root / "timing"
    for label, fn in (("dqn-pong", lambda: time_dqn(args, rep, ph, root)),
                      ("dcgan-mnist", lambda: time_steps(args, rep, ph, root, "dcgan-mnist")),
                      ("gpt-shakespeare-gpu", lambda: time_steps(args, rep, ph, root, "gpt-shakespeare-gpu"))):
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            rep.note(ph, f"{label}: {type(e).__name__}: {str(e)[:300]}")


# --------------------------------------------------------------------------- phase: shakespeare


def phase_shakespeare(args: argparse.Namespace, rep: Report) -> None:
    ph = rep.phase("shakespeare")
    overrides: dict[str, Any] = {"device": args.device, "compile": True}
    if args.quick:
        overrides.update(smoke_overrides("gpt-shakespeare-gpu"), compile=False)
    rep.note(ph, f"reference: nanoGPT shakespeare_char, val loss {NANOGPT['val_loss']} in about "
                 f"{NANOGPT['minutes']} min on an {NANOGPT['gpu']} (its README)")
    row = smoke_run("gpt-shakespeare-gpu", overrides, f"run-{int(time.time())}", args.runs_root / "shakespeare")
    run_dir = args.runs_root / "shakespeare" / "gpt-shakespeare-gpu"
    metrics = []
    for d in sorted(run_dir.glob("run-*")):
        metrics = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines() if x.strip()]
    evals = [(r["step"], r["time"], r["eval/loss"]) for r in metrics if "eval/loss" in r]
    for step, secs, loss in evals:
        rep.add(ph, {"step": step, "run_clock_s": round(secs, 1), "val_loss": round(loss, 4)})
    rep.add(ph, {"step": "(run)", "exit": row.get("exit"), "wall_s": row["seconds"],
                 "final_val_loss": evals[-1][2] if evals else "", "best_val_loss": min((e[2] for e in evals), default=""),
                 "compile_fallbacks": row.get("compile_fallbacks", [])})


# --------------------------------------------------------------------------- phase: pong


def phase_pong(args: argparse.Namespace, rep: Report) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    import pong_curve
    import torch

    ph = rep.phase("pong")
    loop = _loop()
    root = args.runs_root / "pong"
    run_dir = root / "dqn-pong" / "gpu-pong"
    late = threading.Event()

    def on_eval(step: int, metrics: Any) -> str | None:
        if metrics.get("eval/return", -math.inf) >= args.target:
            return "solved"
        return "time-limit" if late.is_set() else None

    launch = loop.Launch(wandb_mode="disabled", progress=True, on_eval=on_eval)
    # the limit: SIGTERM, which the loop turns into a checkpoint and exit 143; before the loop
    # has taken the signal over, it only marks the run to stop at its next evaluation
    previous = signal.signal(signal.SIGTERM, lambda *a: late.set())
    timer = threading.Timer(args.pong_seconds, lambda: (late.set(), os.kill(os.getpid(), signal.SIGTERM)))
    timer.daemon = True
    t = time.perf_counter()
    status = json.loads((run_dir / "run.json").read_text())["status"] if (run_dir / "run.json").is_file() else None
    timer.start()
    try:
        if status in ("finished", "solved"):
            mode, code = f"already {status}", 0
        elif status is not None:  # what `workbench resume RUN` does
            mode = "resumed"
            code, _ = loop.resume(run_dir, {}, launch)
        else:
            overrides: dict[str, Any] = {"device": args.device}
            if args.quick:
                overrides.update({**smoke_overrides("dqn-pong"), "total_steps": 1_200,
                                  "eval_every": 300, "checkpoint_every": 300})
            mode = "started"
            code, _ = loop.start("dqn-pong", overrides, run_name="gpu-pong", root=root, launch=launch)
    finally:
        timer.cancel()
        signal.signal(signal.SIGTERM, previous)
    info = json.loads((run_dir / "run.json").read_text())
    records, config, _ = pong_curve.read_run(run_dir)
    points = pong_curve.eval_points(records)
    for p in points:
        rep.add(ph, {"step": p.step, "run_clock_s": round(p.seconds, 1),
                     "updates": pong_curve.updates_at(p.step, config), "eval_return": p.mean,
                     "eval_std": p.std})
    sps = [r["perf/sps"] for r in records if "perf/sps" in r]
    hit = pong_curve.first_reaching(points, args.target)
    rep.add(ph, {"step": f"({mode}; exit {code})", "status": info.get("status"),
                 "this_command_s": round(time.perf_counter() - t, 1),
                 "run_clock_s": round(records[-1].get("time", math.nan), 1) if records else "",
                 "last_step": info.get("step"), "median_sps": round(statistics.median(sps), 1) if sps else "",
                 f"steps_to_{args.target:g}": hit.step if hit else "not reached",
                 f"time_to_{args.target:g}_s": round(hit.seconds, 1) if hit else "",
                 "gpu_peak_mem_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if torch.cuda.is_available() else ""})
    if info.get("status") not in ("finished", "solved"):
        rep.note(ph, f"the run continues with the same command (it resumes {run_dir}) while this "
                     "machine is warm")


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phase", nargs="+", choices=(*PHASES, "all"), default=["all"])
    p.add_argument("--device", default="auto", help="auto (cuda if present) | cuda | cpu")
    p.add_argument("--quick", action="store_true", help="every step at a tiny size (the CPU test)")
    p.add_argument("--out", type=Path, default=None, help="default: $OUT, else runs/gpu_check")
    p.add_argument("--runs-root", type=Path, default=REPO / "runs" / "gpu_check",
                   help="run directories (kept out of --out: Pong checkpoints hold the replay buffer)")
    p.add_argument("--wheels", choices=("auto", "yes", "no"), default="auto",
                   help="install .whl/*.whl into /tmp/site (auto: when ale-py is missing)")
    p.add_argument("--names", default="", help="smoke: comma-separated plugins/presets (default: "
                   "every plugin and " + ", ".join(SMOKE_PRESETS) + ")")
    p.add_argument("--variants", default=",".join(VARIANTS), help="smoke: of " + ", ".join(VARIANTS))
    p.add_argument("--tests-seconds", type=int, default=420)
    p.add_argument("--test-workers", type=int, default=4, help="pytest-xdist workers where installed")
    p.add_argument("--smoke-seconds", type=int, default=330)
    p.add_argument("--pong-seconds", type=float, default=540)
    p.add_argument("--target", type=float, default=18.0)
    args = p.parse_args(argv)
    phases = list(PHASES) if "all" in args.phase else [x for x in PHASES if x in args.phase]
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        p.error(f"--variants: unknown {sorted(unknown)}; allowed: {', '.join(VARIANTS)}")
    out = args.out or Path(os.environ.get("OUT") or REPO / "runs" / "gpu_check")
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ.setdefault("WANDB_SILENT", "true")
    sys.path.insert(0, str(REPO))
    wheels = install_wheels(args.wheels)
    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU here; "
                "use --device cpu (with --quick for a tiny run of every step)")
    if args.quick:
        args.pong_seconds = min(args.pong_seconds, 120)
    rep = Report(out)
    rep.data["runs"][-1].update(device=args.device, quick=args.quick, phases=phases, wheels=wheels)
    rep.save()
    for name in phases:
        print(f"== {name}", flush=True)
        t = time.perf_counter()
        try:
            globals()[f"phase_{name}"](args, rep)
        except Exception as e:  # noqa: BLE001 - the other phases still run, the error is reported
            rep.note(rep.data["phases"].setdefault(name, {"rows": [], "notes": []}),
                     f"phase failed: {type(e).__name__}: {str(e)[:500]}")
        rep.data["phases"][name]["seconds"] = round(time.perf_counter() - t, 1)
        rep.save()
    print(f"wrote {rep.json_path} and {rep.md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
