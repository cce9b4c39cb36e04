"""The sequence models train with torch's fused AdamW on CPU, and checkpoints written with the
default (for-loop) AdamW of earlier versions still resume, and go on fused."""

from __future__ import annotations

from pathlib import Path

import torch

from workbench import registry
from workbench.config import build_config
from workbench.engine import checkpoint
from workbench.logger import Logger
from workbench.plugin import Context
from workbench.runtime import resolve_precision

TINY = {"model.n_layer": 1, "model.n_head": 2, "model.n_embd": 32, "model.block_size": 16,
        "optim.batch_size": 4, "eval_batches": 2, "optim.warmup_steps": 2, "total_steps": 20}


def make_text_lm(tmp_path: Path, poem: Path):
    spec, preset = registry.resolve("gpt-shakespeare")
    cfg = build_config(registry.load_config_class(spec), dict(preset.overrides),
                       {**TINY, "data.path": str(poem), "device": "cpu"})
    device = torch.device("cpu")
    ctx = Context(device=device, precision=resolve_precision(cfg.precision, device,
                                                             type(cfg).auto_cpu_precision),
                  logger=Logger(tmp_path, wandb_mode="disabled", metrics=False),
                  run_dir=tmp_path, seed=cfg.seed)
    torch.manual_seed(0)
    return registry.load_plugin_class(spec)(cfg, ctx)


def test_gpt_trains_with_fused_adamw_in_fp32_on_cpu(tmp_path):
    poem = tmp_path / "poem.txt"
    poem.write_text("ROMEO:\nthe quick brown fox jumps over the lazy dog.\n\n" * 50, encoding="utf-8")
    plugin = make_text_lm(tmp_path, poem)
    assert plugin.opt.defaults["fused"] is True
    assert plugin.ctx.precision.name == "fp32"  # auto on CPU for the sequence models
    first = float(plugin.train_step(0)["train/loss"])
    for step in range(1, 20):
        last = float(plugin.train_step(step)["train/loss"])
    assert last < first - 0.5, (first, last)


def test_a_checkpoint_from_the_default_adamw_resumes_and_matches_its_next_step(tmp_path):
    poem = tmp_path / "poem.txt"
    poem.write_text("JULIET:\nsoft, what light through yonder window breaks.\n\n" * 50, encoding="utf-8")
    old = make_text_lm(tmp_path, poem)
    # what earlier versions built on CPU: AdamW's default implementation
    old.opt = torch.optim.AdamW([{"params": g["params"], "weight_decay": g["weight_decay"]}
                                 for g in old.opt.param_groups], lr=1e-3, betas=(0.9, 0.99))
    assert not old.opt.defaults["fused"]
    for step in range(3):
        old.train_step(step)
    checkpoint.save({"state": old.state_dict()}, tmp_path / "old.pt")
    new = make_text_lm(tmp_path, poem)
    new.load_state_dict(checkpoint.load(tmp_path / "old.pt")["state"])  # weights_only, as resume
    assert all(group["fused"] for group in new.opt.param_groups)  # and it goes on fused
    old_loss = float(old.train_step(3)["train/loss"])
    new_loss = float(new.train_step(3)["train/loss"])
    assert abs(old_loss - new_loss) < 1e-5  # same weights, same batch
    for p, q in zip(old.model.parameters(), new.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)  # and the same update
