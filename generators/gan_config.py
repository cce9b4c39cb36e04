"""What the image GANs' configs share (a light module: no torch, so `workbench describe` stays
fast): Adam for both networks, as DCGAN (Radford et al. 2015) set it and pix2pix (Isola et al.
2017) kept it, and the options of `workbench sample`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from workbench.config import Interval, Positive, Seed


@dataclass
class GANOptim:
    lr: Annotated[float, Positive] = 2e-4
    """Adam learning rate of both networks (the papers' 0.0002)"""
    beta1: Annotated[float, Interval(ge=0, lt=1)] = 0.5
    """Adam beta1 (DCGAN lowers it from 0.9 to 0.5 for stability; pix2pix keeps 0.5)"""
    beta2: Annotated[float, Interval(ge=0, lt=1)] = 0.999
    """Adam beta2"""


@dataclass
class GANSampleOptions:
    n: Annotated[int, Positive] = 64
    """images in the grid (or PNG files in an --out folder)"""
    seed: Annotated[int, Seed] = 0
    """seed of what is drawn: the latent noise (DCGAN), the held-out pairs (pix2pix)"""
