"""Both models are causal: changing a later token never changes an earlier position's logits."""

from __future__ import annotations

import pytest
import torch

from workbench.generators.seq.config import ModelConfig
from workbench.generators.seq.models import GPT, build_model


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_changing_a_later_token_leaves_earlier_logits_equal(arch):
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, n_layer=2, n_head=2, n_embd=32, hidden=32, block_size=16)
    model = build_model(cfg, vocab_size=11).eval()
    x = torch.randint(0, 11, (2, 16))
    x2 = x.clone()
    x2[:, 10] = (x[:, 10] + 1) % 11
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(x2)
    torch.testing.assert_close(a[:, :10], b[:, :10], rtol=0, atol=1e-6)
    assert (a[:, 10:] - b[:, 10:]).abs().max() > 1e-4  # the change is seen from position 10 on


def test_gpt_ties_the_embedding_and_the_output_head():
    model = GPT(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=8), vocab_size=7)
    assert model.head.weight is model.wte.weight


def test_incremental_step_matches_the_full_forward():
    torch.manual_seed(0)
    for arch in ("gpt", "lstm"):
        model = build_model(ModelConfig(arch=arch, n_layer=2, n_head=2, n_embd=16, hidden=16,
                                        block_size=8), vocab_size=9).eval()
        x = torch.randint(0, 9, (1, 6))
        with torch.no_grad():
            full, _ = model(x)
            logits, cache = model.step(x[:, :3], None)
            steps = [logits]
            for t in range(3, 6):
                logits, cache = model.step(x[:, t:t + 1], cache)
                steps.append(logits)
        torch.testing.assert_close(torch.stack(steps, 1), full[:, 2:], rtol=1e-5, atol=1e-5)
