"""``workbench explain`` for language models: which earlier tokens raised the probability of
each generated one.

The model continues a prompt; then, for every generated token x_t, the log-probability the model
gave it, log p(x_t | x_<t), is attributed to the embeddings of the tokens before it (up to
block_size of them), from an all-zero embedding baseline. Captum's interpretable embedding layer
lets the attribution methods see embeddings as the input. The result is an HTML page: one line
per generated token, its context coloured red where a token raised the probability and blue
where it lowered it (each line on its own scale), and the whole text with a tooltip per token.
Works for the GPT and the LSTM alike (generators/seq/models.py).
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from workbench.explain import SIGNED, Output, attribute, captum_attr, colorize, scale
from workbench.generators.seq.config import SequenceExplainOptions

if TYPE_CHECKING:
    from collections.abc import Iterator

    from workbench.generators.seq.plugin import SequenceLM

EMBEDDINGS = {"GPT": "wte", "RecurrentLM": "embed"}  # each model's token-embedding layer


@contextmanager
def embeddings_as_input(model: torch.nn.Module) -> Iterator[Callable[[torch.Tensor], torch.Tensor]]:
    """While open, ``model`` takes token embeddings (B, T, D) instead of ids; yields the map
    from ids to embeddings. The original embedding layer is put back on exit."""
    attr = captum_attr()
    with warnings.catch_warnings():  # Captum announces the swap; it is undone below
        warnings.simplefilter("ignore")
        layer = attr.configure_interpretable_embedding_layer(model, EMBEDDINGS[type(model).__name__])
    try:
        yield layer.indices_to_embeddings
    finally:
        attr.remove_interpretable_embedding_layer(model, layer)


def token_attributions(model: torch.nn.Module, ids: list[int], start: int, method: str,
                       steps: int, context: int, device: torch.device) -> list[np.ndarray]:
    """For each position t >= ``start``: the attribution of log p(ids[t] | ids[:t]) to each of
    the (up to ``context``) tokens before it, one number per token."""
    model.eval()
    out = []
    # cuDNN's LSTM has no backward in eval mode; the native kernel does
    with embeddings_as_input(model) as embed, torch.backends.cudnn.flags(enabled=False):
        for t in range(start, len(ids)):
            window = torch.tensor([ids[max(0, t - context):t]], device=device)
            target = ids[t]

            def log_p(emb: torch.Tensor, target: int = target) -> torch.Tensor:
                logits, _ = model(emb)
                return logits[:, -1].float().log_softmax(-1)[:, target]

            emb = embed(window).detach()
            a = attribute(log_p, emb, method, baseline=0.0, steps=steps,
                          window=(1, emb.shape[-1]))
            # a token's part: the sum over its embedding (integrated gradients' completeness
            # holds per token); occlusion gives each element the whole token's effect
            out.append((a[0].mean(-1) if method == "occlusion" else a[0].sum(-1)).cpu().numpy())
    return out


def explain(plugin: SequenceLM, step: int, out: Path | None, opts: SequenceExplainOptions,
            prompt: list[int], token_text: Callable[[int], str]) -> str:
    """Generate ``opts.n`` tokens after ``prompt``, attribute each, write the HTML page."""
    s = plugin.cfg.sample
    temperature = s.temperature if opts.temperature is None else opts.temperature
    ids = plugin.generate(prompt, opts.n, temperature, s.top_k, s.top_p, seed=opts.seed)
    model, context = plugin.model, plugin.cfg.model.block_size
    attr = token_attributions(model, ids, len(prompt), opts.method, opts.steps, context,
                              plugin.ctx.device)
    probs = _token_probs(model, ids, len(prompt), context, plugin.ctx.device)
    page = page_html(ids, len(prompt), attr, probs, context, token_text, opts.method in SIGNED,
                     f"{type(model).__name__} at step {step:,}: {opts.method} of log p(token) "
                     f"on the embeddings of the tokens before it (temperature {temperature:g}, "
                     f"seed {opts.seed})")
    output = Output(plugin.ctx.logger, out, step)
    output.html(f"{opts.method}_tokens", page)
    output.image(f"{opts.method}_tokens", rows_picture(
        ids, len(prompt), attr, probs, context, token_text, opts.method in SIGNED,
        f"{opts.method}: which earlier characters raised p(boxed character); red up, blue down"))
    text = "".join(token_text(i) for i in ids)
    top = [_top(attr[k], ids, len(prompt) + k, context, token_text) for k in range(len(attr))]
    lines = [f"explained {len(attr)} generated tokens with {opts.method}:", text, "",
             "strongest earlier token per generated token (first 10): " + "; ".join(top[:10])]
    return output.report(lines)


def _token_probs(model: torch.nn.Module, ids: list[int], start: int, context: int,
                 device: torch.device) -> list[float]:
    """p(ids[t] | the context before it) for each t >= start: what the model gave each token."""
    probs = []
    with torch.no_grad():
        for t in range(start, len(ids)):
            logits, _ = model(torch.tensor([ids[max(0, t - context):t]], device=device))
            probs.append(float(logits[0, -1].float().softmax(-1)[ids[t]]))
    return probs


def _top(a: np.ndarray, ids: list[int], t: int, context: int, token_text: Callable[[int], str]) -> str:
    first = max(0, t - context)
    k = int(np.argmax(a))
    return f"{_show(token_text(ids[t]))}<-{_show(token_text(ids[first + k]))} ({a[k]:+.2f})"


def _show(text: str) -> str:
    """Whitespace made visible for the one-line report."""
    return text.replace("\n", "\\n").replace(" ", "_")


# --------------------------------------------------------------------------- the page

CSS = """
body { font-family: sans-serif; margin: 1.2em; }
.row { font-family: monospace; white-space: pre; line-height: 1.45; }
.tgt { outline: 2px solid #222; font-weight: bold; }
.p { color: #777; font-size: 80%; }
.text { font-family: monospace; white-space: pre-wrap; border: 1px solid #ccc; padding: .6em; }
.prompt { font-weight: bold; }
.nl { color: #999; }
"""


def _span(text: str, rgb: tuple[int, int, int] | None = None, cls: str = "", title: str = "") -> str:
    shown = html.escape(text).replace("\n", '<span class="nl">\u23ce</span>')
    style = f' style="background: rgb{rgb}"' if rgb is not None else ""
    klass = f' class="{cls}"' if cls else ""
    tip = f' title="{html.escape(title)}"' if title else ""
    return f"<span{klass}{style}{tip}>{shown}</span>"


def page_html(ids: list[int], start: int, attr: list[np.ndarray], probs: list[float],
              context: int, token_text: Callable[[int], str], signed: bool, title: str) -> str:
    """The whole text with a tooltip per generated token, then one coloured line per token."""
    text = [_span(token_text(i), cls="prompt") for i in ids[:start]]
    rows = []
    for k, (a, p) in enumerate(zip(attr, probs)):
        t = start + k
        first = max(0, t - context)
        colours = colorize(scale(a, signed), signed)
        top = np.argsort(-a)[:3]
        tip = f"p={p:.2f}; raised most by " + ", ".join(
            f"'{_show(token_text(ids[first + j]))}' ({a[j]:+.2f})" for j in top)
        text.append(_span(token_text(ids[t]), title=tip))
        cells = "".join(_span(token_text(ids[first + j]), tuple(int(c) for c in colours[j]))
                        for j in range(len(a)))
        rows.append(f'<div class="row">{cells}{_span(token_text(ids[t]), cls="tgt")} '
                    f'<span class="p">p={p:.2f}</span></div>')
    legend = ("red: raised the probability of the boxed token, blue: lowered it" if signed
              else "brighter: more influence on the boxed token's probability")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>workbench explain</title>"
            f"<style>{CSS}</style></head><body><h3>{html.escape(title)}</h3>"
            f"<div class='text'>{''.join(text)}</div>"
            f"<p>Each line: the context of a generated token, then the token (boxed) and the "
            f"probability the model gave it. {legend}; each line on its own scale.</p>"
            f"{''.join(rows)}</body></html>")



def rows_picture(ids: list[int], start: int, attr: list[np.ndarray], probs: list[float],
                 context: int, token_text: Callable[[int], str], signed: bool, title: str,
                 max_rows: int = 32) -> np.ndarray:
    """The page's first ``max_rows`` lines as a picture (for W&B's media panel and the docs):
    one monospace cell per token, its background the attribution's colour."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans Mono"), 13)
    cw, ch, pad = 9, 17, 6
    rows = list(zip(attr, probs))[:max_rows]
    width = max(len(a) for a, _ in rows) + 1
    columns = max(width + 8, len(title))
    image = Image.new("RGB", (2 * pad + columns * cw, 2 * pad + (len(rows) + 1) * ch), "white")
    draw = ImageDraw.Draw(image)
    draw.text((pad, pad), title, fill="black", font=font)
    for r, (a, p) in enumerate(rows):
        t, y = start + r, pad + (r + 1) * ch
        first = max(0, t - context)
        colours = colorize(scale(a, signed), signed)
        x0 = pad + (width - 1 - len(a)) * cw  # right-aligned: the boxed tokens form a column
        for j in range(len(a)):
            x = x0 + j * cw
            draw.rectangle([x, y, x + cw - 1, y + ch - 2], fill=tuple(int(c) for c in colours[j]))
            draw.text((x, y), _glyph(token_text(ids[first + j])), fill="black", font=font)
        x = x0 + len(a) * cw
        draw.rectangle([x - 1, y - 1, x + cw, y + ch - 1], outline="black")
        draw.text((x, y), _glyph(token_text(ids[t])), fill="black", font=font)
        draw.text((x + 2 * cw, y), f"p={p:.2f}", fill=(110, 110, 110), font=font)
    return np.asarray(image)


def _glyph(text: str) -> str:
    """One visible character per token cell."""
    return "\u21b5" if text == "\n" else (text[:1] or " ")
