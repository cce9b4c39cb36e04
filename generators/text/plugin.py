"""Character-level text generation with a GPT or an LSTM (char-rnn, Karpathy 2015; nanoGPT).

``workbench run gpt-shakespeare`` trains nanoGPT's CPU-sized model on the Shakespeare plays;
``workbench sample RUN --prompt "ROMEO:" --tokens 500`` prints text. eval/loss is the validation
cross-entropy in nats per character.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workbench.data.text import load_text
from workbench.errors import UserError
from workbench.generators.seq.config import SequenceExplainOptions, SequenceSampleOptions
from workbench.generators.seq.plugin import SequenceLM
from workbench.generators.seq.tokenizers import CharTokenizer
from workbench.generators.text.config import TextConfig
from workbench.plugin import Serving


class TextLM(SequenceLM[TextConfig]):
    """A character-level language model of a text corpus."""

    def load_corpus(self) -> tuple[np.ndarray, np.ndarray, int]:
        text = load_text(self.cfg.data.path)
        self.tokenizer = CharTokenizer.from_text(text)
        ids = self.tokenizer.encode(text)
        n_val = int(len(ids) * self.cfg.data.val_fraction)
        return ids[: len(ids) - n_val], ids[len(ids) - n_val:], self.tokenizer.vocab_size

    def vocab_state(self) -> str:
        return self.tokenizer.chars

    def eval_prompt(self) -> list[int]:
        return self.tokenizer.encode(self.cfg.prompt or "\n").tolist()

    def log_sample(self, ids: list[int], step: int) -> dict[str, float]:
        self.ctx.logger.log_text("eval/sample", self.tokenizer.decode(ids), step)
        return {}

    def sample(self, out: Path | None, options: SequenceSampleOptions) -> str:
        """Text continuing ``prompt``; printed by the CLI, and written to ``out`` if given."""
        opts, prompt = self.sample_options(options), options.prompt
        text_prompt = self.cfg.prompt or "\n" if prompt is None else prompt
        if not text_prompt:
            raise UserError("--prompt is empty; give at least one character, or leave it out.")
        ids = self.generate(self.tokenizer.encode(text_prompt).tolist(), **opts)
        text = self.tokenizer.decode(ids)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        return text

    def explain(self, step: int, out: Path | None, opts: SequenceExplainOptions) -> str:
        """``workbench explain RUN``: which earlier characters raised the probability of each
        generated one, as an HTML page (generators/seq/explain.py)."""
        from workbench.generators.seq.explain import explain

        text_prompt = (self.cfg.prompt or "\n") if opts.prompt is None else opts.prompt
        if not text_prompt:
            raise UserError("--prompt is empty; give at least one character, or leave it out.")
        prompt = self.tokenizer.encode(text_prompt).tolist()
        return explain(self, step, out, opts, prompt, lambda i: self.tokenizer.chars[i])

    def serving(self) -> Serving:
        """``workbench serve``: POST /generate, a prompt in, the continuation streamed out as it
        is sampled (prompts of a batch are sampled together, generators/seq/serving.py)."""
        from workbench.generators.seq.serving import GenerateRequest, sample_rows, settings

        def prepare(request: GenerateRequest) -> dict[str, Any]:
            prompt = (self.cfg.prompt or "\n") if request.prompt is None else request.prompt
            if not prompt:
                raise UserError("'prompt' is empty; give at least one character, or leave it out.")
            return settings(self, request, self.tokenizer.encode(prompt).tolist())

        def predict(items: list[dict[str, Any]]) -> Iterator[list[str]]:
            for step in sample_rows(self, items):
                yield ["" if t is None else self.tokenizer.chars[t] for t in step]

        return Serving(route="generate", summary="a prompt in, the text that follows it out "
                       "(streamed as it is generated)", request=GenerateRequest, prepare=prepare,
                       predict=predict, output="stream",
                       example={"prompt": self.cfg.prompt, "tokens": 200, "seed": 0})
