"""Sampling: seeded runs repeat, top-k=1 and tiny top-p are greedy, the filters keep what they say."""

from __future__ import annotations

import torch

from workbench.generators.seq.config import ModelConfig
from workbench.generators.seq.models import build_model
from workbench.generators.seq.sampling import filter_logits, generate


def _model(arch="gpt"):
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, n_layer=1, n_head=2, n_embd=16, hidden=16, block_size=8)
    return build_model(cfg, vocab_size=13)


def test_sampling_with_a_seed_is_deterministic_and_seeds_differ():
    for arch in ("gpt", "lstm"):
        model = _model(arch)
        a = generate(model, [1, 2], 30, temperature=1.5, seed=7)
        b = generate(model, [1, 2], 30, temperature=1.5, seed=7)
        c = generate(model, [1, 2], 30, temperature=1.5, seed=8)
        assert a == b
        assert a != c
        assert a[:2] == [1, 2] and len(a) == 32


def test_top_k_one_equals_greedy_decoding():
    model = _model()
    greedy = generate(model, [3], 20, temperature=0)
    for seed in range(3):
        assert generate(model, [3], 20, temperature=2.0, top_k=1, seed=seed) == greedy
        assert generate(model, [3], 20, temperature=1.0, top_p=1e-6, seed=seed) == greedy


def test_greedy_is_the_argmax_of_the_full_forward():
    model = _model().eval()
    out = generate(model, [3, 4], 5, temperature=0)
    with torch.no_grad():
        logits, _ = model(torch.tensor([out[:-1]]))
    assert logits[0, 1:].argmax(-1).tolist() == out[2:]


def test_filters_keep_top_k_and_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.15, 0.1]]))
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.7)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.75)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.76)).tolist() == [[True, True, True, False]]


def test_generation_stops_after_the_stop_token():
    model = _model()
    out = generate(model, [1], 200, temperature=3.0, seed=0, stop_token=5)
    assert 5 not in out[1:-1] and (out[-1] == 5 or len(out) == 201)
