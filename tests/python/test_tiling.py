"""cellpoint.engine.tiling: large frames tracked tile by tile and stitched into one result.

The plan's geometry and its errors; stitching checked on tiles cut from a simulator's truth (a
tracker that follows every cell); the shipped model on a simulated sequence, tiled and whole;
tiles read lazily; `track()`'s `tile` keyword.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from cellpoint import track
from cellpoint.engine import tiling
from cellpoint.engine.infer import OnnxCap, track_kernel
from cellpoint.engine.raw import RawParams
from cellpoint.engine.tiling import (
    TilePlan,
    axis_spans,
    needs_tiles,
    plan_tiles,
    stitch,
    track_tiled,
)
from cellpoint.eval.metrics import evaluate
from cellpoint.eval.sim import SimulatedSequence, simulate
from cellpoint.io.frames import FrameStack
from cellpoint.io.result import TrackingResult
from cellpoint.io.tables import (
    divisions_from_lineage,
    empty_divisions,
    empty_lineage,
    empty_tracks,
    lineage_from_tracks,
    validate_tables,
)

Array = npt.NDArray[Any]

# A sequence tracked tiled and whole by the shipped model: 2 x 3 tiles of about 105 px, their
# cores 2 diameters inside them at least.
SIDE = (160, 192)
FRAMES = 16
TILE = 112


# --- the plan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap"),
    [(100, 100, 100, 30), (101, 257, 64, 24), (480, 130, 96, 48), (1024, 2048, 512, 96)],
)
def test_tiles_cover_the_frame_with_cores_that_partition_it(
    height: int, width: int, tile: int, overlap: int
) -> None:
    plan = plan_tiles(height, width, 8.0, tile, overlap)
    cores = np.zeros((height, width), np.int64)
    index = np.full((height, width), -1)
    for k, part in enumerate(plan.tiles):
        assert part.rows.stop - part.rows.start <= tile
        assert part.cols.stop - part.cols.start <= tile
        cores[part.core_rows, part.core_cols] += 1
        index[part.core_rows, part.core_cols] = k
        for whole, core, size in ((part.rows, part.core_rows, height),
                                  (part.cols, part.core_cols, width)):  # fmt: skip
            # A core lies half the overlap inside its tile, but at the frame's edges.
            assert whole.start == 0 or core.start - whole.start >= overlap // 2
            assert whole.stop == size or whole.stop - core.stop >= overlap // 2
    assert (cores == 1).all()
    for spans in (plan.row_spans, plan.col_spans):
        for a, b in itertools.pairwise(spans):
            assert a.stop - b.start >= overlap
    y, x = np.mgrid[0:height, 0:width]
    owners = plan.owner(y.ravel().astype(float), x.ravel().astype(float))
    np.testing.assert_array_equal(owners, index.ravel())


def test_spans_are_of_one_size_and_as_few_as_fit() -> None:
    spans = axis_spans(4096, 1024, 96)
    assert len(spans) == 5  # 4 tiles of 1024 px overlapping by 96 px cover 3808 px only
    assert {s.stop - s.start for s in spans} == {896}
    assert (spans[0].start, spans[-1].stop) == (0, 4096)
    assert axis_spans(500, 1024, 96) == [tiling.Span(0, 500, 0, 500)]


def test_default_tiles_follow_the_model_scale() -> None:
    plan = plan_tiles(2048, 4096, 24.0)  # nuclei at the model's own scale
    assert (plan.tile, plan.overlap) == (1024, 96)  # TILE_MODEL_SIDE, 4 diameters
    assert plan.describe() == {
        "tile": 1024, "overlap": 96, "grid": [3, 5], "tile_shape": [747, 896]
    }  # fmt: skip
    assert plan_tiles(2048, 4096, 12.0).tile == 512  # smaller nuclei: the model sees more
    assert needs_tiles(2048, 4096, 24.0)
    assert not needs_tiles(1024, 1024, 24.0)
    assert needs_tiles(1025, 1024, 24.0)
    assert not needs_tiles(2048, 2048, 48.0)  # 1024 x 1024 at the model's scale


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"overlap": 20}, ValueError, r"overlap of 20 px is under 3 cell diameters \(24 px"),
        ({"overlap": -1}, ValueError, "overlap of -1 px is under 3 cell diameters"),
        ({"tile": 60}, ValueError, r"tile of 60 px is smaller than twice the overlap \(64 px\)"),
        ({"tile": 0}, ValueError, "tile of 0 px is smaller than twice the overlap"),
        ({"tile": 100.5}, TypeError, "tile must be a whole number of pixels, got 100.5"),
        ({"tile": True}, TypeError, "tile must be a whole number of pixels, got True"),
        ({"overlap": "32"}, TypeError, "overlap must be a whole number of pixels, got '32'"),
    ],
)
def test_bad_tiles_are_refused(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        plan_tiles(300, 300, 8.0, **kwargs)


def test_a_tile_under_the_smallest_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="tile of 12 px is under 16 px"):
        plan_tiles(300, 300, 2.0, 12, 6)


# --- stitching, on tiles cut from the truth -------------------------------------------------


def truth_tiles(truth: TrackingResult, plan: TilePlan, jitter: float) -> list[TrackingResult]:
    """Each tile's result as a tracker that follows every cell would give it: the truth's
    points inside the tile, in tile pixels, each tile's moved by up to `jitter` px of its own; a
    track split where its cell leaves the tile; a daughter linked to her mother where the tile
    has the mother's last point."""
    rng = np.random.default_rng(0)
    by_id = truth.lineage.set_index("track_id")
    results = []
    for part in plan.tiles:
        rows, cols = part.rows, part.cols
        points = truth.tracks[
            truth.tracks["y"].between(rows.start, rows.stop - 1)
            & truth.tracks["x"].between(cols.start, cols.stop - 1)
        ].reset_index(drop=True)
        cell = points["track_id"].to_numpy()
        new = np.r_[True, (np.diff(cell) != 0) | (np.diff(points["t"].to_numpy()) != 1)]
        run = np.cumsum(new)
        shift = rng.uniform(-jitter, jitter, (len(points), 2))
        tracks = pd.DataFrame(
            {
                "track_id": run,
                "t": points["t"],
                "y": (points["y"] - rows.start + shift[:, 0]).clip(0, rows.stop - rows.start - 1),
                "x": (points["x"] - cols.start + shift[:, 1]).clip(0, cols.stop - cols.start - 1),
                "visibility": 1.0,
            }
        )
        firsts = points[new].assign(run=run[new])
        ends = points.assign(run=run).groupby("track_id").last()
        last_run = {
            c: r for c, r, t in zip(ends.index, ends["run"], ends["t"], strict=True)
            if t == by_id["end"][c]
        }  # fmt: skip
        parents = {
            int(r): last_run[by_id["parent_id"][c]]
            for c, r, t in zip(firsts["track_id"], firsts["run"], firsts["t"], strict=True)
            if t == by_id["start"][c] and by_id["parent_id"][c] in last_run
        }
        lineage = lineage_from_tracks(tracks, parents)
        results.append(TrackingResult(tracks, lineage, divisions_from_lineage(lineage)))
    return results


def truth_ids(result: TrackingResult, truth: TrackingResult, within: float) -> Array:
    """The truth's track at each of the result's points: the nearest in its frame, within
    `within` px (0: none)."""
    ids = np.zeros(len(result.tracks), np.int64)
    for t, here in result.tracks.groupby("t"):
        there = truth.tracks[truth.tracks["t"] == t]
        dy = here["y"].to_numpy()[:, None] - there["y"].to_numpy()[None, :]
        dx = here["x"].to_numpy()[:, None] - there["x"].to_numpy()[None, :]
        distance = np.hypot(dy, dx)
        nearest = distance.argmin(axis=1)
        found = distance[np.arange(len(here)), nearest] < within
        ids[here.index] = np.where(found, there["track_id"].to_numpy()[nearest], 0)
    return ids


def crossing_divisions(truth: TrackingResult, plan: TilePlan) -> int:
    """Divisions whose mother's last point and daughters' first lie in more than one core."""
    at = truth.tracks.set_index(["track_id", "t"])
    count = 0
    divisions = truth.divisions
    for mother, t, a, b in zip(divisions["parent_id"], divisions["t"], divisions["daughter_a"],
                               divisions["daughter_b"], strict=True):  # fmt: skip
        points = at.loc[[(mother, t - 1), (a, t), (b, t)]]
        count += len(set(plan.owner(points["y"].to_numpy(), points["x"].to_numpy()))) > 1
    return count


@pytest.mark.parametrize("jitter", [0.0, 1.5])
def test_stitching_tiles_that_follow_every_cell_gives_the_truth_back(jitter: float) -> None:
    seq = simulate("small", seed=7, height=192, width=256, n_frames=20, division_rate=0.05,
                   speed=0.3)  # fmt: skip
    truth = seq.to_result()
    plan = plan_tiles(192, 256, seq.config.diameter, 100, 42)
    assert len(plan.tiles) == 12
    assert crossing_divisions(truth, plan) >= 3
    tables = stitch(plan, truth_tiles(truth, plan, jitter), seq.config.diameter / 2)
    result = TrackingResult(*tables, shape=seq.frames.shape)

    assert len(result.tracks) == len(truth.tracks)  # one point a cell a frame
    ids = truth_ids(result, truth, 2 * jitter + 1e-6)
    assert (ids > 0).all()
    pairs = pd.DataFrame({"track_id": result.tracks["track_id"], "truth": ids}).drop_duplicates()
    assert pairs["track_id"].is_unique  # no track jumps from a cell to another
    assert pairs["truth"].is_unique  # no cell's track is broken at a tile's border
    to_truth = dict(zip(pairs["track_id"], pairs["truth"], strict=True))
    lineage = result.lineage.assign(
        track_id=result.lineage["track_id"].map(to_truth),
        parent_id=result.lineage["parent_id"].map(to_truth).fillna(0).astype(np.int64),
    ).sort_values("track_id", ignore_index=True)
    pd.testing.assert_frame_equal(lineage, truth.lineage)  # every division kept its lineage
    assert len(result.divisions) == len(truth.divisions)
    assert set(result.divisions["status"]) == {"proposed"}


def test_two_tiles_that_place_a_cell_either_side_of_their_border_keep_it_once() -> None:
    # One cell moving right across the border at x = 64 (2 tiles: 0..79, 48..127); each tile
    # places it 1 px into the other's core while it is near the border.
    plan = plan_tiles(64, 128, 8.0, 80, 32)
    xs = {t: 40.0 + 4 * t for t in range(12)}
    near = {t for t, x in xs.items() if abs(x - 64) <= 4}
    left = {t: (30.0, x + (1.5 if t in near else 0)) for t, x in xs.items() if x < 80}
    right = {t: (30.0, x - 48 - (1.5 if t in near else 0)) for t, x in xs.items() if x >= 48}
    tables = stitch(plan, [result_of({1: left}), result_of({7: right})], 4.0)
    result = TrackingResult(*tables)
    assert result.lineage["track_id"].tolist() == [1]
    assert result.tracks["t"].tolist() == list(range(12))


def test_tiles_without_cells_stitch_into_empty_tables() -> None:
    plan = plan_tiles(64, 128, 8.0, 80, 32)
    empty = TrackingResult(empty_tracks(), empty_lineage(), empty_divisions())
    result = TrackingResult(*stitch(plan, [empty, empty], 4.0))
    assert (len(result.tracks), len(result.lineage), len(result.divisions)) == (0, 0, 0)
    one = result_of({3: {0: (10.0, 70.0), 1: (11.0, 72.0)}})  # in the second tile's core
    assert TrackingResult(*stitch(plan, [empty, one], 4.0)).tracks["x"].tolist() == [118, 120]


def result_of(centres: dict[int, dict[int, tuple[float, float]]]) -> TrackingResult:
    rows = [(k, t, y, x, 1.0) for k, track in centres.items() for t, (y, x) in track.items()]
    tracks = pd.DataFrame(rows, columns=["track_id", "t", "y", "x", "visibility"])
    lineage = lineage_from_tracks(tracks.sort_values(["track_id", "t"], ignore_index=True))
    return TrackingResult(tracks, lineage, divisions_from_lineage(lineage))


# --- the shipped model, tiled and whole -----------------------------------------------------


@pytest.fixture(scope="module")
def model() -> OnnxCap:
    return OnnxCap()


@pytest.fixture(scope="module")
def sequence() -> SimulatedSequence:
    return simulate("small", seed=3, height=SIDE[0], width=SIDE[1], n_frames=FRAMES)


@pytest.fixture(scope="module")
def tiled(sequence: SimulatedSequence, model: OnnxCap) -> TrackingResult:
    return track_tiled(sequence.frames, sequence.config.diameter, RawParams(), tile=TILE,
                       model=model)  # fmt: skip


@pytest.fixture(scope="module")
def whole(sequence: SimulatedSequence, model: OnnxCap) -> TrackingResult:
    return track_kernel(FrameStack(sequence.frames), sequence.config.diameter, RawParams(), model)


def test_tiled_tracking_scores_as_whole_frames_do(
    sequence: SimulatedSequence, tiled: TrackingResult, whole: TrackingResult
) -> None:
    assert tiled.metadata["tiling"]["grid"] == [2, 3]
    tiled_report, whole_report = evaluate(tiled, sequence), evaluate(whole, sequence)
    assert abs(tiled_report.tra - whole_report.tra) <= 0.01
    assert tiled_report.tra > 0.9


def test_tiles_find_no_cell_twice(tiled: TrackingResult, sequence: SimulatedSequence) -> None:
    # RAW's own rule: two tracks this near are one cell, unless they are sisters (the tracker
    # may put both daughter slots on one cell, tiled or not).
    close = sequence.config.diameter / 4
    parent = tiled.lineage.set_index("track_id")["parent_id"]
    for _, frame in tiled.tracks.groupby("t"):
        y, x = frame["y"].to_numpy(), frame["x"].to_numpy()
        mother = parent.reindex(frame["track_id"]).to_numpy()
        distance = np.hypot(y[:, None] - y[None, :], x[:, None] - x[None, :])
        sisters = (mother[:, None] == mother[None, :]) & (mother[:, None] > 0)
        near = np.triu(distance < close, 1) & ~sisters
        assert not near.any()


def test_cells_crossing_a_border_keep_their_track(
    sequence: SimulatedSequence, tiled: TrackingResult, whole: TrackingResult
) -> None:
    truth = sequence.to_result()
    plan = plan_tiles(*SIDE, sequence.config.diameter, TILE)
    owners = plan.owner(truth.tracks["y"].to_numpy(), truth.tracks["x"].to_numpy())
    crossing = truth.tracks.assign(owner=owners).groupby("track_id")["owner"].nunique() > 1
    # Daughters are left out: where a division lies is the lineage step's call (it may move it
    # a few frames on), which a tile, seeing less, can make otherwise than the whole frame.
    daughters = truth.lineage.set_index("track_id")["parent_id"] > 0
    crossing &= ~daughters.reindex(crossing.index)
    assert crossing.sum() >= 5
    radius = sequence.config.diameter / 2

    def tracks_per_cell(result: TrackingResult) -> pd.Series:
        cells = truth_ids(result, truth, radius)
        found = result.tracks.assign(cell=cells)
        found = found[found["cell"].isin(crossing.index[crossing])]
        return found.groupby("cell")["track_id"].nunique()

    # Each crossing cell the whole frames follow with one track, the tiles do too.
    per_cell = tracks_per_cell(whole)
    followed = per_cell.index[per_cell == 1]
    assert len(followed) >= 5
    assert (tracks_per_cell(tiled).reindex(followed) == 1).all()
    assert len(tiled.lineage) <= len(whole.lineage) * 1.15


def test_the_tiled_result_is_valid_and_says_how_it_was_tiled(tiled: TrackingResult) -> None:
    validate_tables(tiled.tracks, tiled.lineage, tiled.divisions)
    assert tiled.shape == (FRAMES, *SIDE)
    assert tiled.metadata["tiling"] == {
        "tile": TILE, "overlap": 56, "grid": [2, 3], "tile_shape": [108, 102]
    }  # fmt: skip
    assert tiled.metadata["backend"] == "kernel"
    assert tiled.metadata["seconds"]["stitch"] >= 0
    parents = tiled.lineage["parent_id"]
    assert set(tiled.divisions["parent_id"]) <= set(parents[parents > 0])


class CountingArray:
    """A stand-in for a dask / zarr array that records every read and refuses to be loaded
    whole."""

    def __init__(self, data: Array) -> None:
        self._data = data
        self.shape, self.dtype = data.shape, data.dtype
        self.reads: list[Any] = []

    def __getitem__(self, index: Any) -> Array:
        self.reads.append(index)
        part: Array = self._data[index]
        return part

    def __array__(self, *args: Any, **kwargs: Any) -> Array:
        raise AssertionError("the whole stack was loaded")


def test_tiles_are_read_a_tile_of_a_frame_at_a_time(model: OnnxCap) -> None:
    frames = simulate("small", seed=1, height=288, width=288, n_frames=3).frames
    lazy = CountingArray(frames)
    result = track_tiled(lazy, 14.0, RawParams(), tile=180, model=model)
    assert result.metadata["tiling"]["grid"] == [2, 2]
    grids: list[tuple[int, int, int]] = []
    tiles: list[tuple[int, int, int]] = []
    for index in lazy.reads:
        assert isinstance(index, tuple), f"read {index!r}: a whole frame"
        t, rows, cols = index
        part = (range(*rows.indices(288)), range(*cols.indices(288)))
        (grids if rows.step else tiles).append((t, len(part[0]), len(part[1])))
    # Each frame's normalisation from every other pixel (about MAX_SAMPLES of them), once.
    assert sorted(grids) == [(t, 144, 144) for t in range(3)]
    assert {(h, w) for _, h, w in tiles} == {(172, 172)}
    assert len(tiles) >= 4 * 3


def test_a_dask_stack_is_tracked_as_the_same_numpy_stack(model: OnnxCap) -> None:
    da = pytest.importorskip("dask.array")
    frames = simulate("small", seed=2, height=96, width=160, n_frames=4).frames
    dask_frames = da.from_array(frames, chunks=(1, 48, 48))
    expected = track_tiled(frames, 14.0, RawParams(), tile=120, model=model)
    result = track_tiled(dask_frames, 14.0, RawParams(), tile=120, model=model)
    assert result.metadata["tiling"]["grid"] == [1, 2]
    for name in ("tracks", "lineage", "divisions"):
        pd.testing.assert_frame_equal(getattr(result, name), getattr(expected, name))


# --- track() --------------------------------------------------------------------------------


def test_track_tiles_frames_too_large_for_the_model_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frames = simulate("small", seed=4, height=96, width=160, n_frames=3).frames
    monkeypatch.setattr(tiling, "MAX_UNTILED_MODEL_PIXELS", 64 * 64)
    kwargs: dict[str, Any] = {"diameter": 14.0, "backend": "kernel", "progress": False}
    auto = track(frames, **kwargs)
    assert auto.metadata["tiling"]["tile"] == plan_tiles(96, 160, 14.0).tile
    assert "tiling" not in track(frames, tile=False, **kwargs).metadata
    assert track(frames, tile=120, **kwargs).metadata["tiling"]["grid"] == [1, 2]


def test_track_checks_the_tile_before_any_work() -> None:
    frames = np.zeros((3, 64, 64), np.uint8)
    with pytest.raises(ValueError, match="tile of 30 px is smaller than twice the overlap"):
        track(frames, diameter=8.0, backend="kernel", tile=30)
    with pytest.raises(ValueError, match='backend="browser" tracks whole frames: tile=True'):
        track(frames, diameter=8.0, backend="browser", tile=True)
