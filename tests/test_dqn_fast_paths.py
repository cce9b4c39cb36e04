"""DQN's speed-ups compute what the straightforward code computed: the 1/255 input scale folded
into the first convolution, the NHWC path of ``update`` (the buffer's channels_last stacks are
tested in test_replay_buffer.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tests.test_dqn_agent import make_agent
from workbench.agents.dqn.networks import CompactCNN, NatureCNN


def _reference_forward(net: NatureCNN | CompactCNN, obs: torch.Tensor) -> torch.Tensor:
    """The computation before the fold: scale the frames, then the layers as they are."""
    return net.head(net.features(obs.float() / 255.0))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("net_cls,side", [(NatureCNN, 84), (NatureCNN, 42), (CompactCNN, 42)])
def test_folding_the_input_scale_into_conv1_keeps_outputs_and_gradients(channels_last, net_cls, side):
    torch.manual_seed(0)
    net = net_cls(4, 6, dueling=True, frame_size=(side, side))
    obs = torch.randint(0, 256, (4, 4, side, side), dtype=torch.uint8)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        obs = obs.contiguous(memory_format=torch.channels_last)
    twin = copy.deepcopy(net)
    out, ref = net(obs), _reference_forward(twin, obs)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.square().mean().backward()
    ref.square().mean().backward()
    for (name, p), q in zip(net.named_parameters(), twin.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-7, msg=name)


def test_the_nhwc_update_path_computes_the_same_loss_as_nchw(tmp_path):
    agent = make_agent(tmp_path, "dqn", **{"env.id": "ALE/Pong-v5", "env.num_envs": 2,
                                           "buffer_size": 400, "learning_starts": 0,
                                           "precision": "fp32", "channels_last": True,
                                           "env.noop_max": 0, "double": True, "n_step": 3})
    try:
        for step in range(0, 60, 2):
            agent.buffer.add(agent.obs[:, -1], np.zeros(2, np.int64), np.ones(2, np.float32),
                             agent.obs_first, np.zeros(2, bool), np.zeros(2, bool), np.zeros(2, bool))
            agent.obs, _, _, _, agent.obs_first = agent.env.step(np.array([step % 6, 1]))
        twin = copy.deepcopy(agent.buffer)
        nchw, nhwc = agent.buffer.sample(8), twin.sample(8, channels_last=True)
        args = {}
        for name, batch, flag in (("nchw", nchw, False), ("nhwc", nhwc, True)):
            args[name] = (agent._to_device(batch["obs"], flag), agent._to_device(batch["actions"]),
                          agent._to_device(batch["returns"]), agent._to_device(batch["discounts"]),
                          agent._to_device(batch["next_obs"], flag))
            assert args[name][0].is_contiguous(memory_format=torch.channels_last)
        loss_a, q_a, td_a = agent._loss(*args["nchw"])
        loss_b, q_b, td_b = agent._loss(*args["nhwc"])
        torch.testing.assert_close(td_a, td_b)
        torch.testing.assert_close(loss_a, loss_b)
        torch.testing.assert_close(q_a, q_b)
        assert torch.isfinite(loss_a) and loss_a > 0
    finally:
        agent.close()


def test_the_q_network_keeps_its_state_dict_names():
    # checkpoints written before the fold (and by today's runs) load as they are
    net = NatureCNN(4, 6, dueling=True)
    assert list(net.state_dict()) == [
        "features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias",
        "features.4.weight", "features.4.bias", "head.advantage.0.weight", "head.advantage.0.bias",
        "head.advantage.2.weight", "head.advantage.2.bias", "head.value.0.weight",
        "head.value.0.bias", "head.value.2.weight", "head.value.2.bias"]


def test_an_agent_with_max_resize_sees_and_stores_56x56_frames_that_keep_the_ball_bright(tmp_path):
    # env.resize=max reaches the agent through the env: same shapes as area, the game's own levels
    agent = make_agent(tmp_path, "dqn-pong", **{"env.resize": "max", "env.num_envs": 2,
                                                "buffer_size": 400, "learning_starts": 0,
                                                "batch_size": 8})
    try:
        assert agent.env.obs_shape == (4, 56, 56) and agent.buffer.frames.shape[-2:] == (56, 56)
        for step in range(0, 120, 2):
            agent.train_step(step)
        assert agent.updates > 0 and agent.buffer.t == 60
        stored = set(np.unique(agent.buffer.frames[:60]).tolist())
        assert stored <= {0, 87, 147, 148, 236} and 236 in stored
    finally:
        agent.close()


def test_a_42x42_compact_agent_sees_small_frames_and_stores_them(tmp_path):
    # env.screen_size reaches ale-py's resize; the buffer, the network and the update follow it
    agent = make_agent(tmp_path, "dqn-pong", **{"env.screen_size": 42, "network": "compact",
                                                "env.num_envs": 2, "buffer_size": 400,
                                                "learning_starts": 0, "batch_size": 8})
    try:
        assert agent.env.obs_shape == (4, 42, 42)
        assert isinstance(agent.q, CompactCNN)
        assert agent.buffer.frames.shape[-2:] == (42, 42)
        assert sum(p.numel() for p in agent.q.parameters()) < 300_000  # the Nature CNN: 3.3M
        for step in range(0, 40, 2):
            agent.train_step(step)  # acts, steps the envs, stores and learns, as the loop does
        assert agent.updates > 0
        assert agent.buffer.t == 20 and agent.buffer.frames[19].max() > 0  # 42x42 screens stored
        metrics = agent.update()
        assert torch.isfinite(metrics["train/loss"])
    finally:
        agent.close()
