"""`workbench export`: the exported file, loaded back, computes what the eager module computes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from workbench.commands.cli import main
from workbench.commands.export import _prepare, load_and_run
from workbench.engine.loop import load_for_inference
from workbench.engine.runs import find_runs

SMOKE = ["total_steps=20", "log_every=10", "eval_every=0", "checkpoint_every=0", "precision=fp32"]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_RUNS", str(root))
    mp.setenv("WANDB_MODE", "disabled")
    try:
        assert main(["run", "linreg", *SMOKE, "--wandb", "disabled"]) == 0
    finally:
        mp.undo()
    return next(find_runs(root)).path


def _eager_and_batch(run: Path) -> tuple[torch.nn.Module, torch.Tensor]:
    plugin, _, _ = load_for_inference(run)
    module, example = _prepare(*plugin.export_module())
    return module, torch.randn(5, example[0].shape[1])


@pytest.mark.parametrize("fmt", ["torchscript", pytest.param("onnx", marks=pytest.mark.slow)])
def test_export_round_trip_matches_the_eager_module(toy_run, tmp_path, fmt, capsys):
    out = tmp_path / f"model.{fmt}"
    assert main(["export", str(toy_run), "--format", fmt, "--out", str(out)]) == 0
    assert "max |export - eager|" in capsys.readouterr().out
    module, batch = _eager_and_batch(toy_run)
    with torch.no_grad():
        expected = module(batch)
    got = load_and_run(out, fmt, (batch,))  # batch of 5: the batch dimension is dynamic
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # and the export is of the trained weights, not a fresh model
    assert not torch.allclose(module.weight, torch.nn.Linear(8, 1).weight)


def test_export_default_path_is_inside_the_run(toy_run):
    assert main(["export", str(toy_run), "--no-check"]) == 0
    assert (toy_run / "export" / "linear.pt").is_file()


def test_export_of_a_missing_run_is_a_user_error(tmp_path):
    assert main(["export", str(tmp_path / "nope"), "--format", "onnx"]) == 2


def test_export_module_returning_the_module_alone_is_an_exit_2_error_saying_what_to_return(
        toy_run, monkeypatch, capsys):
    from workbench.toy import LinearRegression

    monkeypatch.setattr(LinearRegression, "export_module", lambda self: self.model)
    assert main(["export", str(toy_run), "--no-check"]) == 2
    err = capsys.readouterr().err
    assert "export_module() returned a Linear" in err and "(module, example_input)" in err
    assert "Traceback" not in err
