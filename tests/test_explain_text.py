"""`workbench explain` on character language models: for the GPT and the LSTM, the letter a
capital copies raises that capital's probability and no other's, integrated gradients are
complete, and the CLI writes the HTML page."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.commands.cli import main
from workbench.engine.loop import load_for_inference
from workbench.engine.runs import find_runs
from workbench.generators.seq.explain import embeddings_as_input, token_attributions

pytest.importorskip("captum")  # the `explain` extra; CI installs it with [all]

LETTERS = "abcdef"
CONTEXTS = ["\nab", "\ncd", "eE\nfa", "\nfe"]  # each ends in the letter the next capital copies
CPU = torch.device("cpu")


@pytest.fixture(scope="module", params=["gpt", "lstm"])
def copy_run(request, tmp_path_factory) -> Path:
    """Lines 'rxX': a random letter r, a random letter x, then x's capital: the capital is
    decided by x alone (measured: p(capital) > 0.99 after 150 steps, ~5 s)."""
    root = tmp_path_factory.mktemp("runs")
    rng = random.Random(0)
    corpus = root / "copy.txt"
    corpus.write_text("".join(f"{rng.choice(LETTERS)}{c}{c.upper()}\n"
                              for c in rng.choices(LETTERS, k=3000)))
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_RUNS", str(root))
    mp.setenv("WANDB_MODE", "disabled")
    try:
        assert main(["run", "text-lm", "--name", request.param, "--wandb", "disabled",
                     f"data.path={corpus}", f"model.arch={request.param}", "model.n_layer=1",
                     "model.n_head=2", "model.n_embd=32", "model.hidden=64", "model.block_size=16",
                     "optim.batch_size=16", "optim.lr=1e-2", "optim.warmup_steps=10",
                     "total_steps=150", "eval_every=150", "checkpoint_every=150", "log_every=50",
                     "eval_batches=2", "sample.tokens=10", "torch_threads=1"]) == 0
    finally:
        mp.undo()
    return next(find_runs(root)).path


@pytest.mark.parametrize("method", ["integrated-gradients", "occlusion"])
@pytest.mark.slow
def test_the_copied_letter_raises_its_capital_and_no_other(copy_run, method):
    lm, _, _ = load_for_inference(copy_run)
    for context in CONTEXTS:
        on_letter = {}
        for capital in LETTERS.upper():
            ids = lm.tokenizer.encode(context + capital).tolist()
            (a,) = token_attributions(lm.model, ids, len(ids) - 1, method, 32, 16, CPU)
            assert a.shape == (len(context),) and np.isfinite(a).all()
            on_letter[capital] = a[-1]
        right = context[-1].upper()
        assert on_letter[right] > 0, (context, on_letter)
        assert all(on_letter[right] > v for c, v in on_letter.items() if c != right), (context, on_letter)


def test_integrated_gradients_sum_to_log_p_minus_log_p_of_zero_embeddings(copy_run):
    lm, _, _ = load_for_inference(copy_run)
    ids = lm.tokenizer.encode("eE\nfaA\ncdD").tolist()
    attr = token_attributions(lm.model, ids, 1, "integrated-gradients", 128, 16, CPU)
    with torch.no_grad(), embeddings_as_input(lm.model) as embed:
        for t in range(1, len(ids)):
            emb = embed(torch.tensor([ids[:t]]))
            gap = (lm.model(emb)[0][0, -1].log_softmax(-1)[ids[t]]
                   - lm.model(torch.zeros_like(emb))[0][0, -1].log_softmax(-1)[ids[t]])
            assert abs(attr[t - 1].sum() - float(gap)) < 0.05 * max(1.0, abs(float(gap)))


def test_cli_writes_an_html_page_with_one_line_per_generated_character(copy_run, capsys):
    assert main(["explain", str(copy_run), "--prompt", "\nad", "--n", "12",
                 "--temperature", "0", "--wandb", "disabled"]) == 0
    out = capsys.readouterr().out
    assert "explained 12 generated tokens" in out and "adD" in out  # greedy copies the d
    media = copy_run / "media"
    page = next(media.glob("explain_integrated-gradients_tokens_*.html")).read_text()
    assert page.count('<div class="row">') == 12 and "raised most by" in page
    assert next(media.glob("explain_integrated-gradients_tokens_*.png")).is_file()
    assert next(media.glob("explain_integrated-gradients_tokens_*.html")).parent == media


def test_a_prompt_with_unknown_characters_is_an_exit_2(copy_run, capsys):
    assert main(["explain", str(copy_run), "--prompt", "xyz", "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err
    assert "never saw" in err and "Traceback" not in err
