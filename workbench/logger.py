"""One logger: a local ``metrics.jsonl`` that is always complete, mirrored to W&B when it works.

W&B runs ``online`` when the user is logged in, ``offline`` otherwise, or ``disabled``. Any W&B
failure (no network, bad key, full disk) becomes one warning; training goes on and the local
files are complete either way. Media go to ``media/`` on disk and to W&B.
"""

from __future__ import annotations

import json
import logging
import math
import netrc
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from workbench import media

log = logging.getLogger("workbench")
WANDB_MODES = ("online", "offline", "disabled")


def default_wandb_mode() -> str:
    """online if the user is logged in (API key in the environment or ~/.netrc), else offline."""
    env = os.environ.get("WANDB_MODE")
    if env in ("online", "offline", "disabled"):
        return env
    if env == "dryrun":
        return "offline"
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        rc = netrc.netrc()
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("//")[-1]
        if rc.authenticators(host):
            return "online"
    except (OSError, netrc.NetrcParseError):
        pass
    return "offline"


def _number(v: Any) -> Any:
    """Floats for numbers, 0-d tensors and NumPy scalars; anything else as it is."""
    if isinstance(v, (bool, str)):
        return v
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    return float(v) if isinstance(v, (int, float)) else v


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf; keep it readable
    return v


class Logger:
    def __init__(
        self,
        run_dir: Path,
        *,
        wandb_mode: str = "disabled",
        project: str = "workbench",
        group: str | None = None,
        job_type: str | None = None,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        run_id: str | None = None,
        time_offset: float = 0.0,
        enabled: bool = True,
        metrics: bool = True,
        primary: tuple[str, str] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.media_dir = run_dir / "media"
        self.enabled = enabled  # False on DDP ranks other than 0
        self.t0 = time.time() - time_offset
        self._wandb: Any = None
        self._wandb_run: Any = None
        self._disk_warned: set[str] = set()
        self.primary = primary  # (metric, "min" | "max"): W&B's summary keeps its best value
        self.sync_hint: str | None = None  # how to see this run in W&B (set once W&B started)
        # metrics=False: media only (workbench eval / sample write no metric lines)
        self._jsonl = open(run_dir / "metrics.jsonl", "a", buffering=1) if enabled and metrics else None  # noqa: SIM115
        if enabled and wandb_mode != "disabled":
            self._start_wandb(wandb_mode, project, group, job_type, name, config, tags, run_id)

    # ------------------------------------------------------------------ W&B plumbing
    def _start_wandb(self, mode: str, project: str, group: str | None, job_type: str | None,
                     name: str | None, config: Mapping[str, Any] | None,
                     tags: list[str] | None, run_id: str | None) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import wandb

            os.environ.setdefault("WANDB_SILENT", "true")
            self._wandb = wandb
            self._wandb_run = wandb.init(
                project=project,
                group=group,
                job_type=job_type,
                name=name,
                config=dict(config or {}),
                tags=tags or None,
                id=run_id,
                resume="allow" if run_id else None,
                dir=str(self.run_dir),
                mode=mode,
                reinit="create_new",
                settings=wandb.Settings(init_timeout=90, console="off", silent=True),
            )
            # every chart's x-axis is the workbench step, also after an offline resume
            self._wandb_run.define_metric("step")
            self._wandb_run.define_metric("*", step_metric="step")
            if self.primary:  # the runs table shows the best value, not the last one
                metric, goal = self.primary
                self._wandb_run.define_metric(metric, step_metric="step", summary=goal)
            if mode == "offline":
                self.sync_hint = f"wandb sync {Path(self._wandb_run.dir).parent}"
            else:
                self.sync_hint = f"{self._wandb_run.url}"
        except Exception as e:  # noqa: BLE001 - the logger never kills a run
            self._wandb_failed("start", e)

    def update_config(self, values: Mapping[str, Any]) -> None:
        """Change W&B config values known only once the run goes (the precision it ran in)."""
        if self._wandb_run is None:
            return
        try:
            self._wandb_run.config.update(dict(values), allow_val_change=True)
        except Exception as e:  # noqa: BLE001 - the logger never kills a run
            self._wandb_failed("config update", e)

    def _wandb_failed(self, what: str, e: BaseException) -> None:
        log.warning(
            "W&B %s failed (%s: %s); W&B logging is off for this run, metrics.jsonl stays complete",
            what, type(e).__name__, str(e).split("\n")[0],
        )
        self._wandb_run = None

    def _wandb_log(self, data: Mapping[str, Any]) -> None:
        if self._wandb_run is None:
            return
        try:
            # W&B's own _step = the workbench step: an offline run resumed from a checkpoint
            # would otherwise restart _step at 0 and `wandb sync` would overwrite its history
            step = data.get("step")
            self._wandb_run.log(dict(data), step=int(step) if step is not None else None)
        except Exception as e:  # noqa: BLE001
            self._wandb_failed("log", e)

    @property
    def wandb_active(self) -> bool:
        return self._wandb_run is not None

    # ------------------------------------------------------------------ metrics
    def elapsed(self) -> float:
        return time.time() - self.t0

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        if self._jsonl is None:
            return
        clean = {k: _number(v) for k, v in metrics.items()}
        record = {"step": int(step), "time": round(self.elapsed(), 3), **clean}
        line = json.dumps({k: _json_value(v) for k, v in record.items()}) + "\n"
        self._on_disk("metrics.jsonl", lambda: self._jsonl.write(line))
        self._wandb_log(record)

    def _on_disk(self, what: str, write: Any) -> Any:
        """A local write that fails (a full disk, say) is a warning, never the end of the run:
        the checkpoint is what decides whether the run can go on (checkpoint.DiskFullError)."""
        try:
            return write()
        except OSError as e:
            if what not in self._disk_warned:  # once per kind of file, not once per line
                self._disk_warned.add(what)
                log.warning("writing %s in %s failed (%s); training goes on without it",
                            what, self.run_dir, e.strerror or e)
            return None

    # ------------------------------------------------------------------ media
    def _media_path(self, key: str, step: int, suffix: str) -> Path:
        return self.media_dir / f"{key.replace('/', '_')}_{step:09d}{suffix}"

    def log_image(self, key: str, image: Any, step: int, caption: str | None = None) -> Path | None:
        """An HWC/CHW image or a B,C,H,W batch (shown as a grid)."""
        if not self.enabled:
            return None
        arr = media.as_numpy(image)
        if arr.ndim == 4:
            arr = media.image_grid(arr)
        path = self._on_disk("media", lambda: media.save_png(arr, self._media_path(key, step, ".png")))
        if path is not None and self._wandb_run is not None:
            self._media(key, step, lambda w: w.Image(str(path), caption=caption))
        return path

    def log_video(self, key: str, frames: np.ndarray, step: int, fps: float = 30) -> Path | None:
        """T,H,W,C uint8 frames -> GIF on disk and a W&B video."""
        if not self.enabled:
            return None
        path = self._on_disk("media", lambda: media.save_gif(frames, self._media_path(key, step, ".gif"), fps=fps))
        if path is not None and self._wandb_run is not None:
            self._media(key, step, lambda w: w.Video(str(path), format="gif"))
        return path

    def log_audio(self, key: str, samples: np.ndarray, sample_rate: int, step: int) -> Path | None:
        if not self.enabled:
            return None
        path = self._on_disk("media", lambda: media.save_wav(samples, self._media_path(key, step, ".wav"),
                                                             sample_rate))
        if path is not None and self._wandb_run is not None:
            self._media(key, step, lambda w: w.Audio(str(path), sample_rate=sample_rate))
        return path

    def log_text(self, key: str, text: str, step: int) -> Path | None:
        if not self.enabled:
            return None
        path = self._media_path(key, step, ".txt")
        if self._on_disk("media", lambda: _write(path, text.encode())) is None:
            return None
        if self._wandb_run is not None:
            self._media(key, step, lambda w: w.Html(f"<pre>{_escape(text)}</pre>"))
        return path

    def log_html(self, key: str, html: str, step: int) -> Path | None:
        """A self-contained HTML page: a file under media/ and a W&B HTML panel."""
        if not self.enabled:
            return None
        path = self._media_path(key, step, ".html")
        if self._on_disk("media", lambda: _write(path, html.encode())) is None:
            return None
        if self._wandb_run is not None:
            self._media(key, step, lambda w: w.Html(str(path), inject=False))
        return path

    def log_file(self, name: str, data: bytes, step: int) -> Path | None:
        """Any other artifact (a MIDI file, say) under media/."""
        if not self.enabled:
            return None
        stem, dot, suffix = name.rpartition(".")
        path = self._media_path(stem or name, step, f".{suffix}" if dot else "")
        if self._on_disk("media", lambda: _write(path, data)) is None:
            return None
        if self._wandb_run is not None:  # W&B has no MIDI panel: the file goes to the run's files
            try:
                self._wandb_run.save(str(path), base_path=str(self.run_dir), policy="now")
            except Exception as e:  # noqa: BLE001
                log.warning("W&B upload of %s failed (%s); the file is in media/", path.name, e)
        return path

    def _media(self, key: str, step: int, make: Any) -> None:
        try:
            self._wandb_log({"step": int(step), key: make(self._wandb)})
        except Exception as e:  # noqa: BLE001
            log.warning("W&B media %s failed (%s); the file is in media/", key, e)

    # ------------------------------------------------------------------ end
    def close(self, exit_code: int = 0) -> None:
        if self._jsonl is not None:
            self._on_disk("metrics.jsonl", self._jsonl.close)
            self._jsonl = None
        if self._wandb_run is not None:
            try:
                self._wandb_run.finish(exit_code=exit_code)
            except Exception as e:  # noqa: BLE001
                log.warning("W&B finish failed (%s); metrics.jsonl is complete", e)
            self._wandb_run = None


def _write(path: Path, data: bytes) -> Path:
    """A media file and its folder: both inside Logger._on_disk, since making the folder fails on
    a full disk as writing the file does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
