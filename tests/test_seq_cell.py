"""model.cell=lstm|gru on the recurrent language model: the GRU is a GRU, trains and samples
through the CLI, and checkpoints written before the option (layer named `lstm`) still load."""

from __future__ import annotations

import json

import torch
from torch import nn

from workbench.commands.cli import main
from workbench.generators.seq.config import ModelConfig
from workbench.generators.seq.models import build_model
from workbench.generators.seq.sampling import generate


def _cfg(cell: str) -> ModelConfig:
    return ModelConfig(arch="lstm", cell=cell, n_layer=2, n_embd=8, hidden=12, block_size=8)


def test_cell_gru_builds_a_gru_with_no_cell_state_and_samples():
    torch.manual_seed(0)
    model = build_model(_cfg("gru"), vocab_size=11)
    assert isinstance(model.rnn, nn.GRU)
    _, state = model(torch.tensor([[1, 2, 3]]))
    assert torch.is_tensor(state)  # a GRU carries h only; an LSTM carries (h, c)
    ids = generate(model, [1], 10, temperature=0)
    assert len(ids) == 11
    assert isinstance(build_model(_cfg("lstm"), vocab_size=11).rnn, nn.LSTM)


def test_a_checkpoint_from_before_the_cell_option_loads_into_the_lstm():
    torch.manual_seed(0)
    model = build_model(_cfg("lstm"), vocab_size=11)
    old = {k.replace("rnn.", "lstm."): v.clone() for k, v in model.state_dict().items()}
    assert any(k.startswith("lstm.") for k in old)
    fresh = build_model(_cfg("lstm"), vocab_size=11)
    fresh.load_state_dict(old)  # strict: every old key maps to a new one
    x = torch.tensor([[4, 5, 6]])
    torch.testing.assert_close(fresh(x)[0], model(x)[0])


def test_cell_gru_on_the_gpt_is_refused_with_exit_2_and_no_run_dir(runs_root, capsys):
    assert main(["run", "text-lm", "model.arch=gpt", "model.cell=gru", "--wandb", "disabled"]) == 2
    assert "model.cell=gru" in capsys.readouterr().err
    assert not runs_root.exists() or not any(runs_root.iterdir())


def test_text_lm_trains_and_samples_with_the_gru_cell(runs_root, tmp_path, capsys):
    corpus = tmp_path / "t.txt"
    corpus.write_text("the cat sat on the mat.\n" * 200, encoding="utf-8")
    assert main(["run", "lstm-shakespeare", f"data.path={corpus}", "model.cell=gru",
                 "model.n_layer=1", "model.hidden=16", "model.n_embd=8", "model.block_size=16",
                 "total_steps=4", "eval_every=4", "log_every=2", "checkpoint_every=4",
                 "optim.batch_size=2", "eval_batches=1", "sample.tokens=8",
                 "--wandb", "disabled"]) == 0
    (run,) = [p for p in runs_root.glob("*/*") if p.is_dir()]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/loss" in r for r in rows)
    capsys.readouterr()
    assert main(["sample", str(run), "--prompt", "the", "--tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("the")
