"""What a run shows while it runs: a live bar on a terminal (or in a notebook), plain lines
without carriage returns when the output is a file or a pipe.

The bar and each plain line show the plugin's primary metric (latest and best) and its headline
train metric, with the recent rate (not the average since start). Each evaluation is one line
``eval @ step N: ...``; the run ends with a summary (final and best primary metric, wall time,
steps/s, run directory, how to sync W&B). :func:`track` gives any other long loop (data
parsing, say) the same rule: a bar on a terminal, two plain lines otherwise.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# the bar without tqdm's "desc: " colon and with a shorter right part than tqdm's default, so an
# 80-column terminal keeps room for the bar and the metrics
_BAR_FORMAT = "{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {rate_fmt} eta {remaining}{postfix}"
_MIN_BAR = 8  # columns the bar keeps before metrics are dropped


def _fmt_time(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _num(v: float) -> str:
    return f"{v:.4g}"


def in_notebook() -> bool:
    """True inside a Jupyter / IPython kernel, where tqdm.auto draws a widget."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an odd IPython: no widget then
        return False
    return shell is not None and hasattr(shell, "kernel")


_NOTEBOOK_HINT = ("workbench: the live progress widget in Jupyter needs ipywidgets: pip install "
                  "'workbench[notebook]' (then restart the kernel); a text bar until then")
_hinted: list[bool] = []


def notebook_widget() -> bool:
    """Draw tqdm's ipywidgets bar: in a notebook front end that shows widgets (not
    qtconsole or Spyder, as tqdm.autonotebook decides) with ipywidgets installed (the
    ``[notebook]`` extra). Without ipywidgets, one hint naming the extra, then a text bar."""
    if not in_notebook() or any(k == "QT_API" or k.startswith("SPYDER") for k in os.environ):
        return False
    try:
        import ipywidgets  # noqa: F401 - tqdm.notebook draws with it
    except ImportError:
        if not _hinted:
            _hinted.append(True)
            print(_NOTEBOOK_HINT, file=sys.stderr, flush=True)
        return False
    return True


def _tqdm(widget: bool) -> Any:
    """tqdm's widget class or its text bar, chosen here rather than by tqdm.auto, which would
    only warn "IProgress not found" without ipywidgets and take the widget for qtconsole's."""
    if widget:
        from tqdm.notebook import tqdm
    else:
        from tqdm import tqdm
    return tqdm


def wants_bar(stream: Any) -> bool:
    """A live bar on a terminal or in a notebook; plain lines into files and pipes."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or in_notebook()


def _columns(stream: Any) -> int | None:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return size.columns if size.columns > 0 and size.lines > 0 else None


def track(items: Sequence[T], desc: str, unit: str = "item", stream: Any = None) -> Iterator[T]:
    """``for x in track(files, "parsing"):`` a bar on a terminal; in a pipe one line before and
    one after, never a carriage return."""
    stream = stream or sys.stderr
    if wants_bar(stream):
        widget = notebook_widget()
        yield from _tqdm(widget)(items, desc=desc, unit=unit, leave=False,
                                 **({} if widget else {"file": stream}))
        return
    t0 = time.monotonic()
    print(f"{desc}: {len(items):,} {unit}s ...", file=stream, flush=True)
    yield from items
    print(f"{desc}: done in {_fmt_time(time.monotonic() - t0)}", file=stream, flush=True)


@dataclass
class Tracked:
    """Latest and best value of one metric, and the step of the best."""

    name: str
    goal: str = "max"
    latest: float = math.nan
    best: float = math.nan
    best_step: int = -1

    def add(self, value: float, step: int) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return
        self.latest = float(value)
        better = value < self.best if self.goal == "min" else value > self.best
        if math.isnan(self.best) or better:
            self.best, self.best_step = float(value), step

    @property
    def seen(self) -> bool:
        return not math.isnan(self.latest)


class Progress:
    """The console of one run (rank 0 only; ``enabled=False`` prints nothing)."""

    def __init__(self, label: str, total: int, initial: int = 0, enabled: bool = True,
                 stream: Any = None, primary: tuple[str, str] | None = None,
                 headline: str | None = None, history: Iterable[Mapping[str, Any]] = (),
                 clock: Callable[[], float] = time.monotonic, bar: bool | None = None) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.clock = clock
        self.start_step = initial
        self.t0 = clock()
        self.step = initial
        self.primary = Tracked(*primary) if primary else None
        self.headline = headline  # None: train/loss, else the first train/ metric logged
        self.latest: dict[str, float] = {}
        self._last_line = (initial, self.t0)  # step and time of the previous plain line
        for record in history:  # a resumed run: the best so far includes the earlier sessions
            self._remember(record, int(record.get("step", 0)))
        self._bar: Any = None
        self._lines = self.stream  # where eval lines and messages go
        if enabled and (wants_bar(self.stream) if bar is None else bar):
            self._label = label.split("/")[0][:24] + " "  # the preset: the run is named at start
            # smoothing: the rate is a moving average of the last updates, not since start
            common = dict(total=total, initial=initial, desc=self._label, unit="step",
                          unit_scale=True, smoothing=0.3, bar_format=_BAR_FORMAT)
            if notebook_widget():
                # the widget spans the cell (dynamic_ncols: width 100%; a number of columns
                # would be read as pixels); its lines go to stdout, as tqdm.notebook's own do
                # (a notebook shows stderr as an error block)
                self._bar = _tqdm(True)(**common, dynamic_ncols=True)
                self._lines = sys.stdout
            else:
                # a pty without a window size (`script`, some CI runners) reports 0x0, and
                # tqdm then draws nothing at all: give it a size
                sized = _columns(self.stream) is not None
                self._bar = _tqdm(False)(**common, dynamic_ncols=sized,
                                         ncols=None if sized else 120,
                                         nrows=None if sized else 24, file=self.stream)

    # ------------------------------------------------------------------ during the run
    def update(self, step: int) -> None:
        if self._bar is not None and step != self.step:
            self._bar.update(step - self.step)
        self.step = step

    def _remember(self, metrics: Mapping[str, Any], step: int) -> None:
        numbers = {k: float(v) for k, v in metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.latest.update(numbers)
        if self.primary is not None and self.primary.name in numbers:
            self.primary.add(numbers[self.primary.name], step)

    def _headline(self) -> str | None:
        if self.headline:
            return self.headline if self.headline in self.latest else None
        if "train/loss" in self.latest:
            return "train/loss"
        return next((k for k in self.latest if k.startswith("train/")), None)

    def items(self, short: bool = False) -> list[str]:
        """What the bar shows, most important first: primary latest, its best, headline."""
        def name(key: str) -> str:
            return key.rsplit("/", 1)[-1] if short else key

        out = []
        p = self.primary
        if p is not None and p.seen:
            out += [f"{name(p.name)} {_num(p.latest)}", f"(best {_num(p.best)})"]
        head = self._headline()
        if head is not None:
            out.append(f"{name(head)} {_num(self.latest[head])}")
        return out

    def show(self, metrics: Mapping[str, Any]) -> None:
        """Called at each log event with the window's train metrics."""
        if not self.enabled:
            return
        self._remember(metrics, self.step)
        if self._bar is not None:
            self._bar.set_postfix_str(self._fit_postfix(), refresh=False)
            return
        now = self.clock()
        last_step, last_t = self._last_line
        rate = (self.step - last_step) / max(now - last_t, 1e-9)  # since the previous line
        self._last_line = (self.step, now)
        eta = _fmt_time((self.total - self.step) / rate) if rate > 0 else "?"
        pct = 100.0 * self.step / max(self.total, 1)
        parts = []
        p = self.primary
        if p is not None and p.seen:
            parts.append(f"{p.name} {_num(p.latest)} (best {_num(p.best)} @ {p.best_step:,})")
        head = self._headline()
        if head is not None:
            parts.append(f"{head} {_num(self.latest[head])}")
        tail = "".join(" | " + part for part in parts)
        print(f"[{self.label}] step {self.step:,}/{self.total:,} ({pct:.1f}%) {rate:,.1f} steps/s "
              f"eta {eta}{tail}", file=self.stream, flush=True)

    def _fit_postfix(self) -> str:
        """The metrics that fit beside a bar of at least _MIN_BAR columns. As the terminal
        narrows: leaf names, then no label before the bar, then fewer metrics (the headline
        first, the primary's latest value last)."""
        columns = _columns(self.stream) or 120
        fmt = dict(self._bar.format_dict)
        fmt.update(bar_format=_BAR_FORMAT.replace("|{bar}|", "||"), postfix=None, ncols=None,
                   prefix=self._label)
        fixed = len(self._bar.format_meter(**fmt))  # everything but the bar and the metrics
        label = len(self._label)
        # (drop the label, leaf names, how many items), best first
        for drop_label, short, n in ((False, False, 3), (False, True, 3), (True, True, 3),
                                     (False, False, 2), (True, False, 2), (True, True, 2),
                                     (True, True, 1)):
            shown = self.items(short)[:n]
            room = columns - fixed + (label if drop_label else 0) - _MIN_BAR - 2  # ", "
            if shown and len(" ".join(shown)) <= room:
                self._bar.set_description_str("" if drop_label else self._label, refresh=False)
                return " ".join(shown)
        self._bar.set_description_str("", refresh=False)
        return ""

    def evaluation(self, step: int, results: Mapping[str, Any], label: str = "eval") -> None:
        """One line per evaluation: the primary metric first, with its best so far."""
        self._remember(results, step)
        if not self.enabled:
            return
        numbers = {k: v for k, v in results.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if not numbers:
            return
        parts = []
        p = self.primary
        if p is not None and p.name in numbers:
            parts.append(f"{p.name} {_num(numbers.pop(p.name))} "
                         f"(best {_num(p.best)} @ {p.best_step:,})")
        parts += [f"{k} {_num(v)}" for k, v in numbers.items()]
        self.message(f"{label} @ step {step:,}: " + ", ".join(parts))
        if self._bar is not None:
            self._bar.set_postfix_str(self._fit_postfix(), refresh=False)

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self._lines)
        elif self.enabled:
            print(text, file=self.stream, flush=True)

    # ------------------------------------------------------------------ the end
    def summary(self, status: str, run_dir: Any, sync_hint: str | None = None) -> str:
        """The closing lines: final and best primary metric, wall time, steps/s, directory."""
        wall = self.clock() - self.t0
        done = self.step - self.start_step
        lines = [f"{status} {self.label} at step {self.step:,} of {self.total:,}"]
        p = self.primary
        if p is not None and p.seen:
            word = "lower" if p.goal == "min" else "higher"
            lines.append(f"  {p.name}: final {_num(p.latest)}, best {_num(p.best)} at step "
                         f"{p.best_step:,} ({word} is better)")
        elif p is not None:
            lines.append(f"  {p.name}: not logged yet")
        head = self._headline()
        if head is not None:
            lines.append(f"  {head}: last {_num(self.latest[head])}")
        shown = f"{wall:.1f} s" if wall < 60 else _fmt_time(wall)
        lines.append(f"  wall time {shown}, {done / max(wall, 1e-9):,.1f} steps/s")
        lines.append(f"  run directory: {run_dir}")
        if sync_hint:
            lines.append(f"  W&B: {sync_hint}")
        return "\n".join(lines)

    def close(self, summary: str | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if summary and self.enabled:
            print(summary, file=self._lines, flush=True)
