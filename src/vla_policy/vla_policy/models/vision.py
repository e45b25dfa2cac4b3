"""Vision encoders. 'small_cnn': a small CNN trained from scratch (no pretrained weights)."""
from __future__ import annotations

import math

import torch
from torch import nn

from vla_policy.models.interfaces import VisionEncoder


class SmallCNNEncoder(VisionEncoder):
    """Conv stages (5x5 then 3x3; stride 2 unless ``vision.strides`` says 1) with GroupNorm + ReLU.

    A 96x96 image with 4 stages gives a 6x6 grid: 36 tokens of ``vision.channels[-1]`` features.
    GroupNorm (not BatchNorm) so training and inference behave alike at any batch size.
    About 0.3 M parameters and 30 M multiply-adds at 96x96 with the default channels.
    """

    def __init__(self, config) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        channels = config.vision.channels
        strides = config.vision.strides or (2,) * len(channels)
        for i, (c, stride) in enumerate(zip(channels, strides)):
            k = 5 if i == 0 else 3
            layers += [nn.Conv2d(c_in, c, k, stride=stride, padding=k // 2, bias=False),
                       nn.GroupNorm(math.gcd(8, c), c), nn.ReLU(inplace=True)]
            c_in = c
        self.stages = nn.Sequential(*layers)
        self.out_dim = c_in

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        fmap = self.stages(pixels)                      # (B, C, h, w)
        return fmap.flatten(2).transpose(1, 2)          # (B, h*w, C)
