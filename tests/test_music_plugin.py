"""Music generators end to end: tiny train + sample per preset on a few chorales, the MIDI
parses back, the metrics, and clear errors for bad data."""

from __future__ import annotations

import json

import pytest

from workbench import registry
from workbench.commands.cli import main
from workbench.generators.music import metrics as mm


def smoke_overrides(name: str) -> list[str]:
    spec, preset = registry.resolve(name)
    return [f"{k}={v}" for k, v in {**spec.smoke, **(preset.smoke if preset else {})}.items()]


def only_run(root):
    (run,) = [p for p in root.glob("*/*") if p.is_dir()]
    return run


@pytest.fixture(scope="module")
def music_cache(tmp_path_factory):
    """A private cache shared by this module: the few chorales are parsed once."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("WORKBENCH_CACHE", str(path))
        yield path


@pytest.mark.parametrize("preset", ["lstm-bach", "gpt-bach"])
def test_tiny_train_then_sample_writes_midi_and_wav(preset, music_cache, runs_root, capsys, tmp_path):
    from workbench.generators.music.io import read_back_notes

    args = ["run", preset, *smoke_overrides(preset), "data.limit=6", "--wandb", "disabled"]
    assert main(args) == 0
    run = only_run(runs_root)
    media = run / "media"
    assert list(media.glob("eval_sample_*.mid")) and list(media.glob("eval_sample_*.wav"))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/in_key" in e and "eval/ngram_copied_train" in e for e in lines)
    capsys.readouterr()
    assert main(["sample", str(run), "--tokens", "120", "--seed", "1", "--top-k", "20"]) == 0
    report = capsys.readouterr().out
    midi = media / "sample_seed1.mid"
    assert str(midi) in report and midi.with_suffix(".wav").stat().st_size > 1000
    assert len(read_back_notes(midi)) > 0
    out = tmp_path / "mine.mid"
    assert main(["sample", str(run), "--tokens", "60", "--out", str(out), "--prompt", "bar p67 d1"]) == 0
    assert out.exists() and out.with_suffix(".wav").exists()


def test_four_voice_encoding_trains_and_writes_four_parts(music_cache, runs_root, capsys):
    from music21 import converter

    assert main(["run", "gpt-bach", *smoke_overrides("gpt-bach"), "data.limit=4", "data.voices=satb",
                 "data.augment_semitones=2", "--wandb", "disabled"]) == 0
    run = only_run(runs_root)
    capsys.readouterr()
    assert main(["sample", str(run), "--tokens", "80", "--prompt", "bar S p72 d4 A p64 d4 T p55 d4 B p48 d4"]) == 0
    score = converter.parse(str(run / "media" / "sample_seed0.mid"))
    assert len(score.parts) == 4


@pytest.mark.parametrize("kind, message", [
    ("missing", "does not exist"), ("empty", "no music files"), ("junk", "could be used"),
])
def test_bad_music_data_is_a_clear_error(kind, message, music_cache, tmp_path, capsys):
    folder = tmp_path / "music"
    if kind != "missing":
        folder.mkdir()
    if kind == "junk":
        (folder / "broken.mid").write_bytes(b"not a midi file")
    code = main(["run", "music-lm", *smoke_overrides("music-lm"), f"data.path={folder}", "--wandb", "disabled"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_music_metrics_on_known_inputs():
    c_major = [60, 62, 64, 65, 67, 69, 71, 72] * 4
    assert mm.in_key_fraction(c_major) == 1.0
    assert mm.in_key_fraction(c_major + [61, 66]) == pytest.approx(32 / 34)
    assert mm.pitch_range(c_major) == 12
    h = mm.pitch_class_histogram(c_major)
    assert h.sum() == pytest.approx(1) and mm.histogram_distance(h, h) == 0
    assert mm.histogram_distance(mm.pitch_class_histogram([60]), mm.pitch_class_histogram([61])) == 1
    reference = mm.ngrams([c_major[:8]], 4)
    assert mm.copied_share([c_major[:8]], reference, 4) == 1.0
    assert mm.copied_share([[1, 2, 3, 4, 5]], reference, 4) == 0.0
