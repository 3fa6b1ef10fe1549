"""Where a model's divisions go wrong: each true division of a simulated held-out sequence,
sorted by what the result holds at it.

    python -m cellpoint.cap.divisions --preset hard --seed 10002

Division F1 says how many divisions a model gets; this says why it misses the others, which is
what decides whether to work on detection, the tracker, the sister head or RAW. Each true cell
is matched, frame by frame, to the nearest result point within half a nucleus diameter (one
point per cell, optimal assignment, as `cellpoint.cap.detection` matches peaks). A division
whose mother is followed at t - 1 and whose daughters are followed at t is then:

- right: both daughters' tracks are children of the mother's track;
- not split: the mother's track goes on as one of the daughters;
- other mother: the daughters' tracks are sisters, children of some other track;
- unrelated daughters: anything else (new tracks, or a track from elsewhere taking a daughter).

Otherwise it is "mother untracked" or "daughter untracked". The CTC's division F1 counts a
division one frame off as found; this count does not, so its "right" can be a little lower.

    python -m cellpoint.cap.divisions --preset hard --seed 11002 --sister-head

scores the sister head (cap/sisters.py) alone, without RAW, in a fraction of the time: at each
threshold, the precision and recall of its pairs (a pair is right when its midpoint lies within
SISTER_MATCH_RADIUS of a true pair's, in the frame the sisters are first seen), and the median
of its map's peak at the true midpoints. A new head is worth running through RAW only when it
beats the shipped one here.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..engine.infer import CapModel, FeatureCache, OnnxCap, Timings, track_kernel
from ..engine.preprocess import CANONICAL_DIAMETER, Geometry, Preprocessor
from ..engine.preprocess import FEATURE_STRIDE as STRIDE
from ..engine.raw import RawParams, find_sisters
from ..eval.metrics import evaluate
from ..eval.sim import PRESETS, simulate
from ..io.frames import FrameStack
from ..io.result import TrackingResult
from .detection import match_points

OUTCOMES = (
    "right",
    "not split",
    "other mother",
    "unrelated daughters",
    "mother untracked",
    "daughter untracked",
)


# Model px: a sister pair is found when its midpoint lies this near a true pair's.
SISTER_MATCH_RADIUS = CANONICAL_DIAMETER / 4
SISTER_THRESHOLDS = (0.2, 0.3, 0.4, 0.5)
FloatArray = npt.NDArray[np.float32]


class Truth(Protocol):
    """True tables: a simulated sequence, or a TrackingResult taken as ground truth."""

    @property
    def tracks(self) -> pd.DataFrame: ...

    @property
    def divisions(self) -> pd.DataFrame: ...


def follow(truth: pd.DataFrame, result: pd.DataFrame, radius: float) -> dict[tuple[int, int], int]:
    """(true track, t) -> the result track whose point there is matched to that cell."""
    matched: dict[tuple[int, int], int] = {}
    result_t = result["t"].to_numpy()
    for t in np.unique(truth["t"].to_numpy()):
        cells, points = truth[truth["t"] == t], result[result_t == t]
        rows, cols = match_points(
            cells[["y", "x"]].to_numpy(), points[["y", "x"]].to_numpy(), radius
        )
        cell_ids = cells["track_id"].to_numpy()[rows]
        point_ids = points["track_id"].to_numpy()[cols]
        for cell, point in zip(cell_ids.tolist(), point_ids.tolist(), strict=True):
            matched[(cell, int(t))] = point
    return matched


def division_outcomes(result: TrackingResult, truth: Truth, radius: float) -> pd.DataFrame:
    """One row per true division: t (the daughters' first frame), parent_id, daughter_a,
    daughter_b and its outcome (one of OUTCOMES)."""
    matched = follow(truth.tracks, result.tracks, radius)
    parent_of = result.lineage.set_index("track_id")["parent_id"].to_dict()
    rows = []
    columns = ["t", "parent_id", "daughter_a", "daughter_b"]
    for t, parent, daughter_a, daughter_b in truth.divisions[columns].to_numpy().tolist():
        mother = matched.get((parent, t - 1))
        a, b = matched.get((daughter_a, t)), matched.get((daughter_b, t))
        if mother is None:
            outcome = "mother untracked"
        elif a is None or b is None:
            outcome = "daughter untracked"
        elif parent_of[a] == mother and parent_of[b] == mother:
            outcome = "right"
        elif mother in (a, b):
            outcome = "not split"
        elif parent_of[a] == parent_of[b] != 0:
            outcome = "other mother"
        else:
            outcome = "unrelated daughters"
        rows.append((t, parent, daughter_a, daughter_b, outcome))
    return pd.DataFrame(rows, columns=[*columns, "outcome"])


def true_midpoints(truth: Truth, geometry: Geometry) -> dict[int, FloatArray]:
    """t -> [K, 2] (x, y) model pixels of the midpoints of the sisters first seen at t."""
    at = truth.tracks.set_index(["track_id", "t"])[["y", "x"]]
    midpoints: dict[int, list[tuple[float, float]]] = {}
    for t, a, b in truth.divisions[["t", "daughter_a", "daughter_b"]].to_numpy().tolist():
        (ya, xa), (yb, xb) = at.loc[(a, t)].to_numpy(), at.loc[(b, t)].to_numpy()
        y, x = geometry.to_model((ya + yb) / 2, (xa + xb) / 2)
        midpoints.setdefault(t, []).append((float(x), float(y)))
    return {t: np.array(m, np.float32) for t, m in midpoints.items()}


def sister_maps(model: CapModel, stack: FrameStack, geometry: Geometry) -> FloatArray:
    """The sister head's maps [T - 1, 3, h, w] of a sequence, map t - 1 for frames t - 1, t,
    each frame encoded once as in `track_kernel`."""
    cache = FeatureCache(stack, Preprocessor(geometry), model, Timings(), False, capacity=2)
    maps = []
    for t in range(1, stack.shape[0]):
        cache.forget_before(t - 1)
        previous, current = cache.window(t - 1, 2)
        maps.append(model.sisters(previous, current))
    return np.stack(maps)


def score_sister_maps(
    maps: FloatArray,
    midpoints: dict[int, FloatArray],
    thresholds: tuple[float, ...] = SISTER_THRESHOLDS,
    min_separation: float = RawParams.min_separation,
) -> tuple[pd.DataFrame, float]:
    """Per threshold: pairs, found, precision (NaN without pairs) and recall of the pairs RAW
    would read off `maps` (`find_sisters`); and the median of the maps' largest value within
    SISTER_MATCH_RADIUS of each true midpoint."""
    n_true = sum(len(m) for m in midpoints.values())
    h, w = maps.shape[2:]
    ys, xs = (np.mgrid[:h, :w] + 0.5) * STRIDE - 0.5  # map pixel centres, model px (engine/raw.py)
    peaks = [
        float(maps[t - 1, 0][np.hypot(xs - x, ys - y) <= SISTER_MATCH_RADIUS].max(initial=0))
        for t, points in midpoints.items()
        for x, y in points.tolist()
    ]
    rows = []
    for threshold in thresholds:
        pairs = found = 0
        for t in range(1, len(maps) + 1):
            sisters = find_sisters(maps[t - 1], threshold, min_separation)
            centres = (sisters[:, 0:2] + sisters[:, 2:4]) / 2
            truth = midpoints.get(t, np.zeros((0, 2), np.float32))
            hits, _ = match_points(centres, truth, SISTER_MATCH_RADIUS)
            pairs, found = pairs + len(sisters), found + len(hits)
        precision = found / pairs if pairs else math.nan
        rows.append((threshold, pairs, found, precision, found / n_true if n_true else math.nan))
    table = pd.DataFrame(rows, columns=["threshold", "pairs", "found", "precision", "recall"])
    return table, float(np.median(peaks)) if peaks else math.nan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="hard", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=10_002, help="a held-out seed")
    parser.add_argument(
        "--model", type=Path, help="folder of a model card and its graphs (default: shipped)"
    )
    parser.add_argument("--sister-threshold", type=float, default=RawParams.sister_threshold)
    parser.add_argument(
        "--sister-head", action="store_true", help="score the sister head alone, without RAW"
    )
    args = parser.parse_args(argv)
    sequence = simulate(args.preset, seed=args.seed)
    model: CapModel = OnnxCap(args.model) if args.model else OnnxCap()
    if args.sister_head:
        height, width = sequence.frames.shape[1:]
        geometry = Geometry.for_diameter(height, width, sequence.config.diameter)
        maps = sister_maps(model, FrameStack(sequence.frames), geometry)
        table, median = score_sister_maps(maps, true_midpoints(sequence, geometry))
        print(f"{args.preset} seed {args.seed}: {len(sequence.divisions)} divisions")
        print(f"median sister-map peak at the true midpoints: {median:.3f}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return
    params = RawParams(sister_threshold=args.sister_threshold)
    result = track_kernel(FrameStack(sequence.frames), sequence.config.diameter, params, model)
    outcomes = division_outcomes(result, sequence, sequence.config.diameter / 2)
    counts = outcomes["outcome"].value_counts().reindex(OUTCOMES, fill_value=0)
    report = evaluate(result, sequence)
    print(f"{args.preset} seed {args.seed}: {len(outcomes)} divisions")
    print(counts.to_string())
    print(
        f"TRA {report.tra:.3f}, division F1 {report.division_f1:.3f} "
        f"(precision {report.division_precision:.3f}, recall {report.division_recall:.3f})"
    )


if __name__ == "__main__":
    main()
