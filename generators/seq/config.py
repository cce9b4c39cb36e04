"""Config dataclasses shared by the sequence generators (text and music). Light: no torch.

A sequence run is ``model`` (which network), ``optim`` (AdamW + warmup/cosine schedule),
``data`` (the corpus; one class per domain) and ``sample`` (what ``evaluate`` generates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from workbench.config import RunConfig
from workbench.errors import ConfigError


@dataclass
class ModelConfig:
    arch: Literal["gpt", "lstm"] = "gpt"
    """gpt = decoder-only transformer (nanoGPT); lstm = multi-layer LSTM language model"""
    n_layer: int = 4
    """transformer blocks or LSTM layers"""
    n_head: int = 4
    """attention heads (gpt)"""
    n_embd: int = 128
    """embedding width (gpt: also the residual width)"""
    hidden: int = 512
    """LSTM hidden size (lstm)"""
    block_size: int = 64
    """context length in tokens: training blocks and the GPT's attention window"""
    dropout: float = 0.0
    """dropout on embeddings, attention, residuals (gpt) or between layers (lstm)"""
    bias: bool = False
    """biases in the GPT's Linear and LayerNorm layers (nanoGPT: False is a bit better and faster)"""


@dataclass
class OptimConfig:
    batch_size: int = 12
    """blocks per training step"""
    lr: float = 1e-3
    """peak AdamW learning rate"""
    min_lr_ratio: float = 0.1
    """the cosine schedule ends at lr * min_lr_ratio"""
    warmup_steps: int = 100
    """linear warm-up steps from 0 to lr"""
    schedule: Literal["cosine", "constant"] = "cosine"
    """lr after warm-up: cosine decay to total_steps, or constant"""
    decay_steps: int = 0
    """step at which the cosine reaches its minimum (0 = total_steps; nanoGPT's lr_decay_iters)"""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay on matrices (not on biases, norms)"""
    beta1: float = 0.9
    """AdamW beta1"""
    beta2: float = 0.99
    """AdamW beta2 (0.99: small batches of few tokens, as nanoGPT's shakespeare_char)"""
    max_grad_norm: float = 1.0
    """clip the global gradient norm (0 = off)"""


@dataclass
class SampleConfig:
    tokens: int = 300
    """tokens to generate in each evaluation sample"""
    temperature: float = 0.8
    """softmax temperature (0 = greedy)"""
    top_k: int = 0
    """keep only the k most likely tokens (0 = off)"""
    top_p: float = 1.0
    """nucleus sampling: keep the smallest set of tokens with this much probability (1 = off)"""


@dataclass
class SequenceSampleOptions:
    prompt: str | None = None
    """text to continue (music: notes written as the tokenizer reads them); default: the run's"""
    tokens: int | None = None
    """tokens to generate (default: the run's sample.tokens)"""
    temperature: float | None = None
    """softmax temperature, 0 = greedy (default: the run's sample.temperature)"""
    top_k: int | None = None
    """keep only the k most likely tokens, 0 = off (default: the run's sample.top_k)"""
    top_p: float | None = None
    """nucleus sampling mass, 1 = off (default: the run's sample.top_p)"""
    seed: int | None = None
    """sampling seed (default: the run's seed)"""


@dataclass
class SequenceConfig(RunConfig):
    # bf16 autocast made the nanoGPT-size GPT step slower on every CPU measured, AMX or not
    # (issue 17: 0.88x with AMX; benchmarks/gpt_speed.py --variants: 0.5x without), so
    # precision=auto stays fp32 on CPU (workbench/precision.py)
    auto_cpu_precision: ClassVar[str] = "fp32"

    SampleOptions: ClassVar[type] = SequenceSampleOptions
    total_steps: int = 2_000
    log_every: int = 50
    eval_every: int = 250
    checkpoint_every: int = 500
    eval_batches: int = 40
    """validation batches (of optim.batch_size blocks) for eval/loss; the blocks are fixed"""
    model: ModelConfig = field(default_factory=ModelConfig)
    """the network"""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """optimizer and schedule"""
    sample: SampleConfig = field(default_factory=SampleConfig)
    """the sample generated at every evaluation"""

    def validate(self) -> None:
        m, o, s = self.model, self.optim, self.sample
        if m.arch == "gpt" and m.n_embd % m.n_head:
            raise ConfigError(
                f"model.n_embd={m.n_embd} must be divisible by model.n_head={m.n_head}."
            )
        for key, value in (("model.n_layer", m.n_layer), ("model.block_size", m.block_size),
                           ("model.n_embd", m.n_embd), ("model.hidden", m.hidden),
                           ("optim.batch_size", o.batch_size), ("eval_batches", self.eval_batches)):
            if value <= 0:
                raise ConfigError(f"config key '{key}' must be positive; got {value}.")
        if not 0 <= m.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1); got {m.dropout}.")
        if s.temperature < 0 or not 0 < s.top_p <= 1 or s.top_k < 0:
            raise ConfigError(
                "sample.temperature must be >= 0, sample.top_p in (0, 1] and sample.top_k >= 0; "
                f"got temperature={s.temperature}, top_p={s.top_p}, top_k={s.top_k}."
            )
