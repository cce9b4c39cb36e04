"""Autoregressive sampling shared by every sequence model: temperature, top-k, top-p, a prompt.

Randomness comes from a private ``torch.Generator`` seeded by the caller, so the same seed gives
the same sequence. ``temperature=0`` is greedy decoding; ``top_k=1`` is greedy too.
Top-p is nucleus sampling (Holtzman et al. 2020): keep the fewest tokens whose probability
reaches ``top_p``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set the logits outside the top-k / nucleus to -inf. ``logits``: (B, V)."""
    logits = logits.clone()
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits[logits < kth] = float("-inf")
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token when the tokens before it already reach top_p (the first always stays)
        drop_sorted = (cum - sorted_logits.softmax(-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits[drop] = float("-inf")
    return logits


@torch.no_grad()
def generate(model: nn.Module, prompt: Sequence[int], max_new_tokens: int, *,
             temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
             stop_token: int | None = None, device: torch.device | None = None) -> list[int]:
    """The prompt followed by up to ``max_new_tokens`` sampled tokens (stops after ``stop_token``)."""
    if not prompt:
        raise ValueError("generate needs a prompt of at least one token")
    device = device or next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    out = list(prompt)
    logits, cache = model.step(torch.tensor([out], device=device), None)
    try:
        for _ in range(max_new_tokens):
            logits = logits.float().cpu()  # sample on the CPU: one generator on every device
            if temperature == 0:
                nxt = int(logits.argmax(-1))
            else:
                probs = filter_logits(logits / temperature, top_k, top_p).softmax(-1)
                nxt = int(torch.multinomial(probs, 1, generator=generator))
            out.append(nxt)
            if nxt == stop_token:
                break
            logits, cache = model.step(torch.tensor([[nxt]], device=device), cache)
    finally:
        model.train(was_training)
    return out


@torch.no_grad()
def generate_rows(model: nn.Module, prompts: Sequence[Sequence[int]], max_new_tokens: Sequence[int],
                  temperature: Sequence[float], top_k: Sequence[int], top_p: Sequence[float],
                  seeds: Sequence[int], device: torch.device | None = None,
                  stop_token: int | None = None) -> Iterator[list[int | None]]:
    """Many prompts sampled together, one forward pass per step for all of them (the model's
    ``begin`` / ``extend``); each row has its own settings and its own seeded generator, as in
    ``generate``. Yields each step's new token of every row, None for a row that is done."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("generate_rows needs prompts of at least one token")
    device = device or next(model.parameters()).device
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    done = [n <= 0 for n in max_new_tokens]
    made = [0] * len(prompts)
    logits, cache = model.begin([torch.tensor(p, device=device) for p in prompts])
    while not all(done):
        logits = logits.float().cpu()
        step: list[int | None] = []
        for i in range(len(prompts)):
            if done[i]:
                step.append(None)
                continue
            row = logits[i:i + 1]
            if temperature[i] == 0:
                nxt = int(row.argmax(-1))
            else:
                probs = filter_logits(row / temperature[i], top_k[i], top_p[i]).softmax(-1)
                nxt = int(torch.multinomial(probs, 1, generator=generators[i]))
            made[i] += 1
            done[i] = made[i] >= max_new_tokens[i] or nxt == stop_token
            step.append(nxt)
        yield step
        if all(done):
            return
        next_ids = torch.tensor([t if t is not None else 0 for t in step], device=device)
        logits, cache = model.extend(next_ids, cache)
