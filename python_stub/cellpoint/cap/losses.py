"""Training objectives: the encoder's heatmap and matching losses, the tracker's eq. 4 and 5."""

from __future__ import annotations

import torch
from torch.nn import functional as fn

from ..engine.preprocess import CANONICAL_DIAMETER
from ..engine.preprocess import FEATURE_STRIDE as STRIDE
from .tracker import bilinear, to_map_coords

HEATMAP_SIGMA = 1.0  # map pixels (a canonical nucleus is 6 map pixels across)
GAMMA = 0.8  # eq. 4: weight of earlier iterations
TEMPERATURE = 0.1


def heatmap_target(centres: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """[K, 2] (x, y) input pixels -> [h, w] map: a Gaussian around each sub-pixel centre, and 1
    on the map pixel nearest it, the cell's one positive for `focal_loss`.

    Without the 1, a Gaussian reaches 0.99 only within 0.14 map pixels of its centre: most
    cells had no positive pixel, and the heatmap learnt weak peaks (held-out "hard" frames:
    a median of 0.05 at the cells it missed).
    """
    if len(centres) == 0:
        return torch.zeros(h, w)
    cx = to_map_coords(centres[:, 0], 0)
    cy = to_map_coords(centres[:, 1], 0)
    ys = torch.arange(h, dtype=torch.float32)[None, :, None]
    xs = torch.arange(w, dtype=torch.float32)[None, None, :]
    d2 = (ys - cy[:, None, None]) ** 2 + (xs - cx[:, None, None]) ** 2
    target = torch.exp(-d2 / (2 * HEATMAP_SIGMA**2)).amax(0)
    iy, ix = cy.round().long(), cx.round().long()
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    target[iy[inside], ix[inside]] = 1.0
    return target


def focal_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of peaks."""
    pred = pred.clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1.0).float()  # each cell's nearest map pixel (heatmap_target)
    pos_loss = -(torch.log(pred) * (1 - pred) ** 2 * pos).sum()
    neg_loss = -(torch.log(1 - pred) * pred**2 * (1 - target) ** 4 * (1 - pos)).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1)


def matching_loss(
    feats_a: torch.Tensor,
    feats_b: torch.Tensor,
    pts_a: torch.Tensor,
    pts_b: torch.Tensor,
    shift: float = 2.0,
) -> torch.Tensor:
    """InfoNCE: a cell's feature in frame a must match the same cell in frame b best, against
    the other cells and against the same cell's surroundings `shift` map pixels away, which is
    what makes the tracker's local correlation peak sharply.

    feats_*: [C, h, w]; pts_*: [K, 2] (x, y) input pixels of the same K cells.
    """
    k = len(pts_a)
    if k < 2:
        return feats_a.sum() * 0
    scale = feats_a.shape[0] ** -0.5 / TEMPERATURE

    def sample(f: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        frame = torch.zeros(len(xy), dtype=torch.long, device=xy.device)
        channel_last = f.permute(1, 2, 0)[None]  # the tracker's layout
        return bilinear(channel_last, frame, to_map_coords(xy[:, 1], 0), to_map_coords(xy[:, 0], 0))

    fa = sample(feats_a, pts_a)  # [K, C]
    fb = sample(feats_b, pts_b)
    offsets = torch.tensor(
        [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]],
        dtype=torch.float32,
        device=pts_b.device,
    )
    around = pts_b[:, None, :] + offsets[None] * shift * STRIDE  # [K, 8, 2]
    fn_local = sample(feats_b, around.reshape(-1, 2)).reshape(k, 8, -1)
    logits_cells = fa @ fb.T * scale  # [K, K]
    logits_local = torch.einsum("kc,kjc->kj", fa, fn_local) * scale  # [K, 8]
    logits = torch.cat([logits_cells, logits_local], dim=1)
    return fn.cross_entropy(logits, torch.arange(k, device=logits.device))


def tracker_loss(
    history: list[torch.Tensor],
    visibility: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    visible: torch.Tensor,
    daughter_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4 (L1 location error over iterations, discounted by GAMMA) and eq. 5 (visibility
    cross-entropy), with the two daughter slots matched to the daughters in whichever order
    fits the final estimate better.

    A division lights the two daughter slots of one query for the frames after it: about 1% of
    the visibility targets of a window. `daughter_weight` weighs those visible daughter slots
    that much more in eq. 5, so that a network that never predicts a division pays for it.

    history: M tensors [T, N, 3, 2]; visibility [T, N, 3]; target [T, N, 3, 2];
    weight, visible [T, N, 3].
    """
    swapped = [0, 2, 1]
    final = history[-1]

    def err(pred: torch.Tensor, order: list[int]) -> torch.Tensor:
        d = (pred - target[:, :, order]).abs().sum(-1) * weight[:, :, order]  # [T, N, 3]
        return d.sum(dim=(0, 2))  # per track

    keep = err(final, [0, 1, 2]) <= err(final, swapped)  # [N]
    order_idx = torch.where(
        keep[:, None],
        torch.tensor([0, 1, 2], device=keep.device),
        torch.tensor(swapped, device=keep.device),
    )
    gather = order_idx[None, :, :].expand(target.shape[0], -1, -1)
    tgt = torch.gather(target, 2, gather[..., None].expand(-1, -1, -1, 2))
    wgt = torch.gather(weight, 2, gather)
    vis = torch.gather(visible, 2, gather)
    norm = wgt.sum().clamp(min=1) * CANONICAL_DIAMETER
    m = len(history)
    loc = sum(
        GAMMA ** (m - 1 - i) * ((p - tgt).abs().sum(-1) * wgt).sum() / norm
        for i, p in enumerate(history)
    )
    per_target = fn.binary_cross_entropy(visibility.clamp(1e-5, 1 - 1e-5), vis, reduction="none")
    emphasis = torch.ones_like(vis)
    emphasis[:, :, 1:] += (daughter_weight - 1) * vis[:, :, 1:]
    vis_loss = (per_target * emphasis).sum() / emphasis.sum()
    return torch.as_tensor(loc), vis_loss
