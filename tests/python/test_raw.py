"""cellpoint.engine.raw: heatmap peaks, and rolling-as-window (RAW) inference with a scripted model.

The network is replaced by an oracle (scripted.py) that knows hand-made ground-truth cells: its
heatmap has a Gaussian peak at every living cell, and its window tracker answers each query
with the true future of the cell nearest to the query at the window's first frame (visible
while that cell lives; after it divides, its daughters in the two daughter slots; nothing
after it dies). Points of invisible slots are NaN, so that RAW reading a slot it should not
shows up in the tables. The oracle stands in for the network only: every decision (which
cells go on, end, divide, enter, where windows start and what they are asked) is RAW's, and
is checked against the ground truth.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from cellpoint.engine.judge import FEATURES, HISTORY, PairCandidate
from cellpoint.engine.raw import (
    NEW_CELL_HOLD,
    PairJudge,
    RawParams,
    RawResult,
    call_length,
    find_peaks,
    find_sisters,
    raw_inference,
)
from scripted import (
    CELL_LEVEL,
    DAUGHTER_VIS,
    HEAT_SCALE,
    MITOSIS_FRAMES,
    MITOSIS_STEP,
    NEWBORN_LEVEL,
    OWN_VIS,
    PEAK,
    SCENE_JUDGE,
    Cell,
    Oracle,
    divide,
    gaussian_map,
    grid,
    moving,
    to_map,
    turnover,
)

MAP_SHAPE = (48, 64)  # heatmap (h, w): model frames of 192 x 256 px


def run(
    cells: list[Cell],
    n_frames: int,
    window: int = 24,
    oracle: Oracle | None = None,
    sisters: bool = False,
    judge: PairJudge | None = None,
    **params: Any,
) -> tuple[RawResult, Oracle, list[tuple[int, int]]]:
    oracle = oracle or Oracle(cells, MAP_SHAPE)
    progress: list[tuple[int, int]] = []
    result = raw_inference(
        n_frames,
        oracle.heatmap,
        oracle.track_window,
        RawParams(window=window, **params),
        lambda done, found: progress.append((done, found)),
        oracle.sister_map if sisters else None,
        oracle.model_frame if judge else None,
        judge,
    )
    check_consistent(result, oracle, progress, n_frames)
    return result, oracle, progress


def check_consistent(
    result: RawResult, oracle: Oracle, progress: list[tuple[int, int]], n_frames: int
) -> None:
    """What holds in every run: tables agree with each other, RAW's windows are the calls it
    made, progress is monotone and complete, and no invisible slot was read."""
    tracks, lineage = result.tracks, result.lineage
    assert np.isfinite(tracks["x"]).all()
    assert np.isfinite(tracks["y"]).all()
    assert result.windows == [(f, n, len(q)) for f, n, q in oracle.calls]
    for first, length, _ in oracle.calls:
        assert length >= 2
        assert first + length <= n_frames
    ids = lineage["track_id"].tolist()
    assert ids == list(range(1, len(ids) + 1))
    for tid, start, end in zip(ids, lineage["start"], lineage["end"], strict=True):
        rows = tracks["track_id"] == tid
        assert tracks["t"][rows].tolist() == list(range(start, end + 1))
    assert len(tracks["t"]) == int((lineage["end"] - lineage["start"] + 1).sum())
    visibility = np.asarray(tracks["visibility"], np.float64)
    assert ((visibility > 0.5) & (visibility <= 1)).all()
    frames = [done for done, _ in progress]
    found = [cells for _, cells in progress]
    assert frames == sorted(frames)
    assert len(set(frames)) == len(frames)
    assert frames[-1] == n_frames
    assert found == sorted(found)
    assert found[-1] == len(ids)
    # Each frame's heatmap is read once, in order.
    assert oracle.reads == list(range(n_frames))


def match(result: RawResult, cells: list[Cell]) -> dict[int, int]:
    """track_id -> cid, by position at the track's first frame (within 0.01 px); one to one."""
    lineage, tracks = result.lineage, result.tracks
    out: dict[int, int] = {}
    for tid, start in zip(lineage["track_id"].tolist(), lineage["start"].tolist(), strict=True):
        first = (tracks["track_id"] == tid) & (tracks["t"] == start)
        x, y = float(tracks["x"][first][0]), float(tracks["y"][first][0])
        near = [
            c.cid
            for c in cells
            if c.alive(start) and np.hypot(c.at(start)[0] - x, c.at(start)[1] - y) < 0.01
        ]
        assert len(near) == 1, f"track {tid} starts at ({x}, {y}) t={start}, on no single cell"
        out[tid] = near[0]
    assert len(set(out.values())) == len(out), "two tracks follow one cell"
    return out


def from_tracker(result: RawResult, start: int) -> set[int]:
    """The frames at which a track that started at `start` was read from the tracker's output:
    those of the windows it was a query of (a window's first frame at or after its start);
    its other points are the heatmap's (its first, and a new cell's while she waits)."""
    frames: set[int] = set()
    for first, length, _ in result.windows:
        if first >= start:
            frames.update(range(first + 1, first + length))
    return frames


def check_against_truth(result: RawResult, cells: list[Cell]) -> dict[int, int]:
    """Every true cell is exactly one track: same frames, same positions (the heatmap's points
    within half a pixel: its peaks are sub-pixel refined), same parent."""
    ids = match(result, cells)
    assert sorted(ids.values()) == sorted(c.cid for c in cells), "a cell has no track"
    by_id = {c.cid: c for c in cells}
    back = {cid: tid for tid, cid in ids.items()}
    lineage, tracks = result.lineage, result.tracks
    for i, tid in enumerate(lineage["track_id"].tolist()):
        cell = by_id[ids[tid]]
        assert (lineage["start"][i], lineage["end"][i]) == (cell.start, cell.end), f"cell {cell}"
        assert lineage["parent_id"][i] == (back[cell.parent] if cell.parent else 0)
        rows = tracks["track_id"] == tid
        truth = np.array(cell.path)
        tracked = np.isin(tracks["t"][rows], sorted(from_tracker(result, cell.start)))
        for axis, column in enumerate(("x", "y")):
            error = np.abs(tracks[column][rows] - truth[:, axis])
            assert (error[tracked] < 1e-4).all(), (cell, column, error)
            assert (error < 0.5).all(), (cell, column, error)
    return ids


def check_queries(oracle: Oracle, cells: list[Cell]) -> None:
    """Every window is asked about exactly the cells living at its first frame, where they are
    (within half a pixel: a new cell that waited is where the heatmap's peak put her)."""
    for first, _, queries in oracle.calls:
        assert (queries[:, 0] == 0).all()
        truth = sorted(c.at(first) for c in cells if c.alive(first))
        asked = sorted((float(x), float(y)) for x, y in queries[:, 1:])
        assert len(asked) == len(truth), f"window at {first}"
        np.testing.assert_allclose(asked, truth, atol=0.5)


# --- RAW: single events -----------------------------------------------------------------------


def test_a_moving_cell_is_one_track() -> None:
    cell = moving(1, 0, 29, grid(10), grid(12), vx=2.5, vy=1.5)
    result, oracle, _ = run([cell], 30)
    assert result.lineage["track_id"].tolist() == [1]
    assert result.lineage["parent_id"].tolist() == [0]
    assert result.tracks["t"].tolist() == list(range(30))
    x, y, visibility = (np.asarray(result.tracks[k], np.float64) for k in ("x", "y", "visibility"))
    np.testing.assert_allclose(x, [p[0] for p in cell.path], atol=1e-4)
    np.testing.assert_allclose(y, [p[1] for p in cell.path], atol=1e-4)
    # The first point is the heatmap's, later ones the tracker's.
    assert visibility[0] == pytest.approx(PEAK)
    np.testing.assert_allclose(visibility[1:], OWN_VIS, rtol=1e-6)
    assert result.windows == [(0, 24, 1), (23, 7, 1)]
    assert len(result.divisions["parent_id"]) == 0
    check_queries(oracle, [cell])


def test_a_division_ends_the_mother_and_starts_two_linked_daughters() -> None:
    mother = moving(1, 0, 9, grid(20), grid(20), vx=1.5, vy=0.5)
    a, b = divide(mother, 10, (2, 3), (29, 29))
    other = moving(4, 0, 29, grid(50), grid(38), vx=-0.5)
    cells = [mother, a, b, other]
    result, oracle, _ = run(cells, 30)
    ids = check_against_truth(result, cells)
    tid = {cid: t for t, cid in ids.items()}
    lineage = result.lineage
    assert lineage["end"][tid[1] - 1] == 9
    assert lineage["start"][tid[2] - 1] == lineage["start"][tid[3] - 1] == 10
    assert lineage["parent_id"][tid[2] - 1] == lineage["parent_id"][tid[3] - 1] == tid[1]
    div = result.divisions
    assert div["parent_id"].tolist() == [tid[1]]
    assert div["t"].tolist() == [10]
    assert (div["daughter_a"].tolist(), div["daughter_b"].tolist()) == ([tid[2]], [tid[3]])
    assert div["score"].tolist() == pytest.approx([min(DAUGHTER_VIS)])
    # The daughters' first points carry their slot visibilities.
    for cid, v in ((2, DAUGHTER_VIS[0]), (3, DAUGHTER_VIS[1])):
        first = (result.tracks["track_id"] == tid[cid]) & (result.tracks["t"] == 10)
        assert result.tracks["visibility"][first].tolist() == pytest.approx([v])
    # The division restarts the window at frame 10, with the daughters as queries.
    assert result.windows == [(0, 24, 2), (10, 20, 3)]
    check_queries(oracle, cells)


def test_a_cell_still_visible_beside_lit_daughter_slots_goes_on() -> None:
    # The tracker lights 1's daughter slots at frames 8 and 9 while 1 itself stays visible
    # (no valid state of the paper's Fig. 2): no division, 1 is one track.
    cells = [moving(1, 0, 29, grid(20), grid(20), vx=1.0), moving(2, 0, 29, grid(50), grid(38))]
    oracle = Oracle(cells, MAP_SHAPE, phantom={(1, 8), (1, 9)})
    result, _, _ = run(cells, 30, oracle=oracle)
    check_against_truth(result, cells)
    assert len(result.divisions["parent_id"]) == 0
    assert result.windows == [(0, 24, 2), (23, 7, 2)]


def test_daughter_slots_not_either_side_of_the_cell_are_no_division() -> None:
    # At frame 8 the tracker loses 1 and lights both daughter slots, one on 1 and one 16 px
    # to its right: their midpoint is 8 px from 1, not a division. 1's track ends at frame 7
    # and its heatmap peak starts it again at frame 8.
    cells = [moving(1, 0, 29, grid(20), grid(20), vx=1.0), moving(2, 0, 29, grid(50), grid(38))]
    oracle = Oracle(cells, MAP_SHAPE, stray={(1, 8)})
    result, _, _ = run(cells, 30, oracle=oracle)
    assert len(result.divisions["parent_id"]) == 0
    lineage = result.lineage
    assert lineage["start"].tolist() == [0, 0, 8]
    assert lineage["end"].tolist() == [7, 29, 29]
    assert lineage["parent_id"].tolist() == [0, 0, 0]
    again = result.tracks["track_id"] == 3
    xy = np.stack([result.tracks["x"][again], result.tracks["y"][again]], 1)
    truth = [cells[0].at(t) for t in range(8, 30)]
    # Its first point is a heatmap peak's (sub-pixel, off the grid), the rest the tracker's.
    np.testing.assert_allclose(xy[0], truth[0], atol=0.5)
    np.testing.assert_allclose(xy[1:], truth[1:], atol=1e-3)
    # The window read for 8 frames: the next call looks 16 ahead, the one after a full 24.
    assert result.windows == [(0, 24, 2), (8, 16, 2), (23, 7, 2)]


def test_a_cell_that_disappears_ends_without_restarting_the_window() -> None:
    dying = moving(1, 0, 14, grid(15), grid(15), vx=1.0)
    staying = moving(2, 0, 29, grid(45), grid(30), vy=-1.0)
    cells = [dying, staying]
    result, oracle, _ = run(cells, 30)
    check_against_truth(result, cells)
    assert result.lineage["end"].tolist() == [14, 29]
    assert len(result.divisions["parent_id"]) == 0
    assert result.windows == [(0, 24, 2), (23, 7, 1)]
    check_queries(oracle, cells)


def test_a_cell_that_enters_starts_a_track_and_a_window() -> None:
    first = moving(1, 0, 49, grid(10), grid(10), vx=1.0, vy=0.5)
    entering = moving(2, 13, 49, grid(55), grid(40), vx=-1.0)
    cells = [first, entering]
    result, oracle, _ = run(cells, 50)
    check_against_truth(result, cells)
    assert result.lineage["start"].tolist() == [0, 13]
    assert result.lineage["parent_id"].tolist() == [0, 0]
    new = (result.tracks["track_id"] == 2) & (result.tracks["t"] == 13)
    assert result.tracks["visibility"][new].tolist() == pytest.approx([PEAK])
    assert result.windows == [(0, 24, 1), (13, 24, 2), (36, 14, 2)]
    check_queries(oracle, cells)


def test_windows_hand_over_at_their_last_frame() -> None:
    cells = [
        moving(1, 0, 49, grid(8), grid(8), vx=1.0, vy=0.5),
        moving(2, 0, 49, grid(40), grid(30), vx=-0.5, vy=0.3),
    ]
    result, oracle, _ = run(cells, 50)
    assert result.windows == [(0, 24, 2), (23, 24, 2), (46, 4, 2)]
    check_against_truth(result, cells)
    check_queries(oracle, cells)
    # The shortest window: every call is two frames.
    result, _, _ = run(cells, 7, window=2)
    assert result.windows == [(t, 2, 2) for t in range(6)]
    check_against_truth(result, [Cell(c.cid, 0, c.path[:7]) for c in cells])
    # A window as long as the sequence, or longer: one call.
    for window in (50, 80):
        result, _, _ = run(cells, 50, window=window)
        assert result.windows == [(0, 50, 2)]


# --- RAW: several events ----------------------------------------------------------------------


def lineage_scene() -> list[Cell]:
    """60 frames: 1 divides at 10 into 2 and 3; 4 dies after 17; 5 enters at 30; 2 divides at 40
    into 6 and 7; 8 lives throughout."""
    c1 = moving(1, 0, 9, grid(20), grid(20), vx=1.0, vy=0.8)
    c2, c3 = divide(c1, 10, (2, 3), (39, 59), spread=9.0)
    c4 = moving(4, 0, 17, grid(50), grid(8), vy=0.7)
    c5 = moving(5, 30, 59, grid(56), grid(40), vx=-0.6, vy=-0.2)
    c6, c7 = divide(c2, 40, (6, 7), (59, 59), spread=7.0)
    c8 = moving(8, 0, 59, grid(30), grid(40), vx=0.2, vy=-0.4)
    return [c1, c2, c3, c4, c5, c6, c7, c8]


def test_a_lineage_through_several_windows() -> None:
    cells = lineage_scene()
    result, oracle, progress = run(cells, 60, window=16)
    ids = check_against_truth(result, cells)
    check_queries(oracle, cells)
    # Events at 10 (division), 30 (entry), 40 (division) restart windows; the death at 17 does
    # not; windows without events hand over at their last frame (25, 39, 47). Each call looks
    # twice as far ahead as the window before was read, at least 8 frames (half of 16): 10
    # after the window read for 5, 8 after the one read for 1.
    assert result.windows == [
        (0, 16, 3),
        (10, 16, 4),
        (25, 16, 3),
        (30, 10, 4),
        (39, 16, 4),
        (40, 8, 5),
        (47, 13, 5),
    ]
    tid = {cid: t for t, cid in ids.items()}
    div = result.divisions
    rows = sorted(
        zip(
            div["parent_id"].tolist(),
            div["t"].tolist(),
            div["daughter_a"].tolist(),
            div["daughter_b"].tolist(),
            strict=True,
        )
    )
    assert rows == sorted([(tid[1], 10, tid[2], tid[3]), (tid[2], 40, tid[6], tid[7])])
    assert div["score"].tolist() == pytest.approx([0.7, 0.7])
    assert progress[-1] == (60, 8)


@pytest.mark.parametrize(
    ("window", "read", "frames"),
    [(24, 1, 12), (24, 8, 16), (24, 12, 24), (24, 23, 24), (16, 5, 10), (2, 1, 2), (3, 1, 2)],
)
def test_a_call_looks_twice_as_far_as_the_window_before_was_read(
    window: int, read: int, frames: int
) -> None:
    assert call_length(window, read) == frames


def test_what_raw_holds_is_bounded_by_the_cells_in_view_not_the_sequence() -> None:
    # Ended tracks become finished rows: RAW holds as many tracks at frame 400 as at frame 40,
    # and the tables (finished and held tracks together) are still every cell, in id order.
    held = []
    for n_frames in (40, 400):
        cells = turnover(n_frames)
        result, oracle, _ = run(cells, n_frames, window=16)
        check_against_truth(result, cells)
        check_queries(oracle, cells)
        held.append(result.peak_held_tracks)
    assert len(cells) > 150
    assert held[0] == held[1]
    assert held[1] <= 12  # at most 6 cells in view, and the tracks that ended a frame before


def test_queries_of_a_lost_cell_stop_and_the_heatmap_finds_it_again() -> None:
    # The tracker misses cell 1 at frame 12 although it is there: RAW ends its track at 11, and
    # since its heatmap peak is then far from every living cell, a new track starts at 12.
    cells = [moving(1, 0, 29, grid(20), grid(20), vx=1.0), moving(2, 0, 29, grid(50), grid(30))]
    oracle = Oracle(cells, MAP_SHAPE, lose={(1, 12)})
    result, _, _ = run(cells, 30, oracle=oracle)
    lineage = result.lineage
    assert lineage["start"].tolist() == [0, 0, 12]
    assert lineage["end"].tolist() == [11, 29, 29]
    assert lineage["parent_id"].tolist() == [0, 0, 0]
    assert result.windows == [(0, 24, 2), (12, 18, 2)]
    path = np.array(cells[0].path)
    third = result.tracks["track_id"] == 3
    # Its first point is the heatmap's (off the map's pixel centres: sub-pixel refined), the
    # rest the tracker's.
    np.testing.assert_allclose(result.tracks["x"][third][0], path[12, 0], atol=0.5)
    np.testing.assert_allclose(result.tracks["x"][third][1:], path[13:, 0], atol=1e-4)
    np.testing.assert_allclose(result.tracks["y"][third][1:], path[13:, 1], atol=1e-4)


def test_new_cells_of_several_frames_join_one_window() -> None:
    # 3 enters at frame 1 and 4 at frame 3. Neither starts a window: each goes on to her
    # nearest heatmap peak until the window has been read for NEW_CELL_HOLD (4) frames; then one
    # window starts with both, and the tracker follows them from there.
    cells = [
        moving(1, 0, 29, grid(5), grid(5), vx=0.5),
        moving(2, 0, 29, grid(15), grid(11)),
        moving(3, 1, 29, grid(30), grid(20), vx=0.8, vy=-0.6),
        moving(4, 3, 29, grid(45), grid(30)),
    ]
    result, oracle, _ = run(cells, 30)
    assert NEW_CELL_HOLD == 4
    assert result.windows == [(0, 24, 2), (4, 12, 4), (15, 15, 4)]
    ids = check_against_truth(result, cells)
    check_queries(oracle, cells)
    assert sorted(ids.values()) == [1, 2, 3, 4]
    # 3's points at frames 1-4 are the heatmap's; from 5 on, the tracker's.
    third = result.tracks["track_id"] == next(t for t, c in ids.items() if c == 3)
    assert from_tracker(result, 1) & set(range(1, 5)) == set()
    assert set(range(5, 30)) <= from_tracker(result, 1)
    assert result.tracks["t"][third].tolist() == list(range(1, 30))


def test_a_waiting_new_cell_without_a_peak_ends() -> None:
    # 2 enters at frame 1 and is gone after frame 2: she ends there, and the window is read on
    # to its end, as no new cell is left waiting.
    cells = [moving(1, 0, 29, grid(5), grid(5), vx=0.5), moving(2, 1, 2, grid(30), grid(20))]
    result, _, _ = run(cells, 30)
    check_against_truth(result, cells)
    assert result.windows == [(0, 24, 1), (23, 7, 1)]
    assert result.lineage["end"].tolist() == [29, 2]


def test_an_event_on_the_last_frame() -> None:
    # A division and an entry at the last frame: one-frame tracks, no window after it.
    mother = moving(1, 0, 18, grid(20), grid(20), vx=0.5)
    a, b = divide(mother, 19, (2, 3), (19, 19))
    late = moving(4, 19, 19, grid(50), grid(40))
    cells = [mother, a, b, late]
    result, _, progress = run(cells, 20, window=8)
    check_against_truth(result, cells)
    assert result.windows == [(0, 8, 1), (7, 8, 1), (14, 6, 1)]
    assert result.divisions["t"].tolist() == [19]
    assert progress[-1] == (20, 4)


def test_frames_without_cells_are_skipped_until_one_enters() -> None:
    late = moving(1, 5, 19, grid(30), grid(20), vx=1.0)
    result, oracle, progress = run([late], 20, window=8)
    check_against_truth(result, [late])
    assert result.windows == [(5, 8, 1), (12, 8, 1)]
    assert [done for done, _ in progress][:5] == [2, 3, 4, 5, 6]
    check_queries(oracle, [late])
    # Nothing at all: no tracker call, empty tables, progress still reaches the end.
    result, oracle, progress = run([], 6)
    assert result.windows == []
    assert progress == [(t, 0) for t in range(2, 7)]
    assert all(len(column) == 0 for column in result.tracks.values())
    assert all(len(column) == 0 for column in result.lineage.values())
    assert all(len(column) == 0 for column in result.divisions.values())
    assert result.tracks["t"].dtype == np.int64


def test_every_cell_dying_leaves_the_rest_of_the_sequence_empty() -> None:
    cells = [moving(1, 0, 4, grid(10), grid(10)), moving(2, 0, 6, grid(40), grid(30))]
    result, _, _ = run(cells, 20, window=8)
    check_against_truth(result, cells)
    assert result.windows == [(0, 8, 2)]


def test_new_cells_need_distance_from_living_ones() -> None:
    # A cell entering 14 px from a living one is new; one entering 10 px away (under
    # min_separation = 12) is taken for the living cell and ignored, until min_separation
    # is lowered. The newcomer's peak is the higher, so that find_peaks keeps it and drops the
    # resident's: what ignores it is RAW's distance to the living track. (Narrow peaks, so that
    # peaks 10 px apart stay two.)
    resident = moving(1, 0, 19, grid(20), grid(20))
    x, y = resident.at(8)
    far = Cell(2, 8, [(x + 14.0, y)] * 12)
    near = Cell(2, 8, [(x + 10.0, y)] * 12, height=0.95)
    result, _, _ = run([resident, far], 20, oracle=Oracle([resident, far], MAP_SHAPE, sigma=0.8))
    assert result.lineage["start"].tolist() == [0, 8]
    assert result.windows == [(0, 20, 1), (8, 12, 2)]
    oracle = Oracle([resident, near], MAP_SHAPE, sigma=0.8)
    assert len(find_peaks(oracle.heatmap(8), 0.5, 12.0)) == 1  # the newcomer's
    assert len(find_peaks(oracle.heatmap(8), 0.5, 8.0)) == 2
    oracle.reads.clear()
    result, _, _ = run([resident, near], 20, oracle=oracle)
    assert result.lineage["start"].tolist() == [0]
    assert result.windows == [(0, 20, 1)]
    oracle = Oracle([resident, near], MAP_SHAPE, sigma=0.8)
    result, _, _ = run([resident, near], 20, oracle=oracle, min_separation=8.0)
    assert result.lineage["start"].tolist() == [0, 8]


def test_thresholds_are_respected() -> None:
    mother = moving(1, 0, 9, grid(20), grid(20))
    cells = [mother, *divide(mother, 10, (2, 3), (19, 19))]
    # The oracle's daughter slots read 0.8 and 0.7: a division threshold of 0.75 sees none, so
    # the mother just ends (the daughters then enter as new, parentless cells).
    result, _, _ = run(cells, 20, division_threshold=0.75)
    assert len(result.divisions["t"]) == 0
    assert result.lineage["parent_id"].tolist() == [0, 0, 0]
    assert result.lineage["start"].tolist() == [0, 10, 10]
    # Own visibility 0.95: a visibility threshold above it ends every query after its first
    # frame. The heatmap then starts the cell afresh; she waits on the heatmap for the window's
    # NEW_CELL_HOLD frames, then a window starts with her, and she ends after its first frame.
    result, _, _ = run(cells[:1], 20, visibility_threshold=0.96)
    assert result.lineage["start"].tolist() == [0, 1, 5, 9]
    assert result.lineage["end"].tolist() == [0, 4, 8, 9]
    assert [first for first, _, _ in result.windows] == [0, 4, 8]
    # Heatmap peaks of 0.9: a detection threshold above finds nothing.
    result, _, _ = run(cells, 20, detection_threshold=0.95)
    assert result.windows == []
    assert len(result.lineage["track_id"]) == 0


def test_tracker_output_shape_contract() -> None:
    oracle = Oracle([moving(1, 0, 9, grid(10), grid(10))], MAP_SHAPE)
    raw_inference(10, oracle.heatmap, oracle.track_window, RawParams(window=4))
    for first, length, queries in oracle.calls:
        assert 2 <= length <= 4
        assert queries.shape == (1, 3)
        assert first in (0, 3, 6)


def test_raw_needs_two_frames() -> None:
    oracle = Oracle([], MAP_SHAPE)
    with pytest.raises(ValueError, match="tracking needs at least 2 frames, got 1"):
        raw_inference(1, oracle.heatmap, oracle.track_window, RawParams())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 1}, "window must be at least 2 frames, got 1"),
        ({"window": 0}, "window must be at least 2 frames, got 0"),
        ({"detection_threshold": 0.0}, "detection_threshold must be in (0, 1), got 0.0"),
        ({"detection_threshold": 1.0}, "detection_threshold must be in (0, 1), got 1.0"),
        ({"visibility_threshold": -0.1}, "visibility_threshold must be in (0, 1), got -0.1"),
        ({"division_threshold": 1.5}, "division_threshold must be in (0, 1), got 1.5"),
        ({"sister_threshold": 1.0}, "sister_threshold must be in (0, 1), got 1.0"),
        ({"min_separation": 0.0}, "min_separation must be positive, got 0.0"),
        ({"min_separation": -3.0}, "min_separation must be positive, got -3.0"),
        ({"min_cycle": 0}, "min_cycle must be a whole number of frames >= 1, got 0"),
        ({"min_cycle": 2.5}, "min_cycle must be a whole number of frames >= 1, got 2.5"),
    ],
)
def test_raw_params_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        RawParams(**kwargs)


def test_raw_params_defaults() -> None:
    p = RawParams()
    assert (
        p.window,
        p.detection_threshold,
        p.visibility_threshold,
        p.division_threshold,
        p.sister_threshold,
        p.min_separation,
        p.min_cycle,
    ) == (24, 0.25, 0.5, 0.5, 0.4, 12.0, 5)


# --- RAW: sisters the tracker missed ----------------------------------------------------------


def division_scene() -> list[Cell]:
    mother = moving(1, 0, 9, grid(20), grid(20), vx=1.5, vy=0.5)
    return [mother, *divide(mother, 10, (2, 3), (29, 29)), moving(4, 0, 29, grid(50), grid(38))]


def check_split(result: RawResult, cells: list[Cell]) -> None:
    """Cell 1's track ends at 9 and has two children from 10, on cells 2 and 3; 4 is a root."""
    lineage, tracks = result.lineage, result.tracks
    assert len(lineage["track_id"]) == 4
    assert result.divisions["t"].tolist() == [10]
    (mother,) = result.divisions["parent_id"].tolist()
    kids = [result.divisions[k][0] for k in ("daughter_a", "daughter_b")]
    assert lineage["end"][mother - 1] == 9
    assert lineage["start"][mother - 1] == 0
    truth = {c.cid: c for c in cells}
    on: list[int] = []
    for kid in kids:
        assert lineage["parent_id"][kid - 1] == mother
        assert (lineage["start"][kid - 1], lineage["end"][kid - 1]) == (10, 29)
        first = (tracks["track_id"] == kid) & (tracks["t"] == 10)
        x, y = float(tracks["x"][first][0]), float(tracks["y"][first][0])
        nearest = min(
            (2, 3), key=lambda c: np.hypot(truth[c].at(10)[0] - x, truth[c].at(10)[1] - y)
        )
        assert np.hypot(truth[nearest].at(10)[0] - x, truth[nearest].at(10)[1] - y) < 0.5
        on.append(nearest)
    assert sorted(on) == [2, 3]  # one daughter on each
    assert sorted(lineage["parent_id"].tolist()) == [0, 0, mother, mother]


def test_sisters_split_a_mother_the_tracker_followed_into_a_daughter() -> None:
    cells = division_scene()
    missed, _, _ = run(cells, 30, oracle=Oracle(cells, MAP_SHAPE, follow={1}))
    # Without the sister map: 1's track goes on as daughter 2, daughter 3 is an orphan.
    assert len(missed.divisions["t"]) == 0
    assert missed.lineage["parent_id"].tolist() == [0, 0, 0]
    result, oracle, _ = run(cells, 30, oracle=Oracle(cells, MAP_SHAPE, follow={1}), sisters=True)
    check_split(result, cells)
    # The split is an event: the next window starts at 10 with both daughters as queries.
    assert result.windows[1] == (10, 20, 3)
    # Sister maps are read once per frame, in order, from frame 1 on.
    assert oracle.sister_reads == list(range(1, 30))


def test_sisters_revive_a_mother_the_tracker_lost() -> None:
    cells = division_scene()
    result, _, _ = run(cells, 30, oracle=Oracle(cells, MAP_SHAPE, blind={1}), sisters=True)
    check_split(result, cells)


def test_a_division_the_tracker_saw_is_not_made_twice() -> None:
    cells = division_scene()
    result, _, _ = run(cells, 30, sisters=True)
    check_split(result, cells)


def test_the_tracker_s_daughters_begin_where_the_sister_head_places_them() -> None:
    # The daughter slots lie 3 px to the right of the daughters; the sister map is true. With
    # the head, its pair places the daughters (check_split: within 0.5 px of each); without,
    # they begin at the slots.
    cells = division_scene()

    def loose_slots(oracle: Oracle) -> Oracle:
        exact = oracle.track_window

        def track_window(
            first: int, length: int, queries: npt.NDArray[np.float32]
        ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
            points, visibility = exact(first, length, queries)
            points = points.copy()
            points[:, :, 1:, 0] += 3.0
            return points, visibility

        oracle.track_window = track_window  # type: ignore[method-assign]
        return oracle

    result, _, _ = run(cells, 30, oracle=loose_slots(Oracle(cells, MAP_SHAPE)), sisters=True)
    check_split(result, cells)
    result, _, _ = run(cells, 30, oracle=loose_slots(Oracle(cells, MAP_SHAPE)))
    tracks = result.tracks
    truth = {c.cid: c for c in cells}
    (a, b) = (result.divisions[k][0] for k in ("daughter_a", "daughter_b"))
    starts = sorted(
        float(tracks["x"][(tracks["track_id"] == kid) & (tracks["t"] == 10)][0]) for kid in (a, b)
    )
    assert starts == pytest.approx(sorted(truth[c].at(10)[0] + 3.0 for c in (2, 3)), abs=1e-3)


def test_a_division_the_sister_map_does_not_show_is_no_division() -> None:
    cells = division_scene()
    result, _, _ = run(cells, 30, sisters=True)
    assert len(result.divisions["t"]) == 1  # the map shows it: the tracker's division stands
    oracle = Oracle(cells, MAP_SHAPE, unseen={1})
    result, _, _ = run(cells, 30, oracle=oracle, sisters=True)
    assert len(result.divisions["t"]) == 0
    # 1 ends at 9; the heatmap starts its daughters as new cells at 10.
    assert result.lineage["end"][0] == 9
    assert sorted(result.lineage["start"].tolist()) == [0, 0, 10, 10]
    assert result.lineage["parent_id"].tolist() == [0, 0, 0, 0]


def test_sisters_under_the_threshold_split_nothing() -> None:
    cells = division_scene()
    oracle = Oracle(cells, MAP_SHAPE, follow={1})
    result, _, _ = run(cells, 30, oracle=oracle, sisters=True, sister_threshold=0.95)
    assert len(result.divisions["t"]) == 0


def test_sisters_far_from_every_track_split_nothing() -> None:
    # The daughters appear 40 px from where their mother was: no track could have been her.
    mother = moving(1, 0, 9, grid(20), grid(20))
    x, y = mother.at(9)
    a = moving(2, 10, 29, x + 32, y, parent=1)
    b = moving(3, 10, 29, x + 48, y, parent=1)
    cells = [mother, a, b]
    result, _, _ = run(cells, 30, oracle=Oracle(cells, MAP_SHAPE, blind={1}), sisters=True)
    assert len(result.divisions["t"]) == 0
    assert result.lineage["parent_id"].tolist() == [0, 0, 0]  # the heatmap starts them as roots


def young_division_scene() -> list[Cell]:
    """1 divides at 10 into 2 and 3; 2 divides again at 13, 3 frames after her birth."""
    mother = moving(1, 0, 9, grid(20), grid(20), vx=1.5, vy=0.5)
    a, b = divide(mother, 10, (2, 3), (12, 29), spread=9.0)
    return [mother, a, b, *divide(a, 13, (4, 5), (29, 29), spread=7.0)]


@pytest.mark.parametrize("sisters", [False, True])
def test_a_daughter_does_not_divide_again_within_min_cycle(sisters: bool) -> None:
    # The tracker divides 2 at 13 itself, or (with the sister map) follows her into 4 and
    # leaves the split to the map: either way no division 3 frames after her birth.
    cells = young_division_scene()
    follow = {2} if sisters else set()
    oracle = Oracle(cells, MAP_SHAPE, follow=follow)
    result, _, _ = run(cells, 30, oracle=oracle, sisters=sisters, min_cycle=4)
    assert result.divisions["t"].tolist() == [10]
    lineage = result.lineage
    second = lineage["start"] == 13
    assert lineage["parent_id"][second].tolist() == [0] * int(second.sum())
    assert int(second.sum()) == (1 if sisters else 2)  # the map's case: 2 goes on as 4
    oracle = Oracle(cells, MAP_SHAPE, follow=follow)
    result, _, _ = run(cells, 30, oracle=oracle, sisters=sisters, min_cycle=3)
    div = result.divisions
    assert div["t"].tolist() == [10, 13]
    assert div["parent_id"][1] in (div["daughter_a"][0], div["daughter_b"][0])


# --- RAW: the division judge -----------------------------------------------------------------


def test_the_judge_splits_a_mother_that_brightened_under_the_sister_threshold() -> None:
    cells = division_scene()
    oracle = Oracle(cells, MAP_SHAPE, follow={1})
    result, _, _ = run(cells, 30, oracle=oracle, sisters=True, sister_threshold=0.95)
    assert len(result.divisions["t"]) == 0  # without the judge, the peak (0.9) is too low
    oracle = Oracle(cells, MAP_SHAPE, follow={1})
    result, _, _ = run(
        cells, 30, oracle=oracle, sisters=True, judge=SCENE_JUDGE, sister_threshold=0.95
    )
    check_split(result, cells)
    # It read brightness from frame 10 back to HISTORY frames before the division.
    assert sorted(set(oracle.frame_reads)) == list(range(10 - HISTORY, 11))


def test_the_judge_keeps_a_mother_that_did_not_brighten_whole() -> None:
    cells = division_scene()
    result, _, _ = run(cells, 30, oracle=Oracle(cells, MAP_SHAPE, follow={1}), sisters=True)
    check_split(result, cells)  # without the judge, the peak (0.9) passes 0.4
    oracle = Oracle(cells, MAP_SHAPE, follow={1}, dull={1})
    result, _, _ = run(cells, 30, oracle=oracle, sisters=True, judge=SCENE_JUDGE)
    assert len(result.divisions["t"]) == 0
    assert result.lineage["parent_id"].tolist() == [0, 0, 0]


def level(value: float) -> float:
    """A model-frame level as the oracle quantises it."""
    return round(value * HEAT_SCALE) / HEAT_SCALE


def test_the_judge_is_asked_with_the_mothers_history() -> None:
    cells = division_scene()
    asked: list[PairCandidate] = []

    def judge(candidate: PairCandidate) -> bool:
        asked.append(candidate)
        return SCENE_JUDGE(candidate)

    run(cells, 30, oracle=Oracle(cells, MAP_SHAPE, follow={1}), sisters=True, judge=judge)
    (candidate,) = asked
    features = dict(zip(FEATURES, candidate.features, strict=True))
    assert candidate.t == 10
    assert np.hypot(*np.subtract(candidate.mother, cells[0].at(9))) < 0.5
    xa, ya, xb, yb, score = candidate.pair
    assert features["score"] == score > 0.8
    assert features["half"] == pytest.approx(np.hypot(xa - xb, ya - yb) / 2)
    assert features["half"] == pytest.approx(8.0, abs=1.0)  # `divide` puts them 16 px apart
    assert features["alive"] == 1.0  # the tracker followed her into a daughter
    assert features["span"] == HISTORY
    # Levels are multiples of 1/256: 0.4 before mitosis, + 0.1 a frame over her last three.
    assert features["ref"] == pytest.approx(level(CELL_LEVEL), abs=1e-9)
    for k in (1, 2, 3):
        rise = level(CELL_LEVEL + MITOSIS_STEP * (MITOSIS_FRAMES + 1 - k)) - level(CELL_LEVEL)
        assert features[f"d{k}"] == pytest.approx(rise, abs=1e-9)
    newborn = level(NEWBORN_LEVEL) - level(CELL_LEVEL)
    assert features["dmin"] == pytest.approx(newborn, abs=1e-9)
    assert features["dmax"] == pytest.approx(newborn, abs=1e-9)


def test_find_sisters_reads_the_axis_at_each_midpoint() -> None:
    h, w = 12, 16
    sister_map = np.zeros((3, h, w), np.float32)
    sister_map[0, 4, 5] = 0.8  # midpoint at model (x, y) = (grid(5), grid(4))
    half = (3.0, -4.0)  # sisters at the midpoint -+ (3, -4): L = 5, cos 2θ = -7/25, sin 2θ = -24/25
    sister_map[1, 4, 5] = (half[0] ** 2 - half[1] ** 2) / 5
    sister_map[2, 4, 5] = 2 * half[0] * half[1] / 5
    sister_map[0, 9, 12] = 0.3  # under the threshold
    pairs = find_sisters(sister_map, 0.5, 12.0)
    np.testing.assert_allclose(
        pairs, [[grid(5) - 3, grid(4) + 4, grid(5) + 3, grid(4) - 4, 0.8]], atol=1e-5
    )
    assert find_sisters(np.zeros((3, h, w), np.float32), 0.5, 12.0).shape == (0, 5)


# --- find_peaks -------------------------------------------------------------------------------


def test_peak_coordinates_are_model_pixels() -> None:
    heat = np.zeros((20, 30), np.float32)
    heat[5, 7] = 0.8
    peaks = find_peaks(heat, 0.5, 1.0)
    assert peaks.dtype == np.float32
    # map (y, x) = (5, 7) -> model ((5 + 0.5) * 4 - 0.5, (7 + 0.5) * 4 - 0.5) = (21.5, 29.5)
    np.testing.assert_array_equal(peaks, np.array([[29.5, 21.5, 0.8]], np.float32))


def test_no_peaks() -> None:
    for heat in (np.zeros((8, 8), np.float32), np.full((8, 8), 0.4, np.float32)):
        peaks = find_peaks(heat, 0.5, 12.0)
        assert peaks.shape == (0, 3)
        assert peaks.dtype == np.float32


@pytest.mark.parametrize("sigma", [0.8, 1.0, 1.5, 2.5])
def test_subpixel_refinement_of_a_gaussian_peak(sigma: float) -> None:
    # A Gaussian placed between pixels, on an 11 x 11 grid of offsets from -0.5 to 0.5 map px:
    # the peak comes back within 0.1 map px (measured: 0.073 at sigma 0.8, 0.048 at 1, 0.021 at
    # 1.5). Without refinement the error would reach 0.5.
    worst = 0.0
    for dy in np.linspace(-0.5, 0.5, 11):
        for dx in np.linspace(-0.5, 0.5, 11):
            y, x = 10.0 + dy, 20.0 + dx
            peaks = find_peaks(gaussian_map((24, 40), [(x, y, 1.0)], sigma), 0.5, 1.0)
            assert peaks.shape == (1, 3)
            worst = max(worst, abs(to_map(peaks[0, 0]) - x), abs(to_map(peaks[0, 1]) - y))
    assert worst < 0.1


def test_refined_position_of_an_offset_peak() -> None:
    heat = gaussian_map((24, 40), [(20.3, 10.8, 1.0)], 1.5)
    [[x, y, score]] = find_peaks(heat, 0.5, 1.0).tolist()
    assert to_map(x) == pytest.approx(20.3, abs=0.05)
    assert to_map(y) == pytest.approx(10.8, abs=0.05)
    assert score == heat.max()  # the score is the pixel's, not the refined height


def test_a_plateau_is_one_peak_at_its_centre() -> None:
    heat = np.zeros((12, 12), np.float32)
    heat[4:6, 6:8] = 0.9  # 2 x 2 plateau: centre at map (4.5, 6.5)
    peaks = find_peaks(heat, 0.5, 1.0)
    assert len(peaks) == 1
    assert (to_map(peaks[0, 1]), to_map(peaks[0, 0])) == pytest.approx((4.5, 6.5))
    for plateau in ((slice(3, 4), slice(2, 7)), (slice(2, 7), slice(5, 6)), (slice(2, 5),) * 2):
        heat = np.zeros((12, 12), np.float32)
        heat[plateau] = 0.9
        assert len(find_peaks(heat, 0.5, 1.0)) == 1, plateau
    # A diagonal pair of equal pixels is one peak too.
    heat = np.zeros((12, 12), np.float32)
    heat[4, 6] = heat[5, 5] = 0.9
    assert len(find_peaks(heat, 0.5, 1.0)) == 1


def test_threshold_is_strict() -> None:
    heat = np.zeros((16, 16), np.float32)
    heat[3, 3] = 0.5
    heat[10, 10] = 0.5001
    peaks = find_peaks(heat, 0.5, 1.0)
    assert len(peaks) == 1
    assert peaks[0, 2] == pytest.approx(0.5001)
    assert len(find_peaks(heat, 0.4999, 1.0)) == 2
    assert len(find_peaks(heat, 0.6, 1.0)) == 0


def test_min_separation_keeps_the_higher_peak() -> None:
    # Two peaks 2 map px (8 model px) apart along x: the later, higher one wins at 12 px.
    heat = np.zeros((16, 16), np.float32)
    heat[8, 5] = 0.7
    heat[8, 7] = 0.9
    peaks = find_peaks(heat, 0.5, 12.0)
    np.testing.assert_allclose(peaks, [[grid(7), grid(8), 0.9]])
    # ... both survive under 8 px.
    assert len(find_peaks(heat, 0.5, 8.0)) == 2
    assert len(find_peaks(heat, 0.5, 7.9)) == 2
    assert len(find_peaks(heat, 0.5, 8.1)) == 1
    # Equal heights: the first in row-major order wins.
    heat[8, 5] = 0.9
    np.testing.assert_allclose(find_peaks(heat, 0.5, 12.0), [[grid(5), grid(8), 0.9]])
    # Suppression is by surviving peaks only: a chain high-low-high keeps both ends.
    heat = np.zeros((8, 32), np.float32)
    heat[4, 4], heat[4, 7], heat[4, 10] = 0.9, 0.8, 0.85
    peaks = find_peaks(heat, 0.5, 13.0)  # neighbours 12 px apart, ends 24 px apart
    np.testing.assert_allclose(peaks[:, 0], [grid(4), grid(10)])


def test_peaks_sorted_row_major() -> None:
    rng = np.random.default_rng(0)
    spots = [(int(x), int(y)) for y in range(2, 46, 5) for x in range(2, 62, 5)]
    heights = rng.uniform(0.6, 1.0, len(spots))
    heat = np.zeros(MAP_SHAPE, np.float32)
    for (x, y), height in zip(spots, heights, strict=True):
        heat[y, x] = height
    peaks = find_peaks(heat, 0.5, 4.0)
    assert len(peaks) == len(spots)
    expected = np.array([(grid(x), grid(y)) for x, y in spots])  # built row by row
    np.testing.assert_allclose(peaks[:, :2], expected)
    np.testing.assert_allclose(peaks[:, 2], heights, rtol=1e-6)


def test_peaks_at_the_border_are_found() -> None:
    # Peaks on every edge and corner are found, within half a map pixel (2 model px) of their
    # true position (the parabola has only one neighbour there).
    truth = [(0.0, 0.0), (63.0, 0.0), (0.0, 47.0), (63.0, 47.0), (30.0, 0.0), (0.0, 20.0)]
    heat = gaussian_map(MAP_SHAPE, [(x, y, 1.0) for x, y in truth], 1.0)
    peaks = find_peaks(heat, 0.5, 4.0)
    assert len(peaks) == len(truth)
    for x, y, _ in peaks:
        d = min(np.hypot(to_map(x) - tx, to_map(y) - ty) for tx, ty in truth)
        assert d <= 0.5 * np.sqrt(2) + 1e-6


def test_find_peaks_accepts_float64_and_keeps_the_input() -> None:
    heat = gaussian_map((16, 16), [(7.0, 8.0, 0.9)], 1.0).astype(np.float64)
    before = heat.copy()
    peaks = find_peaks(heat, 0.5, 1.0)  # type: ignore[arg-type]
    np.testing.assert_array_equal(heat, before)
    np.testing.assert_allclose(peaks, [[grid(7), grid(8), 0.9]], atol=1e-6)


def test_the_oracle_heatmap_has_one_peak_per_cell() -> None:
    # The test double itself: one peak per living cell, exact where a cell sits on a map pixel
    # centre (as every cell does at its first frame), within 0.5 px elsewhere.
    cells = lineage_scene()
    oracle = Oracle(cells, MAP_SHAPE)
    for t in (0, 10, 30, 35, 59):
        peaks = find_peaks(oracle.heatmap(t), 0.5, 12.0)
        living = oracle.living(t)
        assert len(peaks) == len(living)
        for cell in living:
            x, y = cell.at(t)
            d = np.hypot(peaks[:, 0] - x, peaks[:, 1] - y).min()
            assert d < (1e-4 if cell.start == t and not cell.parent else 0.5)
