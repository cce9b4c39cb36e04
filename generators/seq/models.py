"""The two language models: a GPT (nanoGPT's model.py, condensed) and a multi-layer LSTM.

Both map token ids ``(B, T)`` to next-token logits ``(B, T, V)`` and share one incremental
interface for sampling, ``step(new_ids, cache) -> (last logits, cache)``: the GPT re-reads its
last ``block_size`` tokens, the LSTM carries its hidden state, so sampling code is the same.
For many prompts of different lengths at once (``workbench serve`` batches requests) both also
have ``begin(prompts) -> (last logits of each, cache)`` and ``extend(next_ids, cache)``.

GPT: Radford et al. 2019 (GPT-2), pre-LayerNorm blocks, GELU MLP, weight tying between the token
embedding and the output head (Press & Wolf 2017), causal ``F.scaled_dot_product_attention``.
LSTM: Hochreiter & Schmidhuber 1997, as in Karpathy's char-rnn and Graves 2013; ``cell=gru``
swaps in the GRU (Cho et al. 2014), which has no cell state and a third fewer weights.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from workbench.generators.seq.config import ModelConfig


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.qkv(x), "b t (three h d) -> three b h t d", three=3, h=self.n_head)
        # is_causal: position t attends to positions <= t only (flash / memory-efficient kernels)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        return self.resid_drop(self.proj(rearrange(y, "b h t d -> b t (h d)")))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-LN residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        self.block_size = cfg.block_size
        self.wte = nn.Embedding(vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.head = nn.Linear(cfg.n_embd, vocab_size, bias=False)
        self.head.weight = self.wte.weight  # weight tying
        self.apply(self._init)
        # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer) at init
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        t = idx.shape[1]
        if t > self.block_size:
            raise ValueError(f"sequence of {t} tokens is longer than block_size={self.block_size}")
        pos = torch.arange(t, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x)), None

    def step(self, new_ids: torch.Tensor, cache: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        context = new_ids if cache is None else torch.cat([cache, new_ids], dim=1)
        context = context[:, -self.block_size:]  # the attention window
        logits, _ = self(context)
        return logits[:, -1], context

    def begin(self, prompts: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Next-token logits (B, V) of prompts of different lengths, in one forward pass: the
        rows are right-padded, and causal attention never lets a position see the padding
        after it, so each row's last real position gives its logits."""
        rows = [p[-self.block_size:] for p in prompts]
        lengths = torch.tensor([len(r) for r in rows], device=rows[0].device)
        logits, _ = self(nn.utils.rnn.pad_sequence(rows, batch_first=True))
        return logits[torch.arange(len(rows), device=lengths.device), lengths - 1], rows

    def extend(self, next_ids: torch.Tensor, rows: list[torch.Tensor]
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.begin([torch.cat([r, t.view(1)]) for r, t in zip(rows, next_ids)])


class RecurrentLM(nn.Module):
    """Embedding -> multi-layer LSTM or GRU -> linear head (``arch=lstm``, ``cell=lstm|gru``)."""

    def __init__(self, cfg: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        rnn = nn.GRU if cfg.cell == "gru" else nn.LSTM
        self.rnn = rnn(cfg.n_embd, cfg.hidden, num_layers=cfg.n_layer, batch_first=True,
                       dropout=cfg.dropout if cfg.n_layer > 1 else 0.0)
        self.head = nn.Linear(cfg.hidden, vocab_size)
        # checkpoints from before the GRU option named the recurrent layer `lstm`
        self._register_load_state_dict_pre_hook(_renamed_lstm_weights)

    def forward(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        out, state = self.rnn(self.drop(self.embed(idx)), state)
        return self.head(self.drop(out)), state

    def step(self, new_ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        logits, state = self(new_ids, cache)
        return logits[:, -1], state

    def begin(self, prompts: list[torch.Tensor]) -> tuple[torch.Tensor, Any]:
        """Next-token logits (B, V) of prompts of different lengths, in one pass: a packed
        sequence stops each row at its own length, and the top layer's last hidden state is
        the output at the row's last token."""
        lengths = torch.tensor([len(p) for p in prompts])
        x = self.drop(self.embed(nn.utils.rnn.pad_sequence(prompts, batch_first=True)))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c); GRU: h
        return self.head(self.drop(h[-1])), state

    def extend(self, next_ids: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        return self.step(next_ids.view(-1, 1), state)


LSTMLM = RecurrentLM  # the name before the GRU option


def _renamed_lstm_weights(state: dict[str, Any], prefix: str, *args: Any) -> None:
    for key in [k for k in state if k.startswith(prefix + "lstm.")]:
        state[prefix + "rnn." + key[len(prefix) + 5:]] = state.pop(key)


def build_model(cfg: ModelConfig, vocab_size: int) -> nn.Module:
    return GPT(cfg, vocab_size) if cfg.arch == "gpt" else RecurrentLM(cfg, vocab_size)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices and embeddings, not biases or norm gains (nanoGPT's configure_optimizers)."""
    params = {id(p): p for p in model.parameters() if p.requires_grad}  # tied weights once
    decay = [p for p in params.values() if p.dim() >= 2]
    no_decay = [p for p in params.values() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]
