"""Caption scores: corpus BLEU-1..4 and exact match, and the two baselines a captioning paper
reports beside its model.

BLEU (Papineni et al. 2002) is nltk's ``corpus_bleu``: modified n-gram precisions pooled over
the corpus, their geometric mean, and a brevity penalty against the reference closest in length.
nltk rather than sacrebleu because captions are scored on words, not on detokenized text, with
a varying number of references per image (one or two per scene, five in COCO): ``corpus_bleu``
takes word lists and ragged reference lists as they are, as the COCO caption evaluation does,
where sacrebleu re-tokenizes strings and wants the same number of reference streams for every
sentence. No smoothing: an order with no matching n-gram makes BLEU 0, as in the papers. (nltk
counts a hypothesis shorter than n words as one unmatched n-gram, a quirk that only matters for
captions of fewer than four words.)

Baselines (Devlin et al. 2015, "Exploring nearest neighbor approaches for image captioning"):
the caption of the training image closest in the encoder's feature space (cosine of the mean
feature), and the most frequent training caption for every image. On held-out word pairs
neither can be exactly right: both can only repeat training captions.
"""

from __future__ import annotations

import warnings
from collections import Counter

import torch

from workbench.errors import UserError

Refs = list[list[list[str]]]  # per image, its references as word lists
ORDERS = (1, 2, 3, 4)


def require_nltk() -> None:
    """A clear error, naming the extra, when nltk is missing (checked when a run starts)."""
    try:
        import nltk.translate.bleu_score  # noqa: F401
    except ImportError:
        raise UserError("the captioning plugin scores BLEU with nltk, which is not installed: "
                        "pip install 'workbench[caption]' (`.[all]` has it too), or pip install "
                        "nltk.") from None


def bleu(refs: Refs, hyps: list[list[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 of the hypotheses against their references: {"bleu1": ..., ...}."""
    require_nltk()
    from nltk.translate.bleu_score import corpus_bleu

    if not hyps:
        return {f"bleu{n}": 0.0 for n in ORDERS}
    weights = [tuple([1.0 / n] * n) for n in ORDERS]
    with warnings.catch_warnings():  # nltk warns when an order has no match (BLEU is then 0)
        warnings.simplefilter("ignore")
        scores = corpus_bleu(refs, hyps, weights=weights)
    # with no match at some order nltk returns ~1e-78..1e-231 (it stands in a tiny number for
    # log 0); the score is 0
    return {f"bleu{n}": float(s) if s > 1e-9 else 0.0 for n, s in zip(ORDERS, scores)}


def exact_match(refs: Refs, hyps: list[list[str]]) -> float:
    """The share of hypotheses equal to one of their references."""
    return sum(h in r for r, h in zip(refs, hyps)) / max(len(hyps), 1)


def scores(refs: Refs, hyps: list[list[str]]) -> dict[str, float]:
    return {**bleu(refs, hyps), "exact": exact_match(refs, hyps)}


def most_frequent_caption(refs: Refs) -> list[str]:
    """The commonest reference caption (ties: the first in sorted order, so it is stable)."""
    counts = Counter(tuple(c) for image in refs for c in image)
    top = max(counts.values())
    return list(min(c for c, n in counts.items() if n == top))


@torch.no_grad()
def nearest_neighbours(train: torch.Tensor, query: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """For each query vector (Q, D), the index of the most cosine-similar train vector (N, D)."""
    train = torch.nn.functional.normalize(train.float(), dim=1)
    query = torch.nn.functional.normalize(query.float(), dim=1)
    return torch.cat([(q @ train.T).argmax(1) for q in query.split(chunk)])


def table(rows: dict[str, dict[str, float]]) -> list[str]:
    """The score table: one row per captioner, BLEU-1..4 and exact match."""
    width = max(len(name) for name in rows)
    lines = [f"{'':<{width}}  BLEU-1  BLEU-2  BLEU-3  BLEU-4   exact"]
    for name, s in rows.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{s[f'bleu{n}']:6.3f}" for n in ORDERS)
                     + f"  {s['exact']:6.3f}")
    return lines
