"""`workbench compare` on fake run directories whose numbers are known in advance."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from workbench.commands.cli import main
from workbench.engine.runs import RunDir
from workbench.errors import UserError
from workbench.studies.comparison import band, compare


def fake_run(root: Path, group: str, name: str, config: dict, curve: dict[int, float],
             tags: list[str] | None = None, metric: str = "eval/return") -> RunDir:
    info = dict(plugin="linreg", preset=group, wandb_id=name, created=0.0, tags=tags or [],
                project="workbench")
    run = RunDir.create(group, name, info, config, root=root)
    lines = [{"step": s, "time": s / 10, "train/loss": 1.0 / (s + 1)} for s in curve]
    lines += [{"step": s, "time": s / 10 + 0.05, metric: v} for s, v in curve.items()]
    run.metrics.write_text("".join(json.dumps(r) + "\n" for r in lines))
    run.update_info(status="finished", step=max(curve))
    return run


@pytest.fixture
def three_runs(runs_root: Path) -> list[RunDir]:
    base = {"seed": 0, "total_steps": 300, "optim": {"lr": 0.1, "momentum": 0.9}}
    return [
        fake_run(runs_root, "toy", "a", base, {100: 1.0, 200: 2.0, 300: 3.0}, tags=["x"]),
        fake_run(runs_root, "toy", "b", {**base, "optim": {"lr": 0.01, "momentum": 0.9}},
                 {100: 5.0, 200: 9.0, 300: 4.0}),
        fake_run(runs_root, "toy", "c", {**base, "seed": 1}, {100: 3.0, 200: 4.0, 300: 5.0}, tags=["x"]),
    ]


def test_compare_ranks_runs_by_final_metric_and_shows_only_differing_keys(three_runs, runs_root):
    report = compare([], group="toy", metric="eval/return", root=runs_root)
    lines = report.splitlines()
    header = lines[2].split()
    assert header == ["rank", "run", "status", "step", "optim.lr", "seed", "final", "best"]
    rows = [line.split() for line in lines[3:6]]
    assert [r[1] for r in rows] == ["c", "b", "a"]  # finals 5, 4, 3: higher return is better
    assert rows[1][-2:] == ["4", "9"]  # b: final 4, best 9
    assert "total_steps" not in report and "momentum" not in report


def test_compare_summarises_seeds_of_the_same_config(three_runs, runs_root):
    report = compare([], group="toy", metric="eval/return", root=runs_root)
    seeds = report.split("across seeds:")[1].splitlines()
    row = next(line for line in seeds if "optim.lr=0.1" in line).split()
    # a and c differ only in seed: finals 3 and 5; bests 3 and 5. Bootstrap resamples of two
    # seeds are (3,3), (3,5), (5,3), (5,5): means 3, 4, 4, 5, so the 95 % interval is [3, 5]
    assert row[1:] == ["2", "4", "3", "5", "4", "4", "[3,5]", "[3,5]"]
    assert "interquartile mean" in report


def test_loss_metrics_rank_lower_first(three_runs, runs_root):
    report = compare([], group="toy", metric="train/loss", root=runs_root)
    assert "lower is better" in report


def test_tag_and_where_filters(three_runs, runs_root):
    report = compare([], group="toy", tags=["x"], where=["optim.lr=0.1"], root=runs_root)
    assert "2 runs" in report
    with pytest.raises(UserError, match="no run matches"):
        compare([], group="toy", where=["optim.lr=0.5"], root=runs_root)


def test_unknown_metric_lists_the_logged_ones(three_runs, runs_root):
    with pytest.raises(UserError, match="eval/return, train/loss"):
        compare([], group="toy", metric="eval/accuracy", root=runs_root)


def test_no_runs_is_a_user_error(runs_root):
    with pytest.raises(UserError, match="no runs in group"):
        compare([], group="nothing", root=runs_root)
    assert main(["compare", "--group", "nothing"]) == 2


def test_band_is_mean_min_max_on_the_shared_steps():
    grid, mean, lo, hi = band([[(0, 1.0), (10, 3.0)], [(0, 3.0), (5, 4.0), (10, 5.0)]])
    assert grid == [0, 5, 10]
    assert mean == [2.0, 3.0, 4.0] and lo == [1.0, 2.0, 3.0] and hi == [3.0, 4.0, 5.0]


def test_cli_writes_png_csv_and_markdown(three_runs, runs_root, tmp_path, capsys):
    png, table, md = tmp_path / "c.png", tmp_path / "t.csv", tmp_path / "t.md"
    code = main(["compare", str(runs_root / "toy"), "--metric", "eval/return", "--out", str(png),
                 "--csv", str(table), "--markdown", str(md), "--x", "time"])
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(table.open()))
    assert [(r["run"], r["final"]) for r in rows] == [("c", "5"), ("b", "4"), ("a", "3")]
    assert md.read_text().startswith("3 runs, ranked by final eval/return (higher is better); "
                                     "--rank-by best ranks by the best value\n\n| rank | run |")
    assert "ranked by final eval/return" in capsys.readouterr().out


def _dqn_run(root: Path, name: str, seed: int, evals: dict[int, float], **config) -> RunDir:
    info = dict(plugin="dqn", preset="dqn-cartpole", wandb_id=name, created=0.0, tags=[],
                project="workbench")
    cfg = {"seed": seed, "total_steps": 1000, "eval_every": 500, **config}
    run = RunDir.create("dqn-cartpole", name, info, cfg, root=root)
    # eval/episodes sorts before eval/return: the old default picked it
    lines = [{"step": s, "time": 0.0, "eval/episodes": 10.0, "eval/return": v,
              "eval/return_std": 1.0} for s, v in evals.items()]
    run.metrics.write_text("".join(json.dumps(r) + "\n" for r in lines))
    run.update_info(status="finished", step=max(evals))
    return run


def test_default_metric_is_the_plugins_primary_metric(runs_root):
    _dqn_run(runs_root, "a", 0, {500: 10.0, 1000: 20.0})
    _dqn_run(runs_root, "b", 1, {500: 30.0, 1000: 40.0})
    report = compare([], group="dqn-cartpole", root=runs_root)
    assert report.startswith("2 runs, ranked by final eval/return (higher is better)")


def test_goal_comes_from_the_plugins_declaration_not_the_name(runs_root, monkeypatch):
    from workbench import registry

    registry.load_all()
    spec = registry.PLUGINS["linreg"]
    # "score" reads as higher-is-better; the plugin says lower
    monkeypatch.setitem(registry.PLUGINS, "linreg", replace(spec, metric="eval/score", goal="min"))
    fake_run(runs_root, "toy", "a", {"seed": 0}, {100: 1.0}, metric="eval/score")
    fake_run(runs_root, "toy", "b", {"seed": 1}, {100: 2.0}, metric="eval/score")
    report = compare([], group="toy", root=runs_root)
    assert "ranked by final eval/score (lower is better)" in report
    assert [line.split()[1] for line in report.splitlines()[3:5]] == ["a", "b"]


def test_one_point_curves_get_markers_and_a_warning_naming_eval_every(runs_root):
    from workbench.studies.comparison import build, figure

    _dqn_run(runs_root, "a", 0, {1000: 10.0}, eval_every=5000)
    _dqn_run(runs_root, "b", 1, {1000: 12.0}, eval_every=5000)
    c = build([], group="dqn-cartpole", root=runs_root)
    assert any("a has one point of eval/return" in n and "eval_every=5,000 > total_steps=1,000" in n
               for n in c.notes)
    assert "warning:" in c.report()
    fig = figure(c.groups, c.metric, "step", c.keys)
    markers = [line.get_marker() for line in fig.axes[0].lines]
    assert markers and all(m == "o" for m in markers)  # a single point is visible as a dot


def test_runs_repeating_a_seed_are_not_a_seed_band_and_labels_name_run_then_keys(runs_root):
    from workbench.studies.comparison import build, figure

    _dqn_run(runs_root, "first", 0, {500: 1.0, 1000: 2.0}, lr=0.001)
    _dqn_run(runs_root, "again", 0, {500: 1.5, 1000: 2.5}, lr=0.001)  # same seed: a repeat
    _dqn_run(runs_root, "other", 0, {500: 3.0, 1000: 4.0}, lr=0.01)
    c = build([], group="dqn-cartpole", root=runs_root)
    assert not c.seeded and "seeds" not in c.report()
    labels = sorted(line.get_label() for line in figure(c.groups, c.metric, "step", c.keys).axes[0].lines)
    assert labels == ["again (lr=0.001)", "first (lr=0.001)", "other (lr=0.01)"]
    # distinct seeds of one config do make a band
    _dqn_run(runs_root, "seed1", 1, {500: 2.0, 1000: 3.0}, lr=0.01)
    c = build([str(runs_root / "dqn-cartpole" / n) for n in ("other", "seed1")], root=runs_root)
    lines = figure(c.groups, c.metric, "step", c.keys).axes[0].lines
    assert [line.get_label() for line in lines] == ["mean (2 seeds, 95% CI)"]


def test_curves_csv_is_tidy_run_step_metric_value(three_runs, runs_root, tmp_path):
    out = tmp_path / "curves.csv"
    assert main(["compare", "--group", "toy", "--curves-csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["run", "step", "metric", "value"]
    b = {(int(r["step"]), r["metric"]): float(r["value"]) for r in rows if r["run"] == "b"}
    assert b[(200, "eval/return")] == 9.0 and b[(100, "train/loss")] == pytest.approx(1 / 101)
    assert len(rows) == 3 * 3 * 2  # 3 runs x 3 steps x 2 metrics


def test_runs_rank_by_final_by_default_and_by_best_when_asked(runs_root, capsys):
    # a: ends at 10 after a peak of 40; b: ends at 20, never higher
    _dqn_run(runs_root, "a", 0, {500: 40.0, 1000: 10.0})
    _dqn_run(runs_root, "b", 1, {500: 5.0, 1000: 20.0})
    by_final = compare([], group="dqn-cartpole", root=runs_root)
    assert "ranked by final eval/return" in by_final and "--rank-by best" in by_final
    assert [line.split()[1] for line in by_final.splitlines()[3:5]] == ["b", "a"]
    assert main(["compare", "--group", "dqn-cartpole", "--rank-by", "best"]) == 0
    by_best = capsys.readouterr().out
    assert "ranked by best eval/return" in by_best and "--rank-by final" in by_best
    assert [line.split()[1] for line in by_best.splitlines()[3:5]] == ["a", "b"]


def test_a_single_runs_logged_std_is_drawn_as_a_band_around_its_curve(runs_root):
    from matplotlib.collections import PolyCollection

    from workbench.studies.comparison import build, figure

    _dqn_run(runs_root, "a", 0, {500: 10.0, 1000: 20.0})  # eval/return_std 1.0 at each point
    c = build([], group="dqn-cartpole", root=runs_root)
    assert c.data[0].std == [1.0, 1.0]
    ax = figure(c.groups, c.metric, "step", c.keys).axes[0]
    (band,) = [p for p in ax.collections if isinstance(p, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    assert min(ys) == 9.0 and max(ys) == 21.0  # mean +- std at the two evaluations
    assert ax.get_ylabel() == "eval/return (bands: +-eval/return_std)"
