"""The CAP tracker: all query points followed jointly through a window of frames.

Each query is a cell with three columns: the cell itself and two reserved daughter slots. The
tracker refines the 3 locations of every point in every frame over M iterations; tokens carry
the displacement from the query, the tracking feature and the correlation of that feature with
a multi-scale pyramid around each column's current estimate; a transformer alternates
attention over time (per track) and across tracks (per frame). Visibilities come from the final
tracking features: sigmoid(W F).

Features are channel-last, [T, h, w, C], as the encoder's graph hands them out: a point's C
features are one row to gather, and the window is never copied into another layout. Sampling
uses Gather with explicit bilinear weights (no GridSample), which exports to every
onnxruntime-web backend with the same answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..engine.preprocess import FEATURE_STRIDE as STRIDE
from .encoder import FEATURE_DIM

COLUMNS = 3  # the cell, daughter a, daughter b


@dataclass(frozen=True)
class TrackerConfig:
    feature_dim: int = FEATURE_DIM
    levels: int = 4  # S: pyramid levels (average pooling by 2^s)
    radius: int = 3  # Delta: correlation window (2r+1)^2 per level
    hidden: int = 128  # d
    heads: int = 4
    blocks: int = 3  # L: time + cross-track attention pairs
    iterations: int = 4  # M
    displacement_scale: float = 32.0  # pixels; displacements are fed divided by this

    @property
    def correlation_dim(self) -> int:
        return COLUMNS * self.levels * (2 * self.radius + 1) ** 2


def pyramid(features: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Channel-last [T, h, w, C] -> `levels` maps [T, h_s, w_s, C], each the 2 x 2 average of
    the previous one (an odd last row or column dropped). Pooled by a reshape, so the window
    of features is never copied: with h and w multiples of 4 (the model input is padded to
    16 pixels) the first two levels need no crop, and later ones are small."""
    maps = [features]
    for level in range(1, levels):
        fmap = maps[-1]
        frames, h, w, channels = fmap.shape
        if level > 2:
            fmap = fmap[:, : h // 2 * 2, : w // 2 * 2]
        maps.append(fmap.reshape(frames, h // 2, 2, w // 2, 2, channels).mean((2, 4)))
    return maps


def gather_points(
    fmap: torch.Tensor, t: torch.Tensor, iy: torch.Tensor, ix: torch.Tensor
) -> torch.Tensor:
    """Features at integer positions. fmap [T, h, w, C] (channel-last); t, iy, ix int64 that
    broadcast to one shape S (clamped to the map: border padding) -> [*S, C]. A window's rows
    and columns given apart ([..., side, 1] and [..., 1, side]) are clamped a side's worth at a
    time, not a window's."""
    frames, h, w, channels = fmap.shape
    flat = fmap.reshape(frames * h * w, channels)
    iy = iy.clamp(0, h - 1)
    ix = ix.clamp(0, w - 1)
    index = (t * h + iy) * w + ix
    return flat[index.reshape(-1)].reshape(*index.shape, channels)


def bilinear(fmap: torch.Tensor, t: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bilinear sample at real positions (map pixel units, border padding) -> [*S, C]."""
    y0 = torch.floor(y)
    x0 = torch.floor(x)
    wy = (y - y0).unsqueeze(-1)
    wx = (x - x0).unsqueeze(-1)
    iy, ix = y0.long(), x0.long()
    return (
        gather_points(fmap, t, iy, ix) * (1 - wy) * (1 - wx)
        + gather_points(fmap, t, iy, ix + 1) * (1 - wy) * wx
        + gather_points(fmap, t, iy + 1, ix) * wy * (1 - wx)
        + gather_points(fmap, t, iy + 1, ix + 1) * wy * wx
    )


def to_map_coords(pixels: torch.Tensor, level: int) -> torch.Tensor:
    """Input-pixel coordinates (pixel centres at integers) -> coordinates on pyramid level."""
    stride = STRIDE * 2**level
    out: torch.Tensor = (pixels + 0.5) / stride - 0.5
    return out


def correlation(
    maps: list[torch.Tensor], feats: torch.Tensor, points: torch.Tensor, radius: int
) -> torch.Tensor:
    """Correlation of each track's feature with every level around each column's estimate.

    maps: pyramid of [T, h_s, w_s, C]; feats [T, N, C]; points [T, N, 3, 2] as (x, y) pixels
    -> [T, N, 3 * S * (2r+1)^2]. Dot products are taken on the integer grid around the point
    and then interpolated: the same as sampling features bilinearly first, at a third of the
    gathers, because the window offsets are whole map pixels.

    The grid's rows and columns go to `gather_points` apart, to be clamped to the map before
    they are combined. Each track's feature multiplies its window transposed
    ([1, C] @ [C, side^2]): onnxruntime fuses the transpose into the product, which then runs
    one row against many columns rather than many rows against one column, the shape its
    kernels are slow at (the tracker 17-19% faster in WebAssembly, 7-15% natively, with the
    same outputs to the bit).
    """
    frames, tracks = feats.shape[:2]
    side = 2 * radius + 2
    offsets = torch.arange(-radius, radius + 2, device=feats.device)
    t = torch.arange(frames, device=feats.device).view(frames, 1, 1, 1)
    row_feats = feats[..., None, :]  # [T, N, 1, C]
    out = []
    for level, fmap in enumerate(maps):
        xy = to_map_coords(points, level)
        x, y = xy[..., 0], xy[..., 1]
        x0, y0 = torch.floor(x), torch.floor(y)
        fx, fy = (x - x0)[..., None, None], (y - y0)[..., None, None]
        iy = y0.long()[..., None] + offsets  # [T, N, 3, side]: the window's rows
        ix = x0.long()[..., None] + offsets  # and columns
        # A column at a time: the largest array held is one column's window of features,
        # [T, N, side * side, C].
        dots = torch.stack(
            [
                row_feats
                @ gather_points(fmap, t, iy[:, :, c, :, None], ix[:, :, c, None, :])
                .reshape(frames, tracks, side * side, -1)
                .transpose(-1, -2)
                for c in range(COLUMNS)
            ],
            dim=2,
        ).reshape(frames, tracks, COLUMNS, side, side)
        corr = (
            dots[..., :-1, :-1] * (1 - fy) * (1 - fx)
            + dots[..., :-1, 1:] * (1 - fy) * fx
            + dots[..., 1:, :-1] * fy * (1 - fx)
            + dots[..., 1:, 1:] * fy * fx
        )
        out.append(corr.reshape(frames, tracks, COLUMNS, -1))
    return torch.cat(out, dim=-1).reshape(frames, tracks, -1)


def time_encoding(frames: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal encoding of the frame index within the window, [T, dim]."""
    position = torch.arange(frames, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(1000.0) / dim)
    )
    enc = torch.zeros(frames, dim, device=device)
    enc[:, 0::2] = torch.sin(position * freq)
    enc[:, 1::2] = torch.cos(position * freq)
    return enc


class SelfAttention(nn.Module):
    """Multi-head self-attention over the middle axis of [B, L, d].

    Written out (rather than nn.MultiheadAttention) so that the ONNX graph keeps B and L
    dynamic: torch's module bakes the traced sizes into its reshapes.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, heads, L, d_head]
        weights = torch.softmax(q @ k.transpose(-1, -2) * (d // self.heads) ** -0.5, dim=-1)
        out: torch.Tensor = self.out((weights @ v).transpose(1, 2).reshape(b, n, d))
        return out


class AttentionBlock(nn.Module):
    """Pre-norm self-attention + MLP over the middle axis of [B, L, d]."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        out: torch.Tensor = x + self.mlp(self.norm2(x))
        return out


class Tracker(nn.Module):
    """features [1, T, h, w, C] (channel-last; h and w multiples of 4), queries [1, N, 3]
    (t, x, y) in input pixels -> points [1, T, N, 3, 2] (x, y), visibility [1, T, N, 3] in
    [0, 1]."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        super().__init__()
        cfg = config or TrackerConfig()
        self.config = cfg
        token_in = COLUMNS * 2 + cfg.feature_dim + cfg.correlation_dim
        self.embed = nn.Linear(token_in, cfg.hidden)
        self.time_blocks = nn.ModuleList(
            [AttentionBlock(cfg.hidden, cfg.heads) for _ in range(cfg.blocks)]
        )
        self.track_blocks = nn.ModuleList(
            [AttentionBlock(cfg.hidden, cfg.heads) for _ in range(cfg.blocks)]
        )
        self.norm = nn.LayerNorm(cfg.hidden)
        self.delta_points = nn.Linear(cfg.hidden, COLUMNS * 2)
        self.delta_feats = nn.Sequential(
            nn.LayerNorm(cfg.hidden), nn.Linear(cfg.hidden, cfg.feature_dim), nn.GELU()
        )
        self.visibility = nn.Linear(cfg.feature_dim, COLUMNS)

    def forward(
        self, features: torch.Tensor, queries: torch.Tensor, return_all: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[list[torch.Tensor], torch.Tensor]:
        cfg = self.config
        feats_t = features.squeeze(0)  # a view: indexing would copy the window in ONNX
        frames = feats_t.shape[0]
        q = queries[0]
        tracks = q.shape[0]
        maps = pyramid(feats_t, cfg.levels)
        qt = q[:, 0].round().long().clamp(0, frames - 1)
        qx = to_map_coords(q[:, 1], 0)
        qy = to_map_coords(q[:, 2], 0)
        track_feat = bilinear(maps[0], qt, qy, qx)  # [N, C]
        feats = track_feat[None].expand(frames, tracks, -1)
        start = q[:, 1:3]  # (x, y)
        points = start[None, :, None, :].expand(frames, tracks, COLUMNS, 2)
        tenc = time_encoding(frames, cfg.hidden, features.device)[:, None, :]
        history: list[torch.Tensor] = []
        for _ in range(cfg.iterations):
            points = points.detach()
            corr = correlation(maps, feats, points, cfg.radius)
            disp = (points - start[None, :, None, :]).reshape(frames, tracks, -1)
            tokens = torch.cat([disp / cfg.displacement_scale, feats, corr], dim=-1)
            x = self.embed(tokens) + tenc  # [T, N, d]
            for time_block, track_block in zip(self.time_blocks, self.track_blocks, strict=True):
                x = time_block(x.transpose(0, 1)).transpose(0, 1)
                x = track_block(x)
            x = self.norm(x)
            delta = self.delta_points(x).reshape(frames, tracks, COLUMNS, 2)
            points = points + delta * cfg.displacement_scale
            feats = feats + self.delta_feats(x)
            history.append(points)
        visibility = torch.sigmoid(self.visibility(feats))
        if return_all:
            return [p[None] for p in history], visibility[None]
        return points[None], visibility[None]
