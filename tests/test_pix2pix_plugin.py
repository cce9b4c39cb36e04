"""pix2pix on the loop: the aligned A|B format in both directions, the offline edges dataset
(built once, held-out region), train + sample round trips, metrics and baselines, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.commands.cli import main
from workbench.data.pairs import read_pairs
from workbench.generators.pix2pix.data import build_edges

TINY = ["total_steps=4", "log_every=2", "eval_every=4", "checkpoint_every=2", "batch_size=4",
        "gen_features=8", "disc_features=8", "eval_images=8", "image_size=32"]


def make_aligned(root: Path, size: int = 40) -> Path:
    """A tiny pix2pix-format dataset: A = a coloured square, B = its outline (A|B side by side)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("val", 6), ("test", 4)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            a = np.zeros((size, size, 3), np.uint8)
            y, x = rng.integers(4, size // 2, 2)
            a[y:y + 12, x:x + 12] = rng.integers(50, 255, 3)
            b = np.full((size, size, 3), 255, np.uint8)
            b[y, x:x + 12] = b[y + 11, x:x + 12] = b[y:y + 12, x] = b[y:y + 12, x + 11] = 0
            Image.fromarray(np.concatenate([a, b], 1)).save(root / split / f"{i}.jpg", quality=95)
    return root


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_direction_picks_which_half_is_the_input(tmp_path):
    root = make_aligned(tmp_path / "ds")
    a, b = read_pairs(root, "val", 32, "AtoB")
    b2, a2 = read_pairs(root, "val", 32, "BtoA")
    assert a.shape == b.shape == (6, 3, 32, 32) and a.dtype == torch.uint8
    assert torch.equal(a, a2) and torch.equal(b, b2)
    assert a.float().mean() < 100 < b.float().mean()  # dark squares | white outlines


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_aligned_pairs_train_evaluate_and_sample(direction, runs_root, tmp_path):
    root = make_aligned(tmp_path / "facades")
    assert main(["run", "pix2pix-facades", "--name", "t", "--wandb", "disabled", *TINY,
                 f"data.path={root}", f"direction={direction}"]) == 0
    run_dir = runs_root / "pix2pix-facades" / "t"
    evals = [r for r in rows(run_dir) if "eval/psnr" in r]
    assert [r["step"] for r in evals] == [4]
    for key in ("eval/l1", "eval/psnr", "eval/ssim", "eval/psnr_copy_input", "eval/psnr_mean_target"):
        assert np.isfinite(evals[0][key]), key
    grid = Image.open(run_dir / "media" / "eval_translations_000000004.png")
    assert grid.size == (3 * 34 + 2, 6 * 34 + 2)  # rows of input | output | target (6 val pairs)

    assert main(["sample", str(run_dir), "--n", "2", "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size == (3 * 34 + 2, 2 * 34 + 2)
    assert main(["sample", str(run_dir), "--n", "3", "--out", str(tmp_path / "singles")]) == 0
    assert len(list((tmp_path / "singles").iterdir())) == 3


def test_edges_dataset_is_built_once_in_the_pix2pix_format_with_held_out_regions(tmp_path):
    root = build_edges(tmp_path / "edges", image_size=32, pairs=20)
    counts = {s: len(list((root / s).iterdir())) for s in ("train", "val", "test")}
    assert counts == {"train": 20, "val": 2, "test": 2}
    first = root / "train" / "00000.png"
    stamp = first.stat().st_mtime_ns
    assert build_edges(root, image_size=32, pairs=20) == root and first.stat().st_mtime_ns == stamp
    a, b = read_pairs(root, "train", 32)
    edges = a.float() / 255
    assert set(np.unique(a.numpy())) <= {0, 255}  # A: black edges on white
    assert 0.6 < edges.mean() < 0.99  # mostly white, some lines
    assert b.float().std() > 20  # B: photos


def test_edges_preset_trains_and_scores_against_both_baselines(runs_root, tmp_path):
    assert main(["run", "pix2pix-edges", "--name", "t", "--wandb", "disabled", *TINY,
                 f"data.path={tmp_path / 'edges'}", "data.pairs=24"]) == 0
    run_dir = runs_root / "pix2pix-edges" / "t"
    ev = [r for r in rows(run_dir) if "eval/psnr" in r][-1]
    # copying an edge map (mostly white) onto photos is a poor baseline; a flat mean colour is better
    assert ev["eval/psnr_copy_input"] < ev["eval/psnr_mean_target"]
    assert main(["eval", str(run_dir)]) == 0


def test_resume_restores_both_optimizers(runs_root, tmp_path):
    root = make_aligned(tmp_path / "ds")
    common = ["--wandb", "disabled", *TINY, f"data.path={root}", "jitter=false", "dropout=0"]
    assert main(["run", "pix2pix-facades", "--name", "a", *common, "total_steps=4"]) == 0
    assert main(["run", "pix2pix-facades", "--name", "b", *common, "total_steps=2"]) == 0
    b_dir = runs_root / "pix2pix-facades" / "b"
    assert main(["resume", str(b_dir), "total_steps=4", "--wandb", "disabled"]) == 0
    a = torch.load(runs_root / "pix2pix-facades" / "a" / "checkpoints" / "latest.pt", weights_only=True)
    b = torch.load(b_dir / "checkpoints" / "latest.pt", weights_only=True)
    for opt in ("opt_g", "opt_d"):
        assert b["state"][opt]["state"][0]["step"] == 4
        for i, s in a["state"][opt]["state"].items():
            assert torch.equal(s["exp_avg_sq"], b["state"][opt]["state"][i]["exp_avg_sq"]), (opt, i)
    for key, value in a["state"]["G"].items():
        assert torch.equal(value, b["state"]["G"][key]), key


def test_aligned_without_a_usable_path_is_a_clear_error(tmp_path, capsys):
    base = ["run", "pix2pix-facades", "--wandb", "disabled", *TINY]
    assert main(base) == 2
    assert "needs data.path" in capsys.readouterr().err
    (tmp_path / "empty" / "train").mkdir(parents=True)
    assert main([*base, f"data.path={tmp_path / 'empty'}"]) == 2
    assert "holds no images" in capsys.readouterr().err


def test_digits_dataset_pairs_outlines_with_digits_of_every_class(tmp_path):
    from workbench.generators.pix2pix.data import build_digit_edges

    root = build_digit_edges(tmp_path / "digits", image_size=32, pairs=40)
    a, b = read_pairs(root, "train", 32)
    assert a.shape == b.shape == (40, 3, 32, 32)
    assert set(np.unique(a.numpy())) <= {0, 255} and a.float().mean() > 200  # outlines on white
    assert b.float().mean() < 100  # white digits on black
    # outline pixels sit where the digit's edge is: dark in A near bright strokes in B
    lines = a[:, 0] == 0
    near_stroke = torch.nn.functional.max_pool2d(b[:, :1].float(), 3, 1, 1)[:, 0] > 60
    assert near_stroke[lines].float().mean() > 0.9
