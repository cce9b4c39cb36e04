"""Registration of the sequence generators (strings only: no torch import here).

Two plugins, one per domain, each with both model families (``model.arch=gpt|lstm``):
``text-lm`` (characters) and ``music-lm`` (note events). The presets are the runs whose figures
docs/text.md and docs/music.md report.
"""

from __future__ import annotations

from workbench.registry import register, register_preset

_TINY_MODEL = {"model.n_layer": 1, "model.n_head": 2, "model.n_embd": 32, "model.hidden": 32,
               "model.block_size": 32, "optim.batch_size": 4, "eval_batches": 2,
               "sample.tokens": 40}
_SMOKE = {"total_steps": 6, "log_every": 2, "eval_every": 3, "checkpoint_every": 3,
          "optim.warmup_steps": 2, **_TINY_MODEL}

register(
    "text-lm",
    entry_point="workbench.generators.text.plugin:TextLM",
    config="workbench.generators.text.config:TextConfig",
    kind="generator",
    metric="eval/loss",
    goal="min",
    description="character-level language model (GPT or LSTM) of Shakespeare or any text",
    smoke=_SMOKE,
)
register(
    "music-lm",
    entry_point="workbench.generators.music.plugin:MusicLM",
    config="workbench.generators.music.config:MusicConfig",
    kind="generator",
    metric="eval/loss",
    goal="min",
    description="note-event language model (GPT or LSTM) of Bach chorales or MIDI/MusicXML",
    smoke={**_SMOKE, "data.limit": 8},
)

# nanoGPT's CPU model (4 layers, 4 heads, 128 dims, block 64) with a faster recipe: a 4x higher
# peak lr, short warm-up, a cosine decay that ends with the run, and batch 8 instead of 12 (more
# updates per character: at equal tokens, 1.90 vs 1.92 nats; benchmarks/gpt_speed.py --figure loss)
register_preset(
    "gpt-shakespeare", "text-lm",
    "GPT 4x4x128, block 64 (nanoGPT's CPU model), batch 8, on the Shakespeare plays; 2,000 steps",
    **{"model.arch": "gpt", "model.n_layer": 4, "model.n_head": 4, "model.n_embd": 128,
       "model.block_size": 64, "model.dropout": 0.0, "optim.batch_size": 8, "optim.lr": 4e-3,
       "optim.warmup_steps": 50, "total_steps": 2000, "eval_every": 250},
)
register_preset(
    "gpt-shakespeare-gpu", "text-lm",
    "GPT 6x6x384, block 256, dropout 0.2 (nanoGPT's shakespeare_char); for a GPU",
    **{"model.arch": "gpt", "model.n_layer": 6, "model.n_head": 6, "model.n_embd": 384,
       "model.block_size": 256, "model.dropout": 0.2, "optim.batch_size": 64, "optim.lr": 1e-3,
       "optim.warmup_steps": 100, "total_steps": 5000, "eval_every": 500, "eval_batches": 50,
       "checkpoint_every": 1000, "sample.tokens": 500},
)
register_preset(
    "lstm-shakespeare", "text-lm",
    "2-layer LSTM (512 units) char-rnn on the Shakespeare plays",
    **{"model.arch": "lstm", "model.n_layer": 2, "model.n_embd": 128, "model.hidden": 512,
       "model.block_size": 128, "model.dropout": 0.0, "optim.batch_size": 16, "optim.lr": 4e-3,
       "optim.warmup_steps": 50, "optim.weight_decay": 0.0, "total_steps": 1000,
       "eval_every": 250},
)
register_preset(
    "lstm-bach", "music-lm",
    "2-layer LSTM over note events of the soprano lines of the Bach chorales, in C major / A minor",
    **{"model.arch": "lstm", "model.n_layer": 2, "model.n_embd": 64, "model.hidden": 256,
       "model.block_size": 128, "model.dropout": 0.2, "optim.batch_size": 16, "optim.lr": 3e-3,
       "optim.warmup_steps": 50, "optim.weight_decay": 0.0, "total_steps": 1500,
       "eval_every": 500},
)
register_preset(
    "gpt-bach", "music-lm",
    "GPT 4x4x128 over note events of the soprano lines of the Bach chorales, in C major / A minor",
    **{"model.arch": "gpt", "model.n_layer": 4, "model.n_head": 4, "model.n_embd": 128,
       "model.block_size": 128, "model.dropout": 0.1, "optim.batch_size": 16, "optim.lr": 2e-3,
       "optim.warmup_steps": 50, "total_steps": 1500, "eval_every": 500},
)
