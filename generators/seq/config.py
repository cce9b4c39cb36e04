"""Config dataclasses shared by the sequence generators (text and music). Light: no torch.

A sequence run is ``model`` (which network), ``optim`` (AdamW + warmup/cosine schedule),
``data`` (the corpus; one class per domain) and ``sample`` (what ``evaluate`` generates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from workbench.config import (
    BatchSize,
    Interval,
    NonNegative,
    Positive,
    Probability,
    RunConfig,
    Seed,
)
from workbench.errors import ConfigError
from workbench.options import AttributionMethod


@dataclass
class ModelConfig:
    arch: Literal["gpt", "lstm"] = "gpt"
    """gpt = decoder-only transformer (nanoGPT); lstm = multi-layer recurrent language model (LSTM or GRU: model.cell)"""
    n_layer: Annotated[int, Positive] = 4
    """transformer blocks or recurrent layers"""
    n_head: Annotated[int, Positive] = 4
    """attention heads (gpt)"""
    n_embd: Annotated[int, Positive] = 128
    """embedding width (gpt: also the residual width)"""
    hidden: Annotated[int, Positive] = 512
    """recurrent hidden size (lstm)"""
    cell: Literal["lstm", "gru"] = "lstm"
    """recurrent cell of arch=lstm: lstm (Hochreiter & Schmidhuber 1997) or gru (Cho et al. 2014)"""
    block_size: Annotated[int, Positive] = 64
    """context length in tokens: training blocks and the GPT's attention window"""
    dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.0
    """dropout on embeddings, attention, residuals (gpt) or between layers (lstm)"""
    bias: bool = False
    """biases in the GPT's Linear and LayerNorm layers (nanoGPT: False is a bit better and faster)"""


@dataclass
class OptimConfig:
    batch_size: Annotated[int, BatchSize] = 12
    """blocks per training step"""
    lr: Annotated[float, Positive] = 1e-3
    """peak AdamW learning rate"""
    min_lr_ratio: Annotated[float, Probability] = 0.1
    """the cosine schedule ends at lr * min_lr_ratio"""
    warmup_steps: Annotated[int, NonNegative] = 100
    """linear warm-up steps from 0 to lr"""
    schedule: Literal["cosine", "constant"] = "cosine"
    """lr after warm-up: cosine decay to total_steps, or constant"""
    decay_steps: Annotated[int, NonNegative] = 0
    """step at which the cosine reaches its minimum (0 = total_steps; nanoGPT's lr_decay_iters)"""
    weight_decay: Annotated[float, NonNegative] = 0.1
    """AdamW decoupled weight decay on matrices (not on biases, norms)"""
    beta1: Annotated[float, Interval(ge=0, lt=1)] = 0.9
    """AdamW beta1"""
    beta2: Annotated[float, Interval(ge=0, lt=1)] = 0.99
    """AdamW beta2 (0.99: small batches of few tokens, as nanoGPT's shakespeare_char)"""
    max_grad_norm: Annotated[float, NonNegative] = 1.0
    """clip the global gradient norm (0 = off)"""


@dataclass
class SampleConfig:
    tokens: Annotated[int, Positive] = 300
    """tokens to generate in each evaluation sample"""
    temperature: Annotated[float, NonNegative] = 0.8
    """softmax temperature (0 = greedy)"""
    top_k: Annotated[int, NonNegative] = 0
    """keep only the k most likely tokens (0 = off)"""
    top_p: Annotated[float, Interval(gt=0, le=1)] = 1.0
    """nucleus sampling: keep the smallest set of tokens with this much probability (1 = off)"""


@dataclass
class SequenceSampleOptions:
    prompt: str | None = None
    """text to continue (music: notes written as the tokenizer reads them); default: the run's"""
    tokens: Annotated[int, Positive] | None = None
    """tokens to generate (default: the run's sample.tokens)"""
    temperature: Annotated[float, NonNegative] | None = None
    """softmax temperature, 0 = greedy (default: the run's sample.temperature)"""
    top_k: Annotated[int, NonNegative] | None = None
    """keep only the k most likely tokens, 0 = off (default: the run's sample.top_k)"""
    top_p: Annotated[float, Interval(gt=0, le=1)] | None = None
    """nucleus sampling mass, 1 = off (default: the run's sample.top_p)"""
    seed: Annotated[int, Seed] | None = None
    """sampling seed (default: the run's seed)"""


@dataclass
class SequenceExplainOptions:
    method: AttributionMethod = "integrated-gradients"
    """Captum method, on the tokens' embeddings (baseline: all-zero embeddings)"""
    prompt: str | None = None
    """text to continue (default: the run's prompt)"""
    n: int = 80
    """tokens to generate and explain"""
    temperature: float | None = None
    """softmax temperature, 0 = greedy (default: the run's sample.temperature)"""
    seed: int = 0
    """sampling seed"""
    steps: int = 32
    """integration steps (integrated-gradients) or noise samples (smoothgrad, gradient-shap)"""

    def validate(self) -> None:
        for name in ("n", "steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"config key '{name}' must be positive; got {getattr(self, name)}.")
        if self.temperature is not None and self.temperature < 0:
            raise ConfigError(f"config key 'temperature' must be >= 0; got {self.temperature}.")


@dataclass
class SequenceConfig(RunConfig):
    # bf16 autocast made the nanoGPT-size GPT step slower on every CPU measured, AMX or not
    # (0.88x on a CPU with AMX; benchmarks/gpt_speed.py --variants: 0.5x without), so
    # precision=auto stays fp32 on CPU (workbench/precision.py)
    auto_cpu_precision: ClassVar[str] = "fp32"

    SampleOptions: ClassVar[type] = SequenceSampleOptions
    total_steps: int = 2_000
    log_every: int = 50
    eval_every: int = 250
    checkpoint_every: int = 500
    eval_batches: Annotated[int, Positive] = 40
    """validation batches (of optim.batch_size blocks) for eval/loss; the blocks are fixed"""
    model: ModelConfig = field(default_factory=ModelConfig)
    """the network"""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """optimizer and schedule"""
    sample: SampleConfig = field(default_factory=SampleConfig)
    """the sample generated at every evaluation"""

    def validate(self) -> None:
        m = self.model
        if m.arch == "gpt" and m.cell != "lstm":
            raise ConfigError(f"model.cell={m.cell} is a choice of the recurrent model; it needs "
                              "model.arch=lstm (the GPT has no recurrent cell).")
        if m.arch == "gpt" and m.n_embd % m.n_head:
            raise ConfigError(
                f"model.n_embd={m.n_embd} must be divisible by model.n_head={m.n_head}."
            )
