"""The networks of DrcGAN (deep residual cycle GAN; Jiang et al. 2025, seed 001).

- :class:`ResidualBlock`: ``x + s * conv(act(conv(x)))`` (EDSR-style, no normalization: on the
  coarse SMAP grid an image holds only tens of cells and instance or batch statistics would erase
  the day's mean level);
- :class:`ResidualGenerator`: head convolution, ``n_blocks`` residual blocks, tail convolution and a
  global residual connection to one input channel (the generator learns a correction of its
  source field, not the field itself);
- :class:`PatchDiscriminator`: a fully convolutional PatchGAN (Isola et al. 2017) that scores every
  cell's neighbourhood as real or generated; used with the least-squares loss (Mao et al. 2017).

Two generators (model -> SMAP-like, SMAP-like -> model) and two discriminators make the cycle GAN of
Zhu et al. (2017). All convolutions use replicate padding so the borders of small grids are not
pulled towards zero.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode="replicate")


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a LeakyReLU between, added back to the input scaled by ``res_scale``."""

    def __init__(self, width: int, res_scale: float = 0.2):
        super().__init__()
        self.body = nn.Sequential(_conv(width, width), nn.LeakyReLU(0.2), _conv(width, width))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class ResidualGenerator(nn.Module):
    """Deep residual generator: ``out = x[:, skip] + tail(blocks(head(x)))``.

    Parameters: ``in_channels``; ``skip_channel`` (the input channel the output is a correction of:
    the source field on the day itself); ``width`` (feature maps); ``n_blocks`` (residual blocks).
    Input and output are standardized soil moisture (unitless z-scores).
    """

    def __init__(self, in_channels: int, skip_channel: int, width: int = 64, n_blocks: int = 6):
        super().__init__()
        self.skip_channel = skip_channel
        self.head = nn.Sequential(_conv(in_channels, width), nn.LeakyReLU(0.2))
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(n_blocks)])
        self.fuse = _conv(width, width)
        self.tail = nn.Sequential(nn.LeakyReLU(0.2), _conv(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.fuse(self.blocks(h))
        return x[:, self.skip_channel:self.skip_channel + 1] + self.tail(h)


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: ``n_layers`` 3x3 convolutions (LeakyReLU 0.2) ending in one score per
    cell, each seeing a ``(2 n_layers + 1)``-cell neighbourhood. Least-squares targets: 1 real, 0 fake."""

    def __init__(self, in_channels: int, width: int = 32, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i in range(n_layers):
            w = width * min(2 ** i, 4)
            layers += [_conv(c, w), nn.LeakyReLU(0.2)]
            c = w
        layers.append(nn.Conv2d(c, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
