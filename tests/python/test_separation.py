"""RAW's separation by the cells' look (cellpoint.engine.separation): half a cell for nuclei, a
whole cell for cells stained whole, told by their shape and their heatmap's ridges."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from cellpoint import load_sample, track
from cellpoint.engine.preprocess import PAD_MULTIPLE, CellSize
from cellpoint.engine.raw import RawParams
from cellpoint.engine.separation import (
    MIN_NEAR_PAIRS,
    RIDGE_SIDE,
    WHOLE_CELL_SEPARATION,
    ridged_share,
    separation_for,
)
from cellpoint.eval.sim import simulate
from cellpoint.io.frames import FrameStack

PARAMS = RawParams()
LONG = CellSize(diameter=100.0, length=200.0, width=60.0)
ROUND = CellSize(diameter=100.0, length=110.0, width=95.0)


def pairs_map(pairs: int, ridged: bool) -> np.ndarray:
    """A heatmap (map px) with `pairs` pairs of peaks 4 map px (16 model px) apart, far from
    each other: joined by a ridge (lowest 0.6 between peaks of 0.9) or parted by a valley."""
    heat = np.zeros((16, 12 * pairs), np.float32)
    between = 0.6 if ridged else 0.1
    for k in range(pairs):
        heat[8, 12 * k + 2 : 12 * k + 7] = [0.9, 0.7, between, 0.7, 0.9]
    return heat


def test_near_peaks_on_one_ridge_are_told_from_peaks_with_a_valley_between() -> None:
    assert ridged_share([pairs_map(3, ridged=True)], 0.25, 12.0) == 1.0
    assert ridged_share([pairs_map(3, ridged=False)], 0.25, 12.0) == 0.0
    # Pairs from several frames count together; too few say nothing.
    mixed = [pairs_map(2, ridged=True), pairs_map(2, ridged=False)]
    assert ridged_share(mixed, 0.25, 12.0) == 0.5
    assert ridged_share([pairs_map(MIN_NEAR_PAIRS - 1, ridged=True)], 0.25, 12.0) is None


class FixedHeatmap:
    """A network whose heatmap is the same map whatever the frame (the decision under test is
    what separation_for makes of it)."""

    def __init__(self, heatmap: np.ndarray) -> None:
        self.heatmap = heatmap
        self.encoded = 0
        self.largest = 0  # the largest side of a frame it was given (model px)

    def encode(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.encoded += 1
        self.largest = max(self.largest, *frame.shape)
        return np.zeros((*self.heatmap.shape, 1), np.float32), self.heatmap


def never() -> Any:
    raise AssertionError("the heatmap was read where the look alone decides")


@pytest.mark.parametrize(
    ("polarity", "size"), [("dark", LONG), ("bright", ROUND), ("bright", None)]
)
def test_cells_not_bright_and_long_keep_half_a_cell_without_reading_the_heatmap(
    polarity: Any, size: CellSize | None
) -> None:
    frames = FrameStack(np.zeros((4, 64, 64), np.uint8))
    assert separation_for(frames, polarity, 100.0, size, PARAMS, never) == PARAMS.min_separation


def test_bright_long_cells_are_kept_a_cell_apart_where_their_heatmap_is_ridged() -> None:
    frames = FrameStack(np.zeros((20, 64, 64), np.uint8))
    ridged = FixedHeatmap(pairs_map(3, ridged=True))
    assert separation_for(frames, "bright", 100.0, LONG, PARAMS, lambda: ridged) == 24.0
    assert ridged.encoded == 16  # evenly spaced frames, few cells a frame giving few pairs
    valley = FixedHeatmap(pairs_map(3, ridged=False))
    assert separation_for(frames, "bright", 100.0, LONG, PARAMS, lambda: valley) == 12.0
    # Frames the tracker would tile are read on their middle only.
    large = FixedHeatmap(pairs_map(3, ridged=True))
    assert separation_for(frames, "bright", 1.0, LONG, PARAMS, lambda: large) == 24.0
    assert RIDGE_SIDE - 24 <= large.largest <= RIDGE_SIDE + PAD_MULTIPLE  # whole: 1536 px


def test_track_keeps_cells_stained_whole_a_cell_apart_and_nuclei_half_a_cell() -> None:
    whole = simulate("cytoplasm", seed=4, n_frames=8)
    res = track(whole.frames, backend="kernel", progress=False)
    size = res.metadata["cell_size"]
    assert size["length"] >= 2 * size["width"]
    assert res.metadata["params"]["min_separation"] == WHOLE_CELL_SEPARATION
    nuclei = load_sample("sim-small")
    res = track(nuclei.frames, diameter=14.0, backend="kernel", progress=False)
    assert res.metadata["params"]["min_separation"] == RawParams().min_separation
    # Passed, it is the user's.
    res = track(whole.frames, backend="kernel", progress=False, min_separation=12.0)
    assert res.metadata["params"]["min_separation"] == 12.0
