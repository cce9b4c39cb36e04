"""`workbench explain` on an image classifier: the attributions pass a sanity check (Adebayo et
al. 2018): a trained digit classifier puts its positive attribution on the strokes, far more than
the strokes' share of the image and clearly more than random-weight networks do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workbench.classifiers.config import ClassifierExplainOptions
from workbench.classifiers.explain import attributions, ink_share
from workbench.commands.cli import main
from workbench.data.images import to_float
from workbench.engine.loop import load_for_inference
from workbench.engine.runs import find_runs

pytest.importorskip("captum")  # the `explain` extra; CI installs it with [all]

# ~10 s on one CPU thread; test accuracy ~97%
TRAIN = ["total_steps=300", "eval_every=300", "checkpoint_every=300", "log_every=100",
         "torch_threads=1", "precision=fp32", "--wandb", "disabled"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_RUNS", str(root))
    mp.setenv("WANDB_MODE", "disabled")
    try:
        assert main(["run", "classifier-digits", "--name", "explain", *TRAIN]) == 0
    finally:
        mp.undo()
    return next(find_runs(root)).path


def _share(model: torch.nn.Module, images: torch.Tensor) -> float:
    target = model.eval()(to_float(images)).argmax(1)
    attr = attributions(model, images, target, ClassifierExplainOptions(), torch.device("cpu"))
    assert attr.shape == images.shape and torch.isfinite(attr).all()
    return ink_share(attr, images)


@pytest.mark.slow
def test_trained_classifier_attributes_to_the_ink_and_random_weights_do_not(digits_run):
    plugin, _, _ = load_for_inference(digits_run)
    images = plugin.test_set.images  # 179 sklearn digits, 16x16
    ink = float((images.float() > 127.5).float().mean())
    trained = _share(plugin.model, images)
    random = []
    for seed in range(5):  # one random net can be an ink detector by chance; their mean is not
        torch.manual_seed(seed)
        random.append(_share(type(plugin.model)(**plugin.model.config), images))
    mean_random = sum(random) / len(random)
    # measured: ink 0.30 of the pixels, trained 0.66-0.68, random nets 0.26-0.60 (mean 0.45)
    assert trained > 1.8 * ink, (trained, ink)
    assert trained > mean_random + 0.1, (trained, random)


def test_cli_writes_the_grid_and_class_means_to_media_and_nowhere_else(digits_run, tmp_path, capsys):
    media = digits_run / "media"
    before = set(media.iterdir())
    assert main(["explain", str(digits_run), "--n", "8", "--per-class", "4", "--wandb", "disabled"]) == 0
    out = capsys.readouterr().out
    assert "explained 8 test images" in out and "positive attribution on bright (ink) pixels" in out
    new = sorted(p.name for p in set(media.iterdir()) - before)
    assert len(new) == 2 and new[0].startswith("explain_occlusion_class_means") and new[1].startswith("explain_occlusion_grid")

    # --out: the files go there, and nothing new appears in the run directory
    files_before = {p for p in digits_run.rglob("*")}
    assert main(["explain", str(digits_run), "--method", "integrated-gradients", "--n", "4",
                 "--per-class", "2", "--out", str(tmp_path / "x")]) == 0
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [
        "integrated-gradients_class_means.png", "integrated-gradients_grid.png"]
    assert {p for p in digits_run.rglob("*")} == files_before


def test_a_bad_option_is_an_exit_2_before_anything_loads(digits_run, capsys):
    assert main(["explain", str(digits_run), "--method", "lime"]) == 2
    err = capsys.readouterr().err
    assert "--method" in err and "occlusion" in err and "integrated-gradients" in err
    assert main(["explain", str(digits_run), "--n", "0"]) == 2
    assert "--n must be positive" in capsys.readouterr().err


def test_explain_logs_into_the_runs_own_wandb_run(digits_run):
    from tests.test_wandb import _records

    assert main(["explain", str(digits_run), "--n", "2", "--per-class", "0", "--wandb", "offline"]) == 0
    records = _records(digits_run)
    run_id = json.loads((digits_run / "run.json").read_text())["wandb_id"]
    assert {x["run"]["run_id"] for x in records if x["type"] == "run"} == {run_id}
    history = [x["history"]["item"] for x in records if x["type"] == "history"]
    assert any(h.get("explain/occlusion_grid._type") == "image-file" and h["step"] == 300
               for h in history)
