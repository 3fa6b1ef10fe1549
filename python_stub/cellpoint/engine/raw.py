"""Rolling-as-window (RAW) inference, the paper's Algorithm 1, plus new cells from the heatmap.

This is the reference the browser engine (src/engine/raw.ts) is held to by shared test
vectors: it works in model pixels on whatever computes features and runs the tracker, and it
decides every track, death, division and new cell.

The loop: a window of up to `window` frames starts at t_cur with one query per living cell at
its t_cur position. The tracker's output is read frame by frame. A cell goes on while its own
column is visible; once it is not, it divides if both daughter slots are visible and lie either
side of it (the daughters become new tracks, children of the cell) and ends otherwise.

Two checks keep the network's invalid states from becoming divisions. A mother is gone when
her daughters appear (the paper's Fig. 2 has no visible mother beside visible daughters), so a
cell still visible beside lit daughter slots goes on: of 18 such divisions on 20 held-out
"small" seeds, 1 was true. Daughters lie either side of their mother: of the divisions on the
same seeds whose slots' midpoint lay farther from her than 0.2 nucleus diameters plus her last
step, 1 in 12 was true (on a "hard" seed, 0 in 25).

Sisters the tracker missed. Where the model has a sister head (cap/sisters.py), its map of
frames t - 1 and t names the pairs of sisters born at t. A pair the tracker did not divide
splits the track that was their mother at t - 1: the track nearest the pair's midpoint there,
within the reach `straddle` allows, that either went on to one of the sisters (or between
them) or ended at t - 1. She ends at t - 1 and the sisters start as her children. On dense
fields the tracker follows the mother into one daughter in most divisions (training/README.md).
The head also checks the tracker: a division of its daughter slots needs a sister pair there
(CONFIRM_FRACTION), for the slots light up on cells that do not divide, and the daughters begin
where that pair places them. The head is trained on where sisters lie in their first frame; the
slots follow daughters through a window and are looser there: of the tracker's divisions near a
true one (simplus and small training seeds, SIM+/02), 8 of 48 began a daughter more than 0.2
cell diameters from her marker's centre, the head's pairs 2 of 48, and the CTC's measures take
a daughter whose first point misses her marker as not found (pooled BC(1) over 19 nuclei
sequences, training seeds and held out, with the anaphase model: 0.58 at the slots, 0.64 at
the pair). Where the model has a division judge (judge.py) and RAW the preprocessed frames, the
judge, not `sister_threshold`, decides which pairs split their mother, from CANDIDATE_SCORE up:
it reads how the mother's brightness changed over the frames before.

A daughter does not divide again within `min_cycle` frames of her birth: a cell cycle takes
hours, many frames of any time-lapse that can be tracked. With the model before
`joint-cpu-*.pt` (training/README.md) such divisions were 2 of the 68 proposed on 16 held-out
"small" seeds and 3 of 127 on "hard" seed 10002, all false; 4 of 25 on SIM+/02's held-out
frames, one right (an earlier false division had made its mother a young daughter).

Heatmap peaks far from every living cell are new cells. Two tracks that have come onto one cell
(nearer than half of `min_separation`, and not sisters) are one too many: the younger ends. The
first frame with a division becomes the next t_cur, so the next window's queries include the
daughters. New cells wait: until the window has been read for NEW_CELL_HOLD frames, each goes
on to the nearest heatmap peak within `min_separation` of her last point (and ends where there
is none), and the first frame after that with a new cell still living becomes the next t_cur.
So the new cells of several frames join one window: on a field of 344 cells where cells come
into view every frame, restarting at each frame's new cells tracked every frame 7.5 times,
waiting 3.6 times (README, _Speed_). A window without events hands over at its last frame.

How far ahead each tracker call looks (`call_length`): twice as many frames as the window
before was read for, at least half of `window` and at most `window` (a full window after a
frame without cells). Events come about as often again, and on dense fields they come every
frame, where full calls were read for one frame of 24 (hard seed 10002: the track stage 92 s
-> 36 s, TRA 0.819 either way). Shorter calls would see too little ahead: at 2 frames hard
BC(1) falls from 0.12 to 0.08 and GOWT1/02 73-91 TRA from 0.972 to 0.967.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .judge import CANDIDATE_SCORE, HISTORY, PairCandidate, box_mean, pair_features
from .preprocess import FEATURE_STRIDE as STRIDE
from .track_store import Track, TrackStore

FloatArray = npt.NDArray[np.float32]
# (first frame, number of frames, queries [N, 3] (0, x, y)) -> points [T, N, 3, 2], vis [T, N, 3]
WindowTracker = Callable[[int, int, FloatArray], tuple[FloatArray, FloatArray]]
# frame index -> heatmap [h, w] (stride-4 map of cell-centre probability)
HeatmapSource = Callable[[int], FloatArray]
# frame index t >= 1 -> sister map [3, h, w] of the features of frames t - 1 and t (sisters.py)
SisterSource = Callable[[int], FloatArray]
# frame index -> the preprocessed model frame [H', W'], asked for frames t - HISTORY to t
ModelFrameSource = Callable[[int], FloatArray]
# a sister pair and the track it would split -> whether it is a division (judge.py)
PairJudge = Callable[[PairCandidate], bool]


# Two living tracks nearer each other than this fraction of `min_separation` follow one cell.
DUPLICATE_FRACTION = 0.5
# The sister pairs' columns after t: find_sisters' rows.
SISTER_COLUMNS = ("xa", "ya", "xb", "yb", "score")
# A division's daughters lie either side of their mother: their midpoint is nearer her last
# point than this fraction of `min_separation` plus her last step (she may have moved on).
DIVISION_OFFSET_FRACTION = 0.4
# Frames a window is read for before its new cells (followed on the heatmap meanwhile) make the
# next window start.
NEW_CELL_HOLD = 4
# With a sister head, the tracker's division needs a sister peak of at least this fraction of
# `sister_threshold` whose midpoint lies within DUPLICATE_FRACTION of `min_separation` of its
# daughter slots' midpoint (held-out small seeds: division precision 0.55 -> 0.75).
CONFIRM_FRACTION = 0.5


@dataclass(frozen=True)
class RawParams:
    window: int = 24  # l_win, frames of the longest tracker call (>= 2)
    detection_threshold: float = 0.25  # heatmap peak value that starts a cell
    visibility_threshold: float = 0.5  # a cell column below this is gone
    division_threshold: float = 0.5  # both daughter slots above this: a division
    sister_threshold: float = 0.4  # sister-map peak value that splits a mother (sisters.py)
    min_separation: float = 12.0  # model px: a peak nearer a living cell is that cell
    min_cycle: int = 5  # frames a cell born by division lives before she can divide (1: any)

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"window must be at least 2 frames, got {self.window}")
        for name in (
            "detection_threshold",
            "visibility_threshold",
            "division_threshold",
            "sister_threshold",
        ):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1), got {value}")
        if self.min_separation <= 0:
            raise ValueError(f"min_separation must be positive, got {self.min_separation}")
        if not (float(self.min_cycle).is_integer() and self.min_cycle >= 1):
            raise ValueError(
                f"min_cycle must be a whole number of frames >= 1, got {self.min_cycle}"
            )


def call_length(window: int, read: int) -> int:
    """Frames of the next tracker call after a window read for `read` frames after its first."""
    return min(window, max(2 * read, window // 2, 2))


def find_peaks(heatmap: FloatArray, threshold: float, min_separation: float) -> FloatArray:
    """Cell centres in a heatmap: [K, 3] rows (x, y, score) in model pixels, sorted by (y, x).

    A peak is a pixel above `threshold` that is greater than its left/upper neighbours and
    not less than its right/lower ones (so a plateau yields one peak), refined to sub-pixel by
    a parabola through each axis' neighbours. Of peaks closer than `min_separation`, the
    higher survives (ties: the earlier in row-major order).
    """
    h, w = heatmap.shape
    p = np.pad(heatmap.astype(np.float32), 1, constant_values=-np.inf)
    c = p[1:-1, 1:-1]
    is_peak = c > threshold
    for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):
        is_peak &= c > p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        is_peak &= c >= p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    ys, xs = np.nonzero(is_peak)
    scores = c[ys, xs]
    fx = _parabola(p[ys + 1, xs], p[ys + 1, xs + 2], scores)
    fy = _parabola(p[ys, xs + 1], p[ys + 2, xs + 1], scores)
    x = (xs + fx + 0.5) * STRIDE - 0.5
    y = (ys + fy + 0.5) * STRIDE - 0.5
    order = np.lexsort((np.arange(len(scores)), -scores))  # by score, then row-major
    # The kept peaks' positions in arrays, so that each candidate is held against all of them
    # in one step: a dense frame has hundreds of peaks.
    kept_x, kept_y = np.empty_like(x), np.empty_like(y)
    kept: list[int] = []
    separation_squared = min_separation * min_separation  # a product, as in the browser
    for i in order.tolist():
        n = len(kept)
        dx, dy = kept_x[:n] - x[i], kept_y[:n] - y[i]
        if np.all(dx * dx + dy * dy >= separation_squared):
            kept_x[n], kept_y[n] = x[i], y[i]
            kept.append(i)
    kept.sort()  # row-major order of the map
    return np.stack([x[kept], y[kept], scores[kept]], axis=1).astype(np.float32).reshape(-1, 3)


def find_sisters(sister_map: FloatArray, threshold: float, min_separation: float) -> FloatArray:
    """Sister pairs from the sister head's map [3, h, w] (cap/sisters.py): [K, 5] rows (xa, ya,
    xb, yb, score) in model pixels. Each midpoint peak (`find_peaks`) reads the half-axis
    (L cos 2θ, L sin 2θ) at its map pixel; the sisters lie at the midpoint ± L (cos θ, sin θ),
    recovered with square roots only (correctly rounded in both hosts)."""
    peaks = find_peaks(sister_map[0], threshold, min_separation)
    h, w = sister_map.shape[1:]
    rows = []
    for x, y, score in peaks.tolist():
        ix = min(w - 1, max(0, math.floor((x + 0.5) / STRIDE)))
        iy = min(h - 1, max(0, math.floor((y + 0.5) / STRIDE)))
        cos2, sin2 = float(sister_map[1, iy, ix]), float(sister_map[2, iy, ix])
        half = math.sqrt(cos2 * cos2 + sin2 * sin2)
        hx = math.sqrt(max(0.0, half * (half + cos2) / 2))
        hy = math.sqrt(max(0.0, half * (half - cos2) / 2))
        if sin2 < 0:
            hy = -hy
        rows.append((x - hx, y - hy, x + hx, y + hy, score))
    return np.array(rows, np.float32).reshape(-1, 5)


def _parabola(before: FloatArray, after: FloatArray, centre: FloatArray) -> FloatArray:
    """Sub-pixel offset of a parabola's vertex through three samples, in [-0.5, 0.5]."""
    before = np.where(np.isfinite(before), before, centre)
    after = np.where(np.isfinite(after), after, centre)
    curvature = before - 2 * centre + after
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, (before - after) / (2 * curvature), 0.0)
    return np.clip(offset, -0.5, 0.5).astype(np.float32)


@dataclass
class RawResult:
    """Tracks in model pixels, as plain columns, plus lineage and divisions."""

    tracks: dict[str, npt.NDArray[np.generic]]  # track_id, t, x, y, visibility
    lineage: dict[str, npt.NDArray[np.int64]]  # track_id, start, end, parent_id
    divisions: dict[str, npt.NDArray[np.generic]]  # parent_id, t, daughter_a, daughter_b, score
    # Every sister pair the head named, frame by frame (t, xa, ya, xb, yb, score; none without
    # a head): the evidence the lineage step (lineage.py) times divisions by.
    sisters: dict[str, npt.NDArray[np.generic]]
    windows: list[tuple[int, int, int]]  # (first frame, frames, queries) of each tracker call
    # The most tracks RAW held as objects at once (the rest were finished rows); 0 for tables
    # that did not come from a run in this process.
    peak_held_tracks: int = 0


def raw_inference(
    n_frames: int,
    heatmap: HeatmapSource,
    track_window: WindowTracker,
    params: RawParams,
    on_progress: Callable[[int, int], None] | None = None,
    sisters: SisterSource | None = None,
    frames: ModelFrameSource | None = None,
    judge: PairJudge | None = None,
) -> RawResult:
    """Tracks every cell through `n_frames` frames; `on_progress(frames_done, cells)`.

    With `frames` and `judge` as well as `sisters`, the judge decides which sister pairs
    split their mother (from CANDIDATE_SCORE up); without them, those above
    `sister_threshold` do."""
    if n_frames < 2:
        raise ValueError(f"tracking needs at least 2 frames, got {n_frames}")
    run = _RawInference(
        n_frames, heatmap, track_window, params, on_progress, sisters, frames, judge
    )
    return run.run()


class _RawInference:
    """One run of RAW: its state, the loop (`run`, `window`, `frame`, `follow`) and its rules,
    one method each, in the order of the browser's `RawInference` (src/engine/raw.ts)."""

    def __init__(
        self,
        n_frames: int,
        heatmap: HeatmapSource,
        track_window: WindowTracker,
        params: RawParams,
        on_progress: Callable[[int, int], None] | None,
        sisters: SisterSource | None,
        frames: ModelFrameSource | None,
        judge: PairJudge | None,
    ) -> None:
        self.n_frames, self.heatmap, self.track_window = n_frames, heatmap, track_window
        self.params, self.on_progress = params, on_progress
        self.sisters, self.frames, self.judge = sisters, frames, judge
        self.store = TrackStore()
        self.divisions: list[tuple[int, int, int, int, float]] = []
        self.sister_rows: list[FloatArray] = []  # each frame's pairs, t prepended
        self.parents: set[int] = set()  # tracks with daughters
        self.windows: list[tuple[int, int, int]] = []
        self.newcomers: list[Track] = []  # new cells since the window's first frame
        self.next_call = params.window  # frames of the next tracker call
        self.judging = sisters is not None and frames is not None and judge is not None
        # Float32 values are compared with float32 thresholds, whatever numpy's promotion rules
        # (numpy 1.x compares a float32 scalar with a Python float in float64): the browser
        # does the same.
        self.visible = np.float32(params.visibility_threshold)
        self.divides = np.float32(params.division_threshold)
        self.confirming = np.float32(params.sister_threshold * CONFIRM_FRACTION)
        self.candidate_floor = np.float32(
            CANDIDATE_SCORE if self.judging else params.sister_threshold
        )
        self.separation = np.float32(params.min_separation)
        self.duplicate = params.min_separation * DUPLICATE_FRACTION
        self.duplicate_squared = self.duplicate * self.duplicate
        self.offset = params.min_separation * DIVISION_OFFSET_FRACTION

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> RawResult:
        store = self.store
        self.add_new_cells(0, self.peaks(0))
        t_cur = 0
        while t_cur < self.n_frames - 1:
            if not store.living(t_cur):
                self.next_call = self.params.window
                t_cur += 1
                store.retire(t_cur)
                self.add_new_cells(t_cur, self.peaks(t_cur))
                if self.on_progress:
                    self.on_progress(t_cur + 1, store.made)
                continue
            t_cur = self.window(t_cur)
        tracks, lineage = store.tables()
        divisions = self.divisions
        sisters = np.concatenate([np.zeros((0, 6), np.float32), *self.sister_rows])
        return RawResult(
            tracks=tracks,
            lineage=lineage,
            divisions={
                "parent_id": np.array([d[0] for d in divisions], np.int64),
                "t": np.array([d[1] for d in divisions], np.int64),
                "daughter_a": np.array([d[2] for d in divisions], np.int64),
                "daughter_b": np.array([d[3] for d in divisions], np.int64),
                "score": np.array([d[4] for d in divisions], np.float64),
            },
            sisters={
                "t": sisters[:, 0].astype(np.int64),
                **{name: sisters[:, k + 1] for k, name in enumerate(SISTER_COLUMNS)},
            },
            windows=self.windows,
            peak_held_tracks=store.peak_held,
        )

    def window(self, t_cur: int) -> int:
        """One tracker call from t_cur with a query per living cell, read frame by frame up to
        the first frame with a division, or with a living new cell once read for NEW_CELL_HOLD
        frames; returns that frame (the window's last without one): the next window's first."""
        active = self.store.living(t_cur)
        self.newcomers = []
        length = min(self.next_call, self.n_frames - t_cur)
        queries = np.array([(0.0, tr.xs[-1], tr.ys[-1]) for tr in active], np.float32)
        points, vis = self.track_window(t_cur, length, queries)
        self.windows.append((t_cur, length, len(active)))
        read = length - 1  # frames after t_cur read
        for i in range(1, length):
            divided = self.frame(t_cur + i, active, points[i], vis[i])
            waiting = i >= NEW_CELL_HOLD and any(tr.alive for tr in self.newcomers)
            if divided or waiting:
                read = i
                break
        self.next_call = call_length(self.params.window, read)
        return t_cur + read

    def frame(self, t: int, active: list[Track], points: FloatArray, vis: FloatArray) -> bool:
        """Frame t: each living cell of the window goes on, divides or ends (the tracker's
        `points` [N, 3, 2] and `vis` [N, 3] of this frame), its new cells go on on the heatmap;
        then sisters the tracker did not divide, duplicate tracks, new cells. Whether a
        division came."""
        self.store.retire(t)
        pairs = self.sister_pairs(t)
        peaks = self.peaks(t)
        divided = False
        for n, tr in enumerate(active):
            divided = self.follow(tr, t, points[n], vis[n], pairs) or divided
        self.follow_newcomers(peaks)
        divided = self.split_sisters(t, pairs) or divided
        self.end_duplicates(t)
        self.newcomers += self.add_new_cells(t, peaks)
        if self.on_progress:
            self.on_progress(t + 1, self.store.made)
        return divided

    def follow(
        self, tr: Track, t: int, points: FloatArray, v: FloatArray, pairs: FloatArray | None
    ) -> bool:
        """A living cell at frame t, from her row of the tracker's output: on while her own
        column is visible, else divided if both daughter slots are lit, lie either side of her
        and (with a sister head) a sister pair confirms them (`birth_places`), else ended.
        Whether she divided."""
        if not tr.alive:
            return False
        if v[0] > self.visible:
            tr.add(*_xy(points[0]), float(v[0]))
            return False
        tr.alive = False
        if (
            v[1] > self.divides
            and v[2] > self.divides
            and self.can_divide(tr, t)
            and self.straddle(tr, points[1], points[2])
        ):
            places = self.birth_places(pairs, _xy(points[1]), _xy(points[2]))
            if places is not None:
                (xa, ya), (xb, yb) = places
                a = self.start_track(t, xa, ya, float(v[1]), tr.track_id)
                b = self.start_track(t, xb, yb, float(v[2]), tr.track_id)
                self.record_division(tr, t, a, b, float(min(v[1], v[2])))
                return True
        return False

    # --- the rules ---------------------------------------------------------------------------

    def can_divide(self, track: Track, t: int) -> bool:
        """Whether the track may have daughters born at t: not a daughter younger than
        `min_cycle` frames."""
        return track.parent_id == 0 or t - track.start >= self.params.min_cycle

    def start_track(self, t: int, x: float, y: float, v: float, parent: int = 0) -> Track:
        return self.store.start(t, x, y, v, parent)

    def record_division(self, mother: Track, t: int, a: Track, b: Track, score: float) -> None:
        self.divisions.append((mother.track_id, t, a.track_id, b.track_id, score))
        self.parents.add(mother.track_id)

    def midpoint_gap(self, mother: Track, k: int, mx: float, my: float) -> float | None:
        """How far daughters with midpoint (mx, my) lie from the mother's k-th point, if they
        lie either side of her there: nearer than DIVISION_OFFSET_FRACTION of min_separation
        plus her step into that point. Square roots, not hypot, so that both hosts compute
        the same correctly rounded numbers."""
        gap = math.sqrt(_squared(mx - mother.xs[k], my - mother.ys[k]))
        step = 0.0
        if k > 0:
            sx, sy = mother.xs[k] - mother.xs[k - 1], mother.ys[k] - mother.ys[k - 1]
            step = math.sqrt(_squared(sx, sy))
        return gap if gap < self.offset + step else None

    def straddle(self, mother: Track, a: FloatArray, b: FloatArray) -> bool:
        """Whether daughters at points a and b lie either side of the mother's last point."""
        mx, my = (float(a[0]) + float(b[0])) / 2, (float(a[1]) + float(b[1])) / 2
        return self.midpoint_gap(mother, len(mother.xs) - 1, mx, my) is not None

    def end_duplicates(self, t: int) -> None:
        """Two tracks on one cell (closer than DUPLICATE_FRACTION of min_separation, not
        sisters): the younger ends at t - 1."""
        here = [tr for tr in self.store.living(t) if tr.start < t]
        # Each track against all older ones at once (a dense frame holds hundreds).
        x = np.array([tr.xs[-1] for tr in here], np.float64)
        y = np.array([tr.ys[-1] for tr in here], np.float64)
        parent = np.array([tr.parent_id for tr in here], np.int64)
        alive = np.ones(len(here), bool)
        for k, young in enumerate(here):  # held tracks are in (start, id) order already
            dx, dy = x[:k] - x[k], y[:k] - y[k]
            sisters = (parent[:k] != 0) & (parent[:k] == young.parent_id)
            near = dx * dx + dy * dy < self.duplicate_squared  # exact in both hosts
            if np.any(near & alive[:k] & ~sisters):
                young.end_before_last()
                alive[k] = False

    def sister_pairs(self, t: int) -> FloatArray | None:
        """Frame t's sister pairs down to the confirming threshold (or the judge's floor);
        None without a head."""
        if self.sisters is None:
            return None
        threshold = float(min(self.confirming, self.candidate_floor))
        pairs = find_sisters(self.sisters(t), threshold, self.params.min_separation)
        self.sister_rows.append(np.insert(pairs, 0, np.float32(t), axis=1))
        return pairs

    def birth_places(
        self, pairs: FloatArray | None, a: tuple[float, float], b: tuple[float, float]
    ) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Where the daughters of the tracker's slots a and b begin: at the slots without a
        sister head; with one, at the sisters of the pair that confirms the division (the
        pair whose midpoint lies nearest theirs, within DUPLICATE_FRACTION of
        `min_separation`), given to the slots the way that puts them nearer together (the
        smaller sum of squared distances); None where no pair does."""
        if pairs is None:
            return a, b
        (ax, ay), (bx, by) = a, b
        mx, my = (ax + bx) / 2, (ay + by) / 2
        best, nearest = None, self.duplicate_squared
        for xa, ya, xb, yb, score in pairs.tolist():
            gap = _squared((xa + xb) / 2 - mx, (ya + yb) / 2 - my)
            if score > self.confirming and gap < nearest:
                best, nearest = (xa, ya, xb, yb), gap
        if best is None:
            return None
        xa, ya, xb, yb = best
        crossed = _squared(xb - ax, yb - ay) + _squared(xa - bx, ya - by)
        if crossed < _squared(xa - ax, ya - ay) + _squared(xb - bx, yb - by):
            return (xb, yb), (xa, ya)
        return (xa, ya), (xb, yb)

    def is_division(self, t: int, pair: list[float], mother: Track, gap: float) -> bool:
        """The judge's word on sisters `pair` (xa, ya, xb, yb, score) born at t to `mother`
        (without a judge, every pair above `sister_threshold` is one)."""
        if not self.judging:
            return True
        frames, judge = self.frames, self.judge
        assert frames is not None
        assert judge is not None
        xa, ya, xb, yb, score = pair
        k = t - 1 - mother.start  # her point at t - 1
        history = [
            box_mean(frames(t - 1 - j), mother.xs[k - j], mother.ys[k - j])
            for j in range(min(HISTORY, k + 1))
        ]
        now = frames(t)
        features = pair_features(
            score,
            math.sqrt(_squared(xa - xb, ya - yb)) / 2,
            gap,
            mother.alive and mother.end == t,
            history,
            (box_mean(now, xa, ya), box_mean(now, xb, yb)),
        )
        return judge(PairCandidate(t, (xa, ya, xb, yb, score), (mother.xs[k], mother.ys[k]),
                                   features))  # fmt: skip

    def split_sisters(self, t: int, pairs: FloatArray | None) -> bool:
        """Sisters born at t that the tracker did not divide: the track that was their mother
        at t - 1 (followed into one of them or between, or lost at t) and is nearest their
        midpoint, within the reach `straddle` allows, ends at t - 1; they start as her
        children."""
        if pairs is None:
            return False
        duplicate_squared = self.duplicate_squared
        # Daughters born at t so far, and the tracks that may be a mother here: the ones
        # `midpoint_gap` reads, as arrays, so that each pair is held against all at once.
        newborn = [tr for tr in self.store.held if tr.start == t and tr.parent_id]
        mothers = _Mothers(
            [
                tr
                for tr in self.store.held
                if tr.start < t
                and tr.track_id not in self.parents
                and self.can_divide(tr, t)
                and (tr.end == t if tr.alive else tr.end == t - 1)
            ],
            t,
        )
        found = False
        for pair in pairs[pairs[:, 4] > self.candidate_floor].tolist():
            xa, ya, xb, yb, score = pair
            mx, my = (xa + xb) / 2, (ya + yb) / 2
            if any(
                _near(tr, 0, x, y, duplicate_squared)
                for tr in newborn
                for x, y in ((xa, ya), (xb, yb))
            ):
                continue  # the tracker divided her already
            reach = math.sqrt(_squared(xa - xb, ya - yb)) / 2 + self.duplicate
            nearest = mothers.nearest(mx, my, reach * reach, self.offset)
            if nearest is None:
                continue
            k, gap = nearest
            mother = mothers.tracks[k]
            if not self.is_division(t, pair, mother, gap):
                continue
            mothers.open[k] = False  # one pair of daughters each
            if mother.alive:
                mother.end_before_last()
            a = self.start_track(t, xa, ya, score, mother.track_id)
            b = self.start_track(t, xb, yb, score, mother.track_id)
            newborn += [a, b]
            self.record_division(mother, t, a, b, score)
            found = True
        return found

    def peaks(self, t: int) -> FloatArray:
        """Frame t's heatmap peaks [K, 3] (x, y, score)."""
        params = self.params
        return find_peaks(self.heatmap(t), params.detection_threshold, params.min_separation)

    def follow_newcomers(self, peaks: FloatArray) -> None:
        """The window's new cells, oldest first, each on to the nearest of the frame's `peaks`
        no other took, within `min_separation` of her last point; one without ends."""
        reach = float(self.params.min_separation) * float(self.params.min_separation)
        candidates = peaks.tolist()
        taken: set[int] = set()
        for tr in self.newcomers:
            if not tr.alive:
                continue
            best, nearest = -1, reach
            for k, (x, y, _) in enumerate(candidates):
                squared = _squared(x - tr.xs[-1], y - tr.ys[-1])
                if k not in taken and squared < nearest:
                    best, nearest = k, squared
            if best < 0:
                tr.alive = False
                continue
            taken.add(best)
            x, y, score = candidates[best]
            tr.add(x, y, score)

    def add_new_cells(self, t: int, peaks: FloatArray) -> list[Track]:
        """`peaks` of frame t far from every living cell start new tracks, returned."""
        points = [(tr.xs[-1], tr.ys[-1]) for tr in self.store.living(t)]
        living = np.array(points, np.float32).reshape(-1, 2)
        started = []
        for x, y, score in peaks:
            near = np.hypot(living[:, 0] - x, living[:, 1] - y) if len(living) else None
            if near is not None and np.min(near) < self.separation:
                continue
            started.append(self.start_track(t, float(x), float(y), float(score)))
        return started


class _Mothers:
    """The tracks that may be the mother of sisters born at t (`split_sisters`), as arrays: each
    one's point at t - 1 and her step into it, and, where she lives on at t, her point there.
    The same sums and square roots as `midpoint_gap` and `_near`, so the same choices."""

    def __init__(self, tracks: list[Track], t: int) -> None:
        self.tracks = tracks
        before = [t - 1 - tr.start for tr in tracks]
        at = [(tr.xs[k], tr.ys[k]) for tr, k in zip(tracks, before, strict=True)]
        # the point before that: hers again at her first frame, a step of 0
        back = [
            (tr.xs[max(k - 1, 0)], tr.ys[max(k - 1, 0)])
            for tr, k in zip(tracks, before, strict=True)
        ]
        self.x, self.y = np.array(at, np.float64).reshape(-1, 2).T
        step_x, step_y = (np.array(at, np.float64) - np.array(back, np.float64)).reshape(-1, 2).T
        self.step = np.sqrt(step_x * step_x + step_y * step_y)
        self.lives_on = np.array([tr.alive for tr in tracks], bool)  # her last point is at t
        self.now_x = np.array([tr.xs[-1] for tr in tracks], np.float64)
        self.now_y = np.array([tr.ys[-1] for tr in tracks], np.float64)
        self.open = np.ones(len(tracks), bool)

    def nearest(
        self, mx: float, my: float, reach_squared: float, offset: float
    ) -> tuple[int, float] | None:
        """The open track whose point at t - 1 lies nearest the midpoint (mx, my), nearer than
        `offset` plus her step into it, and who, where she lives on at t, lies within the
        reach there (the first in `held` order on ties): her index, and that distance."""
        dx, dy = self.now_x - mx, self.now_y - my
        reaches = ~self.lives_on | (dx * dx + dy * dy < reach_squared)
        gx, gy = mx - self.x, my - self.y
        gap = np.sqrt(gx * gx + gy * gy)
        usable = self.open & reaches & (gap < offset + self.step)
        if not usable.any():
            return None
        k = int(np.flatnonzero(usable)[np.argmin(gap[usable])])
        return k, float(gap[k])


def _near(track: Track, k: int, x: float, y: float, squared: float) -> bool:
    """Whether the track's k-th point lies nearer (x, y) than the root of `squared`."""
    return _squared(track.xs[k] - x, track.ys[k] - y) < squared


def _squared(dx: float, dy: float) -> float:
    """dx² + dy² as products, so that both hosts round it alike."""
    return dx * dx + dy * dy


def _xy(point: FloatArray) -> tuple[float, float]:
    return float(point[0]), float(point[1])
