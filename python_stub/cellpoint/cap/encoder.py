"""Per-frame CNN encoder: stride-4 tracking features and a cell-centre heatmap.

Depthwise-separable blocks keep it near 0.35 GMAC for a 384 x 512 frame so that it runs in a
browser. A small feature pyramid fuses strides 4, 8 and 16 back at stride 4, which gives the
features the context to tell neighbouring nuclei apart.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as fn

FEATURE_DIM = 64


class FrameNorm(nn.InstanceNorm2d):
    """Normalisation by each frame's own statistics, with a learned scale and shift.

    Batch statistics averaged over training (BatchNorm's running means) fit no real sequence:
    on dense, dim frames they left two thirds of the cells without a heatmap peak. Each
    training batch holds frames of one sequence, so per-frame statistics are also what the
    layers learn under.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)


class SeparableBlock(nn.Module):
    """Depthwise 3x3 + pointwise 1x1, residual where the shape allows."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False)
        self.norm1 = FrameNorm(c_in)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.norm2 = FrameNorm(c_out)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = fn.relu(self.norm1(self.depthwise(x)))
        y = self.norm2(self.pointwise(y))
        return fn.relu(y + x if self.residual else y)


def _stage(c_in: int, c_out: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(
        SeparableBlock(c_in, c_out, stride=2),
        *[SeparableBlock(c_out, c_out) for _ in range(blocks - 1)],
    )


class Encoder(nn.Module):
    """frames [B, 1, H, W] (normalised) -> features [B, C, H/4, W/4], heatmap [B, 1, H/4, W/4].

    H and W must be multiples of 16 (the preprocessing pads to that).
    """

    def __init__(self, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 24, 3, 2, 1, bias=False), FrameNorm(24), nn.ReLU())
        self.s4 = _stage(24, 48, 2)
        self.s8 = _stage(48, 96, 3)
        self.s16 = _stage(96, 128, 3)
        self.lateral4 = nn.Conv2d(48, feature_dim, 1)
        self.lateral8 = nn.Conv2d(96, feature_dim, 1)
        self.lateral16 = nn.Conv2d(128, feature_dim, 1)
        self.fuse = nn.Sequential(
            SeparableBlock(feature_dim, feature_dim), SeparableBlock(feature_dim, feature_dim)
        )
        self.features = nn.Conv2d(feature_dim, feature_dim, 1)
        logits = nn.Conv2d(feature_dim, 1, 1)
        # CenterNet's prior: start the heatmap near 0.01 so the focal loss is stable.
        nn.init.constant_(logits.bias, -4.6)  # type: ignore[arg-type]
        self.heatmap = nn.Sequential(
            nn.Conv2d(feature_dim, feature_dim, 3, 1, 1, groups=feature_dim), nn.ReLU(), logits
        )

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x4 = self.s4(self.stem(frames))
        x8 = self.s8(x4)
        x16 = self.s16(x8)
        y = self.lateral16(x16)
        y = fn.interpolate(y, scale_factor=2.0, mode="nearest") + self.lateral8(x8)
        y = fn.interpolate(y, scale_factor=2.0, mode="nearest") + self.lateral4(x4)
        y = self.fuse(y)
        return self.features(y), torch.sigmoid(self.heatmap(y))
