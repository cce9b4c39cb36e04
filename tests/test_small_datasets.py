"""A folder dataset too small to split (or to classify) is refused with the counts, and no run
directory is left behind, instead of training with 0 val / 0 test images and no accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.commands.cli import main
from workbench.data.images import load_images
from workbench.errors import UserError

TINY = ["total_steps=4", "log_every=2", "eval_every=2", "checkpoint_every=2", "batch_size=4",
        "precision=fp32", "width=4", "hidden=8", "--wandb", "disabled"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


def _folder(root: Path, per_class: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for cls, n in per_class.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (8, 8), np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_a_split_that_comes_out_empty_is_refused_with_the_counts(tmp_path):
    path = str(_folder(tmp_path / "five", {"cats": 5}))
    assert len(load_images("folder", "train", path=path)) == 5  # training alone is fine
    with pytest.raises(UserError) as e:
        load_images("folder", "val", path=path)
    assert "5 images in 1 class(es) split into 5 train / 0 val / 0 test" in str(e.value)
    assert "the val split is empty" in str(e.value) and "at least 6 images" in str(e.value)


@pytest.mark.parametrize("per_class, says", [
    ({"cats": 5}, "5 images in 1 class(es) split into 5 train / 0 val / 0 test"),
    ({"cats": 5, "dogs": 5}, "10 images in 2 class(es) split into 10 train / 0 val / 0 test"),
    ({"cats": 30}, "a classifier needs at least 2 classes"),
    ({"cats": 6, "dogs": 6}, "batch_size=64 is larger than the 8 training images"),
])
def test_classifier_folder_too_small_is_exit_2_and_leaves_no_run(per_class, says, tmp_path,
                                                               runs_root, capsys):
    data = _folder(tmp_path / "data", per_class)
    args = TINY if "batch_size" not in says else [a for a in TINY if not a.startswith("batch_size")]
    assert main(["run", "classifier-folder", f"data.path={data}", *args]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not runs_root.exists() or not any(runs_root.rglob("run.json"))
