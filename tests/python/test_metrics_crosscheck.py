"""cellpoint.eval.metrics against two independent implementations, py-ctcmetrics (the CTC's Python
evaluator) and traccuracy, on a simulated sequence and on copies of its ground truth with
known errors injected.

For every case the test checks that
- the points view moves each count by exactly the injected amount;
- the masks view (the result written with `to_ctc`) gives the same report as the points view;
- py-ctcmetrics, on the CTC folders, gives the masks view's AOGM parts, AOGM, AOGM_0, TRA, DET,
  LNK, CT, TF, CCA, and BC(i) and its division counts for i = 0, 1, 2;
- traccuracy (its CTC loader, CTCMatcher and CTCMetrics) gives the masks view's counts, AOGM,
  TRA, DET and LNK, and its DivisionMetrics the same division precision, recall and F1;
- traccuracy's PointSegMatcher (a point matches the label under it), on a graph of the points,
  gives the points view's counts.
The differences found are pinned down by the `test_difference_*` tests at the end.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The independent implementations are dev dependencies: a missing one is an error, not a skip.
import ctc_metrics.scripts.evaluate as ctc_metrics
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import traccuracy
from cellpoint.eval.metrics import EvaluationReport, evaluate, evaluate_ctc
from cellpoint.eval.sim import SimulatedSequence, simulate
from cellpoint.io.ctc import default_radius
from cellpoint.io.result import TrackingResult
from cellpoint.io.tables import divisions_from_lineage, lineage_from_tracks
from scipy import ndimage as ndi
from test_metrics import CENTRES, PARENTS, draw, points, write_truth
from traccuracy.loaders import load_ctc_data
from traccuracy.matchers import CTCMatcher, PointSegMatcher
from traccuracy.metrics import CTCMetrics, DivisionMetrics

COUNTS = ("ns", "fn", "fp", "ed", "ea", "ec")


@pytest.fixture(scope="module")
def sequence() -> SimulatedSequence:
    # 24 frames of 128 x 128 px, 50 tracks, 12 divisions
    return simulate("small", seed=0, division_rate=0.04)


@pytest.fixture(scope="module")
def gt_folder(sequence: SimulatedSequence, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_truth(tmp_path_factory.mktemp("gt") / "01_GT", sequence.markers, sequence.lineage)


# --- injected errors ------------------------------------------------------------------------


@dataclass
class Case:
    """A result with errors injected into the ground truth, and what they must cost."""

    result: TrackingResult
    counts: dict[str, int] = field(default_factory=dict)
    divisions: tuple[int, int, int] | None = None  # (TP, FP, FN) at tolerance 1; None: all TP
    complete_lost: int = 0


def rebuild(tracks: pd.DataFrame, parents: dict[int, int], shape: Any) -> TrackingResult:
    tracks = tracks.sort_values(["track_id", "t"], ignore_index=True)
    lineage = lineage_from_tracks(tracks, parents)
    return TrackingResult(tracks, lineage, divisions_from_lineage(lineage), shape=shape)


def parents_of(lineage: pd.DataFrame) -> dict[int, int]:
    linked = lineage[lineage["parent_id"] != 0]
    return dict(zip(linked["track_id"].tolist(), linked["parent_id"].tolist(), strict=True))


def childless(lineage: pd.DataFrame, length: int) -> list[int]:
    """Tracks without children spanning at least `length` frames."""
    long = lineage[(lineage["end"] - lineage["start"] + 1 >= length)]
    return sorted(set(long["track_id"]) - set(lineage["parent_id"]))


def spans(lineage: pd.DataFrame) -> dict[int, tuple[int, int]]:
    """{track: (start, end)}."""
    columns = (lineage[c].tolist() for c in ("track_id", "start", "end"))
    return {k: (start, end) for k, start, end in zip(*columns, strict=True)}


def relabel(tracks: pd.DataFrame, rows: Any, track_id: int) -> pd.DataFrame:
    ids = tracks["track_id"].to_numpy().copy()
    ids[np.asarray(rows)] = track_id
    return tracks.assign(track_id=ids)


def in_background(seq: SimulatedSequence, track_id: int, frames: range) -> pd.DataFrame:
    """Points of a new track at the pixel farthest from every marker in `frames`."""
    empty = ~(seq.markers[frames.start : frames.stop] > 0).any(axis=0)
    y, x = np.unravel_index(np.argmax(ndi.distance_transform_edt(empty)), empty.shape)
    points = pd.DataFrame({"track_id": track_id, "t": frames, "y": y, "x": x, "visibility": 1.0})
    return points.astype(seq.tracks.dtypes.to_dict())


def perfect(seq: SimulatedSequence) -> Case:
    return Case(seq.to_result())


def dropped_frame(seq: SimulatedSequence) -> Case:
    # Drop every point of a frame where no track starts or ends; each track there goes on after
    # the gap as a new track, a continuation of the old one. Each of its n cells costs FN 1,
    # EA 2 (its GT edges from t-1 and to t+1) and ED 1 (the continuation's link t-1 -> t+1).
    span = spans(seq.lineage)
    bounds = {frame for pair in span.values() for frame in pair}
    t = next(t for t in range(1, seq.config.n_frames - 1) if t not in bounds)
    here = [k for k, (start, end) in span.items() if start < t < end]
    new = {k: max(span) + i for i, k in enumerate(here, 1)}
    tracks = seq.tracks
    for k in here:
        tracks = relabel(tracks, (tracks["track_id"] == k) & (tracks["t"] > t), new[k])
    parents = {child: new.get(parent, parent) for child, parent in parents_of(seq.lineage).items()}
    result = rebuild(
        tracks[tracks["t"] != t], parents | {new[k]: k for k in here}, seq.frames.shape
    )
    n = len(here)
    return Case(result, {"fn": n, "ea": 2 * n, "ed": n}, complete_lost=n)


def swapped_identities(seq: SimulatedSequence) -> Case:
    # Two childless tracks swap their points from frame t on: ED 2 and EA 2.
    a, b = childless(seq.lineage, 6)[:2]
    span = spans(seq.lineage)
    t = max(span[a][0], span[b][0]) + 2
    tracks = seq.tracks
    late = tracks["t"] >= t
    swapped = relabel(tracks, late & (tracks["track_id"] == a), b)
    swapped = relabel(swapped, late & (tracks["track_id"] == b), a)
    result = rebuild(swapped, parents_of(seq.lineage), seq.frames.shape)
    return Case(result, {"ed": 2, "ea": 2}, complete_lost=2)


def missed_division(seq: SimulatedSequence) -> Case:
    # A rejected division unlinks its daughters: the two GT parent links are missing.
    parent = int(seq.divisions["parent_id"].iloc[0])
    result = seq.to_result().with_division_status(parent, "rejected")
    n = len(seq.divisions)
    return Case(result, {"ea": 2}, divisions=(n - 1, 0, 1))


def false_division(seq: SimulatedSequence) -> Case:
    # A childless track "divides" at t: one daughter carries on its points, the other is three
    # points in the background (FP 3). The parent link to the first daughter matches a GT track
    # link (EC 1).
    k = childless(seq.lineage, 8)[0]
    span = spans(seq.lineage)
    t = span[k][0] + 4
    first, second = max(span) + 1, max(span) + 2
    tracks = relabel(seq.tracks, (seq.tracks["track_id"] == k) & (seq.tracks["t"] >= t), first)
    tracks = pd.concat([tracks, in_background(seq, second, range(t, t + 3))])
    parents = parents_of(seq.lineage) | {first: k, second: k}
    n = len(seq.divisions)
    result = rebuild(tracks, parents, seq.frames.shape)
    return Case(result, {"fp": 3, "ec": 1}, divisions=(n, 1, 0), complete_lost=1)


def first_division(
    seq: SimulatedSequence, fits: Callable[[int, int, int, int], bool]
) -> tuple[int, int, int, int]:
    """(parent, first daughter frame, daughter a, daughter b) of the first division that fits."""
    columns = ["parent_id", "t", "daughter_a", "daughter_b"]
    return next(tuple(d) for d in seq.divisions[columns].to_numpy().tolist() if fits(*d))


def late_division(seq: SimulatedSequence) -> Case:
    # A division one frame late: the parent goes on on daughter a's first point, a and b start a
    # frame later, and b's first point is lost. As in test_metrics.test_division_one_frame_late:
    # FN 1, EA 2, EC 2, ED 1; the parent and both daughters are no longer complete.
    span = spans(seq.lineage)
    parent, t, a, b = first_division(seq, lambda p, t, a, b: min(span[a][1], span[b][1]) >= t + 2)
    tracks = seq.tracks
    tracks = relabel(tracks, (tracks["track_id"] == a) & (tracks["t"] == t), parent)
    first_b = (tracks["track_id"] == b) & (tracks["t"] == t)
    result = rebuild(tracks[~first_b], parents_of(seq.lineage), seq.frames.shape)
    return Case(result, {"fn": 1, "ea": 2, "ec": 2, "ed": 1}, complete_lost=3)


def early_division(seq: SimulatedSequence) -> Case:
    # A division one frame early: daughter a takes the parent's last point, daughter b starts a
    # frame early in the background (FP 1). The parent link to a's first point matches the GT
    # track link into the parent's last vertex and a's track link the GT parent link out of it
    # (EC 2); the GT parent link to b is missed (EA 1). Parent and daughters are not complete.
    span = spans(seq.lineage)
    parent, t, a, b = first_division(seq, lambda p, t, a, b: span[p][1] - span[p][0] >= 2)
    tracks = relabel(seq.tracks, (seq.tracks["track_id"] == parent) & (seq.tracks["t"] == t - 1), a)
    tracks = pd.concat([tracks, in_background(seq, b, range(t - 1, t))])
    result = rebuild(tracks, parents_of(seq.lineage), seq.frames.shape)
    return Case(result, {"fp": 1, "ec": 2, "ea": 1}, complete_lost=3)


def dropped_point(seq: SimulatedSequence) -> Case:
    # The last point of a childless track: FN 1, EA 1.
    k = childless(seq.lineage, 3)[0]
    tracks = seq.tracks
    last = (tracks["track_id"] == k) & (tracks["t"] == spans(seq.lineage)[k][1])
    result = rebuild(tracks[~last], parents_of(seq.lineage), seq.frames.shape)
    return Case(result, {"fn": 1, "ea": 1}, complete_lost=1)


def spurious_track(seq: SimulatedSequence) -> Case:
    # Two points in the background: FP 2; their link costs nothing.
    extra = in_background(seq, max(spans(seq.lineage)) + 1, range(5, 7))
    tracks = pd.concat([seq.tracks, extra])
    return Case(rebuild(tracks, parents_of(seq.lineage), seq.frames.shape), {"fp": 2})


CASES: dict[str, Callable[[SimulatedSequence], Case]] = {
    f.__name__: f
    for f in (
        perfect,
        dropped_frame,
        swapped_identities,
        missed_division,
        false_division,
        late_division,
        early_division,
        dropped_point,
        spurious_track,
    )
}


# --- the other implementations --------------------------------------------------------------


def py_ctcmetrics(res: Path, gt: Path) -> dict[str, Any]:
    """py-ctcmetrics on CTC folders (`gt` is the `_GT` folder), single-threaded and quiet."""
    with contextlib.redirect_stdout(io.StringIO()):
        scores: dict[str, Any] = ctc_metrics.evaluate_sequence(
            str(res), str(gt), metrics=["TRA", "DET", "LNK", "CT", "TF", "BC(2)", "CCA"], threads=1
        )
    return scores


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """traccuracy reports progress on stderr."""
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        yield


def traccuracy_masks(res: Path, gt: Path, *also: Any) -> list[dict[str, Any]]:
    """The results of traccuracy's CTCMetrics and of the metrics `also` on CTC folders."""
    with quiet():
        truth = load_ctc_data(str(gt / "TRA"), name="gt")
        pred = load_ctc_data(str(res), name="res")
        scores, _ = traccuracy.run_metrics(truth, pred, CTCMatcher(), [CTCMetrics(), *also])
    return [score["results"] for score in scores]


def traccuracy_points(result: TrackingResult, gt: Path) -> dict[str, Any]:
    """traccuracy's CTC metrics with its PointSegMatcher, on the graph of `result`'s points.

    traccuracy finds the pixel under a point by truncating its coordinates (`int(y)`), cellpoint
    by rounding them (pixel centres at whole coordinates): the graph's points are shifted by half
    a pixel so that both find the same pixel.
    """
    tracks = result.tracks
    node = {
        (k, t): i for i, (k, t) in enumerate(zip(tracks["track_id"], tracks["t"], strict=True), 1)
    }
    graph = nx.DiGraph()
    for (k, t), i in node.items():
        row = tracks.iloc[i - 1]
        graph.add_node(i, t=t, y=row["y"] + 0.5, x=row["x"] + 0.5)
        if (k, t + 1) in node:
            graph.add_edge(i, node[k, t + 1])
    span = spans(result.lineage)
    for child, parent in parents_of(result.lineage).items():
        graph.add_edge(node[parent, span[parent][1]], node[child, span[child][0]])
    with quiet():
        truth = load_ctc_data(str(gt / "TRA"), name="gt")
        pred = traccuracy.TrackingGraph(graph, location_keys=("y", "x"), label_key=None)
        scores, _ = traccuracy.run_metrics(truth, pred, PointSegMatcher(), [CTCMetrics()])
    results: dict[str, Any] = scores[0]["results"]
    return results


def assert_same_as_py_ctcmetrics(report: EvaluationReport, theirs: dict[str, Any]) -> None:
    for name in COUNTS:
        assert getattr(report, name) == theirs[f"AOGM_{name.upper()}"], name
    for name in ("aogm", "aogm_0", "tra", "det", "lnk", "ct", "tf", "cca"):
        expected = math.nan if theirs[name.upper()] is None else theirs[name.upper()]
        assert getattr(report, name) == pytest.approx(expected, abs=1e-6, nan_ok=True), name
    for i in (0, 1, 2):
        assert getattr(report, f"bc_{i}") == pytest.approx(theirs[f"BC({i})"], abs=1e-6), i


def assert_same_as_traccuracy(report: EvaluationReport, theirs: dict[str, Any]) -> None:
    ours = (report.ns, report.fn, report.fp, report.ed, report.ea, report.ec)
    keys = ("ns_nodes", "fn_nodes", "fp_nodes", "fp_edges", "fn_edges", "ws_edges")
    assert ours == tuple(theirs[k] for k in keys)
    for name in ("aogm", "tra", "det", "lnk"):
        assert getattr(report, name) == pytest.approx(theirs[name.upper()], abs=1e-6), name


# --- the cross-check ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Empty frame:UserWarning")  # py-ctcmetrics, dropped_frame
@pytest.mark.parametrize("name", CASES)
def test_crosscheck(
    name: str, sequence: SimulatedSequence, gt_folder: Path, tmp_path: Path
) -> None:
    case = CASES[name](sequence)
    ours = evaluate(case.result, sequence, division_tolerance=1)
    n_divisions = len(sequence.divisions)
    assert {c: getattr(ours, c) for c in COUNTS} == {c: case.counts.get(c, 0) for c in COUNTS}
    tp, fp, fn = case.divisions or (n_divisions, 0, 0)
    assert (ours.division_tp, ours.division_fp, ours.division_fn) == (tp, fp, fn)
    assert ours.complete_tracks == len(sequence.lineage) - case.complete_lost

    res = case.result.to_ctc(tmp_path / "01_RES")
    masks = evaluate_ctc(res, gt_folder, division_tolerance=1)
    assert masks.view == "masks"
    assert masks.as_series().equals(ours.as_series())

    theirs = py_ctcmetrics(res, gt_folder)
    assert_same_as_py_ctcmetrics(masks, theirs)
    for i in range(3):
        report = evaluate_ctc(res, gt_folder, division_tolerance=i) if i != 1 else masks
        counts = (report.division_tp, report.division_fp, report.division_fn)
        assert counts == (theirs[f"tp_div({i})"], theirs[f"fp_div({i})"], theirs[f"fn_div({i})"])

    ctc_scores, division_scores = traccuracy_masks(res, gt_folder, DivisionMetrics(1))
    assert_same_as_traccuracy(masks, ctc_scores)
    for buffer, report in ((0, evaluate_ctc(res, gt_folder, division_tolerance=0)), (1, masks)):
        scores = division_scores[f"Frame Buffer {buffer}"]
        assert scores["True Positive Divisions"] == report.division_tp
        for ours_name, their_name in (
            ("precision", "Precision"),
            ("recall", "Recall"),
            ("f1", "F1"),
        ):
            expected = scores[f"Division {their_name}"]
            value = getattr(report, f"division_{ours_name}")
            assert value == pytest.approx(expected, abs=1e-6, nan_ok=True), (buffer, ours_name)

    assert_same_as_traccuracy(ours, traccuracy_points(case.result, gt_folder))


@pytest.mark.parametrize("marker_scale", [1.0, None])
def test_written_masks_score_as_the_points(marker_scale: float | None, tmp_path: Path) -> None:
    # Cells in contact, markers as large as the nuclei (as in Fluo-N2DH-SIM+) or the
    # simulator's smaller ones (as in GOWT1) with a false track 3 px beside every fifth cell.
    # `to_ctc` paints disks sized by the diameter the result names, each pixel to its nearest
    # point: every cell's mask covers most of its marker, so the written folder scores as the
    # points do. (Disks sized by the points' spacing would be 2 px here and miss most markers.)
    scale = {} if marker_scale is None else {"marker_scale": marker_scale}
    sequence = simulate("hard", seed=1, n_frames=16, height=192, width=192, **scale)
    gt = write_truth(tmp_path / "01_GT", sequence.markers, sequence.lineage)
    tracks = sequence.tracks
    if marker_scale is None:
        beside = tracks[tracks["track_id"] % 5 == 0]
        beside = beside.assign(
            track_id=beside["track_id"] + int(tracks["track_id"].max()),
            x=np.where(beside["x"] < 96, beside["x"] + 3, beside["x"] - 3),
        )
        tracks = pd.concat([tracks, beside], ignore_index=True)
    result = rebuild(tracks, parents_of(sequence.lineage), sequence.frames.shape)
    result = TrackingResult(
        result.tracks, result.lineage, result.divisions, shape=result.shape,
        metadata={"diameter": sequence.config.diameter},
    )  # fmt: skip
    points = evaluate(result, sequence)
    assert points.fp == len(tracks) - len(sequence.tracks)
    if marker_scale is None:
        assert points.fp > 100
        assert default_radius(result.tracks) == 2
    res = result.to_ctc(tmp_path / "01_RES")
    masks = evaluate_ctc(res, gt)
    assert masks.as_series().equals(points.as_series())
    assert_same_as_py_ctcmetrics(masks, py_ctcmetrics(res, gt))


def test_simulator_writes_ctc_that_both_packages_score(
    sequence: SimulatedSequence, tmp_path: Path
) -> None:
    sequence.write_ctc(tmp_path, "01")
    gt = tmp_path / "01_GT"
    result = sequence.to_result()
    res = result.to_ctc(tmp_path / "01_RES")
    ours = evaluate_ctc(res, gt)
    assert ours.tra == ours.det == 1
    assert_same_as_py_ctcmetrics(ours, py_ctcmetrics(res, gt))
    assert_same_as_traccuracy(ours, traccuracy_masks(res, gt)[0])
    assert_same_as_traccuracy(evaluate(result, tmp_path / "01"), traccuracy_points(result, gt))


# --- the differences ------------------------------------------------------------------------


def test_difference_continuation_semantics(
    sequence: SimulatedSequence, gt_folder: Path, tmp_path: Path
) -> None:
    # A childless track relabelled mid-way, the new label a continuation of the old (its only
    # child): the parent link joins two vertices that the ground truth joins with a track link.
    # cellpoint and py-ctcmetrics (as the CTC's own evaluator) give every parent link in the
    # track file the parent semantics: EC 1. traccuracy gives it only to the edges of a parent
    # with two children, so it finds no error: its AOGM is lower by w_EC = 1.
    k = childless(sequence.lineage, 6)[0]
    span = spans(sequence.lineage)
    new = max(span) + 1
    tracks = sequence.tracks
    tracks = relabel(tracks, (tracks["track_id"] == k) & (tracks["t"] >= span[k][0] + 3), new)
    result = rebuild(tracks, parents_of(sequence.lineage) | {new: k}, sequence.frames.shape)
    res = result.to_ctc(tmp_path / "01_RES")
    ours = evaluate_ctc(res, gt_folder)
    assert {c: getattr(ours, c) for c in COUNTS} == {c: int(c == "ec") for c in COUNTS}
    assert_same_as_py_ctcmetrics(ours, py_ctcmetrics(res, gt_folder))
    theirs = traccuracy_masks(res, gt_folder)[0]
    assert theirs["ws_edges"] == 0
    assert theirs["AOGM"] == ours.aogm - 1
    assert theirs["TRA"] == 1
    assert traccuracy_points(result, gt_folder)["ws_edges"] == 0
    assert evaluate(result, sequence).ec == 1


def test_difference_non_split_count(tmp_path: Path) -> None:
    # On the hand-drawn ground truth of test_metrics, label 4 covers the markers of tracks 1, 4
    # and 5 at t=2 (so 1 ends at t=1 and 5 goes on as a new track 6 from t=3). Splitting that
    # vertex takes two operations: NS 2 for cellpoint and py-ctcmetrics (Matula et al. count
    # one split per extra match), while traccuracy counts the vertex once (ns_nodes 1).
    # The rest agrees: EA 7 for the GT edges at the three markers, ED 2 for the parent links
    # (1, 1) -> (2, 3) and (1, 1) -> (3, 3) that the ground truth does not have.
    import tifffile
    from cellpoint.io.ctc import write_res_track

    gt = write_truth(tmp_path / "01_GT", draw(CENTRES), points(CENTRES, PARENTS).lineage)
    masks = draw(CENTRES)
    masks[2][masks[2] > 0] = 4
    masks[3:][masks[3:] == 5] = 6
    res = tmp_path / "01_RES"
    res.mkdir()
    for t, frame in enumerate(masks):
        tifffile.imwrite(res / f"mask{t:03d}.tif", frame)
    lineage = pd.DataFrame(
        {"track_id": [1, 2, 3, 4, 5, 6], "start": [0, 3, 3, 0, 0, 3], "end": [1, 5, 5, 5, 1, 5],
         "parent_id": [0, 1, 1, 0, 0, 0]}
    )  # fmt: skip
    write_res_track(lineage, res / "res_track.txt")
    ours = evaluate_ctc(res, gt)
    assert (ours.ns, ours.fn, ours.fp, ours.ed, ours.ea, ours.ec) == (2, 0, 0, 2, 7, 0)
    assert ours.division_tp == 1
    assert_same_as_py_ctcmetrics(ours, py_ctcmetrics(res, gt))
    theirs = traccuracy_masks(res, gt)[0]
    assert theirs["ns_nodes"] == 1
    assert theirs["AOGM"] == ours.aogm - 5
    assert (theirs["fn_nodes"], theirs["fp_nodes"], theirs["fp_edges"], theirs["fn_edges"]) == (
        0,
        0,
        2,
        7,
    )


def test_difference_points_sharing_a_marker(sequence: SimulatedSequence, gt_folder: Path) -> None:
    # A second point on a marker: cellpoint matches one point per marker (the one nearest its
    # centroid) and counts the other as a false positive. traccuracy's PointSegMatcher matches
    # every point to the marker under it ...
    k = childless(sequence.lineage, 3)[0]
    tracks = sequence.tracks
    twin = (
        tracks[tracks["track_id"] == k]
        .iloc[:1]
        .assign(track_id=sequence.lineage["track_id"].max() + 1, x=lambda p: p["x"] + 0.6)
    )
    result = rebuild(pd.concat([tracks, twin]), parents_of(sequence.lineage), sequence.frames.shape)
    ours = evaluate(result, sequence)
    assert {c: getattr(ours, c) for c in COUNTS} == {c: int(c == "fp") for c in COUNTS}
    # ... so that one marker has two matches, a matching that its CTCMetrics refuses.
    with pytest.raises(TypeError, match="does not meet the requirements of the metric"):
        traccuracy_points(result, gt_folder)
