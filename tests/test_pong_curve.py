"""benchmarks/pong_curve.py on synthetic run directories (no training)."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO

spec = importlib.util.spec_from_file_location("pong_curve", REPO / "benchmarks" / "pong_curve.py")
pong_curve = importlib.util.module_from_spec(spec)
sys.modules["pong_curve"] = pong_curve  # its dataclass looks itself up there
spec.loader.exec_module(pong_curve)

CONFIG = {"learning_starts": 20_000, "train_frequency": 4, "gradient_steps": 1}


def _run(tmp_path: Path, evals: list[tuple[int, float, float]], resumes: list[dict] | None = None,
         name: str = "r", seed: int = 0) -> Path:
    run = tmp_path / "dqn-pong" / name
    run.mkdir(parents=True)
    lines = []
    for step, mean, std in evals:
        lines.append({"step": step, "time": step / 100, "train/loss": 0.1})  # a train line too
        lines.append({"step": step, "time": step / 100 + 5, "eval/return": mean,
                      "eval/return_std": std, "eval/episodes": 10.0})
    text = "".join(json.dumps(x) + "\n" for x in lines) + '{"step": 9'  # a line cut by kill -9
    (run / "metrics.jsonl").write_text(text)
    (run / "config.yaml").write_text(yaml.safe_dump({**CONFIG, "seed": seed}))
    (run / "run.json").write_text(json.dumps({"name": name, "group": "dqn-pong",
                                              "resumes": resumes or []}))
    return run


def test_steps_updates_and_wall_time_to_target_come_from_the_first_eval_at_or_above_it(tmp_path, capsys):
    run = _run(tmp_path, [(50_000, -21, 0), (100_000, 17.9, 1), (150_000, 18.0, 2), (200_000, 20, 1)])
    png, out_csv = tmp_path / "c.png", tmp_path / "c.csv"
    assert pong_curve.main([str(run), "--png", str(png), "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "steps-to-18: 150,000" in out
    assert f"updates-to-18: {(150_000 - 20_000) // 4:,}" in out  # 32,500 gradient steps
    assert "wall time to 18: 1,505 s" in out
    assert "best eval: 20.00 +- 1.00 over 10 games at step 200,000" in out
    rows = list(csv.DictReader(out_csv.open()))
    assert [int(r["step"]) for r in rows] == [50_000, 100_000, 150_000, 200_000]
    assert rows[1] == {"step": "100000", "wall_seconds": "1005.0", "eval_mean": "17.900",
                       "eval_std": "1.000", "games": "10"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_that_never_reaches_the_target_says_so(tmp_path, capsys):
    run = _run(tmp_path, [(50_000, -21, 0), (100_000, 5, 3)])
    assert pong_curve.main([str(run), "--no-files"]) == 0
    out = capsys.readouterr().out
    assert "target 18: not reached (last eval at step 100,000)" in out
    assert "steps-to-18" not in out
    assert "best eval: 5.00" in out


def test_resumes_from_run_json_and_the_command_line_are_marked(tmp_path, capsys):
    resumes = [{"step": 100_000, "time": 1000.0, "lost_steps": 40_000, "lost_seconds": 400.0}]
    run = _run(tmp_path, [(50_000, -21, 0), (100_000, -5, 3), (150_000, 3, 3)], resumes)
    info = json.loads((run / "run.json").read_text())
    assert pong_curve.resume_steps(info, [150_000, 100_000]) == [100_000, 150_000]
    assert pong_curve.main([str(run), "--no-files", "--resume-at", "150000"]) == 0
    out = capsys.readouterr().out
    assert "100,000" in out.splitlines()[2] and "<- resumed here" in out.splitlines()[2]
    assert "the kill lost 40,000 steps / 400 s" in out
    assert "resumed at step 150,000 (--resume-at)" in out


def test_updates_are_zero_before_learning_starts_and_follow_the_replay_ratio():
    assert pong_curve.updates_at(10_000, CONFIG) == 0
    assert pong_curve.updates_at(20_004, CONFIG) == 1
    assert pong_curve.updates_at(120_000, {**CONFIG, "gradient_steps": 2}) == 50_000


def test_a_folder_without_metrics_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no metrics.jsonl"):
        pong_curve.main([str(tmp_path)])


def test_several_seeds_give_a_per_seed_table_with_the_aggregate_and_one_figure(tmp_path, capsys):
    runs = [_run(tmp_path, [(50_000, -21, 0), (100_000, 18, 1), (150_000, 20, 1)], name="s0", seed=0),
            _run(tmp_path, [(50_000, -20, 0), (100_000, 10, 1), (150_000, 19, 1)], name="s1", seed=1),
            _run(tmp_path, [(50_000, -21, 0), (100_000, 5, 1), (150_000, 12, 1)], name="s2", seed=2)]
    png, out_csv = tmp_path / "seeds.png", tmp_path / "seeds.csv"
    assert pong_curve.main([*map(str, runs), "--png", str(png), "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("| dqn-pong/") or line.startswith("| reached")
            or line.startswith("| mean") or line.startswith("| IQM")}
    # seed 0 reaches 18 at 100k (20,000 updates, 1,005 s); seed 1 at 150k; seed 2 never
    assert rows["dqn-pong/s0"][:4] == ["0", "100,000", "20,000", "1,005"]
    assert rows["dqn-pong/s1"][:4] == ["1", "150,000", "32,500", "1,505"]
    assert rows["dqn-pong/s2"][:2] == ["2", "not reached"]
    assert rows["reached 18"][0] == "2 of 3"
    # the mean of the two that reached it, with the 2-seed bootstrap interval [min, max]
    assert rows["mean [95% CI]"][1] == "125,000 [100,000, 150,000]"
    # the aggregate curve: the mean eval over the 3 seeds at each step
    assert "| 100,000 | 11.00 |" in out and "| 150,000 | 17.00 |" in out
    lines = list(csv.DictReader(out_csv.open()))
    assert len(lines) == 9 and {r["seed"] for r in lines} == {"0", "1", "2"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ship_takes_one_run_only(tmp_path):
    a = _run(tmp_path, [(50_000, -21, 0)], name="a")
    b = _run(tmp_path, [(50_000, -21, 0)], name="b", seed=1)
    with pytest.raises(SystemExit):
        pong_curve.main([str(a), str(b), "--ship", str(tmp_path / "w.pt")])


def test_each_evaluation_is_timed_from_the_train_record_before_it(tmp_path, capsys):
    run = _run(tmp_path, [(50_000, -21, 0), (100_000, -5, 3), (150_000, 3, 3), (200_000, 19, 1)])
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()[:-1]]
    for r, took in zip([r for r in records if "eval/return" in r], (10, 40, 70, 30), strict=True):
        r["time"] = r["step"] / 100 + took  # evaluations of 10, 40, 70 and 30 s
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    points = pong_curve.eval_points(records)
    assert [p.took for p in points] == [10, 40, 70, 30]
    assert pong_curve.main([str(run), "--no-files"]) == 0
    out = capsys.readouterr().out
    # every other evaluation skipped, the one that reached 18 kept: 70 s (150k) + 10 s (50k)
    assert "evaluations to 18: 150 s; half the cadence (every other one skipped, the last kept) " \
           "saves 80 s" in out


def test_a_seeds_csv_stands_in_for_its_runs_beside_a_new_run(tmp_path, capsys):
    """Seeds whose run directories are gone join a new seed through the CSV the script wrote."""
    old = [_run(tmp_path, [(50_000, -21, 0), (100_000, 18, 1)], name="s0", seed=0),
           _run(tmp_path, [(50_000, -20, 0), (100_000, 10, 1), (150_000, 19, 1)], name="s1", seed=1)]
    first = tmp_path / "first.csv"
    assert pong_curve.main([*map(str, old), "--csv", str(first), "--png", str(tmp_path / "a.png")]) == 0
    capsys.readouterr()
    new = _run(tmp_path, [(50_000, -21, 0), (100_000, 5, 1), (150_000, 18.5, 1)], name="s2", seed=2)
    both = tmp_path / "both.csv"
    assert pong_curve.main([str(first), str(new), "--csv", str(both), "--png",
                            str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    # the CSV's runs keep their steps, updates (from the replay columns) and wall time
    assert "| dqn-pong/s0 | 0 | 100,000 | 20,000 | 1,005 |" in out
    assert "| dqn-pong/s1 | 1 | 150,000 | 32,500 | 1,505 |" in out
    assert "| dqn-pong/s2 | 2 | 150,000 | 32,500 | 1,505 |" in out
    assert "| reached 18 | 3 of 3 |" in out
    assert {r["run"] for r in csv.DictReader(both.open())} == {"dqn-pong/s0", "dqn-pong/s1",
                                                                "dqn-pong/s2"}
    # a CSV of another shape is a clear error, not a KeyError
    bad = tmp_path / "bad.csv"
    bad.write_text("step,return\n1,2\n")
    with pytest.raises(SystemExit, match="not a seeds CSV written by this script"):
        pong_curve.main([str(bad), str(new)])
