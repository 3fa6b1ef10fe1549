"""The sister head: where two daughters were born, read off the features of consecutive frames.

Beyond the paper. The tracker's daughter slots see a division only when the mother was a query
a few frames before it, and on dense fields RAW restarts its window at almost every frame
(births and entries), so they miss most divisions there (training/README.md). A
division, though, is plain to see in two frames: one rounded, bright nucleus at t - 1, two
small ones at t. This head finds, at frame t, the midpoint of each pair of sisters first seen
at t and the axis joining them; RAW (engine/raw.py) splits the track of their mother there.

The axis is undirected (daughter a and b can swap), so it is regressed in doubled-angle form
(L cos 2θ, L sin 2θ), L being half the sisters' distance: smooth, with no sign to choose.
"""

from __future__ import annotations

import torch
from torch import nn

from ..engine.preprocess import FEATURE_STRIDE as STRIDE
from .data import Window
from .encoder import FEATURE_DIM, SeparableBlock
from .losses import focal_loss, heatmap_target
from .tracker import to_map_coords

WIDTH = 48
BLOCKS = 3
AXIS_WEIGHT = 0.1  # the axis loss (model px) beside the focal loss


class SisterHead(nn.Module):
    """features of frames t - 1 and t [B, C, h, w] -> [B, 3, h, w]: the probability that a
    pair of sisters born at t has its midpoint at each map pixel, and the pair's half-axis
    (L cos 2θ, L sin 2θ) in model pixels, θ the axis' angle from x towards y."""

    def __init__(
        self, feature_dim: int = FEATURE_DIM, width: int = WIDTH, blocks: int = BLOCKS
    ) -> None:
        super().__init__()
        self.config = {"width": width, "blocks": blocks}  # what a checkpoint needs to rebuild it
        self.mix = nn.Sequential(nn.Conv2d(3 * feature_dim, width, 1), nn.ReLU())
        # Three separable blocks or more: a receptive field of 7 map pixels (28 model pixels)
        # each way, enough to see both daughters of a canonical nucleus (24 model pixels).
        self.context = nn.Sequential(*[SeparableBlock(width, width) for _ in range(blocks)])
        logits = nn.Conv2d(width, 1, 1)
        nn.init.constant_(logits.bias, -4.6)  # type: ignore[arg-type]  # CenterNet's prior
        self.logits = logits
        self.axis = nn.Conv2d(width, 2, 1)

    def forward(self, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        return self.read(self.mix(torch.cat([previous, current, current - previous], 1)))

    def read(self, mixed: torch.Tensor) -> torch.Tensor:
        """The two frames' features mixed ([B, width, h, w], `mix`'s output) -> forward's."""
        y = self.context(mixed)
        return torch.cat([torch.sigmoid(self.logits(y)), self.axis(y) * STRIDE], 1)


def sister_pairs(window: Window) -> list[torch.Tensor]:
    """Per frame t >= 1 of a training window: [K, 4] (xa, ya, xb, yb) model pixels of the
    sisters first seen at t, from the queries' daughter slots."""
    both = (window.visible[:, :, 1] > 0) & (window.visible[:, :, 2] > 0)  # [T, N]
    pairs = []
    for t in range(1, both.shape[0]):
        born = both[t] & ~both[t - 1]
        pairs.append(window.points[t, born, 1:].reshape(-1, 4))
    return pairs


def sister_target(
    pairs: torch.Tensor, h: int, w: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[K, 4] pairs -> midpoint heatmap [h, w] (as `heatmap_target`) and the doubled-angle axis
    [2, h, w] with its weight [h, w], set on each midpoint's nearest map pixel."""
    mid = (pairs[:, :2] + pairs[:, 2:]) / 2
    heat = heatmap_target(mid, h, w)
    axis = torch.zeros(2, h, w)
    weight = torch.zeros(h, w)
    if len(pairs):
        half = (pairs[:, 2:] - pairs[:, :2]) / 2
        length = half.norm(dim=1).clamp(min=1e-6)
        cos2 = (half[:, 0] ** 2 - half[:, 1] ** 2) / length
        sin2 = 2 * half[:, 0] * half[:, 1] / length
        ix = to_map_coords(mid[:, 0], 0).round().long()
        iy = to_map_coords(mid[:, 1], 0).round().long()
        inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        axis[0, iy[inside], ix[inside]] = cos2[inside]
        axis[1, iy[inside], ix[inside]] = sin2[inside]
        weight[iy[inside], ix[inside]] = 1.0
    return heat, axis, weight


def sister_loss(out: torch.Tensor, pairs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """out [B, 3, h, w] for B consecutive frame pairs, pairs[b] [K, 4] -> (focal, axis L1)."""
    h, w = out.shape[-2:]
    targets = [sister_target(p, h, w) for p in pairs]
    heat = torch.stack([t[0] for t in targets]).to(out.device)
    axis = torch.stack([t[1] for t in targets]).to(out.device)
    weight = torch.stack([t[2] for t in targets]).to(out.device)
    l_heat = focal_loss(out[:, 0], heat)
    l_axis = ((out[:, 1:] - axis).abs().sum(1) * weight).sum() / weight.sum().clamp(min=1)
    return l_heat, l_axis
