"""Interleaved A/B timing of two (or more) workers, each in its own child process.

A benchmark names its sides as ``"module:factory"`` strings plus keyword arguments. Every side
runs in a child process started with ``spawn`` (a fresh interpreter: its own torch thread pool,
its own memory), pinned to the same CPU cores and given the same thread count. The parent then
asks the sides in turn, A/B/A/B, to run one timed chunk; while one side works, the others wait
on a pipe, so each chunk sees the machine as the other side's chunk did a moment before.
On a shared machine, quote the ratio of the medians, not the absolute figures.

A worker is any object with ``prepare() -> dict`` (untimed set-up work, e.g. filling a replay
buffer; it may return figures of its own) and ``chunk() -> dict`` (one timed unit of work; it
returns its figures, e.g. ``{"sps": 103.2}``); ``Pair.ask(i, "method", *args)`` calls any other
method of side ``i``.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass
class Side:
    name: str
    factory: str  # "module:function" importable from benchmarks/ (or installed)
    kwargs: dict[str, Any] = field(default_factory=dict)
    root: str | None = None  # a checkout whose `workbench` this side imports (default: this one)


def cores_for(threads: int) -> list[int] | None:
    """The first ``threads`` CPUs this process may use, or None when that is all of them."""
    allowed = sorted(os.sched_getaffinity(0))
    if threads >= len(allowed):
        return None
    return allowed[:threads]


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the benchmark that started it dies (Ctrl-C, kill)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(conn: Any, side: Side, threads: int, cores: list[int] | None) -> None:
    _die_with_parent()
    # before torch is imported: OpenMP reads these once
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    if cores is not None:
        os.sched_setaffinity(0, cores)
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, side.root or str(HERE.parent))
    import torch

    torch.set_num_threads(threads)
    module, attr = side.factory.split(":")
    worker = getattr(importlib.import_module(module), attr)(**side.kwargs)
    try:
        while True:
            cmd, *args = conn.recv()
            if cmd == "stop":
                break
            conn.send(getattr(worker, cmd)(*args))
    except Exception as e:  # noqa: BLE001  (report to the parent instead of hanging it)
        import traceback

        conn.send({"error": f"{side.name}: {type(e).__name__}: {e}\n{traceback.format_exc()}"})
    finally:
        close = getattr(worker, "close", None)
        if close is not None:
            close()


class Pair:
    """The sides' child processes; ``ask(i, cmd)`` runs ``cmd`` on side ``i`` and waits."""

    def __init__(self, sides: Sequence[Side], threads: int, pin: bool = True) -> None:
        self.sides = list(sides)
        self.cores = cores_for(threads) if pin else None
        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for side in self.sides:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_child, args=(child, side, threads, self.cores), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)

    def ask(self, i: int, cmd: str, *args: Any) -> Any:
        self.conns[i].send((cmd, *args))
        try:
            out = self.conns[i].recv()
        except (EOFError, ConnectionResetError) as e:
            self.procs[i].join(timeout=5)
            raise RuntimeError(f"side {self.sides[i].name!r} died during {cmd!r} "
                               f"(exit code {self.procs[i].exitcode})") from e
        if isinstance(out, dict) and "error" in out:
            raise RuntimeError(out["error"])
        return out

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
        for proc in self.procs:
            proc.join(timeout=60)

    def __enter__(self) -> Pair:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_interleaved(sides: Sequence[Side], threads: int, repeats: int, warmup: int = 1,
                    pin: bool = True, report: Callable[[str], None] = print,
                    ) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """prepare() on each side in turn, ``warmup`` untimed chunks each, then ``repeats`` rounds of
    one chunk per side (A/B/A/B ...). Returns (prepare results, per-side lists of chunk results)."""
    with Pair(sides, threads, pin) as pair:
        where = f"cores {pair.cores}" if pair.cores else "all cores"
        report(f"  {threads} thread(s), {where}: " + " vs ".join(s.name for s in sides))
        prepared = [pair.ask(i, "prepare") for i in range(len(sides))]
        for _ in range(warmup):
            for i in range(len(sides)):
                pair.ask(i, "chunk")
        results: list[list[dict[str, Any]]] = [[] for _ in sides]
        for r in range(repeats):
            for i in range(len(sides)):
                results[i].append(pair.ask(i, "chunk"))
            report(f"    round {r + 1}: " + "; ".join(
                f"{s.name} " + ", ".join(f"{k} {v:,.1f}" for k, v in res[-1].items())
                for s, res in zip(sides, results)))
    return prepared, results


def median_of(results: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def parse_threads(text: str) -> list[int]:
    try:
        threads = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        threads = []
    if not threads or min(threads) < 1:
        raise SystemExit(f"--threads must be a comma-separated list of positive integers; got {text!r}")
    return threads
