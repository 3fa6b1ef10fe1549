"""RAW's `min_separation` for a stack: half a cell, or a whole cell for cells stained whole.

The network puts one heatmap peak on a cell it sees 24 px across, and RAW keeps peaks half a
cell apart (`RawParams.min_separation`), for a nucleus' newborn daughters lie that near. On
cells stained whole (cytoplasm: bright, long, irregular) it can put a peak on each part of one
cell, and at half a cell each becomes a cell of its own. Kept a whole cell apart, such cells
are tracked far better (README); nuclei kept so lose their touching newborns.

Neither sign alone tells them apart from nuclei (training/README, _Beyond nuclei_): dense nuclei
merged where they touch measure as long as wide as cells stained whole do. Together they do:
cells stained whole are at least WHOLE_CELL_ELONGATION times as long as wide in the size
estimate, and at least RIDGED_SHARE of the network's peaks nearer each other than a cell lie
on one ridge of its heatmap (it stays above RIDGE_FRACTION of the lower peak between them),
where two nuclei's peaks mostly have a valley between them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..io.frames import FrameStack
from .preprocess import (
    CANONICAL_DIAMETER,
    FEATURE_STRIDE,
    CellSize,
    FloatArray,
    Geometry,
    Polarity,
    Preprocessor,
)
from .raw import RawParams, find_peaks

WHOLE_CELL_ELONGATION = 2.0  # the size estimate's length over its width, at least
RIDGE_FRACTION = 0.5  # a ridge between two peaks stays above this share of the lower one
RIDGED_SHARE = 0.4  # the share of near pairs on one ridge, at least, for cells stained whole
MIN_NEAR_PAIRS = 3  # fewer near pairs in the frames read say nothing: half a cell it is
RIDGE_FRAMES = 16  # frames read for the heatmap's ridges, evenly spaced: few cells, few pairs
RIDGE_SIDE = 1024  # model px: the heatmap is read on each frame's middle, at most this a side
WHOLE_CELL_SEPARATION = CANONICAL_DIAMETER


class Encoder(Protocol):
    """The part of the network read here (`cellpoint.engine.infer.CapModel`'s encode)."""

    def encode(self, frame: FloatArray) -> tuple[FloatArray, FloatArray]: ...


def separation_for(
    frames: FrameStack,
    polarity: Polarity,
    diameter: float,
    size: CellSize | None,
    params: RawParams,
    model: Callable[[], Encoder],
) -> float:
    """`min_separation` for tracking `frames` at `diameter`: WHOLE_CELL_SEPARATION where the
    cells are bright, long (`size`) and their heatmap ridged (`ridged_share` of RIDGE_FRAMES
    frames), else `params`'. `model` is made only where the heatmap is read."""
    long = size is not None and size.length >= WHOLE_CELL_ELONGATION * size.width
    if polarity != "bright" or not long:
        return params.min_separation
    _, height, width = frames.shape
    # The frames' middle, at most RIDGE_SIDE model px a side: what the tracker would tile.
    side = max(1, int(RIDGE_SIDE * diameter / CANONICAL_DIAMETER))
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    rows, cols = slice(top, top + side), slice(left, left + side)
    crop = Geometry.for_diameter(min(height, side), min(width, side), diameter)
    prepare = Preprocessor(crop, polarity=polarity)
    read = np.unique(np.linspace(0, len(frames) - 1, RIDGE_FRAMES).round().astype(int))
    network = model()
    heatmaps = [network.encode(prepare(frames[int(t)][rows, cols]))[1] for t in read]
    share = ridged_share(heatmaps, params.detection_threshold, params.min_separation)
    whole = share is not None and share >= RIDGED_SHARE
    return WHOLE_CELL_SEPARATION if whole else params.min_separation


def ridged_share(heatmaps: list[FloatArray], threshold: float, separation: float) -> float | None:
    """Of the pairs of peaks (`find_peaks` at `threshold` and `separation`) nearer each other
    than a cell, the share on one ridge; None where there are fewer than MIN_NEAR_PAIRS."""
    near = ridged = 0
    for heatmap in heatmaps:
        peaks = find_peaks(heatmap, threshold, separation)
        xy = peaks[:, :2]
        distance = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        for i, j in zip(*np.nonzero(np.triu(distance < CANONICAL_DIAMETER, k=1)), strict=True):
            a, b = peaks[i], peaks[j]
            near += 1
            ridged += _lowest_between(heatmap, a, b) >= RIDGE_FRACTION * min(a[2], b[2])
    return ridged / near if near >= MIN_NEAR_PAIRS else None


def _lowest_between(heatmap: FloatArray, a: FloatArray, b: FloatArray) -> float:
    """The heatmap's lowest value on the segment between peaks a and b (x, y, score; model px),
    read at the map pixel nearest each point, two points a map pixel."""
    steps = max(2, int(np.hypot(b[0] - a[0], b[1] - a[1]) / FEATURE_STRIDE * 2) + 1)
    along = np.linspace(0.0, 1.0, steps)
    h, w = heatmap.shape
    # Model px -> map px: a map pixel's centre lies at (i + 0.5) * stride - 0.5 (find_peaks).
    cols = np.rint((a[0] + (b[0] - a[0]) * along + 0.5) / FEATURE_STRIDE - 0.5).astype(int)
    rows = np.rint((a[1] + (b[1] - a[1]) * along + 0.5) / FEATURE_STRIDE - 0.5).astype(int)
    return float(heatmap[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)].min())
