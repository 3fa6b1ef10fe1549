"""Frames larger than the model needs, tracked in tiles and stitched into one set of tables.

The plan (`TilePlan`, input pixels): along each axis, as few tiles of at most `tile` px as
cover the frame overlapping by at least `overlap` px, all of one size and spread evenly. Each
tile has a core that ends halfway through its overlap with the next tile, so the cores
partition the frame, and a cell whose centre lies in a tile's core lies at least overlap / 2
inside that tile wherever the tile does not end at the frame's edge: with an overlap of
MIN_OVERLAP_DIAMETERS diameters or more, whole and with context around it.

Each tile is tracked on its own by the kernel backend (`run_kernel`, then the lineage step of
`KernelRun.result`) with one model, reading only its pixels of each frame, so memory follows
the tile, not the frame. Frames are normalised over the whole frame (from a regular grid of
about MAX_SAMPLES pixels, read without the rest), as untiled tracking normalises them: a tile
with few cells is not stretched to its noise.

Stitching, in frame pixels:
- One point of each cell a frame. Points of different tiles nearer each other than
  `min_separation` in one frame (RAW's distance within which a detection is a living cell) are
  one cell: the tile whose core holds their mean keeps its point of it, for tiles that place a
  cell either side of a core border would otherwise both drop it or both keep it. Where that
  tile has no point there, the point deepest inside its own tile stays, if a diameter deep or
  more (a tile places a cell its edge cuts off the cell's centre). A point no other tile has
  near it stays where its own tile's core holds it.
- A tile's track is cut into pieces where its points stop being kept.
- A piece that ends at frame t and one of another tile that begins at t + 1 are one cell where
  either tile saw it where the other has it: the ending track's point at t + 1 near the
  beginning piece's first point, or the beginning track's point at t near the ending piece's
  last, within `min_separation`; one to one (`linear_sum_assignment`, nearest first). Joined
  pieces share one track id.
- A tile's daughter begins as a piece of her own; her mother is the piece that has the
  mother's last point (the mother's tile's own, or the nearest point of another tile there),
  where that piece ends then and goes on in no other piece. A mother keeps her two nearest
  daughters. Division rows follow the lineage (`divisions_from_lineage`), each with the best
  score a tile gave it, proposed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..io.frames import MIN_SIDE, FrameStack
from ..io.result import TrackingResult
from ..io.tables import (
    divisions_from_lineage,
    empty_divisions,
    empty_lineage,
    empty_tracks,
    lineage_from_tracks,
)
from .infer import CapModel, Lineage, OnnxCap, check_lineage, run_kernel
from .preprocess import MAX_SAMPLES, Geometry, Polarity, normalisation
from .raw import RawParams

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# The default tile side, in model pixels. Tracking 1024 x 1024 model pixels whole holds 384 MiB
# of features a window (24 frames of 64 float32 channels at stride 4) and grows the process by
# 0.9 GiB at its peak (768 x 768: 216 MiB, 0.5 GiB), whatever the sequence's length.
TILE_MODEL_SIDE = 1024
# `track()` tiles frames whose padded model size exceeds a default tile's.
MAX_UNTILED_MODEL_PIXELS = TILE_MODEL_SIDE * TILE_MODEL_SIDE
OVERLAP_DIAMETERS = 4.0  # the default overlap, in cell diameters
MIN_OVERLAP_DIAMETERS = 3.0  # the least: a cell in a core is whole inside its tile
_TILE_KEY = np.int64(1) << 32  # a tile's track is known by tile * _TILE_KEY + its id


@dataclass(frozen=True)
class Span:
    """One tile along an axis: its pixels [start, stop) and its core's [core_start, core_stop)."""

    start: int
    stop: int
    core_start: int
    core_stop: int


def axis_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """As few spans of one size, at most `tile`, as cover [0, length) overlapping by at least
    `overlap`, spread evenly; each core ends halfway through its overlap with the next."""
    if length <= tile:
        return [Span(0, length, 0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    side = math.ceil((length - overlap) / n) + overlap
    starts = [round(i * (length - side) / (n - 1)) for i in range(n)]
    cuts = [0, *[(starts[i + 1] + starts[i] + side) // 2 for i in range(n - 1)], length]
    return [Span(s, s + side, cuts[i], cuts[i + 1]) for i, s in enumerate(starts)]


@dataclass(frozen=True)
class Tile:
    """A tile's pixels and its core's, as (rows, cols) slices of the frame."""

    rows: slice
    cols: slice
    core_rows: slice
    core_cols: slice


@dataclass(frozen=True)
class TilePlan:
    """The tiles of frames of (height, width), row by row; their cores partition the frame."""

    height: int
    width: int
    diameter: float  # of the cells, px
    tile: int  # the largest tile side asked for
    overlap: int  # the least overlap of neighbouring tiles
    row_spans: tuple[Span, ...]
    col_spans: tuple[Span, ...]

    @property
    def tiles(self) -> list[Tile]:
        return [
            Tile(
                slice(r.start, r.stop),
                slice(c.start, c.stop),
                slice(r.core_start, r.core_stop),
                slice(c.core_start, c.core_stop),
            )
            for r in self.row_spans
            for c in self.col_spans
        ]

    def owner(self, y: FloatArray, x: FloatArray) -> IntArray:
        """The tile whose core holds each point (the pixel under it: pixel centres at whole
        coordinates)."""
        row = _span_of(self.row_spans, y, self.height)
        col = _span_of(self.col_spans, x, self.width)
        owners: IntArray = row * len(self.col_spans) + col
        return owners

    def depth(self, tile: IntArray, y: FloatArray, x: FloatArray) -> FloatArray:
        """How far each point lies inside its tile from the tile's nearest edge within the
        frame (inf where the tile has none)."""
        rows = [r for r in self.row_spans for _ in self.col_spans]  # tile k's, as `tiles`
        cols = [c for _ in self.row_spans for c in self.col_spans]
        gaps = []
        for spans, coord, size in ((rows, y, self.height), (cols, x, self.width)):
            start = np.array([s.start for s in spans], np.float64)[tile]
            stop = np.array([s.stop for s in spans], np.float64)[tile]
            gaps.append(np.where(start > 0, coord - start, np.inf))
            gaps.append(np.where(stop < size, stop - 1 - coord, np.inf))
        depth: FloatArray = np.minimum.reduce(gaps)
        return depth

    def describe(self) -> dict[str, Any]:
        """The tiling, for a result's metadata."""
        return {
            "tile": self.tile,
            "overlap": self.overlap,
            "grid": [len(self.row_spans), len(self.col_spans)],
            "tile_shape": [
                self.row_spans[0].stop - self.row_spans[0].start,
                self.col_spans[0].stop - self.col_spans[0].start,
            ],
        }


def _span_of(spans: Sequence[Span], coord: FloatArray, size: int) -> IntArray:
    pixel = np.clip(np.floor(np.asarray(coord, np.float64) + 0.5), 0, size - 1)
    cores = np.array([s.core_start for s in spans])
    index: IntArray = np.searchsorted(cores, pixel, side="right") - 1
    return index


def plan_tiles(
    height: int, width: int, diameter: float, tile: int | None = None, overlap: int | None = None
) -> TilePlan:
    """The tiles of frames of (height, width) with cells of `diameter` px: `tile` px a side at
    most (default: TILE_MODEL_SIDE model pixels), overlapping by `overlap` px at least
    (default: OVERLAP_DIAMETERS diameters, MIN_OVERLAP_DIAMETERS at least)."""
    scale = Geometry.for_diameter(height, width, diameter).scale  # checks the diameter
    least = math.ceil(MIN_OVERLAP_DIAMETERS * diameter)
    overlap = math.ceil(OVERLAP_DIAMETERS * diameter) if overlap is None else overlap
    tile = math.floor(TILE_MODEL_SIDE / scale) if tile is None else tile
    for name, value in (("tile", tile), ("overlap", overlap)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be a whole number of pixels, got {value!r}")
    if overlap < least:
        raise ValueError(
            f"overlap of {overlap} px is under {MIN_OVERLAP_DIAMETERS:g} cell diameters "
            f"({least} px for a diameter of {diameter:g} px): a cell at a tile's border would "
            "be whole in no tile"
        )
    if tile < max(2 * overlap, MIN_SIDE):
        raise ValueError(
            f"tile of {tile} px is smaller than twice the overlap ({2 * overlap} px)"
            if tile < 2 * overlap
            else f"tile of {tile} px is under {MIN_SIDE} px"
        )
    tile, overlap = int(tile), int(overlap)
    return TilePlan(
        height,
        width,
        diameter,
        tile,
        overlap,
        tuple(axis_spans(height, tile, overlap)),
        tuple(axis_spans(width, tile, overlap)),
    )


def needs_tiles(height: int, width: int, diameter: float) -> bool:
    """Whether `track()` tiles frames of (height, width) by default: their padded model size
    exceeds MAX_UNTILED_MODEL_PIXELS."""
    rows, cols = Geometry.for_diameter(height, width, diameter).padded
    return rows * cols > MAX_UNTILED_MODEL_PIXELS


class _FrameNormalisation:
    """Each frame's `normalisation` over the whole frame, from a regular grid of about
    MAX_SAMPLES of its pixels, read once; `sign` -1 negates frames of dark cells first, as
    `normalise` does."""

    def __init__(self, stack: FrameStack, polarity: Polarity) -> None:
        self._stack = stack
        self.sign = np.float32(-1.0 if polarity == "dark" else 1.0)
        _, height, width = stack.shape
        step = max(1, math.ceil(math.sqrt(height * width / MAX_SAMPLES)))
        self._grid = slice(None, None, step)
        self._known: dict[int, tuple[np.float32, np.float32]] = {}

    def __call__(self, t: int) -> tuple[np.float32, np.float32]:
        if t not in self._known:
            sample = self.sign * self._stack.region(t, self._grid, self._grid)
            self._known[t] = normalisation(sample)
        return self._known[t]


class _TileFrames:
    """One tile of every frame, normalised over the whole frame: a lazy (T, h, w) float32
    array, read a tile of a frame at a time."""

    dtype = np.dtype(np.float32)

    def __init__(self, stack: FrameStack, tile: Tile, bounds: _FrameNormalisation) -> None:
        self._stack, self._tile, self._bounds = stack, tile, bounds
        height = tile.rows.stop - tile.rows.start
        width = tile.cols.stop - tile.cols.start
        self.shape = (len(stack), height, width)

    def __getitem__(self, t: int) -> npt.NDArray[np.float32]:
        lo, scale = self._bounds(t)
        pixels = self._stack.region(t, self._tile.rows, self._tile.cols)
        signed = self._bounds.sign * pixels
        frame: npt.NDArray[np.float32] = ((signed - lo) * scale).astype(np.float32)
        return frame


def track_tiled(
    stack: Any,
    diameter: float,
    params: RawParams,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    model: CapModel | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    lineage: Lineage = "global",
    polarity: Polarity = "bright",
) -> TrackingResult:
    """Tracks a stack (a FrameStack, or anything it takes) of cells of `polarity` tile by tile
    with the kernel backend, each tile's result through its lineage step (`lineage`, as
    `to_result`'s), and
    stitches them into one result in input pixels (see the module's docstring); `tile` and
    `overlap` as `plan_tiles`'. The result's metadata holds the tiling (`TilePlan.describe`)
    and the tiles' figures: windows and tracker frames summed, peaks the largest, seconds by
    stage summed (total: the whole call's, stitching included)."""
    check_lineage(lineage)
    frames = stack if isinstance(stack, FrameStack) else FrameStack(stack)
    n_frames, height, width = frames.shape
    plan = plan_tiles(height, width, diameter, tile, overlap)
    model = model if model is not None else OnnxCap()
    bounds = _FrameNormalisation(frames, polarity)
    start = time.perf_counter()
    results: list[TrackingResult] = []
    for k, part in enumerate(plan.tiles):
        found = sum(len(r.lineage) for r in results)
        progress = _tile_progress(on_progress, k, len(plan.tiles), n_frames, found)
        tile_stack = FrameStack(_TileFrames(frames, part, bounds))
        run = run_kernel(
            tile_stack, diameter, params, model, progress, normalised=True, polarity=polarity
        )
        results.append(run.result(lineage))
    stitching = time.perf_counter()
    scale = Geometry.for_diameter(height, width, diameter).scale
    tracks, lineage_table, divisions = stitch(plan, results, params.min_separation / scale)
    end = time.perf_counter()
    metadata = _metadata(results, plan, end - start, end - stitching)
    return TrackingResult(tracks, lineage_table, divisions, frames.shape, metadata, frames)


def _tile_progress(
    on_progress: Callable[[int, int], None] | None,
    tile: int,
    n_tiles: int,
    n_frames: int,
    found: int,
) -> Callable[[int, int], None] | None:
    """Tile `tile`'s progress as the whole run's: frames done over all tiles, scaled to the
    sequence, and tracks found in the tiles so far."""
    if on_progress is None:
        return None

    def report(done: int, cells: int) -> None:
        on_progress((tile * n_frames + done) // n_tiles, found + cells)

    return report


def _metadata(
    results: Sequence[TrackingResult], plan: TilePlan, total: float, stitching: float
) -> dict[str, Any]:
    runs = [r.metadata for r in results]
    seconds = {stage: sum(m["seconds"][stage] for m in runs) for stage in runs[0]["seconds"]}
    seconds |= {"total": total, "stitch": stitching}
    return runs[0] | {
        "windows": sum(m["windows"] for m in runs),
        "tracker_frames": sum(m["tracker_frames"] for m in runs),
        "peak_feature_bytes": max(m["peak_feature_bytes"] for m in runs),
        "peak_held_tracks": max(m["peak_held_tracks"] for m in runs),
        "seconds": seconds,
        "tiling": plan.describe(),
    }


# --- stitching --------------------------------------------------------------------------------


@dataclass
class _Points:
    """Every tile's points in frame pixels, by tile, then track, then frame; a track is known
    by its key, tile * _TILE_KEY + its id in the tile."""

    tile: IntArray
    key: IntArray
    t: IntArray
    y: FloatArray
    x: FloatArray
    visibility: npt.NDArray[np.float32]
    parents: dict[int, int]  # a tile's daughter's key -> her mother's key
    scores: dict[int, float]  # a tile's mother's key -> her division's score

    @classmethod
    def gather(cls, plan: TilePlan, results: Sequence[TrackingResult]) -> _Points:
        columns: dict[str, list[npt.NDArray[Any]]] = {
            name: [] for name in ("tile", "key", "t", "y", "x", "visibility")
        }
        parents: dict[int, int] = {}
        scores: dict[int, float] = {}
        for k, (part, result) in enumerate(zip(plan.tiles, results, strict=True)):
            tracks, base = result.tracks, k * _TILE_KEY
            columns["tile"].append(np.full(len(tracks), k, np.int64))
            columns["key"].append(base + tracks["track_id"].to_numpy(np.int64))
            columns["t"].append(tracks["t"].to_numpy(np.int64))
            columns["y"].append(tracks["y"].to_numpy(np.float64) + part.rows.start)
            columns["x"].append(tracks["x"].to_numpy(np.float64) + part.cols.start)
            columns["visibility"].append(tracks["visibility"].to_numpy(np.float32))
            linked = result.lineage[result.lineage["parent_id"] != 0]
            for daughter, mother in zip(linked["track_id"], linked["parent_id"], strict=True):
                parents[int(base + daughter)] = int(base + mother)
            divisions = result.divisions
            for mother, score in zip(divisions["parent_id"], divisions["score"], strict=True):
                scores[int(base + mother)] = float(score)
        joined = {name: np.concatenate(parts) for name, parts in columns.items()}
        return cls(**joined, parents=parents, scores=scores)

    def coordinates(self, rows: IntArray, spacing: float) -> FloatArray:
        """(t * spacing, y, x) of rows: points of different frames lie `spacing` apart."""
        return np.stack([self.t[rows] * spacing, self.y[rows], self.x[rows]], axis=1)


class _Owned:
    """The points kept, found by place and frame within `radius`."""

    def __init__(self, points: _Points, own: BoolArray, radius: float, spacing: float) -> None:
        from scipy.spatial import cKDTree

        self.points, self.radius, self.spacing = points, radius, spacing
        self.rows = np.flatnonzero(own)
        self.tree = cKDTree(points.coordinates(self.rows, spacing).reshape(-1, 3))

    def near(self, rows: IntArray) -> list[list[tuple[int, float]]]:
        """For each of `rows` (any points), the kept points of its frame within `radius`, as
        (row, distance)."""
        if not len(rows) or not len(self.rows):
            return [[] for _ in rows]
        where = self.points.coordinates(rows, self.spacing)
        found = self.tree.query_ball_point(where, self.radius)
        out = []
        for point, hits in zip(where, found, strict=True):
            kept = self.rows[np.asarray(hits, np.int64)]
            dist = np.hypot(self.points.y[kept] - point[1], self.points.x[kept] - point[2])
            out.append(sorted(zip(kept.tolist(), dist.tolist(), strict=True), key=lambda h: h[1]))
        return out


@dataclass
class _Pieces:
    """Runs of one tile track's kept points in consecutive frames, by their first and last
    rows in `_Points`."""

    first: IntArray
    last: IntArray
    of_row: IntArray  # each kept row's piece, -1 for the rest
    before: BoolArray  # the piece's track has a point the frame before the piece
    after: BoolArray  # ... and the frame after it
    daughter: BoolArray  # the piece begins a tile's daughter


def stitch(
    plan: TilePlan, results: Sequence[TrackingResult], radius: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The tiles' results (in tile pixels, in `plan.tiles`' order) as one result's tracks,
    lineage and divisions in frame pixels; `radius`: the distance, in input pixels, within
    which two tiles' points are one cell (see the module's docstring)."""
    points = _Points.gather(plan, results)
    if not len(points.t):
        return empty_tracks(), empty_lineage(), empty_divisions()
    spacing = 2.0 * (plan.height + plan.width + radius)  # no two frames' points are near
    keep = _kept(plan, points, radius, spacing)
    owned = _Owned(points, keep, radius, spacing)
    pieces = _pieces(points, keep)
    following = _joins(points, pieces, owned)
    mothers = _mothers(points, pieces, owned, following)
    return _tables(points, pieces, following, mothers)


def _kept(plan: TilePlan, points: _Points, radius: float, spacing: float) -> BoolArray:
    """One point of each cell a frame (see the module's docstring): points of different tiles
    nearer each other than `radius` in one frame, and those near them, are one cell."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(points.t)
    pairs = cKDTree(points.coordinates(np.arange(n), spacing)).query_pairs(
        radius, output_type="ndarray"
    )
    pairs = pairs[points.tile[pairs[:, 0]] != points.tile[pairs[:, 1]]]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, cell = connected_components(graph, directed=False)
    size = np.bincount(cell)
    owner = plan.owner(np.bincount(cell, points.y) / size, np.bincount(cell, points.x) / size)
    keep: BoolArray = points.tile == owner[cell]
    unowned = np.flatnonzero((np.bincount(cell, keep) == 0) & (size > 1))
    if len(unowned):
        depth = plan.depth(points.tile, points.y, points.x)
        order = np.lexsort((-depth, cell))  # by cell, the deepest point first
        firsts = order[np.r_[True, cell[order][1:] != cell[order][:-1]]]
        firsts = firsts[depth[firsts] >= plan.diameter]
        keep[firsts[np.isin(cell[firsts], unowned)]] = True
    return keep


def _pieces(points: _Points, own: BoolArray) -> _Pieces:
    same = np.r_[False, points.key[1:] == points.key[:-1]]  # a row goes on the row before's track
    goes_on = np.r_[same[1:], False]
    kept_before = np.r_[False, own[:-1]]
    kept_after = np.r_[own[1:], False]
    first = np.flatnonzero(own & ~(same & kept_before))
    last = np.flatnonzero(own & ~(goes_on & kept_after))
    of_row = np.full(len(own), -1, np.int64)
    of_row[own] = np.cumsum(own & ~(same & kept_before))[own] - 1
    daughter = ~same[first] & np.isin(points.key[first], list(points.parents))
    return _Pieces(first, last, of_row, same[first], goes_on[last], daughter)


def _joins(points: _Points, pieces: _Pieces, owned: _Owned) -> IntArray:
    """The piece each piece goes on in (-1: none), one to one, nearest first."""
    from scipy.optimize import linear_sum_assignment

    cost: dict[tuple[int, int], float] = {}

    def candidate(ending: int, beginning: int, distance: float) -> None:
        if points.tile[pieces.first[ending]] == points.tile[pieces.first[beginning]]:
            return  # a tile's own tracks are its own call
        if pieces.daughter[beginning]:
            return  # a daughter's link is to her mother
        key = (ending, beginning)
        cost[key] = min(distance, cost.get(key, math.inf))

    ending = np.flatnonzero(pieces.after)
    for piece, hits in zip(ending.tolist(), owned.near(pieces.last[ending] + 1), strict=True):
        for row, distance in hits:
            if pieces.first[pieces.of_row[row]] == row:
                candidate(piece, int(pieces.of_row[row]), distance)
    beginning = np.flatnonzero(pieces.before)
    for piece, hits in zip(
        beginning.tolist(), owned.near(pieces.first[beginning] - 1), strict=True
    ):
        for row, distance in hits:
            if pieces.last[pieces.of_row[row]] == row:
                candidate(int(pieces.of_row[row]), piece, distance)

    following = np.full(len(pieces.first), -1, np.int64)
    by_frame: dict[int, list[tuple[int, int]]] = {}
    for pair in cost:
        by_frame.setdefault(int(points.t[pieces.last[pair[0]]]), []).append(pair)
    for pairs in by_frame.values():
        ends = sorted({a for a, _ in pairs})
        begins = sorted({b for _, b in pairs})
        matrix = np.full((len(ends), len(begins)), np.inf)
        for a, b in pairs:
            matrix[ends.index(a), begins.index(b)] = cost[a, b]
        finite = np.where(np.isfinite(matrix), matrix, 1e12)  # no pair at all: never chosen
        for i, j in zip(*linear_sum_assignment(finite), strict=True):
            if np.isfinite(matrix[i, j]):
                following[ends[i]] = begins[j]
    return following


def _mothers(
    points: _Points, pieces: _Pieces, owned: _Owned, following: IntArray
) -> dict[int, int]:
    """Each daughter piece's mother piece (see the module's docstring)."""
    ends = np.flatnonzero(np.r_[points.key[1:] != points.key[:-1], True])
    last_row = dict(zip(points.key[ends].tolist(), ends.tolist(), strict=True))
    daughters = np.flatnonzero(pieces.daughter)
    mother_rows = np.array(
        [last_row[points.parents[int(points.key[pieces.first[d]])]] for d in daughters], np.int64
    )
    claims: dict[int, list[tuple[float, int]]] = {}
    for daughter, row, hits in zip(daughters, mother_rows, owned.near(mother_rows), strict=True):
        if pieces.of_row[row] >= 0:  # her mother's tile kept the point
            hits = [(int(row), 0.0)]
        for hit, distance in hits:
            mother = int(pieces.of_row[hit])
            if pieces.last[mother] == hit and following[mother] < 0:
                claims.setdefault(mother, []).append((distance, int(daughter)))
                break
    return {
        daughter: mother for mother, found in claims.items() for _, daughter in sorted(found)[:2]
    }


def _tables(
    points: _Points, pieces: _Pieces, following: IntArray, mothers: dict[int, int]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Joined pieces as tracks, numbered by first frame, then place."""
    n = len(pieces.first)
    preceded = np.zeros(n, bool)
    preceded[following[following >= 0]] = True
    heads = np.flatnonzero(~preceded)
    first = pieces.first[heads]
    heads = heads[np.lexsort((points.x[first], points.y[first], points.t[first]))]
    track_of = np.zeros(n, np.int64)
    for number, head in enumerate(heads.tolist(), start=1):
        piece = head
        while piece >= 0:
            track_of[piece] = number
            piece = int(following[piece])
    rows = np.flatnonzero(pieces.of_row >= 0)
    tracks = pd.DataFrame(
        {
            "track_id": track_of[pieces.of_row[rows]],
            "t": points.t[rows],
            "y": points.y[rows],
            "x": points.x[rows],
            "visibility": points.visibility[rows],
        }
    ).sort_values(["track_id", "t"], ignore_index=True)
    parents = {int(track_of[d]): int(track_of[m]) for d, m in mothers.items()}
    scores: dict[int, float] = {}
    for daughter, mother in mothers.items():
        score = points.scores.get(points.parents[int(points.key[pieces.first[daughter]])])
        if score is not None:
            parent = int(track_of[mother])
            scores[parent] = max(score, scores.get(parent, 0.0))
    lineage = lineage_from_tracks(tracks, parents)
    return tracks, lineage, divisions_from_lineage(lineage, scores=scores, status="proposed")
