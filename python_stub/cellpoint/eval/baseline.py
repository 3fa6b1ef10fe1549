"""The classical baseline CAP is measured against: LoG spot detection + LAP tracking with splitting.

Both halves come from PyPI, as they would in a biologist's script:

- detection: `skimage.feature.blob_log` on each frame on its own, normalised as the CAP model's
  input is (`preprocess.normalise`: 1st percentile -> 0, 99.8th -> 1; dark cells negated
  first), after shrinking the frame
  (antialiased, `preprocess.resize_weights`) so that nuclei are about `WORKING_DIAMETER` px
  wide: the scales then do not depend on the magnification, and a 1024 x 1024 GOWT1 frame costs
  what a 256 x 256 one does. Scales span `SIGMA_RANGE` x d / (2 sqrt 2) (a disk of diameter d
  answers most strongly at sigma = d / (2 sqrt 2)); the low end reaches newborn daughters. The
  threshold on the scale-normalised LoG response is the larger of `threshold` (default 0.02: a
  disk of contrast c answers about 0.74 c, so nuclei down to ~3% of the frame's bright end) and
  `noise_k` (5) standard deviations of what the frame's own pixel noise alone would answer
  (Immerkaer's estimate), so that a frame with no nuclei gives no detections. Detections on the
  frame's border are kept: the frame is padded with its median, so that a nucleus cut by the
  border peaks on its visible part. Each LoG peak is then moved to the intensity centroid of its
  nucleus (mean shift, as trackpy refines its spots; `refine`), since LoG peaks drift towards
  texture and bright foci while CTC markers sit at the centre; peaks that meet are merged.
- linking: `laptrack.LapTrack` (Jaqaman et al., Nature Methods 2008: frame-to-frame LAP, then a
  second LAP that closes gaps and splits segments; alternative costs estimated by laptrack, as
  TrackMate does), squared Euclidean costs in input pixels, merging off. Its tree becomes the
  result's tables (schema/tables.schema.json): a node with two successors is a division (each
  daughter a new track whose parent is the mother); a link that skips frames (gap closing) is
  bridged by positions interpolated linearly across the gap (visibility `GAP_VISIBILITY`), so that
  every track covers consecutive frames as CTC requires and no continuation link is needed.

Defaults, derived from the nucleus diameter d (input pixels), were chosen on simulated
sequences ("small" seeds 10001 and 3, "hard" seed 10002, "gowt1" cropped to 512 x 512 x 40,
seed 10003) by TRA and division F1; the measured alternatives are in the comments below.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..engine.preprocess import Polarity, check_polarity, normalise, resize_weights
from ..io.frames import FrameStack
from ..io.result import TrackingResult
from ..io.tables import divisions_from_lineage, empty_divisions, empty_lineage, empty_tracks

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["BaselineParams", "detect_frame", "track_baseline"]

WORKING_DIAMETER = 16.0  # px: frames with larger nuclei are shrunk to this before LoG
# LoG scales, as multiples of d / (2 sqrt 2). (0.8, 1.2) loses newborn daughters and dim nuclei
# (TRA on "hard" 0.68 instead of 0.74), (0.5, 1.0) splits nuclei on their texture.
SIGMA_RANGE = (0.6, 1.2)
NUM_SIGMA = 5
# Floor of the LoG threshold. On the simulated sequences the noise term decides; on the real
# GOWT1 frames, whose background is not white noise, this does (the noise term alone: 4x FP).
DEFAULT_THRESHOLD = 0.02
# Noise standard deviations the LoG response must reach. 5: no detection on simulated frames
# without nuclei ("small", "gowt1"); 4 finds a few (5 in 24 "small" frames) and gains 0.026 TRA
# on "hard" (SNR 3); 3 finds many.
NOISE_K = 5.0
# Centroid refinement window (Gaussian sd, in diameters): detections inside their CTC marker
# on "hard" 72% unrefined, 79% at 0.25; 0.15 and 0.35 do worse.
REFINE = 0.25
REFINE_STEPS = 3
# Refined points nearer than this many diameters are one nucleus (daughters are born about
# 0.6 d apart): 0.4 to 0.6 lose daughters.
MERGE = 0.25
# Frames both daughters must last for a division to stand; 1 is plain laptrack. 3 halves
# laptrack's false divisions on "hard" (880 -> 354 for 188 true) but loses true ones too:
# division F1 about the same (pooled over the simulated sequences 0.096 vs 0.110).
MIN_DAUGHTER = 1
GAP_VISIBILITY = 0.5  # visibility of a position interpolated across a closed gap
PACKAGES = {"laptrack": "laptrack", "skimage": "scikit-image"}  # module -> distribution

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BaselineParams:
    """Everything that decides the baseline's output (lengths in input pixels)."""

    diameter: float
    threshold: float = DEFAULT_THRESHOLD  # floor of the LoG threshold
    # Cells brighter or darker than the background; dark frames are negated before the
    # detector, which looks for maxima (as CAP's input is).
    polarity: Polarity = "bright"
    # Longest link between consecutive frames and across a gap; None: 0.75 d. Cells of the
    # presets move 0.15-0.3 d a frame; 0.5 d and 1.0 d measured the same or 0.01 TRA worse.
    max_distance: float | None = None
    # Longest distance from a mother's last point to a daughter's first; None: 0.75 d
    # (daughters appear about 0.3 d from the mother in the simulator, 0.5 d in SIM+); 0.5 d
    # loses true divisions, 1.0 d adds false ones. 0 disables divisions.
    split_distance: float | None = None
    # Frames a track may skip where its nucleus was missed (0: no gap closing); 1 gains 0.003
    # to 0.01 TRA on the simulated sequences; the skipped frames are interpolated.
    gap_frames: int = 1
    overlap: float = 0.5  # blob_log: blobs overlapping by more than this are one (0.9: worse)
    noise_k: float = NOISE_K  # the threshold is at least this many noise sds (0: off)
    refine: float = REFINE  # centroid refinement window in diameters (0: off)
    merge: float = MERGE  # refined points nearer than this many diameters are one
    min_daughter: int = MIN_DAUGHTER  # frames both daughters must last for a division to stand
    sigma_range: tuple[float, float] = SIGMA_RANGE
    num_sigma: int = NUM_SIGMA
    working_diameter: float = WORKING_DIAMETER

    def __post_init__(self) -> None:
        if not self.diameter > 0:
            raise ValueError(f"diameter must be positive, got {self.diameter}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be positive, got {self.threshold}")
        check_polarity(self.polarity)
        if self.noise_k < 0 or self.refine < 0 or self.merge < 0:
            raise ValueError("noise_k, refine and merge must be >= 0")
        if self.max_distance is not None and not self.max_distance > 0:
            raise ValueError(f"max_distance must be positive, got {self.max_distance}")
        if self.split_distance is not None and self.split_distance < 0:
            raise ValueError(f"split_distance must be >= 0, got {self.split_distance}")
        if self.gap_frames < 0:
            raise ValueError(f"gap_frames must be >= 0, got {self.gap_frames}")
        lo, hi = self.sigma_range
        if not 0 < lo <= hi:
            raise ValueError(f"sigma_range must be 0 < low <= high, got {self.sigma_range}")
        if self.num_sigma < 1:
            raise ValueError(f"num_sigma must be >= 1, got {self.num_sigma}")

    @property
    def link_distance(self) -> float:
        return self.max_distance if self.max_distance is not None else 0.75 * self.diameter

    @property
    def division_distance(self) -> float:
        return self.split_distance if self.split_distance is not None else 0.75 * self.diameter


class _Shrink:
    """Normalise and shrink frames of one shape so that nuclei are `working_diameter` wide."""

    def __init__(self, height: int, width: int, params: BaselineParams) -> None:
        self.polarity = params.polarity
        self.scale = min(1.0, params.working_diameter / params.diameter)
        self.height, self.width = height, width
        self.h = max(1, round(height * self.scale))
        self.w = max(1, round(width * self.scale))
        self._wy = resize_weights(height, self.h) if self.h != height else None
        self._wx = resize_weights(width, self.w) if self.w != width else None
        sigma = params.diameter * self.scale / (2 * math.sqrt(2))
        self.min_sigma = params.sigma_range[0] * sigma
        self.max_sigma = params.sigma_range[1] * sigma

    def __call__(self, frame: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float32], float]:
        """The working image, and the pixel noise (standard deviation) of the normalised frame
        before shrinking, where it is white."""
        img = normalise(frame, self.polarity)
        noise = _pixel_noise(img)
        if self._wy is not None:
            img = self._wy @ img
        if self._wx is not None:
            img = img @ self._wx.T
        return img, noise

    def to_input(self, y: FloatArray, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Working-pixel (y, x) -> input-pixel (y, x), pixel centres at integers."""
        yy = (y + 0.5) * (self.height / self.h) - 0.5
        xx = (x + 0.5) * (self.width / self.w) - 0.5
        return yy, xx


def detect_frame(frame: npt.NDArray[Any], params: BaselineParams) -> FloatArray:
    """Nucleus centres of one (H, W) frame: [K, 2] rows (y, x) in input pixels."""
    shrink = _Shrink(frame.shape[0], frame.shape[1], params)
    return _detect(*shrink(frame), shrink, params)


def _detect(
    img: npt.NDArray[np.float32], noise: float, shrink: _Shrink, params: BaselineParams
) -> FloatArray:
    from skimage.feature import blob_log

    # Pad with the frame's median (its background) rather than reflecting: a nucleus cut by the
    # border then peaks on its visible part instead of on the border line.
    pad = math.ceil(3 * shrink.max_sigma)
    padded = np.pad(img, pad, mode="constant", constant_values=float(np.median(img)))
    # White noise of standard deviation s answers the scale-normalised LoG at scale sigma (in
    # input pixels, where the noise is white) with standard deviation s / (sigma sqrt(2 pi)).
    sigma_in = shrink.min_sigma / shrink.scale
    floor = params.noise_k * noise / (sigma_in * math.sqrt(2 * math.pi))
    blobs = blob_log(  # type: ignore[no-untyped-call]
        padded,
        min_sigma=shrink.min_sigma,
        max_sigma=shrink.max_sigma,
        num_sigma=params.num_sigma,
        threshold=max(params.threshold, floor),
        overlap=params.overlap,
        exclude_border=False,
    )
    points = blobs[:, :2].astype(np.float64) - pad
    inside = np.all((points >= 0) & (points <= np.array([shrink.h - 1, shrink.w - 1])), axis=1)
    points = points[inside]
    if len(points) and params.refine > 0:
        points = _refine(img, points, params.diameter * shrink.scale, params)
    if len(points) == 0:
        return np.zeros((0, 2), np.float64)
    y, x = shrink.to_input(points[:, 0], points[:, 1])
    out = np.stack([y, x], axis=1)
    return out[np.lexsort((out[:, 1], out[:, 0]))]


def _pixel_noise(img: npt.NDArray[np.float32]) -> float:
    """Standard deviation of an image's pixel noise, as Immerkaer estimates it (Computer
    Vision and Image Understanding, 1996): the mean absolute response to a 3 x 3 mask that
    cancels smooth structure, so that nuclei barely count."""
    if min(img.shape) < 3:
        return 0.0
    from scipy import ndimage as ndi

    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = ndi.correlate(img, mask)[1:-1, 1:-1]
    return math.sqrt(math.pi / 2) * float(np.mean(np.abs(response))) / 6


def _refine(
    img: npt.NDArray[np.float32], points: FloatArray, diameter: float, params: BaselineParams
) -> FloatArray:
    """Mean-shift each point towards the intensity centroid of its nucleus (trackpy's
    refinement): a Gaussian window of `refine * diameter`, intensities above the patch's
    minimum, `REFINE_STEPS` steps. LoG peaks drift towards texture and bright foci; centroids
    sit where CTC markers are. Points that meet (closer than `merge * diameter`) become one."""
    from scipy import ndimage as ndi

    smooth = ndi.gaussian_filter(img, max(0.5, 0.1 * diameter))
    r = max(1, math.ceil(0.6 * diameter))
    padded = np.pad(smooth, r, mode="edge")
    offsets = np.arange(-r, r + 1, dtype=np.float64)
    width = params.refine * diameter
    limit = np.array([img.shape[0] - 1, img.shape[1] - 1], np.float64)
    out = points.copy()
    for _ in range(REFINE_STEPS):
        centre = np.clip(np.rint(out).astype(np.int64), 0, limit.astype(np.int64))
        rows = centre[:, 0, None] + r + offsets.astype(np.int64)[None]
        cols = centre[:, 1, None] + r + offsets.astype(np.int64)[None]
        patches = padded[rows[:, :, None], cols[:, None, :]].astype(np.float64)
        weight = np.clip(patches - patches.min(axis=(1, 2), keepdims=True), 0, None)
        dy = (centre[:, 0] - out[:, 0])[:, None] + offsets[None]  # [K, P]
        dx = (centre[:, 1] - out[:, 1])[:, None] + offsets[None]
        weight *= np.exp(-(dy[:, :, None] ** 2 + dx[:, None, :] ** 2) / (2 * width**2))
        total = weight.sum(axis=(1, 2)) + 1e-12
        shift = np.stack(
            [
                (weight * dy[:, :, None]).sum(axis=(1, 2)) / total,
                (weight * dx[:, None, :]).sum(axis=(1, 2)) / total,
            ],
            axis=1,
        )
        out = np.clip(out + shift, 0, limit)
    return _merge(out, params.merge * diameter)


def _merge(points: FloatArray, distance: float) -> FloatArray:
    """Drop every point closer than `distance` to an earlier one."""
    from scipy.spatial import cKDTree

    pairs = cKDTree(points).query_pairs(distance, output_type="ndarray")
    drop = np.zeros(len(points), bool)
    for i, j in sorted(map(tuple, pairs.tolist())):
        if not drop[i]:
            drop[j] = True
    return points[~drop]


def track_baseline(
    frames: Any,
    diameter: float,
    *,
    threshold: float | None = None,
    max_distance: float | None = None,
    split_distance: float | None = None,
    gap_frames: int = 1,
    **options: Any,
) -> TrackingResult:
    """Track a (T, H, W) stack with LoG detection + laptrack; tables as `cellpoint.track`'s.

    frames: anything `FrameStack` accepts (numpy, list of 2D arrays, dask, zarr).
    diameter: typical nucleus diameter in input pixels.
    threshold: floor of the threshold on the scale-normalised LoG response of normalised
        frames (lower finds dimmer nuclei); default 0.02. The threshold is also at least
        `noise_k` (default 5) standard deviations of the frame's noise response.
    max_distance: longest link between consecutive frames, and across a closed gap (px);
        default 0.75 * diameter.
    split_distance: longest distance from a mother's last point to a daughter's first (px);
        default 0.75 * diameter; 0 finds no divisions.
    gap_frames: frames a track may skip where a nucleus was missed (0: no gap closing).
    options: further `BaselineParams` fields (polarity, noise_k, refine, merge, min_daughter,
        overlap, sigma_range, num_sigma, working_diameter).
    """
    _require_packages()
    stack = frames if isinstance(frames, FrameStack) else FrameStack(frames)
    params = BaselineParams(
        diameter=float(diameter),
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        max_distance=max_distance,
        split_distance=split_distance,
        gap_frames=gap_frames,
        **options,
    )
    n_frames, height, width = stack.shape
    shrink = _Shrink(height, width, params)
    start = time.perf_counter()
    coords = [_detect(*shrink(stack[t]), shrink, params) for t in range(n_frames)]
    detected = time.perf_counter()
    tracks, lineage = _link(coords, params)
    divisions = (
        divisions_from_lineage(lineage, status="proposed") if len(lineage) else empty_divisions()
    )
    end = time.perf_counter()
    metadata = {
        "backend": "baseline",
        "method": "skimage.feature.blob_log + laptrack.LapTrack (splitting)",
        "diameter": params.diameter,
        "versions": _versions(),
        "params": {**asdict(params), "sigma_range": list(params.sigma_range)},
        "detections": int(sum(len(c) for c in coords)),
        "seconds": {"total": end - start, "detect": detected - start, "link": end - detected},
    }
    return TrackingResult(
        tracks, lineage, divisions, shape=(n_frames, height, width), metadata=metadata
    )


def _require_packages() -> None:
    from importlib.util import find_spec

    missing = [pip for module, pip in PACKAGES.items() if find_spec(module) is None]
    if missing:
        raise ImportError(
            f"the baseline needs {' and '.join(missing)}: pip install {' '.join(PACKAGES.values())}"
        )


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in PACKAGES.values()}


def _link(coords: list[FloatArray], params: BaselineParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """laptrack over per-frame points -> (tracks, lineage) tables."""
    if sum(len(c) for c in coords) == 0:
        return empty_tracks(), empty_lineage()
    from laptrack import LapTrack

    link = params.link_distance**2
    split = params.division_distance**2
    settings: dict[str, Any] = {
        "metric": "sqeuclidean",
        "cutoff": link,
        "gap_closing_cutoff": link if params.gap_frames > 0 else False,
        "gap_closing_max_frame_count": params.gap_frames + 1,  # laptrack counts frame steps
        "splitting_cutoff": split if split > 0 else False,
        "merging_cutoff": False,
    }
    tracker = LapTrack(**settings)
    # laptrack wants a (0, 2) array for an empty frame, not a (0,) one.
    tree = tracker.predict([c.reshape(-1, 2) for c in coords])
    tracks, lineage = _tree_to_tables(tree, coords)
    return _prune_divisions(tracks, lineage, params.min_daughter)


def _tree_to_tables(
    tree: nx.DiGraph, coords: list[FloatArray]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """laptrack's DiGraph of (frame, index) nodes -> contiguous tracks and their lineage.

    A track runs along single links (bridging skipped frames by interpolation); it ends where a
    node has no successor or two (a division: each successor starts a child track).
    """
    succ: dict[tuple[int, int], list[tuple[int, int]]] = {
        node: sorted(tree.successors(node)) for node in tree.nodes
    }
    pred: dict[tuple[int, int], list[tuple[int, int]]] = {
        node: sorted(tree.predecessors(node)) for node in tree.nodes
    }

    def position(node: tuple[int, int]) -> FloatArray:
        point: FloatArray = coords[node[0]][node[1]]
        return point

    # A node starts a track unless it is the only successor of a node with one successor.
    starts = [n for n in tree.nodes if len(pred[n]) != 1 or len(succ[pred[n][0]]) != 1]
    starts.sort(key=lambda n: (n[0], *position(n)))
    rows: list[tuple[int, int, float, float, float]] = []
    lineage: list[tuple[int, int, int, int]] = []
    track_of_end: dict[tuple[int, int], int] = {}
    for track_id, first in enumerate(starts, start=1):
        node = first
        if pred[first] and first[0] - pred[first][0][0] > 1:
            # A daughter linked across a gap: it starts right after its mother, as its sister
            # does, at positions interpolated from the mother's last one.
            _bridge(rows, track_id, pred[first][0], first, position)
        while True:
            y, x = position(node)
            rows.append((track_id, node[0], float(y), float(x), 1.0))
            nxt = succ[node]
            if len(nxt) != 1:
                break
            following = nxt[0]
            _bridge(rows, track_id, node, following, position)
            node = following
        track_of_end[node] = track_id
        begin = pred[first][0][0] + 1 if pred[first] else first[0]
        lineage.append((track_id, begin, node[0], 0))
    # Parents: a start node's predecessor ends its mother's track.
    lineage = [
        (tid, s, e, track_of_end[pred[first][0]] if pred[first] else 0)
        for (tid, s, e, _), first in zip(lineage, starts, strict=True)
    ]
    tracks = pd.DataFrame(rows, columns=["track_id", "t", "y", "x", "visibility"])
    tracks = tracks.astype({"visibility": np.float32}).sort_values(
        ["track_id", "t"], ignore_index=True
    )
    table = pd.DataFrame(lineage, columns=["track_id", "start", "end", "parent_id"])
    return tracks, table


def _bridge(
    rows: list[tuple[int, int, float, float, float]],
    track_id: int,
    before: tuple[int, int],
    after: tuple[int, int],
    position: Callable[[tuple[int, int]], FloatArray],
) -> None:
    """Rows of `track_id` for the frames strictly between two linked nodes, interpolated."""
    gap = after[0] - before[0]
    (y0, x0), (y1, x1) = position(before), position(after)
    for k in range(1, gap):
        f = k / gap
        rows.append(
            (track_id, before[0] + k, y0 + f * (y1 - y0), x0 + f * (x1 - x0), GAP_VISIBILITY)
        )


def _prune_divisions(
    tracks: pd.DataFrame, lineage: pd.DataFrame, min_daughter: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Undo divisions with a daughter shorter than `min_daughter` frames (a spurious detection
    next to a cell reads as a split): the longer daughter goes on as its mother's track (same
    id), the shorter becomes a root."""
    if min_daughter <= 1 or lineage.empty:
        return tracks, lineage
    columns = lineage[["track_id", "start", "end", "parent_id"]].to_numpy(np.int64).tolist()
    spans = {row[0]: row[1:] for row in columns}
    children: dict[int, list[int]] = {}
    for tid, (_, _, parent) in spans.items():
        if parent:
            children.setdefault(parent, []).append(tid)
    renamed: dict[int, int] = {}  # a kept daughter -> the track it continues

    def current(tid: int) -> int:
        while tid in renamed:
            tid = renamed[tid]
        return tid

    # Mothers in order of their last frame: a kept daughter's own division comes later.
    for mother in sorted(children, key=lambda m: (spans[m][1], m)):
        pair = children[mother]
        if len(pair) != 2 or min(spans[d][1] - spans[d][0] + 1 for d in pair) >= min_daughter:
            continue
        keep, other = sorted(pair, key=lambda d: (spans[d][0] - spans[d][1], d))
        head = current(mother)
        spans[other][2] = 0
        spans[head][1] = spans[keep][1]
        for grandchild in children.get(keep, []):
            spans[grandchild][2] = head
        renamed[keep] = head
        del spans[keep]
    ids = tracks["track_id"].to_numpy()
    tracks = tracks.assign(track_id=[current(int(i)) for i in ids])
    tracks = tracks.sort_values(["track_id", "t"], ignore_index=True)
    table = pd.DataFrame(
        [(tid, *span) for tid, span in sorted(spans.items())],
        columns=["track_id", "start", "end", "parent_id"],
    )
    return tracks, table
