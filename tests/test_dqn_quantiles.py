"""QR-DQN (``num_quantiles``): the quantile Huber loss, the head's Q-values as its quantiles'
mean, the distributional n-step target, and export of a quantile network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.test_dqn_agent import make_agent
from workbench import registry
from workbench.agents.dqn import pretrained
from workbench.agents.dqn.agent import quantile_huber_loss
from workbench.agents.dqn.networks import MLP, NatureCNN
from workbench.commands.cli import main
from workbench.config import build_config
from workbench.engine.loop import Launch, load_for_inference, start
from workbench.errors import ConfigError


def by_hand(q: torch.Tensor, t: torch.Tensor, kappa: float) -> list[float]:
    """Dabney et al. 2018, eq. 10, one sample at a time: sum over i of the mean over j of
    |tau_i - 1{u < 0}| * Huber_kappa(u) / kappa, u = t_j - q_i, tau_i = (2i + 1) / 2N."""
    n, out = q.shape[1], []
    for b in range(q.shape[0]):
        total = 0.0
        for i in range(n):
            tau = (2 * i + 1) / (2 * n)
            terms = []
            for j in range(t.shape[1]):
                u = float(t[b, j] - q[b, i])
                huber = 0.5 * u * u if abs(u) <= kappa else kappa * (abs(u) - 0.5 * kappa)
                terms.append(abs(tau - (u < 0)) * huber / kappa)
            total += sum(terms) / len(terms)
        out.append(total)
    return out


@pytest.mark.parametrize("kappa", [1.0, 0.3])
def test_the_quantile_huber_loss_is_the_papers_sum_by_hand(kappa):
    g = torch.Generator().manual_seed(0)
    q, t = torch.randn(3, 4, generator=g), 2 * torch.randn(3, 5, generator=g)
    np.testing.assert_allclose(quantile_huber_loss(q, t, kappa).numpy(), by_hand(q, t, kappa),
                               rtol=1e-5)


def test_minimising_the_loss_puts_the_quantiles_at_the_samples_quantiles():
    # with a small kappa the quantile Huber loss is the quantile (pinball) loss, whose minimiser
    # at tau_i is the tau_i-quantile of the samples
    g = torch.Generator().manual_seed(1)
    samples = 3 * torch.randn(1, 4_000, generator=g) + 1
    q = torch.zeros(1, 8, requires_grad=True)
    opt = torch.optim.Adam([q], lr=0.05)
    for _ in range(1_500):
        opt.zero_grad()
        quantile_huber_loss(q, samples, kappa=0.01).sum().backward()
        opt.step()
    want = np.quantile(samples.numpy(), (np.arange(8) + 0.5) / 8)
    np.testing.assert_allclose(q.detach().numpy()[0], want, atol=0.1)
    assert np.all(np.diff(q.detach().numpy()[0]) > 0)


@pytest.mark.parametrize("dueling", [False, True])
def test_a_quantile_head_gives_q_values_as_its_quantiles_mean(dueling):
    torch.manual_seed(0)
    net = NatureCNN(4, 6, dueling, frame_size=(56, 56), num_quantiles=16)
    obs = torch.randint(0, 256, (3, 4, 56, 56), dtype=torch.uint8)
    z = net.quantiles(obs)
    assert z.shape == (3, 6, 16)
    torch.testing.assert_close(net(obs), z.mean(dim=2))
    mlp = MLP(4, 2, 32, dueling, num_quantiles=5)
    x = torch.randn(7, 4)
    assert mlp.quantiles(x).shape == (7, 2, 5)
    torch.testing.assert_close(mlp(x), mlp.quantiles(x).mean(dim=2))
    if dueling:  # the advantages' quantiles average to zero over the actions
        a = mlp.head.advantage(mlp.embed(x)).unflatten(1, (2, 5))
        v = mlp.head.value(mlp.embed(x))
        torch.testing.assert_close(mlp.quantiles(x).mean(dim=1), v)
        assert a.shape == (7, 2, 5)


def test_the_target_is_the_return_plus_the_discounted_quantiles_of_the_online_argmax(tmp_path):
    agent = make_agent(tmp_path, "dqn-cartpole", **{"env.num_envs": 4, "learning_starts": 0,
                                                    "batch_size": 8, "num_quantiles": 5})
    step = 0
    while step < 200:  # some updates, so the online and target nets differ
        agent.train_step(step)
        step += agent.steps_per_call
    assert agent.updates > 20
    with torch.no_grad():  # move the target net away from the online one
        for p in agent.q_target.parameters():
            p.add_(0.1 * torch.randn_like(p))
    batch = agent.buffer.sample(8)
    obs, actions, returns, discounts, next_obs = (
        agent._to_device(batch[k]) for k in ("obs", "actions", "returns", "discounts", "next_obs"))
    loss, q_mean, per_sample = agent._loss(obs, actions, returns, discounts, next_obs)
    with torch.no_grad():
        best = agent.q(next_obs).argmax(dim=1)  # Double: the online net's mean picks
        z_next = agent.q_target.quantiles(next_obs)
        target = torch.stack([returns[i] + discounts[i] * z_next[i, best[i]] for i in range(8)])
        z = torch.stack([agent.q.quantiles(obs)[i, actions[i]] for i in range(8)])
    np.testing.assert_allclose(per_sample.numpy(), by_hand(z, target, 1.0), rtol=1e-4)
    torch.testing.assert_close(loss, per_sample.mean())
    torch.testing.assert_close(q_mean, z.mean())
    # a terminal transition's target is its return alone, whatever the next state's quantiles
    done = torch.zeros(8)
    _, _, per_done = agent._loss(obs, actions, returns, done, next_obs)
    np.testing.assert_allclose(per_done.numpy(), by_hand(z, returns.unsqueeze(1), 1.0), rtol=1e-4)
    agent.close()


def test_a_quantile_agent_learns_with_prioritized_replay_on_its_per_sample_loss(tmp_path):
    agent = make_agent(tmp_path, "dqn-cartpole", **{"env.num_envs": 4, "learning_starts": 0,
                                                    "batch_size": 8, "num_quantiles": 8,
                                                    "prioritized_replay": True,
                                                    "total_steps": 1_000})
    step = 0
    while step < 200:
        agent.train_step(step)
        step += agent.steps_per_call
    leaves = agent.buffer.tree.leaves
    assert len(leaves[(leaves > 0) & (leaves != 1.0)]) > 20
    batch = agent.buffer.sample(8, beta=1.0)
    args = [agent._to_device(batch[k]) for k in ("obs", "actions", "returns", "discounts", "next_obs")]
    _, _, per_sample = agent._loss(*args)
    w = torch.zeros(8)
    w[2] = 1.0
    alone, _, _ = agent._loss(*args, w)
    torch.testing.assert_close(alone, per_sample[2] / 8)
    agent.close()


def test_a_loss_option_that_a_quantile_head_ignores_is_refused():
    spec, preset = registry.resolve("dqn-pong")
    cls = registry.load_config_class(spec)
    with pytest.raises(ConfigError, match="loss=mse does not apply with num_quantiles"):
        build_config(cls, dict(preset.overrides), {"num_quantiles": 32, "loss": "mse"})
    with pytest.raises(ConfigError, match="num_quantiles"):
        build_config(cls, dict(preset.overrides), {"num_quantiles": -1})
    assert build_config(cls, dict(preset.overrides), {"num_quantiles": 32}).num_quantiles == 32


def test_a_quantile_agent_exports_and_loads_as_the_same_q_function(tmp_path):
    tiny = {"total_steps": 400, "learning_starts": 200, "buffer_size": 800, "env.num_envs": 2,
            "batch_size": 8, "log_every": 200, "eval_every": 0, "checkpoint_every": 0,
            "final_eval_episodes": 1, "eval_video": False, "torch_threads": 1, "num_quantiles": 4}
    code, run = start("dqn-cartpole", tiny, run_name="qr", root=tmp_path,
                      launch=Launch(wandb_mode="disabled", progress=False))
    assert code == 0
    out = tmp_path / "qr.pt"
    assert main(["export", str(run.path), "--format", "weights", "--out", str(out)]) == 0
    net, meta = pretrained.load(out)
    assert meta["net"]["num_quantiles"] == 4 and meta["net"]["num_actions"] == 2
    agent, _, _ = load_for_inference(run.path)
    try:
        obs = torch.randn(16, 4)
        with torch.no_grad():
            want, got = agent.q(obs).float(), net(obs)
            assert net.quantiles(obs).shape == (16, 2, 4)
    finally:
        agent.close()
    assert (got - want).abs().max() <= 0.01 * want.abs().max()
