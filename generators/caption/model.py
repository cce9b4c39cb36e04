"""A CNN encoder and a recurrent decoder with soft attention; greedy and beam-search decoding.

Vinyals et al. 2015 ("Show and Tell") feed an image's CNN code to an LSTM that writes the
caption; Xu et al. 2015 ("Show, Attend and Tell") let the decoder look again at every step: at
word t it weighs the L locations of the encoder's feature map with soft attention

    e_ti = v . tanh(W_f f_i + W_h h_{t-1}),   alpha_t = softmax(e_t),   z_t = beta_t sum_i alpha_ti f_i

(Bahdanau et al. 2015's additive attention; beta_t = sigmoid(W_b h_{t-1}) is their gate), the
cell reads [embedding of word t-1, z_t], and the "deep output" L_o(E y_{t-1} + L_h h_t + L_z z_t)
gives the logits of word t. The initial state is an MLP of the mean feature.
Training is teacher forcing: the reference's previous word is the input at every step.

The encoder is small and trained from scratch (no pretrained weights can be downloaded): three
VGG-style stages, each halving the resolution, then two coordinate channels (Liu et al. 2018,
"CoordConv") so the decoder can tell "above" from "below", and a 1x1 projection.

Decoding works on any object with ``init_state(features) -> state`` and ``step(prev_ids,
state) -> (logits, state, alpha)``, where ``state`` is a tuple of tensors with the batch first
(beam search reorders it by indexing): the tests drive it with a hand-made model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workbench.generators.caption.data import BOS, EOS, PAD

State = tuple[torch.Tensor, ...]


def _stage(c_in: int, c_out: int) -> nn.Sequential:
    """Halve the resolution first, then a 3x3 conv at the lower one: a third of the cost of
    the VGG order (conv, then a strided conv) on a CPU, for the same depth."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


@torch.no_grad()
def precise_batchnorm(encoder: nn.Module, batches: list[torch.Tensor]) -> None:
    """Set every BatchNorm's running statistics to the exact averages over ``batches`` under
    the current weights ("precise BN", Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm").
    The running means training leaves behind trail weights that move fast: on these mostly
    black scenes they were off by a large part of the (tiny) batch variance, and the captions
    written in eval mode were garbage while the training loss was fine. Training never reads
    running statistics, so refreshing them changes nothing else."""
    norms = [m for m in encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    was = encoder.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    encoder.train()
    for x in batches:
        encoder(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    encoder.train(was)


class Encoder(nn.Module):
    """Image (B, 3, H, W) in [-1, 1] -> features (B, L, width), L = ceil(H/8) * ceil(W/8)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.cnn = nn.Sequential(_stage(3, max(width // 4, 8)), _stage(max(width // 4, 8), max(width // 2, 8)),
                                 _stage(max(width // 2, 8), width))
        self.proj = nn.Conv2d(width + 2, width, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.cnn(images)
        b, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        x = self.proj(torch.cat([x, ys, xs], 1))
        return x.flatten(2).transpose(1, 2)


class AttentionDecoder(nn.Module):
    """Word t-1 and the attended features -> the logits of word t (Xu et al. 2015)."""

    def __init__(self, vocab: int, features: int, embed: int, hidden: int, attention: int,
                 cell: str = "lstm", dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = cell == "lstm"
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.att_f = nn.Linear(features, attention)
        self.att_h = nn.Linear(hidden, attention)
        self.att_v = nn.Linear(attention, 1)
        self.gate = nn.Linear(hidden, features)
        self.init_h = nn.Linear(features, hidden)
        self.init_c = nn.Linear(features, hidden) if self.lstm else None
        self.cell = (nn.LSTMCell if self.lstm else nn.GRUCell)(embed + features, hidden)
        self.drop = nn.Dropout(dropout)
        # the deep output layer of Xu et al. (their Eq. 7): the word's logits read the previous
        # word, the new hidden state and the attended features, so what the decoder sees reaches
        # the words without passing through the recurrent cell first
        self.out_h = nn.Linear(hidden, embed)
        self.out_z = nn.Linear(features, embed)
        self.out = nn.Linear(embed, vocab)

    def init_state(self, feats: torch.Tensor) -> State:
        """(features, their attention projection, h, c): everything a step needs, batch first."""
        mean = feats.mean(1)
        h = torch.tanh(self.init_h(mean))
        c = torch.tanh(self.init_c(mean)) if self.init_c is not None else torch.zeros_like(h)
        return feats, self.att_f(feats), h, c

    def step(self, prev: torch.Tensor, state: State) -> tuple[torch.Tensor, State, torch.Tensor]:
        feats, feats_att, h, c = state
        scores = self.att_v(torch.tanh(feats_att + self.att_h(h)[:, None])).squeeze(-1)
        alpha = scores.softmax(-1)  # (B, L): where the decoder looks for this word
        context = torch.sigmoid(self.gate(h)) * (alpha[..., None] * feats).sum(1)
        word = self.embed(prev)
        x = torch.cat([word, context], -1)
        if self.lstm:
            h, c = self.cell(x, (h, c))
        else:
            h = self.cell(x, h)
        logits = self.out(self.drop(word + self.out_h(h) + self.out_z(context)))
        return logits, (feats, feats_att, h, c), alpha

    def forward(self, feats: torch.Tensor, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: ``inputs`` (B, T) = <bos> w1 ... -> logits (B, T, V), alphas (B, T, L)."""
        state = self.init_state(feats)
        logits, alphas = [], []
        for t in range(inputs.shape[1]):
            out, state, alpha = self.step(inputs[:, t], state)
            logits.append(out)
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)


class CaptionModel(nn.Module):
    def __init__(self, vocab: int, width: int, embed: int, hidden: int, attention: int,
                 cell: str = "lstm", dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = Encoder(width)
        self.decoder = AttentionDecoder(vocab, width, embed, hidden, attention, cell, dropout)

    def forward(self, images: torch.Tensor, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(self.encoder(images), inputs)


# --------------------------------------------------------------------------- decoding


@torch.no_grad()
def greedy(decoder: Any, feats: torch.Tensor, max_words: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The most likely word at every step, for a batch: (ids (B, T) without <bos>, alphas
    (B, T, L), log-probability of each caption (B,) up to and including its <eos>)."""
    state = decoder.init_state(feats)
    prev = torch.full((feats.shape[0],), BOS, dtype=torch.long, device=feats.device)
    done = torch.zeros_like(prev, dtype=torch.bool)
    score = torch.zeros(feats.shape[0], device=feats.device)
    ids, alphas = [], []
    for _ in range(max_words + 1):  # the words and the <eos>
        logits, state, alpha = decoder.step(prev, state)
        logp = logits.float().log_softmax(-1)
        prev = logp.argmax(-1)
        score = score + torch.where(done, 0.0, logp.gather(1, prev[:, None])[:, 0])
        prev = prev.masked_fill(done, PAD)
        ids.append(prev)
        alphas.append(alpha)
        done = done | (prev == EOS)
        if bool(done.all()):
            break
    return torch.stack(ids, 1), torch.stack(alphas, 1), score


@torch.no_grad()
def beam_search(decoder: Any, feats: torch.Tensor, beam: int, max_words: int
                ) -> tuple[list[int], torch.Tensor, float]:
    """The caption of one image (``feats``: (1, L, D)) with the highest log-probability that
    beam search finds (Sutskever et al. 2014; Vinyals et al. 2015 use beam 3): the words and
    <eos>, the alphas (T, L) and the log-probability. Scores are sums of log-probabilities; the
    search stops once a finished caption beats every open one (they can only fall)."""
    state = decoder.init_state(feats)
    words = torch.full((1, 0), BOS, dtype=torch.long, device=feats.device)
    prev = torch.full((1,), BOS, dtype=torch.long, device=feats.device)
    scores = torch.zeros(1, device=feats.device)
    alphas = feats.new_zeros((1, 0, feats.shape[1]))
    best: tuple[float, list[int], torch.Tensor] | None = None
    for _ in range(max_words + 1):  # the words and the <eos>, as greedy()
        logits, state, alpha = decoder.step(prev, state)
        total = scores[:, None] + logits.float().log_softmax(-1)  # (k, V)
        top, flat = total.flatten().topk(min(beam, total.numel()))
        src, word = flat // total.shape[1], flat % total.shape[1]
        words = torch.cat([words[src], word[:, None]], 1)
        alphas = torch.cat([alphas[src], alpha[src][:, None]], 1)
        ended = word == EOS
        for k in torch.nonzero(ended).flatten().tolist():
            if best is None or float(top[k]) > best[0]:
                best = (float(top[k]), words[k].tolist(), alphas[k])
        keep = ~ended
        if not bool(keep.any()):
            break
        words, alphas, scores, prev = words[keep], alphas[keep], top[keep], word[keep]
        if best is not None and best[0] >= float(scores.max()):
            break
        state = tuple(s[src[keep]] for s in state)
    else:  # out of steps: the best open caption, cut, if it beats every finished one
        k = int(scores.argmax())
        if best is None or float(scores[k]) > best[0]:
            best = (float(scores[k]), words[k].tolist(), alphas[k])
    assert best is not None
    return best[1], best[2], best[0]


class GreedyCaptioner(nn.Module):
    """What ``workbench export`` writes: images (B, 3, H, W) in [-1, 1] -> word ids (B,
    max_words + 1), greedy, <pad> after <eos>. A fixed number of steps keeps the graph
    static for TorchScript tracing and ONNX."""

    def __init__(self, model: CaptionModel, max_words: int) -> None:
        super().__init__()
        self.model, self.max_words = model, max_words

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        decoder = self.model.decoder
        state = decoder.init_state(self.model.encoder(images))
        prev = torch.full_like(images[:, 0, 0, 0], BOS, dtype=torch.long)
        done = torch.zeros_like(prev, dtype=torch.bool)
        ids = []
        for _ in range(self.max_words + 1):
            logits, state, _ = decoder.step(prev, state)
            prev = logits.argmax(-1).masked_fill(done, PAD)
            ids.append(prev)
            done = done | (prev == EOS)
        return torch.stack(ids, 1)


def caption_loss(logits: torch.Tensor, targets: torch.Tensor, alphas: torch.Tensor,
                 attention_reg: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy over the real words (and <eos>), plus Xu et al.'s doubly stochastic
    penalty sum_i (1 - sum_t alpha_ti)^2 over the real steps: (total, cross-entropy)."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=PAD)
    if attention_reg == 0:
        return ce, ce
    mask = (targets != PAD).float()[..., None]
    penalty = ((1 - (alphas.float() * mask).sum(1)) ** 2).sum(1).mean()
    return ce + attention_reg * penalty, ce
