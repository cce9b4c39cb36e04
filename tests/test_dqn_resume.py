"""Resume of a DQN Atari run is exact: the agent rebuilt from the checkpoint file by a fresh
plugin is bitwise the one that was saved, and it keeps being so while it trains on.

The only thing a resume changes on purpose is that the envs start new games (and the buffer cuts
the slot that has no stored successor). So the saved agent, given the same env restart, and
the resumed agent must take the same actions, compute the same losses and end with the same
networks, Adam moments and buffer. docs/dqn.md ("Why the earlier resume collapsed") tells
the story: an evaluation that swung after a resume was the preset's own variance, not the resume."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import torch

from workbench.config import to_dict
from workbench.engine import checkpoint, loop
from workbench.engine.runs import RunDir
from workbench.logger import Logger
from workbench.runtime import rng_state, set_rng_state

pytestmark = pytest.mark.slow  # Atari DQN runs trained, saved and resumed step by step

# a wrapped 200-slot ring, updates from step 200, a target copy every 100 steps, epsilon at its
# floor by the save, so the actions compared below are the Q-network's own choices; the learning
# rate still falling across the resume (to step 1,000)
SMALL = {"buffer_size": 400, "learning_starts": 200, "env.num_envs": 2, "torch_threads": 1,
         "target_network_frequency": 100, "exploration_steps": 400, "eval_video": False,
         "batch_size": 8, "lr_decay_steps": 1_000, "end_lr": 1e-5}
SAVE_AT, MORE = 600, 200


def _build(root: Any, precision: str, prioritized: bool = False) -> tuple[RunDir, Any, Any, Any]:
    spec, cfg, plugin_cls, group = loop.prepare(
        "dqn-pong", {**SMALL, "precision": precision, "prioritized_replay": prioritized})
    info = dict(plugin=spec.name, preset="dqn-pong", wandb_id="test", created=time.time(),
                tags=[], project="workbench")
    run = RunDir.create(group, "resume", info, to_dict(cfg), root=root)
    logger = Logger(run.path, wandb_mode="disabled", metrics=False)
    return run, spec, cfg, loop.build_plugin(run, run.read_info(), spec, cfg, plugin_cls, logger)


def _train(agent: Any, step: int, steps: int) -> tuple[int, list[np.ndarray], list[float]]:
    """Train ``steps`` env steps; return the actions taken and the losses. Also check that the
    stack each action was taken from is the stack the buffer rebuilds for that slot."""
    actions, losses = [], []
    b = agent.buffer
    for _ in range(steps // agent.steps_per_call):
        t, seen = b.t, agent.obs.copy()
        losses.append(float(agent.train_step(step).get("train/loss", np.nan)))
        step += agent.steps_per_call
        actions.append(b.actions[t % b.slots].copy())
        rebuilt = b.stacks(np.full(b.num_envs, t), np.arange(b.num_envs))
        np.testing.assert_array_equal(rebuilt, seen)
    return step, actions, losses


def _fixed_batch(agent: Any) -> torch.Tensor:
    low, high = agent.buffer._valid_range()
    g = np.random.default_rng(123)
    t = g.integers(low, high + 1, 32)
    env = g.integers(0, agent.buffer.num_envs, 32)
    return agent._to_device(agent.buffer.stacks(t, env))


def _assert_same_agent(a: Any, b: Any) -> None:
    obs = _fixed_batch(a)
    with torch.no_grad(), a.ctx.autocast():
        assert torch.equal(a.q(obs), b.q(obs)), "online Q-values differ"
        assert torch.equal(a.q_target(obs), b.q_target(obs)), "target Q-values differ"
    for p, q in zip(a.q.parameters(), b.q.parameters()):
        sa, sb = a.opt.state[p], b.opt.state[q]
        assert torch.equal(sa["exp_avg"], sb["exp_avg"]) and torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
        assert torch.equal(sa["step"], sb["step"])
        assert sb["step"].dtype == torch.float32  # what fused Adam expects
        if q.dim() == 4:  # the layout the convolutions were tuned for survives the load
            assert q.is_contiguous(memory_format=torch.channels_last)
            assert sb["exp_avg"].is_contiguous(memory_format=torch.channels_last)
    assert a.opt.param_groups[0]["fused"] == b.opt.param_groups[0]["fused"]
    assert a.opt.param_groups[0]["lr"] == b.opt.param_groups[0]["lr"]
    for name in ("frames", "actions", "rewards", "first", "terminal", "truncated", "dead"):
        np.testing.assert_array_equal(getattr(a.buffer, name), getattr(b.buffer, name), err_msg=name)
    assert a.buffer.t == b.buffer.t
    if a.buffer.tree is not None:  # prioritized: every sum and the entry priority
        np.testing.assert_array_equal(a.buffer.tree.tree, b.buffer.tree.tree)
        assert a.buffer.max_priority == b.buffer.max_priority
    assert a.buffer.rng.bit_generator.state == b.buffer.rng.bit_generator.state
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert (a.updates, a.update_credit, a.evaluations) == (b.updates, b.update_credit, b.evaluations)


# CPU autocast on and off; uniform and prioritized replay (its sum tree saved and drawn from)
@pytest.mark.parametrize(("precision", "prioritized"), [("bf16", False), ("fp32", True)])
def test_a_resumed_dqn_atari_agent_trains_on_bitwise_like_the_saved_one(tmp_path, precision, prioritized):
    run, spec, cfg, live = _build(tmp_path, precision, prioritized)
    assert (live.buffer.tree is not None) == prioritized
    assert live.ctx.precision.name == precision
    step, _, _ = _train(live, 0, SAVE_AT)
    assert live.buffer.t > live.buffer.slots, "the ring should have wrapped by the save"
    assert live.updates > 50
    checkpoint.save({"plugin": spec.name, "config": to_dict(cfg), "step": step, "elapsed": 0.0,
                     "rng": rng_state(), "state": live.state_dict()}, run.checkpoint)

    # what `workbench resume` does: a fresh plugin (its envs reset), the file loaded, RNGs set
    resumed, _, resumed_step = loop.load_for_inference(run.path)
    set_rng_state(checkpoint.load(run.checkpoint)["rng"])
    assert resumed_step == step
    assert resumed.epsilon(step) == live.epsilon(step)
    # the same restart, done to the live agent: new games, the unfinished slot cut
    live.obs, live.obs_first = live.env.reset(), np.ones(live.env.num_envs, bool)
    live.buffer.cut_episodes()
    np.testing.assert_array_equal(resumed.obs, live.obs)
    _assert_same_agent(live, resumed)

    # then they train on identically (updates, a target copy, new episodes in the buffer)
    updates_before, lr_at_save = live.updates, live.opt.param_groups[0]["lr"]
    assert lr_at_save < live.cfg.lr
    _, live_actions, live_losses = _train(live, step, MORE)
    _, resumed_actions, resumed_losses = _train(resumed, step, MORE)
    assert live.updates - updates_before == MORE // 4
    np.testing.assert_array_equal(np.array(live_actions), np.array(resumed_actions))
    np.testing.assert_array_equal(np.array(live_losses), np.array(resumed_losses))
    _assert_same_agent(live, resumed)  # the learning rate among the rest
    assert resumed.opt.param_groups[0]["lr"] < lr_at_save
    live.close()
    resumed.close()
