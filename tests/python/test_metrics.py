"""cellpoint.eval.metrics on a tiny hand-drawn ground truth, every count worked out by hand.

The ground truth (6 frames of 40 x 40 px, each marker a 5 x 5 square around its centre):
track 1 (t = 0..2) divides into 2 and 3 (t = 3..5); tracks 4 and 5 (t = 0..5) run alone.
Vertices: 3 + 3 + 3 + 6 + 6 = 21. Edges: track links 2 + 2 + 2 + 5 + 5 = 16, plus the two parent
links 1 -> 2 and 1 -> 3: 18. So AOGM_0 = 10 * 21 + 1.5 * 18 = 237 and AOGM_D0 = 210.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cellpoint.eval.metrics import (
    EvaluationReport,
    evaluate,
    evaluate_ctc,
    evaluate_masks,
    format_reports,
    load_ground_truth,
)
from cellpoint.io.ctc import CTCSequence, write_res_track
from cellpoint.io.result import TrackingResult
from cellpoint.score import main
from tracked import Centres, tracked

SHAPE = (6, 40, 40)
CENTRES: Centres = {
    1: {t: (10, 10 + t) for t in range(3)},
    2: {t: (7, 10 + t) for t in range(3, 6)},
    3: {t: (13, 10 + t) for t in range(3, 6)},
    4: {t: (30, 10 + t) for t in range(6)},
    5: {t: (30, 25 + t) for t in range(6)},
}
PARENTS = {2: 1, 3: 1}
BACKGROUND = (2.0, 35.0)  # in no marker
VERTICES, EDGES = 21, 18


def draw(centres: Centres, shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    """Label images with a 5 x 5 square of label k around each centre of track k."""
    labels = np.zeros(shape, np.uint16)
    for track, points in centres.items():
        for t, (y, x) in points.items():
            labels[t, int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = track
    return labels


def points(centres: Centres, parents: dict[int, int]) -> TrackingResult:
    """A result with a point at every centre."""
    return tracked(centres, parents, shape=SHAPE)


LINEAGE = points(CENTRES, PARENTS).lineage


def truth() -> CTCSequence:
    return CTCSequence(Path("hand-drawn"), None, draw(CENTRES), LINEAGE)


def perturbed() -> tuple[Centres, dict[int, int]]:
    return copy.deepcopy(CENTRES), dict(PARENTS)


def check(
    report: EvaluationReport,
    ns: int = 0,
    fn: int = 0,
    fp: int = 0,
    ed: int = 0,
    ea: int = 0,
    ec: int = 0,
) -> None:
    """The error counts are as given, and the AOGM, TRA, DET and LNK follow from them."""
    assert (report.ns, report.fn, report.fp, report.ed, report.ea, report.ec) == (
        ns,
        fn,
        fp,
        ed,
        ea,
        ec,
    )
    aogm_d = 5 * ns + 10 * fn + fp
    aogm_a = ed + 1.5 * ea + ec
    assert report.aogm == aogm_d + aogm_a
    assert report.aogm_0 == 10 * VERTICES + 1.5 * EDGES
    assert report.tra == pytest.approx(1 - (aogm_d + aogm_a) / 237, abs=1e-12)
    assert report.det == pytest.approx(1 - aogm_d / 210, abs=1e-12)
    assert report.lnk == pytest.approx(1 - aogm_a / 27, abs=1e-12)
    assert (report.gt_vertices, report.gt_edges, report.gt_tracks) == (VERTICES, EDGES, 5)


def check_divisions(report: EvaluationReport, tp: int, fp: int, fn: int) -> None:
    assert (report.division_tp, report.division_fp, report.division_fn) == (tp, fp, fn)
    assert report.gt_divisions == tp + fn
    assert report.result_divisions == tp + fp


# --- points ---------------------------------------------------------------------------------


def test_perfect_points_score_one() -> None:
    report = evaluate(points(CENTRES, PARENTS), truth())
    check(report)
    assert report.tra == report.det == report.lnk == 1
    check_divisions(report, tp=1, fp=0, fn=0)
    assert report.division_precision == report.division_recall == report.division_f1 == 1
    assert (report.complete_tracks, report.complete_fraction, report.ct) == (5, 1, 1)
    assert report.view == "points"


def test_points_off_centre_still_match_their_marker() -> None:
    centres, parents = perturbed()
    centres[4] = {t: (y + 2.4, x - 2.4) for t, (y, x) in centres[4].items()}  # rounds into it
    check(evaluate(points(centres, parents), truth()))


def test_dropped_last_point() -> None:
    # The vertex (5, t=5) is missed (FN), and with it the edge (5, 4) -> (5, 5) (EA). Track 5
    # now ends a frame early, so it is no longer complete.
    centres, parents = perturbed()
    del centres[5][5]
    report = evaluate(points(centres, parents), truth())
    check(report, fn=1, ea=1)
    assert report.complete_tracks == 4


def test_dropped_middle_point_continued_by_a_new_track() -> None:
    # Track 4 loses t=2 and goes on as track 6 (t=3..5), a continuation of 4: FN 1 for (4, 2),
    # EA 2 for the GT edges into and out of it, ED 1 for the parent link (4, 1) -> (6, 3),
    # which links two matched vertices that the ground truth does not link.
    centres, parents = perturbed()
    centres[6] = {t: centres[4].pop(t) for t in range(3, 6)}
    del centres[4][2]
    parents[6] = 4
    report = evaluate(points(centres, parents), truth())
    check(report, fn=1, ea=2, ed=1)
    check_divisions(report, tp=1, fp=0, fn=0)  # a one-child parent is not a division
    # Without the parent link, nothing links across the gap: no ED.
    del parents[6]
    check(evaluate(points(centres, parents), truth()), fn=1, ea=2)


def test_spurious_points() -> None:
    # Points in no marker are false positives; their edges cost nothing beyond the vertices.
    centres, parents = perturbed()
    centres[7] = {2: BACKGROUND}
    report = evaluate(points(centres, parents), truth())
    check(report, fp=1)
    assert report.result_tracks == 6
    assert report.ct == pytest.approx(2 * 5 / (5 + 6))
    centres[7] = {2: BACKGROUND, 3: BACKGROUND}
    check(evaluate(points(centres, parents), truth()), fp=2)


def test_second_point_in_a_marker_is_a_false_positive() -> None:
    # Track 8 sits on the centroid of marker (4, t=2) as track 4 does: the tie goes to the
    # smaller track id, and 8 is a false positive.
    centres, parents = perturbed()
    centres[8] = {2: centres[4][2]}
    check(evaluate(points(centres, parents), truth()), fp=1)
    # Moved off the centroid (still inside), track 4 loses the marker to 8: now (4, t=2) is the
    # false positive, so track 4's edges into and out of it are gone (EA 2); 8 has no edges.
    y, x = centres[4][2]
    centres[4][2] = (y + 1, x + 1)
    report = evaluate(points(centres, parents), truth())
    check(report, fp=1, ea=2)
    assert report.complete_tracks == 4


def test_swapped_identities() -> None:
    # Tracks 4 and 5 swap their points from t=3 on: the result links (4, 2) -> (5, 3) and
    # (5, 2) -> (4, 3) (ED 2) instead of (4, 2) -> (4, 3) and (5, 2) -> (5, 3) (EA 2).
    centres, parents = perturbed()
    for t in range(3, 6):
        centres[4][t], centres[5][t] = centres[5][t], centres[4][t]
    report = evaluate(points(centres, parents), truth())
    check(report, ed=2, ea=2)
    assert report.complete_tracks == 3


def test_missed_division() -> None:
    # Rejecting the division unlinks both daughters: the two parent links are missing (EA 2).
    result = points(CENTRES, PARENTS).with_division_status(1, "rejected")
    report = evaluate(result, truth())
    check(report, ea=2)
    check_divisions(report, tp=0, fp=0, fn=1)
    assert report.division_recall == report.division_f1 == 0
    assert np.isnan(report.division_precision)
    assert report.complete_tracks == 5  # complete tracks look at spans, not at parents


def test_false_division() -> None:
    # Track 4 "divides" at t=3 into 6 (on 4's markers) and 7 (in the background): 7's three
    # points are false positives, and the parent link (4, 2) -> (6, 3) matches the GT track
    # link (4, 2) -> (4, 3) with the wrong semantics (EC 1).
    centres, parents = perturbed()
    centres[6] = {t: centres[4].pop(t) for t in range(3, 6)}
    centres[7] = dict.fromkeys(range(3, 6), BACKGROUND)
    parents |= {6: 4, 7: 4}
    report = evaluate(points(centres, parents), truth())
    check(report, fp=3, ec=1)
    check_divisions(report, tp=1, fp=1, fn=0)
    assert report.division_precision == 0.5
    assert report.division_f1 == pytest.approx(2 / 3)
    assert report.complete_tracks == 4
    assert report.ct == pytest.approx(2 * 4 / (5 + 7))


def test_division_one_frame_late() -> None:
    # Track 1 goes on to t=3 on daughter 2's marker, and 2 and 3 start at t=4. (3, t=3) is
    # missed (FN 1), and with it (1, 2) -> (3, 3) and (3, 3) -> (3, 4) (EA 2). The track link
    # (1, 2) -> (1, 3) matches the GT parent link (1, 2) -> (2, 3), and the parent link
    # (1, 3) -> (2, 4) the GT track link (2, 3) -> (2, 4): EC 2. The parent link (1, 3) -> (3, 4)
    # links (2, 3) to (3, 4), which the ground truth does not: ED 1.
    centres, parents = perturbed()
    centres[1][3] = centres[2].pop(3)
    del centres[3][3]
    result = points(centres, parents)
    report = evaluate(result, truth(), division_tolerance=1)
    check(report, fn=1, ea=2, ec=2, ed=1)
    check_divisions(report, tp=1, fp=0, fn=0)
    assert report.complete_tracks == 2  # 4 and 5
    check_divisions(evaluate(result, truth(), division_tolerance=0), tp=0, fp=1, fn=1)
    assert (report.bc_0, report.bc_1, report.bc_2) == (0, 1, 1)
    assert (report.division_timing, report.timed_divisions) == (1, 1)  # late: positive


def test_division_two_frames_early() -> None:
    # Track 1 ends at t=0: daughters 2 and 3 start at t=1, on 1's marker at t=1 and t=2 (2) and
    # in the background (3). BC(2) finds it, BC(1) not, and the timing error says 2 frames early.
    centres, parents = perturbed()
    centres[2] |= {t: centres[1].pop(t) for t in (1, 2)}
    centres[3] |= dict.fromkeys((1, 2), BACKGROUND)
    report = evaluate(points(centres, parents), truth())
    assert (report.bc_0, report.bc_1, report.bc_2) == (0, 0, 1)
    assert (report.division_timing, report.timed_divisions) == (-2, 1)


def test_track_fractions_and_cell_cycle_accuracy() -> None:
    perfect = evaluate(points(CENTRES, PARENTS), truth())
    assert perfect.tf == 1
    assert np.isnan(perfect.cca)  # no ground-truth track both begins and ends in a division
    # Track 5 (frames 0-5) is cut after frame 2 into a new track 8: its longest part followed
    # by one track is 3 of 6 frames; the other four tracks are followed whole.
    centres, parents = perturbed()
    centres[8] = {t: centres[5].pop(t) for t in (3, 4, 5)}
    assert evaluate(points(centres, parents), truth()).tf == pytest.approx((4 + 3 / 6) / 5)


def test_points_outside_the_frames() -> None:
    centres, parents = perturbed()
    centres[7] = {0: (-3.0, 5.0), 1: (5.0, 40.0)}  # off the image
    result = points(centres, parents)
    check(evaluate(result, truth()), fp=2)
    with pytest.raises(ValueError, match=r"tracked on frames of shape \(6, 40, 40\), but the"):
        evaluate(result, CTCSequence(Path("x"), None, draw(CENTRES, (6, 40, 41)), LINEAGE))


def test_report_table_and_series() -> None:
    report = evaluate(points(CENTRES, PARENTS), truth())
    series = report.as_series()
    assert series.name == "points"
    assert (series["TRA"], series["AOGM_0"], series["GT divisions"]) == (1, 237, 1)
    assert len(series) == 35
    assert (series["BC(0)"], series["BC(1)"], series["TF"]) == (1, 1, 1)
    rows = [line.split() for line in str(report).splitlines()]
    assert rows[0] == ["points"]
    assert rows[1] == ["TRA", "1.000000"]
    assert ["GT", "vertices", "21"] in rows
    both = format_reports([report, report])
    assert both.splitlines()[0].split() == ["points", "points"]


def test_ground_truth_must_agree_with_its_lineage() -> None:
    markers = draw(CENTRES)
    lineage = LINEAGE
    markers[2][markers[2] == 4] = 9
    with pytest.raises(ValueError, match=r"markers: label 9 in frame 2 is not a track of the"):
        evaluate(points(CENTRES, PARENTS), CTCSequence(Path("x"), None, markers, lineage))
    markers[2][markers[2] == 9] = 0
    with pytest.raises(ValueError, match=r"track 4 spans frames 0..5 in the track file, but its"):
        evaluate(points(CENTRES, PARENTS), CTCSequence(Path("x"), None, markers, lineage))
    with pytest.raises(ValueError, match=r"no tracking markers and lineage"):
        evaluate(points(CENTRES, PARENTS), CTCSequence(Path("x"), None, None, None))


# --- masks ----------------------------------------------------------------------------------


def test_perfect_masks_score_one() -> None:
    report = evaluate_masks(draw(CENTRES), LINEAGE, truth())
    check(report)
    check_divisions(report, tp=1, fp=0, fn=0)
    assert (report.view, report.complete_tracks) == ("masks", 5)


def test_masks_match_a_marker_covered_by_more_than_half() -> None:
    # A 5 x 5 marker has 25 pixels: 13 covered match it, 12 do not.
    masks = draw(CENTRES)
    masks[2][masks[2] == 5] = 0
    y, x = (int(c) for c in CENTRES[5][2])
    square = masks[2, y - 2 : y + 3, x - 2 : x + 3]
    square.flat[:13] = 5
    check(evaluate_masks(masks, LINEAGE, truth()))
    square.flat[12] = 0
    # (5, t=2) is now missed and also a false positive, with both of its GT edges.
    check(evaluate_masks(masks, LINEAGE, truth()), fn=1, fp=1, ea=2)


def test_masks_covering_two_markers_need_a_split() -> None:
    # At t=2 label 4 covers the markers of 4 and 5 (NS 1), so it loses its edges: the GT edges
    # of (4, 2) and (5, 2) are missing (EA 4). Track 5 stops at t=1 and goes on as 6 from t=3.
    masks = draw(CENTRES)
    masks[2][masks[2] == 5] = 4
    masks[3:][masks[3:] == 5] = 6
    lineage = pd.DataFrame(
        {"track_id": [1, 2, 3, 4, 5, 6], "start": [0, 3, 3, 0, 0, 3], "end": [2, 5, 5, 5, 1, 5],
         "parent_id": [0, 1, 1, 0, 0, 0]}
    )  # fmt: skip
    report = evaluate_masks(masks, lineage, truth())
    check(report, ns=1, ea=4)
    assert report.complete_tracks == 3


def test_masks_must_agree_with_res_track() -> None:
    masks = draw(CENTRES)
    masks[0, 0, 0] = 12
    with pytest.raises(ValueError, match=r"result masks: label 12 in frame 0 is not a track"):
        evaluate_masks(masks, LINEAGE, truth())
    with pytest.raises(ValueError, match=r"masks have shape \(5, 40, 40\), ground-truth"):
        evaluate_masks(draw(CENTRES)[:5], LINEAGE, truth())


# --- files and the command ------------------------------------------------------------------


def write_truth(folder: Path, markers: np.ndarray, lineage: pd.DataFrame) -> Path:
    """A CTC ground-truth folder `folder/TRA` (man_track*.tif, man_track.txt)."""
    import tifffile

    tra = folder / "TRA"
    tra.mkdir(parents=True)
    for t, frame in enumerate(markers):
        tifffile.imwrite(tra / f"man_track{t:03d}.tif", frame, compression="lzw")
    write_res_track(lineage, tra / "man_track.txt")
    return folder


def test_folders_and_the_score_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = write_truth(tmp_path / "01_GT", draw(CENTRES), LINEAGE)
    (tmp_path / "01").mkdir()
    centres, parents = perturbed()
    centres[7] = {2: BACKGROUND}
    result = points(centres, parents)
    res = result.to_ctc(tmp_path / "01_RES", radius=2)
    for where in (gt, gt / "TRA", tmp_path / "01"):
        assert load_ground_truth(where).markers is not None
        check(evaluate(result, where), fp=1)
    check(evaluate_ctc(res, gt), fp=1)

    assert main([str(res), str(gt), "--points", "--division-tolerance", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["masks", "points"]
    assert lines[1].split() == ["TRA", f"{1 - 1 / 237:.6f}", f"{1 - 1 / 237:.6f}"]
    assert lines[20].split() == ["TF", "1.000000", "1.000000"]
    assert lines[21].split() == ["division", "tolerance", "0", "0"]

    assert main([str(res), str(tmp_path / "missing")]) == 1
    assert "error: no folder" in capsys.readouterr().err

    run = subprocess.run(
        [sys.executable, "-m", "cellpoint.score", str(res), str(gt)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split() for line in run.stdout.splitlines()]
    assert rows[0] == ["masks"]
    assert ["FP", "1"] in rows
