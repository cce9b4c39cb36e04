"""``workbench compare``: a table and a plot of one metric across run directories.

Reads only what every run directory has (``run.json``, ``config.yaml``, ``metrics.jsonl``), so
it works on runs of any plugin, finished or not, with W&B on or off::

    workbench compare runs/dqn-cartpole/a runs/dqn-cartpole/b
    workbench compare --group dqn-cartpole --where optim.lr=1e-4 --metric eval/return --out c.png

The metric is the plugins' primary metric unless one is named, and "better" is its declared
goal. The table shows, per run, the config keys whose values differ between the runs, and the
final and best value of the metric; runs are ranked by the final value (what the run ends
with; the best of many noisy evaluations flatters), or by the best with ``--rank-by best``,
and the report's first line says which. Runs whose configs differ only in ``seed`` (with
distinct seeds) are also summarised together as RL papers do (workbench/studies/aggregate.py):
the mean, the interquartile mean and their 95 % bootstrap confidence intervals over seeds, with
min and max; the PNG draws them as one mean curve with its 95 % confidence band, and a single
run that logs ``<metric>_std`` (the spread over an evaluation's games, ``eval/return_std``) with
a +-std band. This module imports neither torch nor wandb; matplotlib is imported only when a
PNG is asked for.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine.runs import RunDir, find_runs, open_run, runs_root
from workbench.errors import UserError
from workbench.studies.aggregate import Summary, aligned, curve_interval, summarize

log = logging.getLogger("workbench")

# names that mean "lower is better" (anything else is maximised: returns, accuracy, ...)
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "l1", "fd", "fid", "perplexity", "nll", "bpc", "regret")
_SEED_KEYS = ("seed",)
SEED_NOTE = ("IQM: interquartile mean (the mean with fewer than 4 seeds); CI: 95 % percentile "
             "bootstrap interval over seeds (Agarwal et al. 2021, rliable's method).")


def records_or_frame(rows: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame when pandas is importable, else the rows themselves."""
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


@dataclass
class RunData:
    run: RunDir
    label: str
    info: Any
    config: dict[str, Any]
    curve: list[tuple[float, float]] = field(default_factory=list)  # (x, value), sorted by x
    std: list[float] | None = None  # <metric>_std at each point of the curve, when logged
    final: float = math.nan
    best: float = math.nan


# --------------------------------------------------------------------------- selecting runs


def _expand(path: Path) -> list[RunDir]:
    """A run directory, or a folder of them (``runs/dqn-pong``), or the runs root itself."""
    if (path / "run.json").is_file():
        return [open_run(path)]
    if path.is_dir():
        found = list(find_runs(path.parent, path.name)) or list(find_runs(path))
        if found:
            return found
    raise UserError(f"no workbench run directory at {path} (a run directory holds run.json).")


def _readable(runs: Iterable[RunDir]) -> list[RunDir]:
    """The runs whose run.json and config.yaml can be read; a damaged one found by --group or
    in a folder is skipped with a warning, not a reason to refuse the others."""
    ok = []
    for r in runs:
        try:
            r.read_info()
            r.read_config()
        except UserError as e:
            log.warning("compare skips %s: %s", r.path, e)
            continue
        ok.append(r)
    return ok


def select_runs(paths: Sequence[str | Path], group: str | None = None, tags: Iterable[str] = (),
                where: Iterable[str] = (), root: Path | None = None) -> list[RunDir]:
    root = root or runs_root()
    runs: list[RunDir] = []
    for p in paths:
        path = Path(p)  # a run named on the command line must be readable; a folder's may not
        runs.extend(_expand(path) if (path / "run.json").is_file() else _readable(_expand(path)))
    if group:
        found = list(find_runs(root, group))
        if not found:
            groups = sorted({r.path.parent.name for r in find_runs(root)})
            raise UserError(
                f"no runs in group '{group}' under {root}. Groups there: {', '.join(groups) or '(none)'}."
            )
        runs.extend(_readable(found))
    if not paths and not group:
        groups = sorted({r.path.parent.name for r in find_runs(root)})
        raise UserError("give run directories (workbench compare runs/P/a runs/P/b) or --group "
                        f"PRESET. Groups under {root}: {', '.join(groups) or '(none yet)'}.")
    unique = list({r.path.resolve(): r for r in runs}.values())
    tags = list(tags)
    if tags:
        unique = [r for r in unique if set(tags) <= set(r.read_info().tags or ())]
    for cond in where:
        key, sep, value = cond.partition("=")
        if not sep:
            raise UserError(f"--where takes key=value (e.g. optim.lr=1e-4); got {cond!r}.")
        unique = [r for r in unique if _matches(_flat_config(r).get(key.strip(), _MISSING), value.strip())]
    if not unique:
        what = [f"tag {t}" for t in tags] + [f"where {w}" for w in where]
        if not what:
            raise UserError("every run selected is damaged (see the warnings above); nothing to compare.")
        raise UserError(f"no run matches {' and '.join(what)} among the runs selected.")
    return unique


_MISSING = object()


def _matches(actual: Any, wanted: str) -> bool:
    if actual is _MISSING:
        return False
    if isinstance(actual, bool):
        return str(actual).lower() == wanted.lower()
    if isinstance(actual, (int, float)):
        try:
            return math.isclose(float(actual), float(wanted), rel_tol=1e-9)
        except ValueError:
            return False
    if isinstance(actual, list):
        return ",".join(map(str, actual)) == wanted.strip("[]() ").replace(" ", "")
    return str(actual) == wanted


def _flat_config(run: RunDir) -> dict[str, Any]:
    from workbench.config import flatten

    return flatten(run.read_config())


# --------------------------------------------------------------------------- reading metrics


def lower_is_better(metric: str) -> bool:
    leaf = metric.rsplit("/", 1)[-1].lower()
    return any(word in leaf.split("_") or leaf.startswith(word) for word in _LOWER_IS_BETTER)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def primary_of(runs: Sequence[RunDir]) -> tuple[str, str] | None:
    """The primary metric (name, goal) the runs' plugins declare (the most common one)."""
    from workbench import registry

    found: dict[tuple[str, str], int] = {}
    for r in runs:
        try:
            pm = registry.primary_metric(r.read_info().plugin)
        except UserError:  # a run of a plugin that is not installed here
            continue
        if pm:
            found[pm] = found.get(pm, 0) + 1
    return max(found, key=found.__getitem__) if found else None


def load(runs: Sequence[RunDir], metric: str | None, x: str = "step",
         goal: str = "auto") -> tuple[list[RunData], str, bool]:
    """Each run's curve of ``metric`` (default: the plugins' primary metric, else the first
    eval/ metric any run logged)."""
    if x not in ("step", "time"):
        raise UserError(f"--x must be step or time; got {x!r}.")
    records = {r.path: r.read_metrics() for r in runs}
    logged = sorted({k for recs in records.values() for rec in recs for k in rec} - {"step", "time"})
    primary = primary_of(runs)
    if metric is None:
        metric = primary[0] if primary and primary[0] in logged else None
        metric = metric or next((k for k in logged if k.startswith("eval/")), None) or next(
            (k for k in logged if k.startswith("train/")), None)
        if metric is None:
            raise UserError("none of the selected runs has logged a metric yet (metrics.jsonl is empty).")
    elif metric not in logged:
        from workbench.errors import nearest

        raise UserError(
            f"no selected run logged '{metric}'.{nearest(metric, logged)} "
            f"Metrics there are: {', '.join(logged) or '(none)'}."
        )
    if goal == "auto":  # the goal the plugin declares, else a guess from the name
        lower = primary[1] == "min" if primary and primary[0] == metric else lower_is_better(metric)
    else:
        lower = goal == "min"
    labels = _labels(runs)
    data = []
    for r in runs:
        # (x, value, its _std or None): the spread of an evaluation's games where logged
        triples = sorted(((float(rec[x]), v, _number(rec.get(f"{metric}_std")))
                          for rec in records[r.path]
                          if x in rec and (v := _number(rec.get(metric))) is not None),
                         key=lambda t: t[0])
        points = [(at, v) for at, v, _ in triples]
        d = RunData(r, labels[r.path], r.read_info(), _flat_config(r), points)
        if triples and all(sd is not None for _, _, sd in triples):
            d.std = [sd for _, _, sd in triples]
        if points:
            d.final = points[-1][1]
            d.best = (min if lower else max)(v for _, v in points)
        data.append(d)
    return data, metric, lower


def _labels(runs: Sequence[RunDir]) -> dict[Path, str]:
    """group/name, or just name when every run is in the same group."""
    groups = {r.path.parent.name for r in runs}
    return {r.path: r.path.name if len(groups) == 1 else f"{r.path.parent.name}/{r.path.name}" for r in runs}


def differing_keys(data: Sequence[RunData]) -> list[str]:
    keys = sorted({k for d in data for k in d.config})
    return [k for k in keys if len({repr(d.config.get(k)) for d in data}) > 1]


def seed_groups(data: Sequence[RunData], keys: Sequence[str]) -> dict[tuple, list[RunData]]:
    """Runs whose configs agree except for the seed, with a different seed each: one group. Runs
    that repeat a seed (a rerun, the same command twice) are not seeds of a config, so each of
    them stays on its own (keyed by its label as well)."""
    shared = [k for k in keys if k not in _SEED_KEYS]
    groups: dict[tuple, list[RunData]] = {}
    for d in data:
        groups.setdefault(tuple((k, repr(d.config.get(k))) for k in shared), []).append(d)
    out: dict[tuple, list[RunData]] = {}
    for key, members in groups.items():
        seeds = [repr(tuple(d.config.get(k) for k in _SEED_KEYS)) for d in members]
        if len(set(seeds)) == len(seeds):
            out[key] = members
        else:
            out.update({(*key, ("run", d.label)): [d] for d in members})
    return out


def one_point_notes(data: Sequence[RunData], metric: str) -> list[str]:
    """Why a run drew a single point: an evaluation only at the end (eval_every > total_steps)."""
    notes = []
    for d in data:
        every, total = d.config.get("eval_every"), d.config.get("total_steps")
        if len(d.curve) == 1 and metric.startswith("eval/") and isinstance(every, int) and \
                isinstance(total, int) and (every > total or every == 0):
            notes.append(f"warning: {d.label} has one point of {metric}: eval_every={every:,} "
                         f"{'is 0' if every == 0 else f'> total_steps={total:,}'}, so it was "
                         "evaluated only at the end; pass a smaller eval_every for a curve.")
    return notes


# --------------------------------------------------------------------------- tables


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list):
        return ",".join(map(str, v))
    return "-" if v is None else str(v)


RANK_BY = ("final", "best")


def _rank_key(lower: bool, by: str = "final") -> Any:
    def key(d: RunData) -> tuple[bool, float]:
        value = d.best if by == "best" else d.final
        if math.isnan(value):
            return True, 0.0
        return False, value if lower else -value

    return key


def run_rows(data: Sequence[RunData], keys: Sequence[str], lower: bool, by: str = "final"
             ) -> tuple[list[str], list[list[str]]]:
    # an agent's game is always shown (as a differing key when the runs played several)
    env = [ENV_KEY] if ENV_KEY not in keys and any(ENV_KEY in d.config for d in data) else []
    header = ["rank", "run", *(["env"] if env else []), "status", "step", *keys, "final", "best"]
    rows = []
    for i, d in enumerate(sorted(data, key=_rank_key(lower, by)), 1):
        rows.append([str(i), d.label, *(_fmt(d.config.get(k)) for k in env), d.info.status,
                     f"{d.info.step}", *(_fmt(d.config.get(k)) for k in keys), _fmt(d.final),
                     _fmt(d.best)])
    return header, rows


ENV_KEY = "env.id"


def game_notes(data: Sequence[RunData]) -> list[str]:
    """A group whose runs played different games (a Breakout run filed under dqn-pong): their
    returns are not comparable, whatever the table's ranks say."""
    notes = []
    by_group: dict[str, dict[str, list[str]]] = {}
    for d in data:
        if ENV_KEY in d.config:
            games = by_group.setdefault(d.run.path.parent.name, {})
            games.setdefault(str(d.config[ENV_KEY]), []).append(d.label)
    for group, games in by_group.items():
        if len(games) > 1:
            played = "; ".join(f"{game}: {', '.join(labels)}" for game, labels in games.items())
            notes.append(f"warning: the runs of group '{group}' played different games ({played}); "
                         "their returns do not compare.")
    return notes


def seed_summaries(groups: dict[tuple, list[RunData]]) -> list[tuple[str, Summary, float]]:
    """Per group of seeds: its config label, the aggregate of the final values (mean, IQM, 95 %
    bootstrap intervals; Agarwal et al. 2021) and the mean of the best values."""
    out = []
    for key, members in groups.items():
        bests = [d.best for d in members if not math.isnan(d.best)]
        label = " ".join(f"{k}={v.strip(chr(39))}" for k, v in key) or "(all)"
        out.append((label, summarize([d.final for d in members]),
                    sum(bests) / len(bests) if bests else math.nan))
    return out


def _interval(e: Any) -> str:
    return "-" if math.isnan(e.low) else f"[{_fmt(e.low)},{_fmt(e.high)}]"


def seed_rows(groups: dict[tuple, list[RunData]], lower: bool, by: str = "final"
              ) -> tuple[list[str], list[list[str]]]:
    header = ["config", "seeds", "final mean", "final min", "final max", "best mean",
              "final IQM", "mean 95% CI", "IQM 95% CI"]
    rows = []
    for (label, s, best), members in zip(seed_summaries(groups), groups.values(), strict=True):
        rows.append([label, str(len(members)), _fmt(s.mean.value), _fmt(s.minimum),
                     _fmt(s.maximum), _fmt(best), _fmt(s.iqm.value), _interval(s.mean),
                     _interval(s.iqm)])
    col = 5 if by == "best" else 2  # best mean, or final mean
    rows.sort(key=lambda r: (r[col] == "-", float(r[col]) * (1 if lower else -1) if r[col] != "-" else 0))
    return header, rows


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in [header, *rows]]
    out = ["| " + " | ".join(esc[0]) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(out)


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


# --------------------------------------------------------------------------- curves


def band(curves: Sequence[Sequence[tuple[float, float]]]) -> tuple[list[float], list[float], list[float], list[float]]:
    """Mean, min and max of several curves on a shared x grid (see aggregate.aligned)."""
    grid, ys = aligned(curves)
    return grid.tolist(), ys.mean(0).tolist(), ys.min(0).tolist(), ys.max(0).tolist()


_MARKER_POINTS = 20  # curves with this many points or fewer get markers (one point is a dot)


def _run_label(d: RunData, keys: Sequence[str]) -> str:
    """The run's name, then the config keys that differ between the runs."""
    values = " ".join(f"{k}={_fmt(d.config.get(k))}" for k in keys)
    return f"{d.label} ({values})" if values else d.label


def figure(groups: dict[tuple, list[RunData]], metric: str, x: str, keys: Sequence[str]) -> Any:
    """The curves: one line per run (with a +-std band when it logged ``<metric>_std``), or a
    mean line with a min-max band per group of seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    std_bands = False
    for key, members in groups.items():
        runs = [d for d in members if d.curve]
        if not runs:
            continue
        if len(runs) == 1:
            xs, ys = zip(*runs[0].curve, strict=True)
            short = len(xs) <= _MARKER_POINTS
            std = runs[0].std
            (line,) = ax.plot(xs, ys, label=_run_label(runs[0], keys),
                              marker="o" if short else None, markersize=4)
            if std:  # the spread over the evaluation's games, as the run logged it
                std_bands = True
                ax.fill_between(xs, [y - s for y, s in zip(ys, std, strict=True)],
                                [y + s for y, s in zip(ys, std, strict=True)],
                                color=line.get_color(), alpha=0.15, linewidth=0)
        else:  # the mean over seeds with its 95 % bootstrap confidence band
            grid, mean, lo, hi = curve_interval([d.curve for d in runs])
            shared = " ".join(f"{k}={v.strip(chr(39))}" for k, v in key)
            short = len(grid) <= _MARKER_POINTS
            (line,) = ax.plot(grid, mean, label=f"{shared or 'mean'} ({len(runs)} seeds, 95% CI)",
                              marker="o" if short else None, markersize=4)
            ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    values = [v for members in groups.values() for d in members for _, v in d.curve]
    if values and min(values) > 0 and max(values) / min(values) > 100:
        ax.set_yscale("log")  # losses spanning decades: a linear axis shows only the start
    ax.set_xlabel("step" if x == "step" else "wall time (s)")
    ax.set_ylabel(f"{metric} (bands: +-{metric}_std)" if std_bands else metric)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot(groups: dict[tuple, list[RunData]], metric: str, x: str, out: Path,
         keys: Sequence[str] = ()) -> Path:
    import matplotlib.pyplot as plt

    fig = figure(groups, metric, x, keys)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def curves_rows(runs: Sequence[RunDir], labels: dict[Path, str] | None = None) -> list[list[Any]]:
    """Every number every run logged, tidy: (run, step, metric, value), for pandas."""
    labels = labels or _labels(runs)
    rows = []
    for r in runs:
        for rec in r.read_metrics():
            step = rec.get("step")
            for k, v in rec.items():
                if k not in ("step", "time") and (value := _number(v)) is not None:
                    rows.append([labels[r.path], step, k, value])
    return rows


# --------------------------------------------------------------------------- entry point


@dataclass
class Comparison:
    """Runs, their curves of one metric, and the ranked table (what ``compare`` prints)."""

    metric: str
    lower: bool
    data: list[RunData]
    keys: list[str]
    header: list[str]
    rows: list[list[str]]
    groups: dict[tuple, list[RunData]]
    notes: list[str]
    rank_by: str = "final"

    @property
    def seeded(self) -> bool:
        return any(len(m) > 1 for m in self.groups.values())

    @property
    def caption(self) -> str:
        direction = "lower" if self.lower else "higher"
        other = "best" if self.rank_by == "final" else "final"
        return (f"{len(self.data)} runs, ranked by {self.rank_by} {self.metric} ({direction} is "
                f"better); --rank-by {other} ranks by the {other} value")

    def report(self) -> str:
        parts = [self.caption, "", text_table(self.header, self.rows)]
        if self.seeded:
            parts += ["", "across seeds:",
                      text_table(*seed_rows(self.groups, self.lower, self.rank_by)), SEED_NOTE]
        if self.notes:
            parts += ["", *self.notes]
        return "\n".join(parts)

    def __repr__(self) -> str:  # a notebook cell shows the report
        return self.report()

    @property
    def table(self) -> Any:
        """The ranked table (a DataFrame with pandas, else a list of dicts)."""
        return records_or_frame([dict(zip(self.header, row, strict=True)) for row in self.rows])

    @property
    def seeds(self) -> Any:
        """Per config run over several seeds: the final value's mean, IQM and their 95 %
        stratified bootstrap intervals (a DataFrame with pandas, else a list of dicts)."""
        rows = []
        for (label, s, best), members in zip(seed_summaries(self.groups), self.groups.values(),
                                             strict=True):
            if len(members) > 1:
                rows.append({"config": label, "seeds": s.runs, "mean": s.mean.value,
                             "mean_low": s.mean.low, "mean_high": s.mean.high,
                             "iqm": s.iqm.value, "iqm_low": s.iqm.low, "iqm_high": s.iqm.high,
                             "min": s.minimum, "max": s.maximum, "best_mean": best})
        return records_or_frame(rows)

    @property
    def curves(self) -> Any:
        """Every number the runs logged, tidy: run, step, metric, value."""
        rows = curves_rows([d.run for d in self.data], {d.run.path: d.label for d in self.data})
        return records_or_frame([dict(zip(("run", "step", "metric", "value"), r, strict=True))
                                 for r in rows])

    def markdown(self) -> str:
        text = f"{self.caption}\n\n{markdown_table(self.header, self.rows)}"
        if self.seeded:
            text += "\n\n" + markdown_table(*seed_rows(self.groups, self.lower, self.rank_by))
        return text + "\n"


def build(paths: Sequence[str | Path], group: str | None = None, metric: str | None = None,
          tags: Iterable[str] = (), where: Iterable[str] = (), x: str = "step",
          goal: str = "auto", root: Path | None = None, rank_by: str = "final") -> Comparison:
    if rank_by not in RANK_BY:
        raise UserError(f"--rank-by must be final or best; got {rank_by!r}.")
    runs = select_runs(paths, group, tags, where, root)
    data, metric, lower = load(runs, metric, x, goal)
    keys = differing_keys(data)
    header, rows = run_rows(data, keys, lower, rank_by)
    return Comparison(metric, lower, data, keys, header, rows, seed_groups(data, keys),
                      game_notes(data) + one_point_notes(data, metric), rank_by)


def compare(paths: Sequence[str | Path], group: str | None = None, metric: str | None = None,
            out: Path | None = None, tags: Iterable[str] = (), where: Iterable[str] = (),
            x: str = "step", csv_out: Path | None = None, markdown_out: Path | None = None,
            goal: str = "auto", root: Path | None = None, curves_csv: Path | None = None,
            rank_by: str = "final") -> str:
    """The report ``workbench compare`` prints; writes the PNG / CSVs / Markdown asked for."""
    c = build(paths, group, metric, tags, where, x, goal, root, rank_by)
    wrote = []
    if csv_out:
        Path(csv_out).write_text(csv_text(c.header, c.rows))
        wrote.append(csv_out)
    if curves_csv:
        runs = [d.run for d in c.data]
        labels = {d.run.path: d.label for d in c.data}
        Path(curves_csv).write_text(csv_text(["run", "step", "metric", "value"],
                                             curves_rows(runs, labels)))
        wrote.append(curves_csv)
    if markdown_out:
        Path(markdown_out).write_text(c.markdown())
        wrote.append(markdown_out)
    if out:
        plot(c.groups, c.metric, x, Path(out), c.keys)
        wrote.append(out)
    return c.report() + "".join(f"\n{'' if i else chr(10)}wrote {w}" for i, w in enumerate(wrote))


def ranked_report(paths: Sequence[Path], metric: str | None = None) -> str:
    """The table of the runs among ``paths`` that exist (``sweep``'s closing table)."""
    existing = [p for p in paths if (Path(p) / "run.json").is_file()]
    try:
        return build(existing, metric=metric).report()
    except UserError as e:  # no run started, or nothing logged yet
        return f"no ranking: {e}"
