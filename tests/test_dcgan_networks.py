"""DCGAN networks: the shapes and layer rules of Radford et al. 2015, and sane losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workbench.generators.dcgan.model import Discriminator, Generator, dcgan_init


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(image_size, channels):
    g = Generator(latent_size=16, channels=channels, image_size=image_size, features=8)
    d = Discriminator(channels=channels, image_size=image_size, features=8)
    images = g(torch.randn(5, 16))
    assert images.shape == (5, channels, image_size, image_size)
    assert images.min() >= -1 and images.max() <= 1  # tanh output
    assert d(images).shape == (5,)


def test_paper_rules_batchnorm_placement_and_activations():
    g, d = Generator(features=8), Discriminator(features=8)
    g_layers, d_layers = list(g.net), list(d.net)
    assert isinstance(g_layers[-1], nn.Tanh) and not isinstance(g_layers[-2], nn.BatchNorm2d)
    assert not isinstance(d_layers[1], nn.BatchNorm2d)  # no BN on the discriminator's input
    assert any(isinstance(m, nn.ReLU) for m in g_layers)
    leaky = [m for m in d_layers if isinstance(m, nn.LeakyReLU)]
    assert leaky and all(m.negative_slope == 0.2 for m in leaky)
    assert not any(isinstance(m, (nn.Linear, nn.MaxPool2d)) for m in [*g_layers, *d_layers])


def test_init_draws_conv_weights_from_normal_0_002():
    torch.manual_seed(0)
    g = Generator(features=32)
    g.apply(dcgan_init)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3
    assert w.std().item() == pytest.approx(0.02, rel=0.05)


def test_untrained_discriminator_loss_is_near_chance_and_a_step_lowers_it():
    torch.manual_seed(0)
    g, d = Generator(latent_size=16, features=8), Discriminator(features=8)
    g.apply(dcgan_init)
    d.apply(dcgan_init)
    real = torch.rand(32, 1, 32, 32) * 2 - 1
    fake = g(torch.randn(32, 16)).detach()
    ones, zeros = torch.ones(32), torch.zeros(32)

    def loss_d() -> torch.Tensor:
        return (F.binary_cross_entropy_with_logits(d(real), ones)
                + F.binary_cross_entropy_with_logits(d(fake), zeros))

    start = loss_d()
    assert start.item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item(), abs=0.2)
    opt = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    for _ in range(5):
        opt.zero_grad()
        loss = loss_d()
        loss.backward()
        opt.step()
    assert loss_d().item() < start.item()
