"""Training windows: frames at the model's scale with the CAP targets of every query cell.

A window is T_s frames starting where AEG sampling says (section 3.1 of the paper): with
probability P_AEG it is placed so that a whole division (mother rounding up to separated
daughters) lies inside it, otherwise uniformly. Queries are the cells present in the window's
first frame, as in RAW inference where every window starts at a restart frame. Each query has
three columns: the cell itself, and its daughters once it has divided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from torch.nn import functional as fn

from ..engine.preprocess import CANONICAL_DIAMETER, PAD_MULTIPLE, Polarity, normalise
from .tracker import COLUMNS

AEG_PROBABILITY = 0.5
DIVISION_MARGIN = 3  # frames kept on each side of a division anchor


@dataclass
class Source:
    """A sequence to draw windows from: raw frames and ground-truth points in input pixels."""

    name: str
    frames: npt.NDArray[np.generic]  # (T, H, W)
    tracks: pd.DataFrame  # track_id, t, y, x
    lineage: pd.DataFrame  # track_id, start, end, parent_id
    diameter: float  # typical cell's equivalent-circle diameter, input pixels
    t_range: tuple[int, int] | None = None  # frames [a, b) windows may use
    polarity: Polarity = "bright"  # cells brighter or darker than the background

    def __post_init__(self) -> None:
        self._points = {
            int(g["track_id"].iloc[0]): (g["t"].to_numpy(), g["y"].to_numpy(), g["x"].to_numpy())
            for _, g in self.tracks.groupby("track_id")
        }
        children: dict[int, list[int]] = {}
        for tid, parent in zip(self.lineage["track_id"], self.lineage["parent_id"], strict=True):
            if parent:
                children.setdefault(int(parent), []).append(int(tid))
        self.children = children
        self.anchors = np.array(
            sorted(
                int(self.lineage.loc[self.lineage["track_id"] == kids[0], "start"].iloc[0])
                for kids in children.values()
                if len(kids) == 2
            ),
            dtype=np.int64,
        )

    def position(self, track: int, t: int) -> tuple[float, float] | None:
        ts, ys, xs = self._points[track]
        i = np.searchsorted(ts, t)
        if i < len(ts) and ts[i] == t:
            return float(ys[i]), float(xs[i])
        return None

    def alive_at(self, t: int) -> npt.NDArray[np.int64]:
        rows = self.tracks[self.tracks["t"] == t]
        return rows["track_id"].to_numpy(np.int64)

    def successor(self, track: int) -> int | None:
        """The single child that continues a track (a CTC continuation), if any."""
        kids = self.children.get(track, [])
        return kids[0] if len(kids) == 1 else None


@dataclass
class Window:
    """One training sample, in model pixels (x, y order for points, as the tracker uses)."""

    frames: torch.Tensor  # [T, 1, h, w]
    queries: torch.Tensor  # [N, 3] (t=0, x, y)
    points: torch.Tensor  # [T, N, 3, 2] target (x, y)
    point_mask: torch.Tensor  # [T, N, 3] weight of each target location (0 = none)
    visible: torch.Tensor  # [T, N, 3] 0/1
    centres: list[torch.Tensor]  # per frame [K, 2] (x, y) of every visible cell


def sample_start(source: Source, length: int, rng: np.random.Generator) -> int:
    """AEG sampling of the window's first frame."""
    lo, hi = source.t_range or (0, source.frames.shape[0])
    last_start = hi - length
    if last_start < lo:
        raise ValueError(f"{source.name}: {hi - lo} frames, fewer than a window of {length}")
    # Anchors whose division, with DIVISION_MARGIN frames each side, fits in some window.
    first = np.maximum(lo, source.anchors + DIVISION_MARGIN - length + 1)
    last = np.minimum(last_start, source.anchors - DIVISION_MARGIN)
    fits = np.flatnonzero(first <= last)
    if len(fits) and rng.random() < AEG_PROBABILITY:
        i = int(rng.choice(fits))
        return int(rng.integers(first[i], last[i] + 1))
    return int(rng.integers(lo, last_start + 1))


def _follow(source: Source, track: int, t: int) -> tuple[float, float] | None:
    """Where a cell is at frame t, following continuations."""
    while True:
        pos = source.position(track, t)
        if pos is not None:
            return pos
        nxt = source.successor(track)
        if nxt is None:
            return None
        track = nxt


def _lineage_targets(
    source: Source, track: int, frames: Sequence[int]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Targets of one query over the window: points [T, 3, 2] (y, x), weight and visibility
    [T, 3]. Before a division the daughter slots are asked to sit on the mother (weight 0.2)."""
    n = len(frames)
    pts = np.zeros((n, COLUMNS, 2), np.float32)
    weight = np.zeros((n, COLUMNS), np.float32)
    vis = np.zeros((n, COLUMNS), np.float32)
    # Follow continuations to the track that may divide.
    end_track = track
    while (nxt := source.successor(end_track)) is not None:
        end_track = nxt
    kids = source.children.get(end_track, [])
    daughters = kids if len(kids) == 2 else []
    last_mother: tuple[float, float] | None = None
    for i, t in enumerate(frames):
        mother = _follow(source, track, t)
        if mother is not None:
            pts[i, 0], weight[i, 0], vis[i, 0] = mother, 1.0, 1.0
            last_mother = mother
            for k in (1, 2):
                pts[i, k], weight[i, k] = mother, 0.2
        for k, d in enumerate(daughters, start=1):
            pos = source.position(d, t)
            if pos is not None:
                pts[i, k], weight[i, k], vis[i, k] = pos, 1.0, 1.0
        if mother is None and last_mother is not None:
            # Gone (divided, died or left): the cell column holds its last place, unweighted.
            pts[i, 0] = last_mother
    return pts, weight, vis


def make_window(
    source: Source,
    length: int,
    crop: int,
    rng: np.random.Generator,
    augment: bool = True,
    max_tracks: int | None = None,
) -> Window | None:
    """A random window of `length` frames, `crop` x `crop` model pixels; None if no cell.

    With `max_tracks`, at most that many queries are kept: the dividing ones first (AEG put
    the window around them), then a random choice of the others. Attention cost grows with
    the number of tracks, and a subset still teaches joint tracking.
    """
    start = sample_start(source, length, rng)
    frames_idx = list(range(start, start + length))
    scale = CANONICAL_DIAMETER / source.diameter
    if augment:
        scale *= float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    height, width = source.frames.shape[1], source.frames.shape[2]
    # Crop in input pixels first, so resizing touches only what is kept.
    span = int(np.ceil(crop / scale))
    y0 = int(rng.integers(0, max(1, height - span + 1)))
    x0 = int(rng.integers(0, max(1, width - span + 1)))
    raw = np.stack([normalise(source.frames[t], source.polarity) for t in frames_idx])[
        :, y0 : y0 + span, x0 : x0 + span
    ]
    out_h, out_w = max(8, round(raw.shape[1] * scale)), max(8, round(raw.shape[2] * scale))
    frames = fn.interpolate(
        torch.from_numpy(raw)[:, None], size=(out_h, out_w), mode="bilinear", antialias=True
    )
    sy, sx = out_h / raw.shape[1], out_w / raw.shape[2]
    # Pad bottom and right to the encoder's multiple, as inference does.
    frames = fn.pad(frames, (0, -out_w % PAD_MULTIPLE, 0, -out_h % PAD_MULTIPLE))

    def to_model(yx: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        y = (yx[..., 0] - y0 + 0.5) * sy - 0.5
        x = (yx[..., 1] - x0 + 0.5) * sx - 0.5
        return np.stack([x, y], axis=-1).astype(np.float32)

    def inside(xy: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        x, y = xy[..., 0], xy[..., 1]
        ok: npt.NDArray[np.bool_] = (x >= 0) & (x <= out_w - 1) & (y >= 0) & (y <= out_h - 1)
        return ok

    queries_tid = source.alive_at(start)
    pts_l, w_l, v_l, q_l = [], [], [], []
    for tid in queries_tid:
        pts, weight, vis = _lineage_targets(source, int(tid), frames_idx)
        xy = to_model(pts)
        keep = inside(xy)
        vis = vis * keep  # a cell outside the crop has left the field of view
        weight = weight * keep
        if not keep[0, 0]:
            continue
        pts_l.append(xy)
        w_l.append(weight)
        v_l.append(vis)
        q_l.append(xy[0, 0])
    if not q_l:
        return None
    if max_tracks is not None and len(q_l) > max_tracks:
        divides = np.array([v[:, 1:].any() for v in v_l])
        order = np.concatenate(
            [rng.permutation(np.flatnonzero(divides)), rng.permutation(np.flatnonzero(~divides))]
        )
        chosen = sorted(order[:max_tracks])
        pts_l, w_l, v_l, q_l = ([a[i] for i in chosen] for a in (pts_l, w_l, v_l, q_l))
    centres = []
    for t in frames_idx:
        rows = source.tracks[source.tracks["t"] == t]
        xy = to_model(rows[["y", "x"]].to_numpy(np.float32))
        centres.append(torch.from_numpy(xy[inside(xy)]))
    window = Window(
        frames=frames,
        queries=torch.from_numpy(
            np.concatenate([np.zeros((len(q_l), 1), np.float32), np.stack(q_l)], axis=1)
        ),
        points=torch.from_numpy(np.stack(pts_l, axis=1)),
        point_mask=torch.from_numpy(np.stack(w_l, axis=1)),
        visible=torch.from_numpy(np.stack(v_l, axis=1)),
        centres=centres,
    )
    return _augment(window, rng) if augment else window


def _augment(w: Window, rng: np.random.Generator) -> Window:
    """Flips, 90-degree rotations, intensity, contrast and noise; points move with the image."""
    frames, pts, queries = w.frames, w.points.clone(), w.queries.clone()
    centres = [c.clone() for c in w.centres]
    h, wd = frames.shape[-2:]

    def apply(fx: bool, fy: bool, transpose: bool) -> None:
        nonlocal frames, pts, queries, h, wd
        for arr in [pts, queries[:, 1:], *centres]:
            if fx:
                arr[..., 0] = (wd - 1) - arr[..., 0]
            if fy:
                arr[..., 1] = (h - 1) - arr[..., 1]
            if transpose:
                arr[...] = arr.flip(-1)
        if fx:
            frames = frames.flip(-1)
        if fy:
            frames = frames.flip(-2)
        if transpose:
            frames = frames.transpose(-1, -2)
            h, wd = wd, h

    apply(bool(rng.random() < 0.5), bool(rng.random() < 0.5), bool(rng.random() < 0.5))
    gain = float(np.exp(rng.normal(0, 0.25)))
    offset = float(rng.normal(0, 0.05))
    gamma = float(np.exp(rng.normal(0, 0.2)))
    frames = frames.clamp(min=0) ** gamma * gain + offset
    frames = frames + torch.randn_like(frames) * float(rng.uniform(0, 0.05))
    return Window(frames.contiguous(), queries, pts, w.point_mask, w.visible, centres)
