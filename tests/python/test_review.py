"""The review viewer's kernel side: the reviewer's decisions (accept, reject, relink, move a
division a frame) change the result's tables at once and only as decided, and each can be
undone and redone; frames and exports are served as asked.

A browser is played here (its messages go in as the comm delivers them; the kernel's replies
come out of `widget.send`); tests/browser/test_review.py drives the real viewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cellpoint.io.result import TrackingResult
from cellpoint.io.tables import TableError, divisions_from_lineage, relink_division
from cellpoint.review.widget import ReviewWidget

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def result(frames: np.ndarray | None = None) -> TrackingResult:
    """Track 1 divides into 2 and 3 at t=3; 4 lives throughout; 5 is born at t=3 (a root),
    6 ends at t=2 and 7 is born at t=3 beside it."""
    spans = {1: (0, 2), 2: (3, 5), 3: (3, 5), 4: (0, 5), 5: (3, 5), 6: (0, 2), 7: (3, 5)}
    parents = {2: 1, 3: 1}
    rows = [(k, t, 10.0 * k, 5.0 + t, 0.9) for k, (a, b) in spans.items() for t in range(a, b + 1)]
    tracks = pd.DataFrame(rows, columns=["track_id", "t", "y", "x", "visibility"])
    lineage = pd.DataFrame(
        [(k, a, b, parents.get(k, 0)) for k, (a, b) in spans.items()],
        columns=["track_id", "start", "end", "parent_id"],
    )
    divisions = divisions_from_lineage(lineage, scores={1: 0.4}, status="proposed")
    return TrackingResult(tracks, lineage, divisions, shape=(6, 80, 60), frames=frames)


class PlayedBrowser:
    """Says what the browser says; records what the kernel sends back."""

    def __init__(self, widget: ReviewWidget) -> None:
        self.widget = widget
        self.sent: list[tuple[dict[str, Any], list[bytes]]] = []
        widget.send = lambda content, buffers=None: self.sent.append((content, list(buffers or [])))

    def say(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> dict[str, Any]:
        self.widget._handle_custom_msg(content, buffers or [])
        reply, _ = self.sent[-1]
        assert reply["type"] == "reply"
        assert reply["id"] == content["id"]
        return reply


def frames() -> np.ndarray:
    return np.arange(6 * 80 * 60, dtype=np.uint16).reshape(6, 80, 60)


# --- relinking, on the tables ---------------------------------------------------------------


def test_relink_swaps_a_daughter_for_a_root_and_accepts() -> None:
    res = result()
    lineage, divisions = relink_division(res.lineage, res.divisions, 1, 1, (2, 5))
    parents = dict(zip(lineage["track_id"], lineage["parent_id"], strict=True))
    assert parents[2] == 1
    assert parents[5] == 1
    assert parents[3] == 0
    row = divisions.iloc[0]
    assert (row["parent_id"], row["daughter_a"], row["daughter_b"]) == (1, 2, 5)
    assert row["status"] == "accepted"
    assert row["score"] == 1.0
    assert len(divisions) == 1
    assert res.lineage["parent_id"].tolist() == [0, 1, 1, 0, 0, 0, 0]  # inputs untouched


def test_relink_to_another_mother_frees_the_old_one() -> None:
    res = result()
    lineage, divisions = relink_division(res.lineage, res.divisions, 1, 6, (2, 3))
    parents = dict(zip(lineage["track_id"], lineage["parent_id"], strict=True))
    assert parents[2] == 6
    assert parents[3] == 6
    assert divisions["parent_id"].tolist() == [6]


@pytest.mark.parametrize(
    ("mother", "daughters", "message"),
    [
        (1, (2, 2), "must differ"),
        (1, (2, 4), "daughters must start on the same frame"),
        (4, (2, 3), "must end before her daughters start"),
        (1, (2, 99), "no track 99"),
    ],
)
def test_relink_refuses_impossible_lineages(
    mother: int, daughters: tuple[int, int], message: str
) -> None:
    res = result()
    with pytest.raises(TableError, match=message):
        relink_division(res.lineage, res.divisions, 1, mother, daughters)


def test_relink_refuses_a_daughter_of_another_division() -> None:
    res = result()
    lineage, divisions = relink_division(res.lineage, res.divisions, 1, 1, (2, 5))
    # 3 is free again; relinking 6's would-be division to take 2 from 1 is refused.
    lineage.loc[lineage["track_id"] == 7, "parent_id"] = 6
    lineage.loc[lineage["track_id"] == 3, "parent_id"] = 6
    divisions = divisions_from_lineage(lineage, status="proposed")
    with pytest.raises(TableError, match="already a daughter of track 1"):
        relink_division(lineage, divisions, 6, 6, (2, 7))


# --- the widget -----------------------------------------------------------------------------


def test_review_needs_frames_of_the_tracked_shape() -> None:
    with pytest.raises(ValueError, match=r"res.review\(stack\)"):
        result().review()
    with pytest.raises(ValueError, match="tracked on"):
        result().review(np.zeros((6, 80, 61), np.uint8))


def test_widget_publishes_the_tables_and_serves_frames() -> None:
    res = result(frames())
    widget = res.review()
    assert widget.shape == [6, 80, 60]
    assert widget.dtype == "uint16"
    assert widget.divisions["parent_id"].tolist() == [1]  # typed columns, binary buffers
    assert widget.divisions["status"] == ["proposed"]
    assert widget.tracks["track_id"].format == "i"
    assert widget.tracks["track_id"].tolist()[:3] == [1, 1, 1]
    assert widget.tracks["x"].format == "d"
    browser = PlayedBrowser(widget)
    reply = browser.say({"type": "frame", "id": 1, "t": 4})
    assert reply["ok"]
    assert reply["shape"] == [80, 60]
    assert reply["dtype"] == "uint16"
    got = np.frombuffer(browser.sent[-1][1][0], "<u2").reshape(80, 60)
    np.testing.assert_array_equal(got, frames()[4])
    bad = browser.say({"type": "frame", "id": 2, "t": 6})
    assert not bad["ok"]
    assert "outside 0..5" in bad["error"]


def test_text_where_no_viewer_is_drawn() -> None:
    widget = result(frames()).review()
    assert repr(widget) == (
        "ReviewWidget: 7 tracks over 6 frames of 80 x 60 px; divisions: 1 proposed "
        "(the viewer shows in JupyterLab)"
    )


def test_decisions_change_the_users_result_at_once() -> None:
    res = result(frames())
    widget = res.review()
    browser = PlayedBrowser(widget)
    assert browser.say({"type": "status", "id": 1, "parent_id": 1, "status": "rejected"})["ok"]
    assert res.divisions["status"].tolist() == ["rejected"]
    assert res.lineage.set_index("track_id").loc[[2, 3], "parent_id"].tolist() == [0, 0]
    assert widget.divisions["status"] == ["rejected"]
    assert widget.lineage["parent_id"].tolist()[1:3] == [0, 0]

    assert browser.say({"type": "status", "id": 2, "parent_id": 1, "status": "accepted"})["ok"]
    assert res.divisions["status"].tolist() == ["accepted"]
    assert res.lineage.set_index("track_id").loc[[2, 3], "parent_id"].tolist() == [1, 1]

    reply = browser.say(
        {"type": "relink", "id": 3, "parent_id": 1, "mother": 1, "daughters": [3, 5]}
    )
    assert reply["ok"]
    assert res.lineage.set_index("track_id").loc[[2, 3, 5], "parent_id"].tolist() == [0, 1, 1]
    # A re-displayed viewer starts from the decisions.
    again = res.review()
    assert again.divisions["daughter_b"].tolist() == [5]
    assert again.divisions["status"] == ["accepted"]


def test_a_refused_decision_changes_nothing() -> None:
    res = result(frames())
    before = res.lineage.copy(), res.divisions.copy()
    browser = PlayedBrowser(res.review())
    reply = browser.say({"type": "status", "id": 1, "parent_id": 4, "status": "rejected"})
    assert not reply["ok"]
    assert "no division has parent_id 4" in reply["error"]
    reply = browser.say({"type": "status", "id": 2, "parent_id": 1, "status": "maybe"})
    assert not reply["ok"]
    assert reply["error"].endswith("'maybe' is not one of ['proposed', 'accepted', 'rejected']")
    reply = browser.say(
        {"type": "relink", "id": 3, "parent_id": 1, "mother": 4, "daughters": [2, 3]}
    )
    assert not reply["ok"]
    pd.testing.assert_frame_equal(res.lineage, before[0])
    pd.testing.assert_frame_equal(res.divisions, before[1])
    assert not browser.say({"type": "bogus", "id": 4})["ok"]


def point_at(res: TrackingResult) -> dict[tuple[int, int], tuple[float, float]]:
    """(track, t) -> (y, x)."""
    columns = (res.tracks[c].tolist() for c in ("track_id", "t", "y", "x"))
    return {(k, t): (y, x) for k, t, y, x in zip(*columns, strict=True)}


def test_a_division_moves_a_frame_with_its_daughters() -> None:
    res = result()
    earlier = res.with_division_shifted(1, -1)
    span = earlier.lineage.set_index("track_id")
    assert (span.loc[1, "end"], span.loc[2, "start"], span.loc[3, "start"]) == (1, 2, 2)
    assert earlier.divisions[["t", "status"]].values.tolist() == [[2, "accepted"]]
    # The daughters' new first points sit where the mother was, as far apart as a frame later
    # (both started at x = 8 on rows 20 and 30; the mother was at row 10, x = 7).
    at = point_at(earlier)
    assert at[(2, 2)] == (5.0, 7.0)
    assert at[(3, 2)] == (15.0, 7.0)
    assert (1, 2) not in at
    # Later again: the mother's point comes back at the daughters' midpoint, exactly as before.
    back = earlier.with_division_shifted(1, 1)
    pd.testing.assert_frame_equal(back.tracks, res.tracks)
    pd.testing.assert_frame_equal(back.lineage, res.lineage)
    later = res.with_division_shifted(1, 1)
    assert point_at(later)[(1, 3)] == (25.0, 8.0)
    assert later.lineage.set_index("track_id").loc[[1, 2, 3], "start"].tolist() == [0, 4, 4]


def test_a_division_that_cannot_move_is_refused() -> None:
    res = result()
    with pytest.raises(ValueError, match="frames must be -1 or 1"):
        res.with_division_shifted(1, 2)  # type: ignore[arg-type]
    two = res.with_division_shifted(1, 1).with_division_shifted(1, 1)  # daughters: frame 5 only
    with pytest.raises(TableError, match="track 2 has one frame: the division cannot be later"):
        two.with_division_shifted(1, 1)
    one = res.with_division_shifted(1, -1).with_division_shifted(1, -1)  # mother: frame 0 only
    with pytest.raises(TableError, match="track 1 has one frame: its division cannot be earlier"):
        one.with_division_shifted(1, -1)
    with pytest.raises(TableError, match="is rejected: accept it first"):
        res.with_division_status(1, "rejected").with_division_shifted(1, -1)


def test_every_decision_undoes_and_redoes() -> None:
    res = result(frames())
    widget = res.review()
    browser = PlayedBrowser(widget)
    first = res.tracks.copy(), res.lineage.copy(), res.divisions.copy()
    assert browser.say({"type": "shift", "id": 1, "parent_id": 1, "frames": -1})["ok"]
    assert res.lineage.set_index("track_id").loc[1, "end"] == 1
    assert browser.say({"type": "status", "id": 2, "parent_id": 1, "status": "rejected"})["ok"]
    assert (widget.undo_depth, widget.redo_depth) == (2, 0)
    assert browser.say({"type": "undo", "id": 3})["ok"]
    assert res.divisions["status"].tolist() == ["accepted"]  # the move accepted it
    assert browser.say({"type": "undo", "id": 4})["ok"]
    for table, before in zip((res.tracks, res.lineage, res.divisions), first, strict=True):
        pd.testing.assert_frame_equal(table, before)
    assert widget.divisions["t"].tolist() == [3]
    assert (widget.undo_depth, widget.redo_depth) == (0, 2)
    reply = browser.say({"type": "undo", "id": 5})
    assert not reply["ok"]
    assert reply["error"] == "nothing to undo"
    assert browser.say({"type": "redo", "id": 6})["ok"]
    assert res.lineage.set_index("track_id").loc[1, "end"] == 1
    # A new decision drops what could be redone.
    assert browser.say({"type": "shift", "id": 7, "parent_id": 1, "frames": 1})["ok"]
    assert (widget.undo_depth, widget.redo_depth) == (2, 0)
    assert not browser.say({"type": "redo", "id": 8})["ok"]
    reply = browser.say({"type": "shift", "id": 9, "parent_id": 1, "frames": 3})
    assert not reply["ok"]
    assert reply["error"] == "malformed 'shift' message: 3 is not one of [-1, 1]"


@pytest.mark.parametrize(
    ("fmt", "written"),
    [
        ("ctc", "ctc"),
        ("csv", "csv"),
        ("parquet", "parquet"),
        # A GEFF store goes in the folder, so that its tables stay a folder of tables.
        ("geff", "geff/result.geff"),
        ("geff", "named.geff"),
    ],
)
def test_exports_write_the_reviewed_tables(tmp_path: Path, fmt: str, written: str) -> None:
    res = result(frames())
    browser = PlayedBrowser(res.review())
    browser.say({"type": "status", "id": 1, "parent_id": 1, "status": "rejected"})
    path = tmp_path / written.split("/")[0]
    reply = browser.say({"type": "export", "id": 2, "format": fmt, "path": str(path)})
    assert reply["ok"]
    assert reply["path"] == str(tmp_path / written)
    back = TrackingResult.read(tmp_path / written)
    assert back.divisions["status"].tolist() == ["rejected"]
    pd.testing.assert_frame_equal(back.lineage, res.lineage)


def test_png_export_writes_the_views_bytes(tmp_path: Path) -> None:
    widget = result(frames()).review()
    widget.t = 3
    browser = PlayedBrowser(widget)
    reply = browser.say({"type": "export", "id": 1, "format": "png", "path": str(tmp_path)}, [PNG])
    assert reply["ok"]
    assert (tmp_path / "frame003.png").read_bytes() == PNG
    refused = browser.say({"type": "export", "id": 2, "format": "png"}, [b"GIF89a"])
    assert not refused["ok"]
    assert "PNG" in refused["error"]
    refused = browser.say({"type": "export", "id": 3, "format": "tiff"})
    assert not refused["ok"]
    assert refused["error"].startswith("malformed 'export' message: 'tiff' is not one of")
