"""Where a model's divisions go wrong: each true division of a held-out sequence, simulated
or real, sorted by what the result holds at it.

    python -m cellpoint.cap.divisions --preset hard --seed 10002
    python -m cellpoint.cap.divisions --sequence ../shared/data/Fluo-N2DH-SIM+/02 --frames 120:150

Division F1 says how many divisions a model gets; this says why it misses the others, which is
what decides whether to work on detection, the tracker, the sister head or the lineage rules.
The result is tracked as `track()` does (kernel backend, the lineage step). A true division is
born at frame t, its daughters' first. A result's division is at it when its own daughters'
midpoint, in their first frame, lies within a cell diameter of the true daughters' and within
REACH frames; the nearest in time gives the outcome:

- on time, early or late (`shift`: the result's frame minus the true one);

and where there is none, what the result holds at t, each true daughter taken by the nearest
result point within half a cell diameter (one point may take both):

- one object: one track over both daughters (the detector did not part them);
- not split: two tracks, one of them the mother's going on (her nearest point at t - 1);
- unlinked: two tracks, neither the mother's;
- not found: a daughter with no point near.

Each row also has the daughters' spacing at birth (cell diameters) and the sister head's
strongest response over their midpoint from frame t - 2 to t + 2 (`head`: its map's largest
value within SISTER_MATCH_RADIUS), which says whether a missed division was the head's or the
rules' to find.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..engine.infer import CapModel, FeatureCache, OnnxCap, Timings, track_kernel
from ..engine.preprocess import CANONICAL_DIAMETER, Geometry, Polarity, Preprocessor
from ..engine.preprocess import FEATURE_STRIDE as STRIDE
from ..engine.raw import RawParams, find_sisters
from ..eval.heldout import REAL_SEQUENCES, GroundTruthWindow, cut_ground_truth
from ..eval.metrics import evaluate
from ..eval.sim import PRESETS, simulate
from ..io.ctc import read_ctc, tracks_from_labels
from ..io.frames import FrameStack
from ..io.result import TrackingResult
from ..io.tables import divisions_from_lineage
from .detection import match_points

OUTCOMES = ("on time", "early", "late", "one object", "not split", "unlinked", "not found")
MISSED = OUTCOMES[3:]
REACH = 3  # frames either side of a birth in which a result's division can be that birth's
HEAD_FRAMES = range(-2, 3)  # frames around a birth at which the sister head is read

# Model px: a sister pair is found when its midpoint lies this near a true pair's.
SISTER_MATCH_RADIUS = CANONICAL_DIAMETER / 4
SISTER_THRESHOLDS = (0.2, 0.3, 0.4, 0.5)
FloatArray = npt.NDArray[np.float32]


class Truth(Protocol):
    """True tables: a simulated sequence, a CtcTruth, or a TrackingResult taken as truth."""

    @property
    def tracks(self) -> pd.DataFrame: ...

    @property
    def divisions(self) -> pd.DataFrame: ...


@dataclass
class CtcTruth:
    """A CTC sequence's ground truth as Truth: a point per marker (its centroid)."""

    tracks: pd.DataFrame
    divisions: pd.DataFrame

    @classmethod
    def of(cls, window: GroundTruthWindow) -> CtcTruth:
        return cls(tracks_from_labels(window.markers), divisions_from_lineage(window.lineage))


def _points_at(tracks: pd.DataFrame) -> dict[tuple[int, int], tuple[float, float]]:
    """(track, t) -> (y, x)."""
    columns = (tracks[c].tolist() for c in ("track_id", "t", "y", "x"))
    return {(int(k), int(t)): (y, x) for k, t, y, x in zip(*columns, strict=True)}


def _midpoints(divisions: pd.DataFrame, at: dict[tuple[int, int], tuple[float, float]]) -> Any:
    """[K, 2] (y, x) midpoints of each division's daughters in their first frame."""
    rows = divisions[["t", "daughter_a", "daughter_b"]].to_numpy().tolist()
    pairs = [(at[(a, t)], at[(b, t)]) for t, a, b in rows]
    return np.array([np.add(p, q) / 2 for p, q in pairs]).reshape(-1, 2)


def _nearest_track(at_t: pd.DataFrame, y: float, x: float, radius: float) -> int | None:
    """The track of `at_t`'s point nearest (y, x), if within `radius`."""
    if at_t.empty:
        return None
    distance = np.hypot(at_t["y"].to_numpy() - y, at_t["x"].to_numpy() - x)
    k = int(np.argmin(distance))
    return int(at_t["track_id"].iloc[k]) if distance[k] <= radius else None


def _missed(daughters: list[int | None], mother: int | None) -> str:
    """Why a true division was missed, from the result's tracks nearest its daughters at
    their first frame and nearest the mother the frame before."""
    if None in daughters:
        return "not found"
    if daughters[0] == daughters[1]:
        return "one object"
    return "not split" if mother is not None and mother in daughters else "unlinked"


def division_outcomes(result: TrackingResult, truth: Truth, diameter: float) -> pd.DataFrame:
    """One row per true division: t (the daughters' first frame), parent_id, daughter_a,
    daughter_b, its outcome (one of OUTCOMES; the module's docstring), shift (frames, the
    result's division minus the true one; missing where missed) and spacing (the daughters'
    distance at birth in cell diameters). `diameter`: the cells' diameter, input px."""
    at = _points_at(truth.tracks)
    true_mid = _midpoints(truth.divisions, at)
    found = result.divisions
    found_mid = _midpoints(found, _points_at(result.tracks))
    found_t = found["t"].to_numpy()
    frames = dict(tuple(result.tracks.groupby("t")))
    empty = result.tracks.iloc[:0]
    rows = []
    columns = ["t", "parent_id", "daughter_a", "daughter_b"]
    for k, (t, parent, a, b) in enumerate(truth.divisions[columns].to_numpy().tolist()):
        spacing = math.dist(at[(a, t)], at[(b, t)]) / diameter
        near = (np.hypot(*(found_mid - true_mid[k]).T) <= diameter) & (np.abs(found_t - t) <= REACH)
        shift: int | None = None
        if near.any():
            shift = int(found_t[near][np.argmin(np.abs(found_t[near] - t))]) - t
            outcome = "on time" if shift == 0 else "early" if shift < 0 else "late"
        else:
            daughters = [
                _nearest_track(frames.get(t, empty), *at[(d, t)], diameter / 2) for d in (a, b)
            ]
            mother = None
            if (parent, t - 1) in at:
                mother = _nearest_track(
                    frames.get(t - 1, empty), *at[(parent, t - 1)], diameter / 2
                )
            outcome = _missed(daughters, mother)
        rows.append((t, parent, a, b, outcome, shift, spacing))
    table = pd.DataFrame(rows, columns=[*columns, "outcome", "shift", "spacing"])
    table["shift"] = table["shift"].astype("Int64")
    return table


def _births(truth: Truth, geometry: Geometry) -> list[tuple[int, float, float]]:
    """Per true division: t and its daughters' midpoint (x, y) there, model px."""
    y, x = geometry.to_model(*_midpoints(truth.divisions, _points_at(truth.tracks)).T)
    births = zip(truth.divisions["t"].tolist(), np.atleast_1d(x), np.atleast_1d(y), strict=True)
    return [(int(t), float(xk), float(yk)) for t, xk, yk in births]


def true_midpoints(truth: Truth, geometry: Geometry) -> dict[int, FloatArray]:
    """t -> [K, 2] (x, y) model pixels of the midpoints of the sisters first seen at t."""
    midpoints: dict[int, list[tuple[float, float]]] = {}
    for t, x, y in _births(truth, geometry):
        midpoints.setdefault(t, []).append((x, y))
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


def head_peak(maps: FloatArray, t: int, x: float, y: float) -> float:
    """The largest value of the pair map for frames t - 1, t within SISTER_MATCH_RADIUS of
    model (x, y); 0 outside the maps' frames."""
    if not 1 <= t <= len(maps):
        return 0.0
    h, w = maps.shape[2:]
    ys, xs = (np.mgrid[:h, :w] + 0.5) * STRIDE - 0.5  # map pixel centres, model px (engine/raw.py)
    return float(maps[t - 1, 0][np.hypot(xs - x, ys - y) <= SISTER_MATCH_RADIUS].max(initial=0))


def head_at_births(maps: FloatArray, truth: Truth, geometry: Geometry) -> list[float]:
    """Per true division, the head's strongest response over its daughters' midpoint from
    frame t - 2 to t + 2 (HEAD_FRAMES)."""
    births = _births(truth, geometry)
    return [max(head_peak(maps, t + d, x, y) for d in HEAD_FRAMES) for t, x, y in births]


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
    peaks = [head_peak(maps, t, x, y) for t, points in midpoints.items() for x, y in points]
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


@dataclass
class HeldOut:
    """A sequence to sort the divisions of: its frames, truth and how its cells look."""

    name: str
    first: int  # the sequence's number of frame 0 of `frames`
    frames: npt.NDArray[Any]
    truth: Truth
    ground_truth: Any  # what `evaluate` takes
    diameter: float
    polarity: Polarity


def simulated(preset: str, seed: int) -> HeldOut:
    seq = simulate(preset, seed=seed)
    cfg = seq.config
    return HeldOut(f"{preset} seed {seed}", 0, seq.frames, seq, seq, cfg.diameter, cfg.polarity)


def ctc_sequence(path: Path, frames: str | None, diameter: float | None) -> HeldOut:
    """A CTC sequence folder with tracking ground truth, frames "first:end" of it; a shared
    sequence's diameter and polarity are known (`REAL_SEQUENCES`), another's must be given."""
    name = f"{path.parent.name}/{path.name}"
    spec = REAL_SEQUENCES.get(name)
    if diameter is None:
        if spec is None:
            raise SystemExit(f"{name}: not a shared sequence; pass --diameter (input px)")
        diameter = spec.diameter
    seq = read_ctc(path)
    if seq.frames is None or seq.markers is None or seq.lineage is None:
        raise SystemExit(f"{path}: frames or tracking ground truth (<seq>_GT/TRA) missing")
    first, end = (int(v) for v in frames.split(":")) if frames else (0, seq.frames.shape[0])
    window = cut_ground_truth(seq.markers, seq.lineage, first, end)
    return HeldOut(
        f"{name} frames {first}-{end - 1}",
        first,
        np.asarray(seq.frames[first:end]),
        CtcTruth.of(window),
        window,
        diameter,
        spec.polarity if spec is not None else "bright",
    )


def print_outcomes(outcomes: pd.DataFrame) -> None:
    """Each outcome's count, with the medians of the daughters' spacing, of the shift where
    called and of the head's response where missed."""
    for outcome in OUTCOMES:
        these = outcomes[outcomes["outcome"] == outcome]
        if these.empty:
            continue
        line = f"  {outcome:10} {len(these):3d}  spacing {these['spacing'].median():.2f}"
        if outcome in ("early", "late"):
            line += f", shift {these['shift'].median():+.0f}"
        if outcome in MISSED:
            line += f", head {these['head'].median():.2f}"
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="hard", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=10_002, help="a held-out seed")
    parser.add_argument(
        "--sequence", type=Path, help="a CTC sequence folder instead of a simulated one"
    )
    parser.add_argument("--frames", help="first:end of --sequence (default: all)")
    parser.add_argument("--diameter", type=float, help="cell diameter of --sequence, input px")
    parser.add_argument(
        "--model", type=Path, help="folder of a model card and its graphs (default: shipped)"
    )
    parser.add_argument("--sister-threshold", type=float, default=RawParams.sister_threshold)
    parser.add_argument(
        "--sister-head", action="store_true", help="score the sister head alone, without RAW"
    )
    parser.add_argument("--rows", action="store_true", help="print one line per division")
    args = parser.parse_args(argv)
    held = (
        ctc_sequence(args.sequence, args.frames, args.diameter)
        if args.sequence
        else simulated(args.preset, args.seed)
    )
    model: CapModel = OnnxCap(args.model) if args.model else OnnxCap()
    stack = FrameStack(held.frames)
    height, width = held.frames.shape[1:]
    geometry = Geometry.for_diameter(height, width, held.diameter)
    maps = sister_maps(model, stack, geometry)
    print(f"{held.name}: {len(held.truth.divisions)} divisions")
    if args.sister_head:
        table, median = score_sister_maps(maps, true_midpoints(held.truth, geometry))
        print(f"median sister-map peak at the true midpoints: {median:.3f}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return
    params = RawParams(sister_threshold=args.sister_threshold)
    result = track_kernel(stack, held.diameter, params, model, polarity=held.polarity)
    outcomes = division_outcomes(result, held.truth, held.diameter)
    outcomes["head"] = head_at_births(maps, held.truth, geometry)
    print_outcomes(outcomes)
    report = evaluate(result, held.ground_truth)
    print(
        f"TRA {report.tra:.3f}, division F1 {report.division_f1:.3f} "
        f"(precision {report.division_precision:.3f}, recall {report.division_recall:.3f})"
    )
    if args.rows:
        rows = outcomes.assign(t=outcomes["t"] + held.first)  # the sequence's frame numbers
        print(rows.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
