"""Image captioning (generators/caption): the scenes and their held-out pairs, decoding, BLEU,
the Karpathy loader, the CLI verbs on a trained run, bad input, and a learning test."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from workbench.commands.cli import main
from workbench.errors import UserError
from workbench.generators.caption import metrics
from workbench.generators.caption.data import (
    BOS,
    COLOUR_NAMES,
    COLOURS,
    EOS,
    _make_scenes,
    karpathy,
    scene_refs,
    scenes,
)
from workbench.generators.caption.model import CaptionModel, beam_search, greedy

TINY = ["total_steps=4", "log_every=2", "eval_every=4", "checkpoint_every=4", "batch_size=8",
        "width=16", "embed=8", "hidden=16", "attention=8", "data.train_scenes=40",
        "data.eval_scenes=8", "eval_images=8", "--wandb", "disabled"]


def _runs(root: Path) -> list[Path]:
    return [p for p in root.glob("*/*") if p.is_dir()] if root.exists() else []


# --------------------------------------------------------------------------- scenes


def test_scenes_are_a_function_of_the_seed_and_read_back_from_the_cache():
    from workbench.data.cache import cache_dir

    a, b = _make_scenes("train", 30, 32, seed=3), _make_scenes("train", 30, 32, seed=3)
    other = _make_scenes("train", 30, 32, seed=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["images"], other["images"])
    first = scenes("train", 30, 32, seed=3)  # made and cached (or read back)
    assert list(cache_dir().glob("caption-scenes-*-train-30-32-3-*.npz"))
    again = scenes("train", 30, 32, seed=3)  # read back
    np.testing.assert_array_equal(first.images, a["images"])
    np.testing.assert_array_equal(again.images, a["images"])
    assert again.refs == first.refs == [scene_refs(a, i) for i in range(30)]


def _pairs(caption: list[str]) -> set[tuple[str, str]]:
    return {(w, v) for w, v in zip(caption, caption[1:]) if w in COLOURS}


def test_held_out_scenes_hold_a_colour_digit_pair_no_training_caption_holds():
    train = scenes("train", 600, 32, seed=0)
    trained = {p for refs in train.refs for c in refs for p in _pairs(c)}
    train_words = {w for refs in train.refs for c in refs for w in c}
    assert len(trained) == 40  # 50 pairs, 10 held out
    for split in ("val", "test"):
        held = scenes(split, 100, 32, seed=0)
        for refs in held.refs:
            for caption in refs:
                assert _pairs(caption) - trained, caption  # a pair never seen together
                assert set(caption) <= train_words  # ... of words that were all seen
    seen = scenes("seen", 100, 32, seed=0)
    assert all(_pairs(c) <= trained for refs in seen.refs for c in refs)


def test_a_scene_caption_says_what_the_pixels_show():
    z = _make_scenes("train", 200, 64, seed=1)
    checked = 0
    for i in np.flatnonzero((z["count"] == 2) & (z["colour"][:, 0] != z["colour"][:, 1])):
        image = z["images"][i].astype(float)
        centres = []
        for k in range(2):  # where each digit's colour is
            rgb = np.asarray(COLOURS[COLOUR_NAMES[z["colour"][i, k]]], float)[:, None, None]
            lit = image.sum(0) > 200
            close = (np.abs(image / np.maximum(image.max(0), 1) - rgb / rgb.max()).sum(0) < 0.3) & lit
            ys, xs = np.nonzero(close)
            centres.append((ys.mean(), xs.mean()))
        (ya, xa), (yb, xb) = centres
        relation = " ".join(scene_refs(z, i)[0][4:-4])
        expected = {"above": ya < yb, "below": ya > yb, "left of": xa < xb, "right of": xa > xb}
        assert expected[relation], (i, relation, centres)
        checked += 1
    assert checked > 50


# --------------------------------------------------------------------------- decoding


def test_beam_search_of_width_one_is_greedy_decoding():
    torch.manual_seed(0)
    model = CaptionModel(vocab=12, width=16, embed=8, hidden=16, attention=8).eval()
    feats = model.encoder(torch.randn(6, 3, 32, 32))
    ids, _, score = greedy(model.decoder, feats, max_words=7)
    for i in range(6):
        words, alphas, beam_score = beam_search(model.decoder, feats[i:i + 1], 1, max_words=7)
        row = ids[i].tolist()
        row = row[:row.index(EOS) + 1] if EOS in row else row
        assert words == row
        assert len(alphas) == len(words)
        assert beam_score == pytest.approx(float(score[i]), abs=1e-5)


class TableDecoder(nn.Module):
    """A decoder whose next-word distribution depends on the previous word only."""

    def __init__(self, table: dict[int, dict[int, float]], vocab: int) -> None:
        super().__init__()
        logp = torch.full((vocab, vocab), -30.0)
        for prev, dist in table.items():
            for word, p in dist.items():
                logp[prev, word] = math.log(p)
        self.logp = logp

    def init_state(self, feats):
        return (feats,)

    def step(self, prev, state):
        return self.logp[prev], state, torch.ones(len(prev), state[0].shape[1])


def test_beam_search_finds_a_likelier_caption_than_greedy():
    # greedy takes word 4 (0.6), then at best 6 (0.3): 0.18 in all; word 5 (0.4) then ends (1.0)
    a, b, c, d, e = 4, 5, 6, 7, 8
    table = {BOS: {a: 0.6, b: 0.4}, a: {EOS: 0.2, c: 0.3, d: 0.25, e: 0.25}, b: {EOS: 1.0},
             c: {EOS: 1.0}, d: {EOS: 1.0}, e: {EOS: 1.0}}
    decoder, feats = TableDecoder(table, vocab=10), torch.zeros(1, 4, 2)
    ids, _, greedy_score = greedy(decoder, feats, max_words=5)
    words, _, beam_score = beam_search(decoder, feats, 2, max_words=5)
    assert ids[0].tolist() == [a, c, EOS]
    assert float(greedy_score[0]) == pytest.approx(math.log(0.18))
    assert words == [b, EOS]
    assert beam_score == pytest.approx(math.log(0.4))
    assert beam_score > float(greedy_score[0]) + 0.5


# --------------------------------------------------------------------------- scores

HYP = "a large red 3 above a small blue 7".split()
REF = "a large red 3 below a small blue 7".split()
REF2 = "a small blue 7 above a large red 3".split()


def test_bleu_matches_hand_counted_precisions():
    # one reference: 8/9 words, 6/8 bigrams, 4/7 trigrams, 2/6 4-grams match; equal lengths
    s = metrics.bleu([[REF]], [HYP])
    assert s["bleu1"] == pytest.approx(8 / 9)
    assert s["bleu2"] == pytest.approx((8 / 9 * 6 / 8) ** (1 / 2))
    assert s["bleu3"] == pytest.approx((8 / 9 * 6 / 8 * 4 / 7) ** (1 / 3))
    assert s["bleu4"] == pytest.approx((8 / 9 * 6 / 8 * 4 / 7 * 2 / 6) ** (1 / 4))
    # two references (clipped against either) and a second, exact sentence pooled in:
    # 13/13, 10/11, 6/9, 3/7
    s = metrics.bleu([[REF, REF2], ["a small green 1".split()]], [HYP, "a small green 1".split()])
    assert s["bleu1"] == pytest.approx(1.0)
    assert s["bleu4"] == pytest.approx((10 / 11 * 6 / 9 * 3 / 7) ** (1 / 4))
    # brevity penalty: 4 words against 9
    s = metrics.bleu([[REF]], [REF[:4]])
    assert s["bleu4"] == pytest.approx(math.exp(1 - 9 / 4))
    # no matching 4-gram: 0, not nltk's stand-in of 1e-231
    assert metrics.bleu([[REF]], ["a red large 3 a blue small 7".split()])["bleu4"] == 0.0


def test_exact_match_most_frequent_caption_and_nearest_neighbours():
    assert metrics.exact_match([[REF, REF2], [REF]], [REF2, HYP]) == 0.5
    refs = [[HYP], [REF, HYP], [REF2]]
    assert metrics.most_frequent_caption(refs) == HYP
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    query = torch.tensor([[5.0, 0.1], [0.2, 3.0], [2.0, 2.1]])
    assert metrics.nearest_neighbours(train, query).tolist() == [0, 1, 2]


# --------------------------------------------------------------------------- Karpathy JSON


def _write_karpathy(root: Path, coco: bool) -> tuple[Path, Path]:
    from PIL import Image

    images = root / "images"
    entries = []
    for i, split in enumerate(["train", "train", "restval", "val", "test", "test"]):
        folder = "val2014" if coco else ""
        (images / folder).mkdir(parents=True, exist_ok=True)
        name = f"img_{i}.jpg"
        colour = (255, 0, 0) if i % 2 else (0, 0, 255)
        Image.new("RGB", (40 + 10 * i, 30), colour).save(images / folder / name)
        words = ["a", "red" if i % 2 else "blue", "box"]
        entry = {"filename": name, "imgid": i, "split": split,
                 "sentences": [{"tokens": words, "raw": " ".join(words).capitalize() + ".",
                                "imgid": i, "sentid": 2 * i},
                               {"tokens": [], "raw": "A BOX of " + words[1], "imgid": i,
                                "sentid": 2 * i + 1}]}
        if coco:
            entry.update(filepath=folder, cocoid=1000 + i)
        entries.append(entry)
    path = root / ("dataset_coco.json" if coco else "dataset_flickr8k.json")
    path.write_text(json.dumps({"images": entries, "dataset": "coco" if coco else "flickr8k"}))
    return path, images


@pytest.mark.parametrize("coco", [False, True], ids=["flickr", "coco"])
def test_karpathy_json_loader_reads_splits_captions_and_images(tmp_path, monkeypatch, coco):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    path, images = _write_karpathy(tmp_path, coco)
    train = karpathy(str(path), str(images), "train", 16)
    assert len(train) == 3  # restval counts as training
    assert train.images.shape == (3, 3, 16, 16) and train.images.dtype == np.uint8
    assert train.refs[1] == [["a", "red", "box"], ["a", "box", "of", "red"]]  # raw when no tokens
    assert train.images[1, 0].mean() > 200 and train.images[1, 2].mean() < 50  # red, centre-cropped
    assert len(karpathy(str(path), str(images), "test", 16)) == 2
    assert len(karpathy(str(path), str(images), "test", 16, limit=1)) == 1
    (images / ("val2014" if coco else "") / "img_4.jpg").unlink()
    with pytest.raises(UserError, match="not under data.images"):
        karpathy(str(path), str(images), "test", 16)


@pytest.mark.slow
def test_a_run_on_a_karpathy_json_trains_and_scores(tmp_path, runs_root, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    path, images = _write_karpathy(tmp_path, coco=False)
    args = ["data.source=karpathy", f"data.path={path}", f"data.images={images}",
            "image_size=16", "batch_size=2"]
    assert main(["run", "caption", *TINY, *args]) == 0
    (run,) = _runs(runs_root)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/bleu4" in r and "eval/nn_bleu4" in r for r in rows)
    assert not any("eval/seen_bleu4" in r for r in rows)  # scenes only


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("override, says", [
    ("data.max_vocab=0", "data.max_vocab"),
    ("data.max_words=0", "data.max_words"),
    ("data.source=karpathy", "data.path"),
    ("data.min_word_count=1000000", "vocabulary is empty"),
])
def test_bad_run_config_is_exit_2_with_one_paragraph_and_no_run_dir(override, says, runs_root, capsys):
    assert main(["run", "caption", *TINY, override]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert _runs(runs_root) == []


def test_a_missing_karpathy_json_is_exit_2_and_no_run_dir(tmp_path, runs_root, capsys):
    assert main(["run", "caption", *TINY, "data.source=karpathy",
                 f"data.path={tmp_path / 'nope.json'}", f"data.images={tmp_path}"]) == 2
    assert "Karpathy" in capsys.readouterr().err
    assert _runs(runs_root) == []


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_RUNS", str(root))
    mp.setenv("WANDB_MODE", "disabled")
    try:
        assert main(["run", "caption", *TINY]) == 0
    finally:
        mp.undo()
    (run,) = _runs(root)
    return run


def _files(run: Path) -> set[Path]:
    return set(run.rglob("*"))


def _bad_images(folder: Path) -> dict[str, tuple[Path, str]]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(good)
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    truncated = folder / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:120])
    text = folder / "notes.png"
    text.write_text("not an image at all\n")
    return {"missing": (folder / "missing.png", "no such file"),
            "empty": (empty, "empty"), "truncated": (truncated, "truncated"),
            "not an image": (text, "not an image"), "a folder": (folder, "not a file")}


@pytest.mark.parametrize("verb", ["sample", "explain"])
def test_bad_image_files_are_exit_2_with_one_paragraph_before_the_model_loads(
        verb, tiny_run, tmp_path, capsys, monkeypatch):
    import workbench.engine.loop

    monkeypatch.setattr(workbench.engine.loop, "load_for_inference",
                        lambda *a, **k: pytest.fail("the checkpoint was loaded"))
    before = _files(tiny_run)
    for name, (path, says) in _bad_images(tmp_path / "img").items():
        assert main([verb, str(tiny_run), "--image", str(path)]) == 2, name
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert _files(tiny_run) == before


def test_an_image_over_pillows_pixel_limit_is_refused(tiny_run, tmp_path, capsys, monkeypatch):
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("RGB", (120, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 12,000 pixels: over, under 2x
    assert main(["sample", str(tiny_run), "--image", str(path)]) == 2
    assert "too large" in capsys.readouterr().err
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)  # over 2x: Pillow's own error
    assert main(["sample", str(tiny_run), "--image", str(path)]) == 2
    assert "MAX_IMAGE_PIXELS" in capsys.readouterr().err


def test_beam_zero_is_exit_2(tiny_run, capsys):
    assert main(["sample", str(tiny_run), "--beam", "0"]) == 2
    assert "--beam" in capsys.readouterr().err


# --------------------------------------------------------------------------- the verbs


def test_sample_captions_an_image_file_with_words_of_the_vocabulary(tiny_run, tmp_path, capsys):
    from PIL import Image

    from workbench.engine.loop import load_for_inference

    val = scenes("val", 8, 64, seed=0)
    path = tmp_path / "scene.png"
    Image.fromarray(val.images[0].transpose(1, 2, 0)).resize((200, 150)).save(path)
    out = tmp_path / "caption.txt"
    capsys.readouterr()
    assert main(["sample", str(tiny_run), "--image", str(path), "--beam", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip()
    plugin, _, _ = load_for_inference(tiny_run)
    assert set(printed.split()) <= set(plugin.vocab.words)
    assert out.read_text().strip() == printed
    assert main(["sample", str(tiny_run), "--n", "3"]) == 0
    assert list((tiny_run / "media").glob("captions_seed0_n3_beam3.png"))


def test_explain_draws_the_attention_of_every_word(tiny_run, tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "scene.png"
    Image.fromarray(scenes("val", 8, 64, seed=0).images[1].transpose(1, 2, 0)).save(path)
    assert main(["explain", str(tiny_run), "--image", str(path), "--out", str(tmp_path / "x")]) == 0
    (picture,) = (tmp_path / "x").glob("attention*.png")
    assert Image.open(picture).size[0] > 200
    assert "attention maps of 1 caption" in capsys.readouterr().out


def test_eval_prints_the_table_with_both_baselines(tiny_run, capsys):
    assert main(["eval", str(tiny_run), "--split", "test", "--beam", "2"]) == 0
    out = capsys.readouterr().out
    for row in ("model (beam 2)", "nearest neighbour", "most frequent caption", "BLEU-4"):
        assert row in out


@pytest.mark.slow
def test_export_gives_the_greedy_captions_of_the_run(tiny_run, tmp_path):
    from workbench.commands.export import load_and_run
    from workbench.data.images import to_float
    from workbench.engine.loop import load_for_inference

    out = tmp_path / "captioner.pt"
    assert main(["export", str(tiny_run), "--format", "torchscript", "--out", str(out)]) == 0
    plugin, _, _ = load_for_inference(tiny_run)
    images = scenes("val", 8, 64, seed=0).images[:5]
    ids = load_and_run(out, "torchscript", (to_float(torch.from_numpy(images)),))
    words, _ = plugin.caption(images)
    cut = plugin.cfg.data.max_words  # a caption that never ends is cut there
    assert [plugin.vocab.decode(row)[:cut] for row in ids.tolist()] == words


def test_cell_gru_gives_a_gru_decoder_that_learns_and_decodes():
    torch.manual_seed(0)
    model = CaptionModel(vocab=9, width=16, embed=8, hidden=16, attention=8, cell="gru")
    assert isinstance(model.decoder.cell, nn.GRUCell)
    images, caps = torch.randn(4, 3, 32, 32), torch.tensor([[BOS, 4, 5, EOS]] * 4)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(30):
        logits, _ = model(images, caps[:, :-1])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), caps[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    ids, _, _ = greedy(model.decoder, model.eval().encoder(images), max_words=5)
    assert ids[0].tolist()[:3] == [4, 5, EOS]


# --------------------------------------------------------------------------- learning


@pytest.mark.slow
def test_a_short_run_writes_held_out_captions_an_untrained_model_cannot(runs_root):
    # 600 steps (about a minute): BLEU-4 0.46 on held-out pairs here, from 0 untrained; it
    # passes the nearest neighbour later (0.70 against 0.46 at 3,000 steps, docs/captioning.md)
    args = ["total_steps=600", "eval_every=600", "checkpoint_every=600", "log_every=100",
            "eval_at_start=true", "torch_threads=1", "--wandb", "disabled"]
    assert main(["run", "caption-digits", *args]) == 0
    (run,) = _runs(runs_root)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/bleu4" in r]
    first, last = evals[0], evals[-1]
    assert first["step"] == 0 and last["step"] == 600
    assert first["eval/bleu4"] < 0.05 and first["eval/seen_bleu4"] < 0.05  # untrained
    assert last["eval/bleu4"] > 0.4 and last["eval/seen_bleu4"] > 0.4
    assert last["eval/bleu4"] > 5 * last["eval/frequent_bleu4"]
