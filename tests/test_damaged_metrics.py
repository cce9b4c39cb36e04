"""A damaged line in metrics.jsonl (a stray non-UTF-8 byte, a cut or garbled line) is skipped
with a warning by every reader; compare --group skips a damaged run instead of refusing all."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import read_metrics as strict_read

from workbench.commands.cli import main
from workbench.engine.runs import read_metrics

QUICK = ["total_steps=40", "log_every=10", "eval_every=20", "checkpoint_every=20", "--wandb", "disabled"]


def _damage_line(path: Path, number: int, garbage: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = lines[number - 1][:5] + garbage + lines[number - 1][5:]
    path.write_bytes(b"\n".join(lines))


def test_every_kind_of_damaged_line_is_skipped_and_named(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1, "train/loss": 0.5}\n'
                     b'{"step": 2, "train/lo\xffss": 0.4}\n'   # a non-UTF-8 byte
                     b'{"step": 3, "train/loss": \n'           # broken JSON
                     b'[1, 2]\n'                               # JSON, not a record
                     b'{"step": "four"}\n'                     # a step that is not a number
                     b'\n'
                     b'{"step": 5, "train/loss": 0.1}\n'
                     b'{"step": 6, "tr')                       # cut by kill -9
    with caplog.at_level("WARNING", logger="workbench"):
        records = read_metrics(path)
    assert [r["step"] for r in records] == [1, 5]
    (warning,) = caplog.messages
    assert str(path) in warning and "skipped 5 damaged line(s)" in warning
    assert "line 2 (not UTF-8: byte 0xff at column 22)" in warning
    for part in ("line 3 (not JSON: Expecting value", "line 4 (not a JSON object)",
                 "line 5 (step is not a number)", "line 8 (not JSON: Unterminated string", "cut short"):
        assert part in warning, warning


def test_resume_of_a_run_with_a_non_utf8_byte_in_its_log_trains_on(runs_root, caplog, capsys):
    assert main(["run", "linreg", "--name", "bad-byte", *QUICK]) == 0
    run = runs_root / "linreg" / "bad-byte"
    _damage_line(run / "metrics.jsonl", 2, b"\xff")
    with caplog.at_level("WARNING", logger="workbench"):
        assert main(["resume", str(run), "total_steps=60", *QUICK[1:]]) == 0
    assert any("metrics.jsonl: skipped 1 damaged line(s); resume rewrites the file without them: "
               "line 2 (not UTF-8" in m for m in caplog.messages), caplog.messages
    records = strict_read(run)  # the file is clean again, and the curve went on to 60
    assert records[-1]["step"] == 60 and all(r["step"] <= 60 for r in records)


def test_compare_skips_damaged_lines_and_a_damaged_run_of_the_group(runs_root, caplog, capsys):
    for name in ("a", "b", "c"):
        assert main(["run", "linreg", "--name", name, *QUICK, f"seed={ord(name)}"]) == 0
    _damage_line(runs_root / "linreg" / "a" / "metrics.jsonl", 1, b"\xfe\xff")
    (runs_root / "linreg" / "c" / "run.json").write_text("{not json")
    capsys.readouterr()
    with caplog.at_level("WARNING", logger="workbench"):
        assert main(["compare", "--group", "linreg", "--metric", "eval/mse"]) == 0
    out = capsys.readouterr().out
    assert "2 runs, ranked by final eval/mse" in out
    table = out.split("\n\n")[1]
    assert {line.split()[1] for line in table.splitlines()[1:]} == {"a", "b"}
    assert any("compare skips" in m and "linreg/c" in m and "damaged" in m for m in caplog.messages)
    assert any("linreg/a/metrics.jsonl: skipped 1 damaged line(s)" in m for m in caplog.messages)
    # named explicitly, a damaged run is an error (exit 2), not silently left out
    assert main(["compare", str(runs_root / "linreg" / "c"), str(runs_root / "linreg" / "b")]) == 2
    assert "run.json is damaged" in capsys.readouterr().err
    assert json.loads((runs_root / "linreg" / "b" / "run.json").read_text())["status"] == "finished"
