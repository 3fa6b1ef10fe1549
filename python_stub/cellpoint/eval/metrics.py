"""Tracking accuracy against CTC ground truth (`evaluate`).

Measures: AOGM with the CTC weights, TRA, DET and LNK (Matula et al., PLoS ONE 2015), the error
counts NS, FN, FP, ED, EA, EC; the CTC's biological measures (Ulman et al., Nature Methods 2017):
complete tracks and CT, TF, BC(i) and CCA; division precision, recall and F1 within a frame
tolerance (F1 is BC(i)), and when divisions are called: the mean signed error of the mother's
last frame (negative: early).

The graphs follow py-ctcmetrics, the CTC's own Python evaluator, to the letter. A vertex is one
track (label) in one frame; a track link joins a track's vertices in consecutive frames; a parent
link joins a parent's last vertex to each child's first vertex, for every `parent_id` (a
one-child continuation is a parent link too). A computed vertex matched to several reference
vertices costs NS (one split per extra match); only computed vertices matched exactly once keep
their edges, so edges at false-positive vertices cost nothing beyond the vertex.

Matching a computed vertex to a reference marker, frame by frame:
- masks (`evaluate_masks`, `evaluate_ctc`, the CTC's rule): a computed label matches the marker
  it covers by more than half of the marker's pixels;
- points (`evaluate`): a point matches the marker under it, the pixel `(rint(y), rint(x))`
  (pixel centres at whole coordinates, as in `ctc.write_masks`). Where several points lie in
  one marker, the one nearest the marker's centroid matches (ties: the smaller track id) and
  the others are false positives; a point in no marker, or outside the image, is a false
  positive. So each marker matches at most one point, and NS is always 0.

Divisions are parents with two children or more (one child is a continuation). A result
division matches a ground-truth division, as in py-ctcmetrics' BC(i), when both have as many
children, the parents' last frames differ by at most i, the ground-truth parent at the earlier
of those frames is matched to the result's parent, and each ground-truth daughter is matched,
at the later of its first frame and a result daughter's (which differ by at most i), to that
result daughter, a different one for each. As in BC(i), every matching pair counts: a division
near two others in time and space could match both (true positives are pairs). The timing error
pairs them one to one instead, nearest in time first, within TIMING_TOLERANCE frames.

TF (track fractions): per ground-truth track, the longest run of consecutive frames matched to
one result track, as a fraction of its length, averaged over the tracks with any match; CCA
(cell cycle accuracy): one minus the largest gap between the cumulative distributions of the
cell-cycle lengths (end - start of tracks born in a division that divide again) of the ground
truth and of the result. Both follow py-ctcmetrics, the order it visits tracks in included.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..io.ctc import CTCSequence, read_res_track, read_stack
from ..io.result import TrackingResult
from ..io.tables import validate_lineage

Array = npt.NDArray[Any]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
View = Literal["points", "masks"]

# AOGM weights of the CTC's TRA (Matula et al. 2015).
W_NS, W_FN, W_FP, W_ED, W_EA, W_EC = 5.0, 10.0, 1.0, 1.0, 1.5, 1.0
BC_TOLERANCES = (0, 1, 2)  # the BC(i) every report gives
TIMING_TOLERANCE = 2  # frames: divisions paired this near in time give the timing error
_KEY = np.int64(1) << 32  # vertex key = t * _KEY + label: labels are CTC 16-bit values


class GroundTruth(Protocol):
    """CTC tracking ground truth: marker label images (T, H, W) and their lineage; met by
    `CTCSequence` (from `read_ctc`) and by simulated sequences."""

    @property
    def markers(self) -> Array | None: ...

    @property
    def lineage(self) -> pd.DataFrame | None: ...


@dataclass(frozen=True)
class EvaluationReport:
    """The measures of one result against one ground truth; `view` says how it was matched."""

    view: View
    tra: float
    det: float
    lnk: float
    aogm: float
    aogm_0: float
    ns: int
    fn: int
    fp: int
    ed: int
    ea: int
    ec: int
    gt_vertices: int
    gt_edges: int
    result_vertices: int
    gt_tracks: int
    result_tracks: int
    complete_tracks: int
    """Ground-truth tracks matched in every frame to one result track of the same span."""
    complete_fraction: float
    ct: float
    """CTC's CT: 2 * complete_tracks / (gt_tracks + result_tracks)."""
    tf: float
    """CTC's TF: the mean longest fraction of a ground-truth track followed by one result track."""
    division_tolerance: int
    gt_divisions: int
    result_divisions: int
    division_tp: int
    division_fp: int
    division_fn: int
    division_precision: float
    division_recall: float
    division_f1: float
    bc_0: float
    bc_1: float
    bc_2: float
    """The CTC's BC(i): division F1 at tolerance i (BC_TOLERANCES)."""
    division_timing: float
    """Mean (result - ground truth) last frame of the mother, over divisions paired within
    TIMING_TOLERANCE frames: negative when divisions are called early."""
    timed_divisions: int
    cca: float
    """CTC's CCA: how alike the distributions of cell-cycle lengths are."""

    def as_series(self) -> pd.Series:
        """Every measure, indexed by its name in the table; named after the view."""
        return pd.Series(
            {_NAMES[f.name]: getattr(self, f.name) for f in fields(self) if f.name != "view"},
            name=self.view,
            dtype=np.float64,
        )

    def __str__(self) -> str:
        return format_reports([self])


_NAMES = {
    "tra": "TRA",
    "det": "DET",
    "lnk": "LNK",
    "aogm": "AOGM",
    "aogm_0": "AOGM_0",
    "ns": "NS",
    "fn": "FN",
    "fp": "FP",
    "ed": "ED",
    "ea": "EA",
    "ec": "EC",
    "gt_vertices": "GT vertices",
    "gt_edges": "GT edges",
    "result_vertices": "result vertices",
    "gt_tracks": "GT tracks",
    "result_tracks": "result tracks",
    "complete_tracks": "complete tracks",
    "complete_fraction": "complete fraction",
    "ct": "CT",
    "division_tolerance": "division tolerance",
    "gt_divisions": "GT divisions",
    "result_divisions": "result divisions",
    "division_tp": "division TP",
    "division_fp": "division FP",
    "division_fn": "division FN",
    "division_precision": "division precision",
    "division_recall": "division recall",
    "division_f1": "division F1",
    "bc_0": "BC(0)",
    "bc_1": "BC(1)",
    "bc_2": "BC(2)",
    "division_timing": "division timing error",
    "timed_divisions": "timed divisions",
    "cca": "CCA",
    "tf": "TF",
}


def format_reports(reports: Sequence[EvaluationReport]) -> str:
    """A text table with one column per report (headed by its view)."""
    names = [f.name for f in fields(EvaluationReport) if f.name != "view"]
    cells = [[_format(getattr(r, name)) for r in reports] for name in names]
    width = max(len(v) for v in _NAMES.values())
    column = max(8, *(len(c) for row in cells for c in row))
    lines = [f"{'':<{width}}" + "".join(f"  {r.view:>{column}}" for r in reports)]
    lines += [
        f"{_NAMES[name]:<{width}}" + "".join(f"  {c:>{column}}" for c in row)
        for name, row in zip(names, cells, strict=True)
    ]
    return "\n".join(lines)


def _format(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6f}"


# --- entry points ---------------------------------------------------------------------------


def evaluate(
    result: TrackingResult,
    ground_truth: GroundTruth | str | os.PathLike[str],
    *,
    division_tolerance: int = 1,
) -> EvaluationReport:
    """Score the points of `result` against CTC ground truth (an object with `markers` and
    `lineage`, or a folder for `load_ground_truth`): each point matches the marker under it
    (see the module's docstring)."""
    truth = _Truth.of(ground_truth)
    if result.shape is not None and result.shape != truth.markers.shape:
        raise ValueError(
            f"the result was tracked on frames of shape {result.shape}, but the ground truth "
            f"has markers of shape {truth.markers.shape}"
        )
    tracks = result.tracks.sort_values(["t", "track_id"], ignore_index=True)
    t = tracks["t"].to_numpy()
    points = _Graph(t, tracks["track_id"].to_numpy(), result.lineage)
    y, x = tracks["y"].to_numpy(), tracks["x"].to_numpy()
    n_frames, height, width = truth.markers.shape
    yi, xi = np.rint(y).astype(np.int64), np.rint(x).astype(np.int64)
    inside = np.flatnonzero((t < n_frames) & (yi >= 0) & (yi < height) & (xi >= 0) & (xi < width))
    under = truth.markers[t[inside], yi[inside], xi[inside]].astype(np.int64)
    hit = inside[under > 0]
    ref = truth.index(under[under > 0], t[hit])
    distance = (y[hit] - truth.y[ref]) ** 2 + (x[hit] - truth.x[ref]) ** 2
    # The nearest point per marker; `hit` follows (t, track_id), so ties go to the smaller id.
    order = np.lexsort((hit, distance, ref))
    first = order[np.diff(ref[order], prepend=-1) != 0]
    return _score(truth, points, ref[first], hit[first], "points", division_tolerance)


def evaluate_masks(
    masks: npt.ArrayLike,
    lineage: pd.DataFrame,
    ground_truth: GroundTruth | str | os.PathLike[str],
    *,
    division_tolerance: int = 1,
) -> EvaluationReport:
    """Score result label images (T, H, W) and their lineage (`res_track.txt`) against CTC
    ground truth the standard way: a label matches a marker it covers by more than half."""
    truth = _Truth.of(ground_truth)
    masks = np.asarray(masks)
    if masks.shape != truth.markers.shape:
        raise ValueError(
            f"result masks have shape {masks.shape}, ground-truth markers {truth.markers.shape}"
        )
    comp = _Graph.from_labels(masks, validate_lineage(lineage), "result masks")
    found = []
    for frame, (marker, mask) in enumerate(zip(truth.markers, masks, strict=True)):
        pixels = np.flatnonzero(marker)
        ref_label = marker.reshape(-1)[pixels].astype(np.int64)
        comp_label = mask.reshape(-1)[pixels].astype(np.int64)
        covered = comp_label > 0
        pair, count = np.unique(ref_label[covered] * _KEY + comp_label[covered], return_counts=True)
        found.append((np.full(pair.size, frame, np.int64), pair // _KEY, pair % _KEY, count))
    t, ref_label, comp_label, count = (np.concatenate(c) for c in zip(*found, strict=True))
    ref = truth.index(ref_label, t)
    majority = 2 * count > truth.size[ref]
    comp_vertex = comp.index(comp_label[majority], t[majority])
    return _score(truth, comp, ref[majority], comp_vertex, "masks", division_tolerance)


def evaluate_ctc(
    result_folder: str | os.PathLike[str],
    ground_truth: GroundTruth | str | os.PathLike[str],
    *,
    division_tolerance: int = 1,
) -> EvaluationReport:
    """Score a CTC result folder (`mask000.tif ...`, `res_track.txt`) with `evaluate_masks`."""
    folder = Path(result_folder)
    return evaluate_masks(
        read_stack(folder, "mask"),
        read_res_track(folder / "res_track.txt"),
        ground_truth,
        division_tolerance=division_tolerance,
    )


def load_ground_truth(path: str | os.PathLike[str]) -> CTCSequence:
    """The markers and lineage of a CTC ground-truth folder (`<seq>_GT`, `<seq>_GT/TRA`, or
    the sequence folder `<seq>` beside its `<seq>_GT`), without reading the frames."""
    folder = Path(path)
    if (folder / "TRA").is_dir():
        folder = folder / "TRA"
    elif not (folder / "man_track.txt").is_file():
        beside = folder.parent / f"{folder.name}_GT" / "TRA"
        folder = beside if beside.is_dir() else folder
    markers = read_stack(folder, "man_track")
    return CTCSequence(folder, None, markers, read_res_track(folder / "man_track.txt"))


# --- graphs ---------------------------------------------------------------------------------


class _Graph:
    """The vertices (t, label) of a tracking graph, sorted by (t, label), and its lineage."""

    def __init__(self, t: IntArray, label: IntArray, lineage: pd.DataFrame):
        self.t, self.label, self.lineage = t, label, lineage
        self._keys = t * _KEY + label

    @classmethod
    def from_labels(cls, stack: Array, lineage: pd.DataFrame, what: str) -> _Graph:
        """The graph of label images and their (validated) lineage."""
        t, label, _, _, _ = _label_vertices(stack, what)
        _check_agreement(t, label, lineage, what)
        return cls(t, label, lineage)

    def index(self, label: npt.ArrayLike, t: npt.ArrayLike) -> IntArray:
        """The vertex of each (label, t), -1 where there is none."""
        keys = np.asarray(t, np.int64) * _KEY + np.asarray(label, np.int64)
        at = np.minimum(np.searchsorted(self._keys, keys), max(self._keys.size - 1, 0))
        found = self._keys[at] == keys if self._keys.size else np.zeros(keys.shape, bool)
        return np.where(found, at, -1)

    def edges(self) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_]]:
        """(source, target, is_parent_link) of every edge: track links between a track's
        vertices in consecutive frames, parent links from a parent's last vertex to each
        child's first."""
        order = np.lexsort((self.t, self.label))
        label, t = self.label[order], self.t[order]
        link = (label[1:] == label[:-1]) & (t[1:] == t[:-1] + 1)
        children = self.lineage[self.lineage["parent_id"] != 0]
        parent_end = self.lineage.set_index("track_id")["end"].reindex(children["parent_id"])
        source = self.index(children["parent_id"], parent_end)
        target = self.index(children["track_id"], children["start"])
        return (
            np.concatenate([order[:-1][link], source]),
            np.concatenate([order[1:][link], target]),
            np.r_[np.zeros(link.sum(), bool), np.ones(source.size, bool)],
        )


class _Truth(_Graph):
    """Ground truth: the graph of the markers, with each marker's size and centroid."""

    def __init__(self, markers: Array, lineage: pd.DataFrame):
        what = "ground-truth markers"
        t, label, self.size, self.y, self.x = _label_vertices(markers, what)
        _check_agreement(t, label, lineage, what)
        super().__init__(t, label, lineage)
        self.markers = markers

    @classmethod
    def of(cls, ground_truth: GroundTruth | str | os.PathLike[str]) -> _Truth:
        if isinstance(ground_truth, str | os.PathLike):
            ground_truth = load_ground_truth(ground_truth)
        markers, lineage = ground_truth.markers, ground_truth.lineage
        if markers is None or lineage is None:
            raise ValueError("the ground truth has no tracking markers and lineage (_GT/TRA)")
        return cls(np.asarray(markers), validate_lineage(lineage))


def _label_vertices(
    stack: Array, what: str
) -> tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray]:
    """(t, label, pixel count, centroid y, centroid x) of every label > 0 in every frame of a
    (T, H, W) label stack, sorted by (t, label)."""
    if stack.ndim != 3 or stack.dtype.kind not in "ui":
        raise ValueError(
            f"{what}: expected integer label images (T, H, W), got {stack.dtype} {stack.shape}"
        )
    if stack.dtype.kind == "i" and stack.size and stack.min() < 0:
        raise ValueError(f"{what}: labels must be >= 0")
    width = stack.shape[2]
    parts = []
    for index, frame in enumerate(stack):
        pixels = np.flatnonzero(frame)
        labels = frame.reshape(-1)[pixels].astype(np.intp)
        size = np.bincount(labels)
        label = np.flatnonzero(size)
        parts.append(
            (
                np.full(label.size, index, np.int64),
                label.astype(np.int64),
                size[label].astype(np.int64),
                np.bincount(labels, pixels // width)[label] / size[label],
                np.bincount(labels, pixels % width)[label] / size[label],
            )
        )
    t, label, size, y, x = (np.concatenate(column) for column in zip(*parts, strict=True))
    return t, label, size, y, x


def _check_agreement(t: IntArray, label: IntArray, lineage: pd.DataFrame, what: str) -> None:
    """Label images and their track file must agree, as the CTC requires: each track's label
    in every frame from its start to its end, and nowhere else."""
    span = lineage.set_index("track_id")
    start, end = (
        span[column].reindex(label).to_numpy(np.float64, na_value=np.nan)
        for column in ("start", "end")
    )
    stray = np.flatnonzero(~((start <= t) & (t <= end)))
    if stray.size:
        raise ValueError(
            f"{what}: label {label[stray[0]]} in frame {t[stray[0]]} is not a track of the "
            f"track file in that frame ({stray.size} such labels in all)"
        )
    frames = pd.Series(label).value_counts().reindex(span.index, fill_value=0)
    missing = span[frames != span["end"] - span["start"] + 1]
    if len(missing):
        track = missing.iloc[0]
        raise ValueError(
            f"{what}: track {missing.index[0]} spans frames {track['start']}..{track['end']} in "
            f"the track file, but its label is missing from some of them ({len(missing)} such "
            "tracks in all)"
        )


# --- scoring --------------------------------------------------------------------------------


def _score(
    truth: _Truth,
    comp: _Graph,
    ref: IntArray,
    vertex: IntArray,
    view: View,
    division_tolerance: int,
) -> EvaluationReport:
    """The report for computed vertices `vertex` matched to reference vertices `ref` (pairs;
    each reference vertex at most once)."""
    n_ref, n_comp = truth.t.size, comp.t.size
    ref_hits = np.bincount(ref, minlength=n_ref)
    comp_hits = np.bincount(vertex, minlength=n_comp)
    fn = int((ref_hits == 0).sum())
    fp = int((comp_hits == 0).sum())
    ns = int((comp_hits[comp_hits > 1] - 1).sum())

    # Only computed vertices matched exactly once keep their edges (an induced subgraph).
    single = comp_hits[vertex] == 1
    to_ref = np.full(n_comp, -1, np.int64)
    to_ref[vertex[single]] = ref[single]
    assigned = np.zeros(n_ref, np.int64)  # the result track of each reference vertex, 0: none
    assigned[ref[single]] = comp.label[vertex[single]]

    ref_source, ref_target, ref_parent = truth.edges()
    source, target, parent = comp.edges()
    kept = (to_ref[source] >= 0) & (to_ref[target] >= 0)
    ref_keys = ref_source * n_ref + ref_target
    keys = to_ref[source[kept]] * n_ref + to_ref[target[kept]]
    _, in_ref, in_comp = np.intersect1d(ref_keys, keys, assume_unique=True, return_indices=True)
    ed = int(keys.size - in_comp.size)
    ea = int(ref_keys.size - in_ref.size)
    ec = int((ref_parent[in_ref] != parent[kept][in_comp]).sum())

    aogm_d = W_NS * ns + W_FN * fn + W_FP * fp
    aogm_a = W_ED * ed + W_EA * ea + W_EC * ec
    aogm_0 = W_FN * n_ref + W_EA * ref_keys.size
    complete = _complete_tracks(truth, comp, assigned)
    n_gt, n_res = len(truth.lineage), len(comp.lineage)
    if division_tolerance < 0:
        raise ValueError(f"division_tolerance must be >= 0, got {division_tolerance}")
    gt_div, res_div = _divisions(truth.lineage), _divisions(comp.lineage)
    pairs = {
        i: _division_pairs(truth, gt_div, res_div, assigned, i)
        for i in {division_tolerance, *BC_TOLERANCES, TIMING_TOLERANCE}
    }

    def bc(tolerance: int) -> float:
        matched = len(pairs[tolerance])
        return _ratio(2 * matched, len(gt_div) + len(res_div)) if gt_div else math.nan

    tp = len(pairs[division_tolerance])
    timing = _one_to_one(pairs[TIMING_TOLERANCE], gt_div, res_div)
    return EvaluationReport(
        view=view,
        tra=_accuracy(aogm_d + aogm_a, aogm_0),
        det=_accuracy(aogm_d, W_FN * n_ref),
        lnk=_accuracy(aogm_a, W_EA * ref_keys.size),
        aogm=aogm_d + aogm_a,
        aogm_0=aogm_0,
        ns=ns,
        fn=fn,
        fp=fp,
        ed=ed,
        ea=ea,
        ec=ec,
        gt_vertices=n_ref,
        gt_edges=int(ref_keys.size),
        result_vertices=n_comp,
        gt_tracks=n_gt,
        result_tracks=n_res,
        complete_tracks=complete,
        complete_fraction=_ratio(complete, n_gt),
        ct=_ratio(2 * complete, n_gt + n_res),
        tf=_track_fractions(truth, assigned),
        division_tolerance=division_tolerance,
        gt_divisions=len(gt_div),
        result_divisions=len(res_div),
        division_tp=tp,
        division_fp=len(res_div) - tp,
        division_fn=len(gt_div) - tp,
        division_precision=_ratio(tp, len(res_div)),
        division_recall=_ratio(tp, len(gt_div)),
        division_f1=bc(division_tolerance),
        bc_0=bc(0),
        bc_1=bc(1),
        bc_2=bc(2),
        division_timing=float(np.mean(timing)) if timing.size else math.nan,
        timed_divisions=int(timing.size),
        cca=_cell_cycle_accuracy(truth.lineage, comp.lineage),
    )


def _accuracy(cost: float, cost_0: float) -> float:
    """1 - min(cost, cost_0) / cost_0: the CTC's normalisation of an AOGM."""
    return 1 - min(cost, cost_0) / cost_0 if cost_0 else math.nan


def _ratio(count: int, total: int) -> float:
    return count / total if total else math.nan


def _complete_tracks(truth: _Truth, comp: _Graph, assigned: IntArray) -> int:
    """Reference tracks whose every vertex is matched to one result track with the same span."""
    per_track = pd.Series(assigned).groupby(truth.label).agg(["min", "max"])
    whole = per_track[(per_track["min"] == per_track["max"]) & (per_track["min"] > 0)]
    ref_span = truth.lineage.set_index("track_id").reindex(whole.index)
    comp_span = comp.lineage.set_index("track_id").reindex(whole["min"])
    return int(
        (
            (ref_span["start"].to_numpy() == comp_span["start"].to_numpy())
            & (ref_span["end"].to_numpy() == comp_span["end"].to_numpy())
        ).sum()
    )


class _Division:
    """A parent with two children or more: its last frame, its children and their first frames
    (by track id)."""

    def __init__(self, parent: int, end: int, children: list[tuple[int, int]]) -> None:
        self.parent, self.end, self.children = parent, end, children


def _divisions(lineage: pd.DataFrame) -> list[_Division]:
    """The divisions of a lineage, by parent id."""
    ids = lineage["track_id"].tolist()
    end = dict(zip(ids, lineage["end"].tolist(), strict=True))
    children: dict[int, list[tuple[int, int]]] = {}
    for track, start, parent in zip(
        ids, lineage["start"].tolist(), lineage["parent_id"].tolist(), strict=True
    ):
        if parent:
            children.setdefault(parent, []).append((track, start))
    return [
        _Division(parent, end[parent], sorted(kids))
        for parent, kids in sorted(children.items())
        if len(kids) > 1
    ]


def _division_pairs(
    truth: _Truth,
    gt: list[_Division],
    res: list[_Division],
    assigned: IntArray,
    tolerance: int,
) -> IntArray:
    """Every (ground truth, result) pair of divisions that match within `tolerance` frames
    (the module's docstring), as rows [parents' last frames apart, index in gt, index in res]."""

    def mapped(track: int, t: int) -> int:
        vertex = truth.index([track], [t])[0]
        return int(assigned[vertex]) if vertex >= 0 else 0

    rows = []
    for i, g in enumerate(gt):
        for j, r in enumerate(res):
            gap = abs(g.end - r.end)
            if len(g.children) != len(r.children) or gap > tolerance:
                continue
            if mapped(g.parent, min(g.end, r.end)) != r.parent:
                continue
            found: set[int] = set()
            for g_child, g_start in g.children:
                for r_child, r_start in r.children:
                    near = abs(g_start - r_start) <= tolerance
                    if near and mapped(g_child, max(g_start, r_start)) == r_child:
                        found.add(r_child)
                        break
            if len(found) == len(g.children):
                rows.append((gap, i, j))
    return np.array(rows, np.int64).reshape(-1, 3)


def _one_to_one(pairs: IntArray, gt: list[_Division], res: list[_Division]) -> IntArray:
    """(result - ground truth) parent's last frame of matching pairs taken one to one, nearest
    in time first (ties: ground-truth order)."""
    used_gt: set[int] = set()
    used_res: set[int] = set()
    errors = []
    for _, i, j in sorted(pairs.tolist()):
        if i not in used_gt and j not in used_res:
            used_gt.add(i)
            used_res.add(j)
            errors.append(res[j].end - gt[i].end)
    return np.array(errors, np.int64)


def _track_fractions(truth: _Truth, assigned: IntArray) -> float:
    """The CTC's TF, visiting tracks in py-ctcmetrics' order (its result tracks by id, each one's
    ground-truth tracks by id; a track followed whole stops the visit of that result track)."""
    order = np.lexsort((truth.t, truth.label))
    labels, followed = truth.label[order], assigned[order]
    fractions: dict[int, dict[int, float]] = {}
    bounds = np.flatnonzero(np.diff(labels, prepend=-1, append=-1))
    for begin, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        track, length = int(labels[begin]), stop - begin
        run, last = 0, 0
        for comp in followed[begin:stop].tolist():
            run = run + 1 if comp > 0 and comp == last else (1 if comp > 0 else 0)
            if comp > 0:
                by_truth = fractions.setdefault(comp, {})
                by_truth[track] = max(by_truth.get(track, 0.0), run / length)
            last = comp
    best = dict.fromkeys(truth.lineage["track_id"].tolist(), 0.0)
    for _, by_truth in sorted(fractions.items()):
        for track, fraction in sorted(by_truth.items()):
            if best[track] == 1:
                continue
            best[track] = max(best[track], fraction)
            if fraction == 1:
                break
    found = [f for f in best.values() if f > 0]
    return float(np.mean(found)) if found else 0.0


def _cell_cycle_accuracy(truth: pd.DataFrame, result: pd.DataFrame) -> float:
    """The CTC's CCA (the module's docstring); NaN where the ground truth has no whole cycle."""

    def cycles(lineage: pd.DataFrame) -> IntArray:
        counts = lineage.loc[lineage["parent_id"] != 0, "parent_id"].value_counts()
        dividing = counts.index[counts > 1]
        whole = lineage["track_id"].isin(dividing) & lineage["parent_id"].isin(dividing)
        return (lineage.loc[whole, "end"] - lineage.loc[whole, "start"]).to_numpy(np.int64)

    ref, comp = cycles(truth), cycles(result)
    if ref.size == 0:
        return math.nan
    if comp.size == 0:
        return 0.0
    bins = int(max(ref.max(), comp.max())) + 1
    ref_cdf = np.cumsum(np.bincount(ref, minlength=bins) / ref.size)
    comp_cdf = np.cumsum(np.bincount(comp, minlength=bins) / comp.size)
    return float(1 - np.max(np.abs(ref_cdf - comp_cdf)))
