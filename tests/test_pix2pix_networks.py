"""pix2pix networks: U-Net with skips, 70x70 PatchGAN, and the cGAN + L1 objective."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workbench.generators.pix2pix.model import (
    PatchDiscriminator,
    UNetGenerator,
    pix2pix_init,
    receptive_field,
)


@pytest.mark.parametrize("image_size", [16, 32, 64])
def test_unet_maps_an_image_to_an_image_of_the_same_size(image_size):
    g = UNetGenerator(3, 1, image_size, features=8)
    out = g(torch.randn(2, 3, image_size, image_size))
    assert out.shape == (2, 1, image_size, image_size)
    assert out.abs().max() <= 1
    assert len(g.downs) == len(g.ups) == image_size.bit_length() - 1  # bottleneck is 1x1


def test_unet_256_and_patchgan_have_the_reference_sizes():
    # parameter counts of the official pytorch-CycleGAN-and-pix2pix unet_256 / basic D
    g = UNetGenerator(3, 3, 256, features=64)
    d = PatchDiscriminator(6, 64, 3)
    assert abs(sum(p.numel() for p in g.parameters()) / 1e6 - 54.41) < 0.01
    assert abs(sum(p.numel() for p in d.parameters()) / 1e6 - 2.769) < 0.01


def test_patchgan_sees_70x70_patches_and_outputs_a_map():
    assert receptive_field(3) == 70
    d = PatchDiscriminator(6, 8, 3)
    assert d(torch.randn(2, 3, 256, 256), torch.randn(2, 3, 256, 256)).shape == (2, 1, 30, 30)


def test_skip_connections_carry_the_input_past_the_bottleneck():
    """Zeroing the bottleneck changes the output little when skips carry the structure: the
    output still depends on the input through the skips."""
    torch.manual_seed(0)
    g = UNetGenerator(3, 3, 32, features=8, dropout=0.0).eval()
    x = torch.randn(1, 3, 32, 32)
    x2 = x.clone()
    x2[..., :4, :4] += 1.0  # a local change in the corner
    diff = (g(x2) - g(x)).abs()[0].sum(0)
    # the skips keep the change local: the opposite corner moves much less than the changed one
    assert diff[:8, :8].mean() > 3 * diff[-8:, -8:].mean()


def test_dropout_is_the_noise_source_in_training_mode_only():
    torch.manual_seed(0)
    g = UNetGenerator(3, 3, 32, features=8, dropout=0.5)
    assert sum(isinstance(m, nn.Dropout) for m in g.modules()) == 3
    x = torch.randn(4, 3, 32, 32)
    g.train()
    assert not torch.allclose(g(x), g(x))
    g.eval()
    assert torch.equal(g(x), g(x))


def test_generator_loss_combines_cgan_and_100_l1_and_training_lowers_l1():
    torch.manual_seed(0)
    g, d = UNetGenerator(3, 3, 16, features=8, dropout=0.0), PatchDiscriminator(6, 8, 2)
    g.apply(pix2pix_init)
    d.apply(pix2pix_init)
    a = torch.rand(8, 3, 16, 16) * 2 - 1
    b = -a  # a learnable translation: invert the colours
    opt = torch.optim.Adam(g.parameters(), 2e-3, betas=(0.5, 0.999))  # fast, for a test
    first = None
    for _ in range(30):
        fake = g(a)
        logits = d(a, fake)
        gan = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        l1 = F.l1_loss(fake, b)
        loss = gan + 100 * l1
        assert 0.3 < gan.item() < 2.0  # near log 2 for an untrained D
        first = first if first is not None else l1.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert l1.item() < 0.8 * first
