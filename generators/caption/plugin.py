"""Image captioning on the common loop: a CNN encoder and an attention LSTM (or GRU) decoder
(Vinyals et al. 2015, "Show and Tell"; Xu et al. 2015, "Show, Attend and Tell").

``workbench run caption-digits`` trains on captioned digit scenes made by code and scores, at
every evaluation, corpus BLEU-1..4 and exact match on scenes whose colour-digit pairs never
appear in training, beside the nearest-neighbour and most-frequent-caption baselines (eval/nn_*,
eval/frequent_*) and the model on new scenes of trained pairs (eval/seen_*). eval/bleu4 is the
primary metric. ``workbench sample RUN --image F [--beam N]`` captions an image file;
``workbench explain RUN [--image F]`` draws the attention map of every word; ``workbench eval
RUN --split test --beam 3`` prints the score table.

A training step draws ``batch_size`` reference captions (every reference of every image is an
example) with their images and minimises the cross-entropy of each next word under teacher
forcing, with Adam, a linear warm-up and a cosine decay. Under torchrun the model is a DDP
wrapper and every rank trains on its shard of the global batch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.data.images import to_float
from workbench.errors import CheckpointError, UserError
from workbench.generators.caption import metrics
from workbench.generators.caption.config import (
    CaptionConfig,
    CaptionEvalOptions,
    CaptionExplainOptions,
    CaptionSampleOptions,
)
from workbench.generators.caption.data import (
    PAD,
    CaptionSet,
    Vocabulary,
    karpathy,
    read_image,
    scenes,
    square_array,
)
from workbench.generators.caption.model import (
    CaptionModel,
    GreedyCaptioner,
    beam_search,
    caption_loss,
    greedy,
    precise_batchnorm,
)
from workbench.plugin import Context, Plugin, Serving
from workbench.runtime import fused_optimizer_ok, optimizer_step, warmup_cosine_lr


class Captioner(Plugin[CaptionConfig]):
    """Writes a sentence about an image: CNN encoder, soft attention, recurrent decoder."""

    def __init__(self, cfg: CaptionConfig, ctx: Context) -> None:
        super().__init__(cfg, ctx)
        metrics.require_nltk()
        self._sets: dict[str, CaptionSet] = {}
        train = self.split("train")
        self.vocab = Vocabulary.build(train.refs, cfg.data.min_word_count, cfg.data.max_vocab)
        # every reference of every training image is one example: (image index, padded ids)
        pairs = [(i, self.vocab.encode(c, cfg.data.max_words))
                 for i, refs in enumerate(train.refs) for c in refs if c]
        if not pairs:
            raise UserError(f"{train.description}: no image has a non-empty caption to learn from.")
        longest = max(len(ids) for _, ids in pairs)
        captions = torch.full((len(pairs), longest), PAD, dtype=torch.long)
        for row, (_, ids) in enumerate(pairs):
            captions[row, :len(ids)] = torch.tensor(ids)
        self.captions = captions.to(ctx.device)
        self.caption_image = torch.tensor([i for i, _ in pairs], device=ctx.device)
        self.train_images = torch.from_numpy(train.images).to(ctx.device)  # uint8: 4x smaller

        torch.manual_seed(cfg.seed)
        self.model = CaptionModel(len(self.vocab), cfg.width, cfg.embed, cfg.hidden,
                                  cfg.attention, cfg.cell, cfg.dropout).to(ctx.device)
        self.forward = ctx.compile(ctx.ddp(self.model), "caption")
        ctx.local_batch(cfg.batch_size)  # a global batch that does not split fails here
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr,
                                    fused=fused_optimizer_ok(ctx.device))
        self.scaler = ctx.grad_scaler()
        self.batches = torch.Generator().manual_seed(cfg.seed + 1)
        self._last_time: float | None = None

    def split(self, name: str) -> CaptionSet:
        """The captioned images of a split (train, val, test; seen for the scenes), loaded once."""
        if name not in self._sets:
            d, size = self.cfg.data, self.cfg.image_size
            if d.source == "scenes":
                n = d.train_scenes if name == "train" else d.eval_scenes
                self._sets[name] = scenes(name, n, size, d.scene_seed)
            elif name == "seen":
                raise UserError("the seen split (new scenes of trained colour-digit pairs) exists "
                                "for data.source=scenes only; use --split val or test.")
            else:
                self._sets[name] = karpathy(d.path, d.images, name, size, d.limit)
        return self._sets[name]

    # ------------------------------------------------------------------ training
    def train_step(self, step: int) -> dict[str, Any]:
        cfg = self.cfg
        start = self._last_time if self._last_time is not None else time.perf_counter()
        lr = warmup_cosine_lr(step, cfg.lr, cfg.warmup_steps, cfg.total_steps, min_lr=cfg.lr / 10)
        for group in self.opt.param_groups:
            group["lr"] = lr
        # every rank draws the global batch alike and keeps its shard
        rows = self.ctx.shard(torch.randint(len(self.captions), (cfg.batch_size,),
                                            generator=self.batches)).to(self.ctx.device)
        caps = self.captions[rows]
        caps = caps[:, :int((caps != PAD).sum(1).max())]  # no steps that are padding everywhere
        images = to_float(self.train_images[self.caption_image[rows]])
        with self.ctx.autocast():
            logits, alphas = self.forward(images, caps[:, :-1])
        loss, ce = caption_loss(logits, caps[:, 1:], alphas, cfg.attention_reg)
        optimizer_step(loss, self.opt, self.scaler, self.model.parameters(), cfg.max_grad_norm)
        self._last_time = time.perf_counter()
        return {"train/loss": ce.detach(), "train/lr": lr,
                "perf/images_per_s": len(rows) / max(self._last_time - start, 1e-9)}

    def refresh_batchnorm(self, images: int = 512, batch: int = 64) -> None:
        """Exact BatchNorm statistics of the current weights over the first training images
        (model.precise_batchnorm); before every evaluation and every checkpoint."""
        x = self.train_images[:images]
        precise_batchnorm(self.model.encoder, [to_float(c) for c in x.split(batch)])

    # ------------------------------------------------------------------ captioning
    @torch.no_grad()
    def encode(self, images: np.ndarray | torch.Tensor, chunk: int = 256) -> torch.Tensor:
        """uint8 images (N, 3, H, W) -> encoder features (N, L, D), in inference mode."""
        was = self.model.training
        self.model.eval()
        images = torch.as_tensor(images)
        try:
            with self.ctx.autocast():
                return torch.cat([self.model.encoder(to_float(c.to(self.ctx.device))).float()
                                  for c in images.split(chunk)])
        finally:
            self.model.train(was)

    @torch.no_grad()
    def caption(self, images: np.ndarray | torch.Tensor, beam: int = 1
                ) -> tuple[list[list[str]], list[np.ndarray]]:
        """Captions (word lists) of uint8 images, and each one's attention (words + <eos>, L)."""
        feats = self.encode(images)
        decoder, max_words = self.model.decoder, self.cfg.data.max_words
        self.model.eval()
        words, alphas = [], []
        try:
            if beam == 1:
                for part in feats.split(256):
                    ids, att, _ = greedy(decoder, part, max_words)
                    for row, a in zip(ids.tolist(), att):
                        # a caption that never ended is cut at max_words (the last step's
                        # attention then stands for the missing <eos>)
                        caption = self.vocab.decode(row)[:max_words]
                        words.append(caption)
                        alphas.append(a[:len(caption) + 1].float().cpu().numpy())
            else:
                for f in feats:
                    ids, att, _ = beam_search(decoder, f[None], beam, max_words)
                    caption = self.vocab.decode(ids)[:max_words]
                    words.append(caption)
                    alphas.append(att[:len(caption) + 1].float().cpu().numpy())
        finally:
            self.model.train()
        return words, alphas

    def score(self, split: str, beam: int, limit: int = 0) -> dict[str, dict[str, float]]:
        """BLEU-1..4 and exact match of the model and of the two baselines on ``split``."""
        data, train = self.split(split), self.split("train")
        n = min(limit, len(data)) if limit else len(data)
        images, refs = data.images[:n], data.refs[:n]
        hyps, _ = self.caption(images, beam)
        nn = metrics.nearest_neighbours(self.encode(train.images).mean(1), self.encode(images).mean(1))
        frequent = metrics.most_frequent_caption(train.refs)
        name = "model" + (f" (beam {beam})" if beam > 1 else " (greedy)")
        return {name: metrics.scores(refs, hyps),
                "nearest neighbour": metrics.scores(refs, [train.refs[int(i)][0] for i in nn]),
                "most frequent caption": metrics.scores(refs, [frequent] * n)}

    def evaluate(self, step: int) -> dict[str, float]:
        if not self.ctx.is_main:  # only rank 0 logs
            return {}
        cfg = self.cfg
        self.refresh_batchnorm()
        rows = self.score("val", cfg.eval_beam, cfg.eval_images)
        model, nn, frequent = rows.values()
        out = {f"eval/{k}": v for k, v in model.items()}
        out.update({f"eval/nn_{k}": nn[k] for k in ("bleu4", "exact")})
        out.update({f"eval/frequent_{k}": frequent[k] for k in ("bleu4", "exact")})
        if cfg.data.source == "scenes":
            seen = self.split("seen")
            n = min(cfg.eval_images, len(seen))
            hyps, _ = self.caption(seen.images[:n], cfg.eval_beam)
            s = metrics.scores(seen.refs[:n], hyps)
            out.update({"eval/seen_bleu4": s["bleu4"], "eval/seen_exact": s["exact"]})
        val = self.split("val")
        hyps, _ = self.caption(val.images[:8], cfg.eval_beam)
        from workbench.generators.caption.figures import captioned_grid

        self.ctx.logger.log_image("eval/captions", captioned_grid(
            val.images[:8], [" ".join(h) for h in hyps], [" ".join(r[0]) for r in val.refs[:8]]), step)
        self._last_time = None  # evaluation time is not training throughput
        return out

    def eval_report(self, step: int, opts: CaptionEvalOptions) -> str:
        """``workbench eval RUN [--split test] [--beam N] [--images N]``: the score table."""
        data = self.split(opts.split)
        rows = self.score(opts.split, opts.beam, opts.images)
        n = min(opts.images, len(data)) if opts.images else len(data)
        return "\n".join([f"{data.description}; scored on {n:,} images at step {step:,}",
                          *metrics.table(rows)])

    # ------------------------------------------------------------------ user-facing hooks
    def _pick(self, n: int, seed: int) -> tuple[np.ndarray, list[str]]:
        """``n`` held-out val images picked by ``seed``, with their first reference."""
        val = self.split("val")
        pick = np.random.default_rng(seed).permutation(len(val))[:n]
        return val.images[pick], [" ".join(val.refs[i][0]) for i in pick]

    def _image_file(self, path: str) -> np.ndarray:
        return square_array(read_image(path), self.cfg.image_size)[None]

    def sample(self, out: Path | None, opts: CaptionSampleOptions) -> str:
        """``workbench sample RUN --image F [--beam N] [--out caption.txt]``: the caption of
        an image file; without --image, n held-out images in a captioned grid (PNG)."""
        if opts.image is not None:
            words, _ = self.caption(self._image_file(opts.image), opts.beam)
            text = " ".join(words[0])
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(text + "\n", encoding="utf-8")
            return text
        from workbench.generators.caption.figures import captioned_grid
        from workbench.media import save_png

        images, refs = self._pick(opts.n, opts.seed)
        words, _ = self.caption(images, opts.beam)
        captions = [" ".join(w) for w in words]
        path = out or self.ctx.media_dir / f"captions_seed{opts.seed}_n{len(images)}_beam{opts.beam}.png"
        save_png(captioned_grid(images, captions, refs), path)
        return "\n".join([*captions, f"wrote the captioned images to {path}"])

    def explain(self, step: int, out: Path | None, opts: CaptionExplainOptions) -> str:
        """``workbench explain RUN [--image F] [--n 4] [--beam N]``: where the decoder looked for
        each word, as attention maps over the image (one row per image, one panel per word)."""
        from workbench.explain import Output
        from workbench.generators.caption.figures import attention_maps

        images = (self._image_file(opts.image) if opts.image is not None
                  else self._pick(opts.n, opts.seed)[0])
        words, alphas = self.caption(images, opts.beam)
        shown = [[*w, "<end>"] for w in words]
        output = Output(self.ctx.logger, out, step)
        output.image("attention", attention_maps(
            images, shown, alphas, f"soft attention per word at step {step:,} (beam {opts.beam})"))
        return output.report([f"attention maps of {len(images)} caption(s):",
                              *(" ".join(w) for w in words)])

    def serving(self) -> Serving:
        """``workbench serve``: POST /caption, an image in, its caption out (caption/serving.py)."""
        from workbench.generators.caption.serving import caption_serving

        return caption_serving(self)

    def export_module(self) -> tuple[torch.nn.Module, torch.Tensor]:
        """The greedy captioner: images in [-1, 1] -> word ids (decode with the run's vocabulary)."""
        self.model.eval()
        return GreedyCaptioner(self.model, self.cfg.data.max_words), to_float(
            torch.from_numpy(self.split("val").images[:2]))

    # ------------------------------------------------------------------ checkpoints
    # the vocabulary is checked on load, not restored: it comes from the data
    checkpointed = ("model", "opt", "scaler", "batches")

    def state_dict(self) -> dict[str, Any]:
        self.refresh_batchnorm()  # sample, explain and export read the checkpoint in eval mode
        return {**super().state_dict(), "vocab": list(self.vocab.words)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("vocab") != self.vocab.words:
            raise CheckpointError(
                "the checkpoint was trained with another vocabulary than the data gives now (were "
                "data.path, data.min_word_count or the files changed?); point data.* at the original data."
            )
        super().load_state_dict(state)
