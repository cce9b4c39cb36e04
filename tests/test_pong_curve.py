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


def _run(tmp_path: Path, evals: list[tuple[int, float, float]], resumes: list[dict] | None = None
         ) -> Path:
    run = tmp_path / "dqn-pong" / "r"
    run.mkdir(parents=True)
    lines = []
    for step, mean, std in evals:
        lines.append({"step": step, "time": step / 100, "train/loss": 0.1})  # a train line too
        lines.append({"step": step, "time": step / 100 + 5, "eval/return": mean,
                      "eval/return_std": std, "eval/episodes": 10.0})
    text = "".join(json.dumps(x) + "\n" for x in lines) + '{"step": 9'  # a line cut by kill -9
    (run / "metrics.jsonl").write_text(text)
    (run / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (run / "run.json").write_text(json.dumps({"name": "r", "group": "dqn-pong",
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
