"""Text generators end to end through the CLI: tiny train + sample per preset, learning on a
small text, and clear errors for bad data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench import registry
from workbench.commands.cli import main

TEXT_PRESETS = ["lstm-shakespeare", "gpt-shakespeare", "gpt-shakespeare-gpu"]


def smoke_overrides(name: str) -> list[str]:
    spec, preset = registry.resolve(name)
    merged = {**spec.smoke, **(preset.smoke if preset else {})}
    return [f"{k}={v}" for k, v in merged.items()]


def only_run(root: Path) -> Path:
    (run,) = [p for p in root.glob("*/*") if p.is_dir()]
    return run


@pytest.fixture
def poem(tmp_path) -> Path:
    path = tmp_path / "poem.txt"
    path.write_text("ROMEO:\nthe quick brown fox jumps over the lazy dog.\n\n" * 300, encoding="utf-8")
    return path


@pytest.mark.parametrize("preset", TEXT_PRESETS)
def test_tiny_train_then_sample_prints_text_for_each_preset(preset, runs_root, poem, capsys, tmp_path):
    # a small text keeps the test fast; the Shakespeare corpus itself is tested below
    assert main(["run", preset, *smoke_overrides(preset), f"data.path={poem}", "--wandb", "disabled"]) == 0
    run = only_run(runs_root)
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/loss" in e for e in evals) and any("perf/tokens_per_s" in e for e in evals)
    assert list((run / "media").glob("eval_sample_*.txt"))
    capsys.readouterr()
    out = tmp_path / "sample.txt"
    assert main(["sample", str(run), "--prompt", "ROMEO:", "--tokens", "30", "--seed", "3",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("ROMEO:") and len(printed.rstrip("\n")) >= 30
    assert out.read_text(encoding="utf-8") == printed[:-1]  # the CLI adds one newline


def test_default_corpus_is_shakespeare_with_speaker_turns():
    from workbench.data.text import shakespeare

    text = shakespeare()
    assert len(text) > 4_000_000
    assert "\nROMEO:\n" in text and "\nHAMLET:\n" in text
    assert "**" not in text and "###" not in text


def test_gpt_learns_a_small_text_well_below_chance(runs_root, poem):
    code = main(["run", "text-lm", f"data.path={poem}", "total_steps=150", "eval_every=150",
                 "log_every=50", "model.n_layer=1", "model.n_embd=32", "model.n_head=2",
                 "model.block_size=32", "optim.batch_size=8", "optim.lr=1e-2",
                 "optim.warmup_steps=10", "eval_batches=4", "sample.tokens=20", "--wandb", "disabled"])
    assert code == 0
    evals = [json.loads(x) for x in (only_run(runs_root) / "metrics.jsonl").read_text().splitlines()]
    final = [e["eval/loss"] for e in evals if "eval/loss" in e][-1]
    assert final < 0.5  # chance is log(30 characters) = 3.4 nats


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.txt", "does not exist"),
    (lambda d: (d / "empty_folder").mkdir() or d / "empty_folder", "without"),
    (lambda d: _write(d / "blank.txt", b""), "no text"),
    (lambda d: _write(d / "latin1.txt", "caf\xe9".encode("latin-1") * 50), "not UTF-8"),
    (lambda d: _write(d / "short.txt", b"abc"), "fewer than"),
])
def test_bad_text_data_is_a_clear_error(make, message, tmp_path, capsys):
    path = make(tmp_path)
    code = main(["run", "text-lm", *smoke_overrides("text-lm"), f"data.path={path}", "--wandb", "disabled"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_prompt_with_characters_outside_the_vocabulary_is_a_clear_error(runs_root, poem, capsys):
    assert main(["run", "text-lm", *smoke_overrides("text-lm"), f"data.path={poem}", "--wandb", "disabled"]) == 0
    capsys.readouterr()
    assert main(["sample", str(only_run(runs_root)), "--prompt", "ZEBRA"]) == 2
    assert "never saw" in capsys.readouterr().err


def test_resume_continues_the_same_curve(runs_root, poem):
    common = [f"data.path={poem}", "model.n_layer=1", "model.n_embd=32", "model.n_head=2",
              "model.block_size=16", "model.dropout=0.1", "optim.batch_size=4", "eval_batches=2",
              "sample.tokens=10", "log_every=2", "eval_every=4", "checkpoint_every=4",
              "--wandb", "disabled"]
    assert main(["run", "text-lm", "total_steps=8", "--name", "straight", *common]) == 0
    assert main(["run", "text-lm", "total_steps=4", "--name", "halves", *common]) == 0
    assert main(["resume", str(runs_root / "text-lm" / "halves"), "total_steps=8"]) == 0

    def curve(name):
        lines = (runs_root / "text-lm" / name / "metrics.jsonl").read_text().splitlines()
        return [(e["step"], e.get("train/loss"), e.get("eval/loss")) for e in map(json.loads, lines)]

    assert curve("straight") == curve("halves")
