"""The CUDA code paths: device and precision resolution, loss scaling, pinned-memory batches.

Tests marked ``cuda`` skip where torch sees no GPU (see conftest.py); the others pin, on the CPU,
the CUDA-side decisions that can be checked without one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.plugin import _restore


def test_auto_device_on_a_cuda_machine_turns_on_cudnn_autotuning(monkeypatch):
    from workbench.runtime import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert resolve_device("auto") == torch.device("cuda")
    # device=auto picks the GPU for every default run: it must be set up as device=cuda is
    assert torch.backends.cudnn.benchmark is True


def test_an_fp16_resume_of_a_checkpoint_without_loss_scaling_starts_a_fresh_scaler():
    saved = torch.amp.GradScaler("cpu", enabled=False).state_dict()  # a bf16 / CPU run's scaler
    assert saved == {}
    scaler = torch.amp.GradScaler("cpu", enabled=True, init_scale=1024.0)  # as fp16 on CUDA
    assert _restore(scaler, saved) is scaler
    assert scaler.is_enabled() and scaler.get_scale() == 1024.0
    # a real saved scale is still restored
    other = torch.amp.GradScaler("cpu", enabled=True, init_scale=8.0)
    other.scale(torch.ones(()))  # materialise the scale tensor, as a training step does
    _restore(other, {**scaler.state_dict(), "scale": 32.0})
    assert other.get_scale() == 32.0


def test_torchrun_with_more_processes_than_gpus_stops_every_rank_with_a_clear_error(monkeypatch):
    from workbench import distributed
    from workbench.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for rank in ("0", "1"):  # rank 0 too: it would otherwise wait for rank 1 in the group's set-up
        for k, v in {"WORLD_SIZE": "2", "RANK": rank, "LOCAL_RANK": rank, "LOCAL_WORLD_SIZE": "2"}.items():
            monkeypatch.setenv(k, v)
        with pytest.raises(ConfigError, match=r"2 processes .* 1 GPU.*--nproc-per-node 1.*device=cpu"):
            distributed.init("auto")
    assert not distributed.is_initialized()


@pytest.mark.cuda
def test_auto_precision_on_cuda_is_bf16_autocast_and_fp16_gets_an_enabled_scaler():
    from workbench.runtime import resolve_device, resolve_precision

    device = resolve_device("auto")
    assert device.type == "cuda"
    p = resolve_precision("auto", device)
    assert p.name == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    with p.autocast():
        out = torch.ones(4, 4, device=device) @ torch.ones(4, 4, device=device)
    assert out.dtype == p.dtype
    assert resolve_precision("fp16", device).grad_scaler().is_enabled()
    assert not resolve_precision("bf16", device).grad_scaler().is_enabled()


@pytest.mark.cuda
def test_dqn_batches_reach_the_gpu_through_pinned_memory_unchanged(tmp_path):
    from workbench.config import to_dict
    from workbench.engine import loop
    from workbench.engine.runs import RunDir
    from workbench.logger import Logger

    spec, cfg, plugin_cls, group = loop.prepare(
        "dqn-pong", {**spec_smoke("dqn-pong"), "device": "cuda", "precision": "bf16"})
    run = RunDir.create(group, "pinned", dict(plugin=spec.name, preset="dqn-pong", wandb_id="t",
                                              created=0.0, tags=[], project="workbench"),
                        to_dict(cfg), root=tmp_path)
    agent = loop.build_plugin(run, run.read_info(), spec, cfg, plugin_cls,
                              Logger(run.path, wandb_mode="disabled", metrics=False))
    try:
        for step in range(0, 400, agent.steps_per_call):
            agent.train_step(step)
        batch = agent.buffer.sample(8, channels_last=True)
        on_gpu = agent._to_device(batch["obs"], nhwc=True)
        torch.cuda.synchronize()
        assert on_gpu.device.type == "cuda"
        assert on_gpu.is_contiguous(memory_format=torch.channels_last)
        np.testing.assert_array_equal(on_gpu.cpu().permute(0, 2, 3, 1).numpy(), batch["obs"])
        metrics = agent.update()
        assert torch.isfinite(metrics["train/loss"]).item()
    finally:
        agent.close()


@pytest.mark.cuda
def test_cuda_rng_states_are_restored_for_the_gpus_that_exist():
    from workbench.runtime import rng_state, set_rng_state

    torch.cuda.init()
    state = rng_state()
    a = torch.rand(3, device="cuda")
    extra = {**state, "cuda": [*state["cuda"], state["cuda"][0]]}  # saved on one GPU more
    set_rng_state(extra)
    assert torch.equal(torch.rand(3, device="cuda"), a)


def spec_smoke(name: str) -> dict:
    from workbench import registry

    spec, preset = registry.resolve(name)
    return {**spec.smoke, **(preset.smoke if preset else {})}
