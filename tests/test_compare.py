"""`workbench compare` on fake run directories whose numbers are known in advance."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.compare import band, compare
from workbench.errors import UserError
from workbench.runs import RunDir


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
    # a and c differ only in seed: finals 3 and 5
    assert row[1:] == ["2", "4", "3", "5", "4"]  # bests 3 and 5


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
    assert md.read_text().startswith("| rank | run |")
    assert "ranked by final eval/return" in capsys.readouterr().out
