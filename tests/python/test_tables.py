"""The table contract (schema/tables.schema.json): validation, derivation, division review."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from cellpoint.io.tables import (
    DIVISIONS_DTYPES,
    LINEAGE_DTYPES,
    STATUS_DTYPE,
    TRACKS_DTYPES,
    TableError,
    apply_division_status,
    divisions_from_lineage,
    empty_divisions,
    empty_lineage,
    empty_tracks,
    lineage_from_tracks,
    validate_divisions,
    validate_lineage,
    validate_tables,
    validate_tracks,
)

Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]

# track id: (first frame, last frame, parent id)
SPANS = {
    1: (0, 2, 0),  # divides into 2 and 3: accepted
    2: (3, 5, 1),
    3: (3, 5, 1),
    4: (0, 1, 0),  # continues as 5 after a gap at t=2: a continuation, not a division
    5: (3, 5, 4),
    6: (0, 2, 0),  # its division into 7 and 8 was rejected: they are roots
    7: (3, 5, 0),
    8: (3, 5, 0),
    9: (0, 3, 0),  # divides into 10 and 11: proposed, not reviewed yet
    10: (4, 5, 9),
    11: (4, 5, 9),
}
SHAPE = (6, 48, 256)


def example_tables() -> Tables:
    """Canonical tables of SPANS; each track on its own column x, moving down in y."""
    rows = [
        (i, t, 8.0 + 5 * t + 0.1 * i, 10.0 + 21.5 * i, 0.5 + 0.04 * i)
        for i, (start, end, _) in SPANS.items()
        for t in range(start, end + 1)
    ]
    tracks = pd.DataFrame(rows, columns=["track_id", "t", "y", "x", "visibility"])
    tracks["visibility"] = tracks["visibility"].astype(np.float32)
    lineage = pd.DataFrame(
        [(i, start, end, parent) for i, (start, end, parent) in SPANS.items()],
        columns=["track_id", "start", "end", "parent_id"],
    )
    divisions = pd.DataFrame(
        {
            "parent_id": [1, 6, 9],
            "t": [3, 3, 4],
            "daughter_a": [2, 7, 10],
            "daughter_b": [3, 8, 11],
            "score": [0.9, 0.3, 0.6],
            "status": pd.Categorical(["accepted", "rejected", "proposed"], dtype=STATUS_DTYPE),
        }
    )
    return tracks, lineage, divisions


def dtypes(frame: pd.DataFrame) -> dict[str, object]:
    return dict(frame.dtypes)


def test_example_is_valid_and_already_canonical() -> None:
    tracks, lineage, divisions = example_tables()
    out = validate_tables(tracks, lineage, divisions)
    for given, checked in zip((tracks, lineage, divisions), out, strict=True):
        pdt.assert_frame_equal(checked, given)
    assert dtypes(out[0]) == TRACKS_DTYPES
    assert dtypes(out[1]) == LINEAGE_DTYPES
    assert dtypes(out[2]) == DIVISIONS_DTYPES


def test_empty_tables_are_valid() -> None:
    out = validate_tables(empty_tracks(), empty_lineage(), empty_divisions())
    assert [len(t) for t in out] == [0, 0, 0]
    assert dtypes(out[0]) == TRACKS_DTYPES
    assert dtypes(out[2]) == DIVISIONS_DTYPES


def test_lossless_coercion_and_canonical_order() -> None:
    tracks, lineage, divisions = example_tables()
    loose_tracks = tracks.astype({"track_id": np.int32, "t": np.float64, "y": np.float32})
    loose_tracks["visibility"] = loose_tracks["visibility"].astype(np.float64)
    loose_tracks.index = loose_tracks.index + 100
    loose_lineage = lineage.iloc[::-1].astype({"parent_id": np.uint8, "start": "Int64"})
    loose_divisions = divisions.iloc[::-1].astype({"status": object})
    loose_divisions[["daughter_a", "daughter_b"]] = divisions[["daughter_b", "daughter_a"]]

    out = validate_tables(loose_tracks, loose_lineage, loose_divisions)

    expected = tracks.assign(y=tracks["y"].astype(np.float32).astype(np.float64))
    pdt.assert_frame_equal(out[0], expected)
    pdt.assert_frame_equal(out[1], lineage)
    pdt.assert_frame_equal(out[2], divisions)


def test_validation_does_not_touch_its_input() -> None:
    tracks, lineage, divisions = example_tables()
    loose = divisions.astype({"status": object})
    loose[["daughter_a", "daughter_b"]] = divisions[["daughter_b", "daughter_a"]]
    before = loose.copy()
    validate_tables(tracks, lineage, loose)
    pdt.assert_frame_equal(loose, before)


Edit = Callable[[pd.DataFrame], pd.DataFrame]


def _set(column: str, row: int, value: object) -> Edit:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        values = frame[column].tolist()
        values[row] = value
        return frame.assign(**{column: values})

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns="x"), "tracks: missing column x"),
        (lambda f: f.assign(area=1.0), "tracks: unexpected column area"),
        (_set("track_id", 0, 0), "track_id must be >= 1; fails at index 0 (track_id=0)"),
        (lambda f: f.assign(t=f["t"] - 1), "t must be >= 0; fails at index 0 (t=-1)"),
        (_set("y", 4, np.nan), "y must be finite; fails at index 4 (y=nan)"),
        (_set("x", 5, np.inf), "x must be finite; fails at index 5 (x=inf)"),
        (_set("visibility", 2, 1.5), "visibility must be in [0, 1]; fails at index 2"),
        (_set("visibility", 3, np.nan), "visibility must be in [0, 1]; fails at index 3"),
        (_set("t", 1, 1.5), "t must hold whole numbers; fails at index 1 (t=1.5)"),
        (
            lambda f: f.assign(track_id=f["track_id"].astype("Int64").mask(f.index == 3)),
            "track_id must not be missing; fails at index 3",
        ),
        (lambda f: f.assign(t=f["t"] > 0), "column 't' must be numeric (int64), not bool"),
        (_set("x", 0, "left"), "column 'x' must be numeric (float64), not object"),
        (lambda f: f.iloc[::-1], "rows must be sorted by (track_id, t); out of order at"),
        (_set("t", 1, 0), "one row per (track_id, t); repeated: track 1 at t=0"),
        (lambda f: f.drop(index=1), "track 1 jumps from t=0 to t=2"),
        (
            lambda f: f.assign(y=f["y"].mask(f.index % 2 == 0)),
            "y must be finite; fails at index 0 (y=nan); index 2 (y=nan); index 4 (y=nan); "
            "index 6 (y=nan); index 8 (y=nan) and 11 more",
        ),
    ],
)
def test_bad_tracks(edit: Edit, message: str) -> None:
    tracks, lineage, divisions = example_tables()
    with pytest.raises(TableError, match=r"^tracks: ") as caught:
        validate_tables(edit(tracks), lineage, divisions)
    assert message in str(caught.value)


def _lineage_row(track_id: int, **values: int) -> Edit:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column, value in values.items():
            frame.loc[frame["track_id"] == track_id, column] = value
        return frame

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns="parent_id"), "missing column parent_id"),
        (lambda f: f[f["track_id"] != 4], "every track needs a row; no row for track 4"),
        (
            lambda f: pd.concat([f, f.iloc[[0]].assign(track_id=12)]),
            "track 12 has a row but no points in tracks",
        ),
        (
            lambda f: pd.concat([f, f.iloc[[0]]]),
            "one row per track; repeated track_id 1",
        ),
        (_lineage_row(5, start=2), "track 5 has start=2, end=5 but points at t=3..5"),
        (_lineage_row(5, end=7), "track 5 has start=3, end=7 but points at t=3..5"),
        (_lineage_row(4, start=3, end=1), "end must be >= start; fails at index 3"),
        (_lineage_row(5, parent_id=12), "track 5 names parent 12"),
        (_lineage_row(5, parent_id=-1), "parent_id must be >= 0"),
        (_lineage_row(7, parent_id=2), "track 7 starts at t=3 but its parent 2 ends at t=5"),
        (_lineage_row(1, parent_id=1), "track 1 starts at t=0 but its parent 1 ends at t=2"),
        (
            # a cycle: 1 is the parent of 2, and 2 of 1
            _lineage_row(1, parent_id=2),
            "(this also rules out cycles); track 1 starts at t=0 but its parent 2 ends at t=5",
        ),
        (_lineage_row(5, parent_id=1), "a parent has at most 2 daughters; track 1 has"),
    ],
)
def test_bad_lineage(edit: Edit, message: str) -> None:
    tracks, lineage, divisions = example_tables()
    with pytest.raises(TableError, match=r"^lineage: ") as caught:
        validate_tables(tracks, edit(lineage), divisions)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns="score"), "missing column score"),
        (_set("score", 1, 1.2), "score must be in [0, 1]; fails at index 1 (score=1.2)"),
        (_set("score", 1, -0.1), "score must be in [0, 1]; fails at index 1 (score=-0.1)"),
        (_set("status", 0, "maybe"), "status must be one of proposed, accepted, rejected"),
        (_set("parent_id", 1, 12), "parent_id must be a track in lineage; fails at index 1"),
        (_set("daughter_b", 1, 13), "daughter_b must be a track in lineage; fails at index 1"),
        (_set("daughter_b", 1, 7), "the two daughters must differ; fails at index 1"),
        (
            _set("t", 2, 5),
            "t must be the first frame of daughter_a (its start in lineage); "
            "fails at index 2 (t=5, daughter_a=10, lineage_start=4)",
        ),
        (
            lambda f: pd.concat([f, f.iloc[[1]].assign(daughter_a=5, daughter_b=9)]),
            "one division per parent; parent 6 has several",
        ),
        (
            lambda f: pd.concat([f, f.iloc[[1]].assign(parent_id=4)]),
            "track 7, 8 is a daughter in more than one division",
        ),
        (
            _set("status", 1, "accepted"),
            "a proposed or accepted division needs parent_id of daughter_a in lineage to be "
            "the division's parent_id; fails at index 1 (parent_id=6, daughter_a=7, "
            "status='accepted')",
        ),
        (
            _set("status", 0, "rejected"),
            "a rejected division unlinks its daughters: daughter_a in lineage must not have "
            "the division's parent as parent_id (set it to 0); fails at index 0",
        ),
        (
            lambda f: f.drop(index=2),
            "track 9 has two daughters in lineage but no proposed or accepted division",
        ),
        (
            lambda f: f.drop(index=0),
            "track 1 has two daughters in lineage but no proposed or accepted division",
        ),
    ],
)
def test_bad_divisions(edit: Edit, message: str) -> None:
    tracks, lineage, divisions = example_tables()
    with pytest.raises(TableError, match=r"^divisions: ") as caught:
        validate_tables(tracks, lineage, edit(divisions))
    assert message in str(caught.value)


def test_a_rejected_division_still_needs_the_parent_to_end_first() -> None:
    tracks, lineage, divisions = example_tables()
    longer = pd.concat([tracks, tracks[tracks["track_id"] == 6].tail(1).assign(t=3)]).sort_values(
        ["track_id", "t"], ignore_index=True
    )
    lineage.loc[lineage["track_id"] == 6, "end"] = 3
    with pytest.raises(TableError, match=r"the parent must end before t; fails at index 1"):
        validate_tables(longer, lineage, divisions)


def test_per_table_validators_check_their_own_table() -> None:
    tracks, lineage, divisions = example_tables()
    pdt.assert_frame_equal(validate_tracks(tracks), tracks)
    pdt.assert_frame_equal(validate_lineage(lineage), lineage)
    pdt.assert_frame_equal(validate_divisions(divisions, lineage), divisions)
    with pytest.raises(TableError, match=r"expected a pandas DataFrame, got dict"):
        validate_tracks(tracks.to_dict())  # type: ignore[arg-type]


def test_lineage_from_tracks() -> None:
    tracks, lineage, _ = example_tables()
    parents = {i: p for i, (_, _, p) in SPANS.items() if p}
    pdt.assert_frame_equal(lineage_from_tracks(tracks, parents), lineage)
    roots = lineage_from_tracks(tracks)
    assert (roots["parent_id"] == 0).all()
    pdt.assert_frame_equal(roots.drop(columns="parent_id"), lineage.drop(columns="parent_id"))


def test_lineage_from_tracks_rejects_unknown_or_impossible_parents() -> None:
    tracks, _, _ = example_tables()
    with pytest.raises(TableError, match=r"parents names track 20, not in tracks"):
        lineage_from_tracks(tracks, {20: 1})
    with pytest.raises(TableError, match=r"track 2 starts at t=3 but its parent 9 ends at t=3"):
        lineage_from_tracks(tracks, {2: 9})


def test_divisions_from_lineage_skips_continuations() -> None:
    _, lineage, _ = example_tables()
    divisions = divisions_from_lineage(lineage, scores={9: 0.25})
    # 4 -> 5 is a continuation; 7 and 8 have no parent.
    expected = pd.DataFrame(
        {
            "parent_id": [1, 9],
            "t": [3, 4],
            "daughter_a": [2, 10],
            "daughter_b": [3, 11],
            "score": [1.0, 0.25],
            "status": pd.Categorical(["accepted", "accepted"], dtype=STATUS_DTYPE),
        }
    )
    pdt.assert_frame_equal(divisions, expected)
    proposed = divisions_from_lineage(lineage, status="proposed")
    assert list(proposed["status"]) == ["proposed", "proposed"]


def test_rejecting_unlinks_and_accepting_relinks() -> None:
    tracks, lineage, divisions = example_tables()
    lineage_before, divisions_before = lineage.copy(), divisions.copy()

    lineage2, divisions2 = apply_division_status(lineage, divisions, 1, "rejected")

    pdt.assert_frame_equal(lineage, lineage_before)
    pdt.assert_frame_equal(divisions, divisions_before)
    parents = lineage2.set_index("track_id")["parent_id"]
    assert parents[2] == 0
    assert parents[3] == 0
    assert parents[5] == 4
    assert list(divisions2["status"]) == ["rejected", "rejected", "proposed"]
    validate_tables(tracks, lineage2, divisions2)

    lineage3, divisions3 = apply_division_status(lineage2, divisions2, 1, "accepted")
    pdt.assert_frame_equal(lineage3, lineage)
    pdt.assert_frame_equal(divisions3, divisions)

    lineage4, divisions4 = apply_division_status(lineage, divisions, 6, "proposed")
    assert list(lineage4.set_index("track_id")["parent_id"][[7, 8]]) == [6, 6]
    assert divisions4.set_index("parent_id")["status"][6] == "proposed"


def test_division_status_errors() -> None:
    _, lineage, divisions = example_tables()
    with pytest.raises(TableError, match=r"no division has parent_id 4"):
        apply_division_status(lineage, divisions, 4, "rejected")
    with pytest.raises(TableError, match=r"status must be one of proposed, accepted, rejected"):
        apply_division_status(lineage, divisions, 1, "maybe")  # type: ignore[arg-type]
