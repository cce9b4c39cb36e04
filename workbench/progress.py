"""Progress: a live tqdm bar on a terminal, plain periodic lines when output is a file or pipe."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any


def _fmt_time(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _fmt_metrics(metrics: Mapping[str, Any], limit: int = 4) -> str:
    keys = [k for k in metrics if k.startswith(("eval/", "train/"))][:limit]
    return " ".join(f"{k}={metrics[k]:.4g}" for k in keys if isinstance(metrics[k], (int, float)))


class Progress:
    def __init__(self, label: str, total: int, initial: int = 0, enabled: bool = True,
                 stream: Any = None) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.start_step = initial
        self.t0 = time.time()
        self.step = initial
        self.latest: dict[str, Any] = {}
        self._bar = None
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            try:
                size = os.get_terminal_size(self.stream.fileno())
                sized = size.columns > 0 and size.lines > 0
            except (OSError, ValueError, AttributeError):
                sized = False
            # a pty without a window size (`script`, some CI runners) reports 0x0, and tqdm
            # then draws nothing at all: give it a size
            self._bar = tqdm(total=total, initial=initial, desc=label, unit="step",
                             dynamic_ncols=sized, ncols=None if sized else 120,
                             nrows=None if sized else 24, file=self.stream, smoothing=0.05)

    def update(self, step: int) -> None:
        if self._bar is not None and step != self.step:
            self._bar.update(step - self.step)
        self.step = step

    def show(self, metrics: Mapping[str, Any]) -> None:
        """Called at each log event with the latest metrics."""
        if not self.enabled:
            return
        self.latest.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        if self._bar is not None:
            self._bar.set_postfix_str(_fmt_metrics(self.latest), refresh=True)
            return
        rate = (self.step - self.start_step) / max(time.time() - self.t0, 1e-9)
        eta = (self.total - self.step) / rate if rate > 0 else float("inf")
        pct = 100.0 * self.step / max(self.total, 1)
        eta_s = _fmt_time(eta) if eta != float("inf") else "?"
        print(f"[{self.label}] step {self.step:,}/{self.total:,} ({pct:.1f}%) {rate:,.1f} steps/s "
              f"eta {eta_s} {_fmt_metrics(self.latest)}".rstrip(), file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        elif self.enabled:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
