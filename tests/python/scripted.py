"""A scripted "network" for testing RAW inference: ground-truth cells and an oracle that knows them.

Shared by test_raw.py and make_vectors.py. The oracle stands in for the model only: its heatmap
has a Gaussian peak at every living cell's true centre, and its window tracker answers each
query with the true future of the cell nearest to the query at the window's first frame:
visible while that cell lives, its daughters in the two daughter slots after it divides,
nothing after it dies or leaves. Points of invisible slots are NaN, so that RAW reading a slot
it should not shows up in its tables. Its sister map (the sister head's output) has a Gaussian
peak at the midpoint of every pair of daughters at their first frame, with their axis.

Positions are model pixels (x, y); heatmap pixels are FEATURE_STRIDE model pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from cellpoint.engine.judge import FEATURES, TreeJudge
from cellpoint.engine.preprocess import FEATURE_STRIDE

FloatArray = npt.NDArray[np.float32]
Array = npt.NDArray[Any]

PEAK = 0.9  # a cell's usual heatmap peak: the visibility of a new cell's first point
OWN_VIS = 0.95  # the tracker's visibility of a living cell (see Oracle.vis_jitter)
DAUGHTER_VIS = (0.8, 0.7)  # ... of the daughter slots after a division: the score is 0.7
GONE_VIS = 0.05  # ... of an empty slot
PHANTOM_GAP = 7.0  # model px: phantom daughter slots either side of a cell (Oracle.phantom)
STRAY_GAP = 16.0  # model px: how far the second slot lies from a cell (Oracle.stray)
MATCH_RADIUS = 3.0  # model px: the tracker follows the nearest cell within this of a query
HEAT_SCALE = 256  # quantised heatmaps are q / 256, q in 0..255: exact in float32
# Model frames (the division judge's brightness): a disc of NUCLEUS_RADIUS model px per living
# cell on BACKGROUND, at CELL_LEVEL; a mother brightens by MITOSIS_STEP a frame over her last
# MITOSIS_FRAMES frames (the simulator's cue), newborn daughters start at NEWBORN_LEVEL.
NUCLEUS_RADIUS = 5.0
BACKGROUND, CELL_LEVEL, NEWBORN_LEVEL, MITOSIS_STEP, MITOSIS_FRAMES = 0.05, 0.4, 0.6, 0.1, 3


def _stump(feature: str, threshold: float, below: float, above: float) -> tuple[Any, ...]:
    return ((FEATURES.index(feature), threshold, 1, 2, 0.0), (-1, 0.0, -1, -1, below),
            (-1, 0.0, -1, -1, above))  # fmt: skip


# A hand-made judge for the scenes: a mother that brightened at t - 1 (d1 > 0.05) divides, and
# a low sister score (0.15 or less) counts against her, not enough to outweigh brightening.
SCENE_JUDGE = TreeJudge(
    baseline=-0.25,
    learning_rate=1.0,
    trees=(_stump("d1", 0.05, -3.0, 3.0), _stump("score", 0.15, -1.0, 0.5)),
    threshold=0.5,
)


def grid(m: float) -> float:
    """Model-pixel coordinate of the centre of heatmap pixel m (where peak refinement is exact)."""
    return (m + 0.5) * FEATURE_STRIDE - 0.5


def to_map(v: float) -> float:
    """Model pixels -> heatmap pixels."""
    return (v + 0.5) / FEATURE_STRIDE - 0.5


def gaussians(
    shape: tuple[int, int], peaks: list[tuple[float, float, float]], sigma: float
) -> npt.NDArray[np.float64]:
    """The sum of Gaussians with peaks (x, y, height), all in heatmap pixels, in float64."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    out = np.zeros(shape, np.float64)
    for x, y, height in peaks:
        out += height * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
    return out


def gaussian_map(
    shape: tuple[int, int], peaks: list[tuple[float, float, float]], sigma: float
) -> FloatArray:
    """A heatmap with Gaussian peaks (x, y, height), all in heatmap pixels."""
    return gaussians(shape, peaks, sigma).astype(np.float32)


@dataclass
class Cell:
    """A ground-truth cell: positions (x, y) in model pixels from `start` on."""

    cid: int
    start: int
    path: list[tuple[float, float]]
    parent: int = 0
    height: float = PEAK  # its heatmap peak
    vis: dict[int, float] = field(default_factory=dict)  # t -> own visibility, if not the usual
    kid_vis: tuple[float, float] = DAUGHTER_VIS  # of its daughter slots, once it has divided

    @property
    def end(self) -> int:
        return self.start + len(self.path) - 1

    def alive(self, t: int) -> bool:
        return self.start <= t <= self.end

    def at(self, t: int) -> tuple[float, float]:
        return self.path[t - self.start]


def moving(
    cid: int,
    start: int,
    end: int,
    x0: float,
    y0: float,
    vx: float = 0.0,
    vy: float = 0.0,
    parent: int = 0,
) -> Cell:
    """A cell moving at constant velocity, with a wobble so that no step repeats."""
    path = [
        (x0 + vx * i + 0.7 * math.sin(0.9 * i), y0 + vy * i + 0.6 * math.cos(1.3 * i) - 0.6)
        for i in range(end - start + 1)
    ]
    return Cell(cid, start, path, parent)


def divide(
    mother: Cell, t: int, ids: tuple[int, int], ends: tuple[int, int], spread: float = 8.0
) -> tuple[Cell, Cell]:
    """The daughters of `mother` (whose last frame is t - 1): they start `spread` px either side
    of its last position along x and move apart."""
    assert mother.end == t - 1
    x, y = mother.at(t - 1)
    a = moving(ids[0], t, ends[0], x - spread, y, vx=-1.0, vy=0.5, parent=mother.cid)
    b = moving(ids[1], t, ends[1], x + spread, y, vx=1.0, vy=-0.5, parent=mother.cid)
    return a, b


def turnover(n_frames: int) -> list[Cell]:
    """Cells that come and go for `n_frames` frames, about 6 in view at any time (a map of at
    least 24 x 32): in each of three places a cell lives 7 frames and the next enters 2 frames
    after it ended; in a fourth, a mother lives 5 frames, her daughters 5 more, and the next
    mother enters 2 frames after them."""
    cells: list[Cell] = []

    def add(start: int, end: int, x: float, y: float, parent: int = 0) -> Cell:
        cell = moving(len(cells) + 1, start, min(end, n_frames - 1), x, y, vx=0.3, parent=parent)
        cells.append(cell)
        return cell

    for place, (mx, my) in enumerate(((5, 4), (22, 5), (6, 18))):
        for start in range(3 * place, n_frames, 9):
            add(start, start + 6, grid(mx), grid(my))
    for start in range(0, n_frames - 5, 12):
        mother = add(start, start + 4, grid(21), grid(18))
        ids = (len(cells) + 1, len(cells) + 2)
        cells += divide(mother, start + 5, ids, (min(start + 9, n_frames - 1),) * 2)
    return cells


@dataclass
class Oracle:
    """The scripted model: heatmaps and window tracks from the ground truth `cells`.

    By default its answers are exact: float32 heatmaps, true positions, visibility OWN_VIS. The
    options make them look more like a network's while staying deterministic:

    - quantise: heatmaps are multiples of 1 / HEAT_SCALE (`levels`), so that two hosts reading
      them get bit-identical float32 maps;
    - jitter: amplitude (model px) of an error added to every tracked position;
    - vis_jitter: a living cell's visibility is OWN_VIS - vis_jitter * (1 + sin(...)), varying
      with the cell and frame (a cell's `vis` overrides it at given frames).

    It records what RAW asked: `reads` (frames whose heatmap was read, in order), `calls`
    (first, length, queries) and `answers` (points, visibility) of every tracker call.
    """

    cells: list[Cell]
    map_shape: tuple[int, int]  # heatmap (h, w)
    sigma: float = 1.2  # heatmap Gaussian, map px
    lose: set[tuple[int, int]] = field(default_factory=set)  # (cid, t) the tracker misses
    # (cid, t): the tracker also lights both daughter slots of a cell that goes on, PHANTOM_GAP
    # model px either side of it, at DAUGHTER_VIS: the invalid state a network may still output.
    phantom: set[tuple[int, int]] = field(default_factory=set)
    # (cid, t): the tracker loses a cell's own column but lights both daughter slots, one on the
    # cell and one STRAY_GAP model px to its right: daughters that do not lie either side of it.
    stray: set[tuple[int, int]] = field(default_factory=set)
    # Mothers (cid) whose division the tracker misses: it follows the first daughter on...
    follow: set[int] = field(default_factory=set)
    # ... or lights no daughter slot, so that she ends.
    blind: set[int] = field(default_factory=set)
    # Mothers (cid) whose division the sister map does not show.
    unseen: set[int] = field(default_factory=set)
    # Mothers (cid) that do not brighten before they divide, in the model frames.
    dull: set[int] = field(default_factory=set)
    jitter: float = 0.0
    vis_jitter: float = 0.0
    quantise: bool = False
    reads: list[int] = field(default_factory=list)
    sister_reads: list[int] = field(default_factory=list)
    frame_reads: list[int] = field(default_factory=list)
    calls: list[tuple[int, int, FloatArray]] = field(default_factory=list)
    answers: list[tuple[FloatArray, FloatArray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert len({c.cid for c in self.cells}) == len(self.cells)

    def living(self, t: int) -> list[Cell]:
        return [c for c in self.cells if c.alive(t)]

    def children(self, cell: Cell) -> list[Cell]:
        return [c for c in self.cells if c.parent == cell.cid]

    def heat(self, t: int) -> npt.NDArray[np.float64]:
        """Frame t's heatmap before rounding to float32 or quantising."""
        peaks = [(to_map(c.at(t)[0]), to_map(c.at(t)[1]), c.height) for c in self.living(t)]
        return gaussians(self.map_shape, peaks, self.sigma)

    def levels(self, t: int) -> npt.NDArray[np.uint8]:
        """Frame t's quantised heatmap, in units of 1 / HEAT_SCALE (not recorded as a read)."""
        q: npt.NDArray[np.uint8] = np.clip(
            np.rint(self.heat(t) * HEAT_SCALE), 0, HEAT_SCALE - 1
        ).astype(np.uint8)
        return q

    def heatmap(self, t: int) -> FloatArray:
        """RAW's heatmap source."""
        self.reads.append(t)
        if self.quantise:
            out: FloatArray = self.levels(t).astype(np.float32) / np.float32(HEAT_SCALE)
            return out
        return self.heat(t).astype(np.float32)

    def sister_map(self, t: int) -> FloatArray:
        """RAW's sister source: [3, h, w], a peak of `height` (quantised) at the midpoint of
        the daughters born at t, their doubled-angle half-axis on the 3 x 3 pixels around it
        (exact float32 values: multiples of 1 / 64)."""
        self.sister_reads.append(t)
        h, w = self.map_shape
        out = np.zeros((3, h, w), np.float32)
        peaks = []
        for mother in self.cells:
            kids = self.children(mother)
            if len(kids) != 2 or kids[0].start != t or not all(k.alive(t) for k in kids):
                continue
            if mother.cid in self.unseen:
                continue
            (ax, ay), (bx, by) = kids[0].at(t), kids[1].at(t)
            mx, my = to_map((ax + bx) / 2), to_map((ay + by) / 2)
            peaks.append((mx, my, mother.height))
            hx, hy = (bx - ax) / 2, (by - ay) / 2
            half = math.hypot(hx, hy)
            iy, ix = round(my), round(mx)
            rows, cols = slice(max(0, iy - 1), iy + 2), slice(max(0, ix - 1), ix + 2)
            out[1, rows, cols] = round((hx * hx - hy * hy) / half * 64) / 64
            out[2, rows, cols] = round(2 * hx * hy / half * 64) / 64
        q = np.clip(np.rint(gaussians(self.map_shape, peaks, self.sigma) * HEAT_SCALE), 0, 255)
        out[0] = q.astype(np.float32) / np.float32(HEAT_SCALE)
        return out

    def brightness(self, cell: Cell, t: int) -> float:
        """A cell's level in frame t's model frame (see MITOSIS_STEP)."""
        if cell.parent and t - cell.start < MITOSIS_FRAMES:
            return NEWBORN_LEVEL
        to_go = cell.end - t  # frames until her last
        if len(self.children(cell)) == 2 and cell.cid not in self.dull and to_go < MITOSIS_FRAMES:
            return CELL_LEVEL + MITOSIS_STEP * (MITOSIS_FRAMES - to_go)
        return CELL_LEVEL

    def frame_levels(self, t: int) -> npt.NDArray[np.uint8]:
        """Frame t's model frame in units of 1 / HEAT_SCALE (not recorded as a read)."""
        h, w = self.map_shape
        ys, xs = np.mgrid[: h * FEATURE_STRIDE, : w * FEATURE_STRIDE]
        frame = np.full(ys.shape, BACKGROUND)
        for c in self.living(t):
            x, y = c.at(t)
            inside = (xs - x) ** 2 + (ys - y) ** 2 <= NUCLEUS_RADIUS**2
            frame[inside] = np.maximum(frame[inside], self.brightness(c, t))
        q: npt.NDArray[np.uint8] = np.clip(np.rint(frame * HEAT_SCALE), 0, 255).astype(np.uint8)
        return q

    def model_frame(self, t: int) -> FloatArray:
        """RAW's model-frame source (for the division judge): exact float32 levels."""
        self.frame_reads.append(t)
        out: FloatArray = self.frame_levels(t).astype(np.float32) / np.float32(HEAT_SCALE)
        return out

    def wobble(self, cid: int, t: int, k: int) -> float:
        return self.jitter * math.sin(12.9898 * cid + 78.233 * t + 37.719 * k)

    def position(self, cell: Cell, t: int) -> tuple[float, float]:
        x, y = cell.at(t)
        return x + self.wobble(cell.cid, t, 0), y + self.wobble(cell.cid, t, 1)

    def nearest(self, t: int, x: float, y: float) -> Cell | None:
        """The cell living at t nearest to (x, y), if within MATCH_RADIUS (the last on ties)."""
        best, dist = None, MATCH_RADIUS
        for c in self.living(t):
            d = math.hypot(c.at(t)[0] - x, c.at(t)[1] - y)
            if d <= dist:
                best, dist = c, d
        return best

    def track_window(self, first: int, length: int, queries: FloatArray) -> tuple[Array, Array]:
        """RAW's window tracker: [length, N, 3, 2] points and [length, N, 3] visibilities."""
        assert queries.dtype == np.float32
        assert queries.ndim == 2
        assert queries.shape[1] == 3
        n = len(queries)
        points = np.full((length, n, 3, 2), np.nan, np.float32)
        vis = np.full((length, n, 3), GONE_VIS, np.float32)
        for q, (_, qx, qy) in enumerate(queries.tolist()):
            cell = self.nearest(first, qx, qy)
            if cell is None:
                continue  # a query on nothing: invisible throughout
            for i in range(length):
                t = first + i
                if cell.alive(t):
                    if (cell.cid, t) in self.lose and i > 0:
                        break  # lost from here to the window's end
                    points[i, q, 0] = self.position(cell, t)
                    usual = OWN_VIS - self.vis_jitter * (1 + math.sin(cell.cid + 0.7 * t))
                    vis[i, q, 0] = cell.vis.get(t, usual)
                    if (cell.cid, t) in self.stray:
                        x, y = points[i, q, 0]
                        points[i, q, 1:] = [(x, y), (x + STRAY_GAP, y)]
                        vis[i, q] = (GONE_VIS, *DAUGHTER_VIS)
                    if (cell.cid, t) in self.phantom:
                        x, y = points[i, q, 0]
                        points[i, q, 1:] = [(x - PHANTOM_GAP, y), (x + PHANTOM_GAP, y)]
                        vis[i, q, 1:] = DAUGHTER_VIS
                    continue
                kids = self.children(cell)
                if cell.cid in self.follow and kids and kids[0].alive(t):
                    cell = kids[0]
                    points[i, q, 0] = self.position(cell, t)
                    vis[i, q, 0] = OWN_VIS
                    continue
                if cell.cid in self.blind:
                    break
                if len(kids) == 2 and all(k.alive(t) for k in kids):
                    for slot, kid in enumerate(kids, start=1):
                        points[i, q, slot] = self.position(kid, t)
                        vis[i, q, slot] = cell.kid_vis[slot - 1]
        self.calls.append((first, length, queries.copy()))
        self.answers.append((points.copy(), vis.copy()))
        return points, vis
