"""The three tables of a tracking result (schema/tables.schema.json) and their validation.

Every table that enters or leaves cellpoint passes through `validate_tables` (or one of the
per-table validators), which returns a canonical copy: exactly the contract's columns in the
contract's order and dtypes, a fresh RangeIndex, lineage sorted by `track_id`, divisions sorted by
(`t`, `parent_id`) with `daughter_a < daughter_b`. Canonical copies are what make round trips
through files exact.

Lineage follows CTC `man_track.txt`: a parent with two daughters is a division; a parent with
one daughter is a continuation (the same cell, relabelled, e.g. after a gap), not a division.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NoReturn, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from .. import contracts

Status: TypeAlias = Literal["proposed", "accepted", "rejected"]
FloatArray: TypeAlias = "npt.NDArray[np.float64]"
ColumnDtype: TypeAlias = "np.dtype[Any] | pd.CategoricalDtype"

_CONTRACT = contracts.load("tables.schema.json")["definitions"]
STATUSES: tuple[Status, ...] = tuple(
    _CONTRACT["divisions"]["properties"]["status"]["items"]["enum"]
)
STATUS_DTYPE = pd.CategoricalDtype(list(STATUSES))


def _dtypes(table: str) -> dict[str, ColumnDtype]:
    """A table's columns, in order, and their dtypes, as the contract gives them."""
    spec = _CONTRACT[table]
    return {
        name: STATUS_DTYPE if dtype == "category" else np.dtype(dtype)
        for name in spec["x-columns"]
        for dtype in [spec["properties"][name]["x-dtype"]]
    }


TRACKS_DTYPES = _dtypes("tracks")
LINEAGE_DTYPES = _dtypes("lineage")
DIVISIONS_DTYPES = _dtypes("divisions")
TRACKS_COLUMNS = tuple(TRACKS_DTYPES)
LINEAGE_COLUMNS = tuple(LINEAGE_DTYPES)
DIVISIONS_COLUMNS = tuple(DIVISIONS_DTYPES)

_SHOWN = 5  # offending items quoted in an error message


class TableError(ValueError):
    """A table breaks the contract (schema/tables.schema.json); the message says which table,
    column and rows."""


def empty_tracks() -> pd.DataFrame:
    """A tracks table with no rows."""
    return _empty(TRACKS_DTYPES)


def empty_lineage() -> pd.DataFrame:
    """A lineage table with no rows."""
    return _empty(LINEAGE_DTYPES)


def empty_divisions() -> pd.DataFrame:
    """A divisions table with no rows."""
    return _empty(DIVISIONS_DTYPES)


def _empty(dtypes: Mapping[str, ColumnDtype]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


# --- validation -----------------------------------------------------------------------------


def validate_tables(
    tracks: pd.DataFrame, lineage: pd.DataFrame, divisions: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Check the three tables against each other; return canonical copies or raise TableError."""
    tracks = validate_tracks(tracks)
    lineage = validate_lineage(lineage, tracks)
    return tracks, lineage, validate_divisions(divisions, lineage)


def validate_tracks(tracks: pd.DataFrame) -> pd.DataFrame:
    """Check `tracks` on its own; return a canonical copy or raise TableError."""
    out = _conform("tracks", tracks, TRACKS_DTYPES)
    _require("tracks", out, out["track_id"] >= 1, "track_id must be >= 1", "track_id")
    _require("tracks", out, out["t"] >= 0, "t must be >= 0", "t")
    for axis in ("y", "x"):
        _require("tracks", out, np.isfinite(out[axis]), f"{axis} must be finite", axis)
    vis = out["visibility"]
    _require("tracks", out, vis.between(0, 1), "visibility must be in [0, 1]", "visibility")

    ids, t = out["track_id"].to_numpy(), out["t"].to_numpy()
    step_id, step_t = np.diff(ids), np.diff(t)
    same = step_id == 0
    unsorted = np.flatnonzero((step_id < 0) | (same & (step_t < 0))) + 1
    if unsorted.size:
        _fail(
            "tracks",
            f"rows must be sorted by (track_id, t); out of order at index "
            f"{_list(out.index[unsorted])}; "
            "sort with tracks.sort_values(['track_id', 't'], ignore_index=True)",
        )
    twice = np.flatnonzero(same & (step_t == 0)) + 1
    if twice.size:
        _fail(
            "tracks",
            "one row per (track_id, t); repeated: "
            + _list(f"track {ids[i]} at t={t[i]}" for i in twice),
        )
    gaps = np.flatnonzero(same & (step_t > 1)) + 1
    if gaps.size:
        _fail(
            "tracks",
            "a track must cover consecutive frames (CTC tracks have no gaps; continue after a "
            "gap with a new track whose parent_id is the old one); "
            + _list(f"track {ids[i]} jumps from t={t[i - 1]} to t={t[i]}" for i in gaps),
        )
    return out.reset_index(drop=True)


def validate_lineage(lineage: pd.DataFrame, tracks: pd.DataFrame | None = None) -> pd.DataFrame:
    """Check `lineage`, against validated `tracks` where given; return a canonical copy."""
    out = _conform("lineage", lineage, LINEAGE_DTYPES)
    _require("lineage", out, out["track_id"] >= 1, "track_id must be >= 1", "track_id")
    _require("lineage", out, out["start"] >= 0, "start must be >= 0", "start")
    _require("lineage", out, out["end"] >= out["start"], "end must be >= start", "start", "end")
    _require("lineage", out, out["parent_id"] >= 0, "parent_id must be >= 0", "parent_id")
    repeated = out["track_id"][out["track_id"].duplicated()].unique()
    if repeated.size:
        _fail("lineage", f"one row per track; repeated track_id {_list(repeated)}")
    out = out.sort_values("track_id", ignore_index=True)

    if tracks is not None:
        _check_spans(out, tracks)

    starts = pd.Series(out["start"].to_numpy(), index=out["track_id"].to_numpy())
    ends = pd.Series(out["end"].to_numpy(), index=out["track_id"].to_numpy())
    linked = out[out["parent_id"] != 0]
    unknown = ~linked["parent_id"].isin(starts.index)
    if unknown.any():
        _fail(
            "lineage",
            "parent_id must be 0 or a track in lineage; "
            + _list(
                f"track {i} names parent {p}"
                for i, p in zip(
                    linked["track_id"][unknown], linked["parent_id"][unknown], strict=True
                )
            ),
        )
    parent_end = ends.reindex(linked["parent_id"]).to_numpy()
    late = parent_end >= linked["start"].to_numpy()
    if late.any():
        _fail(
            "lineage",
            "a parent must end before its daughter starts (this also rules out cycles); "
            + _list(
                f"track {i} starts at t={s} but its parent {p} ends at t={e}"
                for i, s, p, e in zip(
                    linked["track_id"][late],
                    linked["start"][late],
                    linked["parent_id"][late],
                    parent_end[late],
                    strict=True,
                )
            ),
        )
    children = linked.groupby("parent_id")["track_id"].agg(list)
    crowded = children[children.map(len) > 2]
    if len(crowded):
        _fail(
            "lineage",
            "a parent has at most 2 daughters; "
            + _list(f"track {p} has daughters {_list(c)}" for p, c in crowded.items()),
        )
    return out


def _check_spans(lineage: pd.DataFrame, tracks: pd.DataFrame) -> None:
    span = tracks.groupby("track_id")["t"].agg(["min", "max"])
    ids = pd.Index(lineage["track_id"])
    missing = span.index.difference(ids)
    if missing.size:
        _fail("lineage", f"every track needs a row; no row for track {_list(missing)}")
    extra = ids.difference(span.index)
    if extra.size:
        _fail("lineage", f"track {_list(extra)} has a row but no points in tracks")
    first = span["min"].reindex(ids).to_numpy()
    last = span["max"].reindex(ids).to_numpy()
    start, end = lineage["start"].to_numpy(), lineage["end"].to_numpy()
    off = (first != start) | (last != end)
    if off.any():
        _fail(
            "lineage",
            "start and end must be the first and last frame of the track's points; "
            + _list(
                f"track {i} has start={s}, end={e} but points at t={a}..{b}"
                for i, s, e, a, b in zip(
                    ids[off], start[off], end[off], first[off], last[off], strict=True
                )
            ),
        )


def validate_divisions(divisions: pd.DataFrame, lineage: pd.DataFrame) -> pd.DataFrame:
    """Check `divisions` against a validated `lineage`; return a canonical copy."""
    out = _conform("divisions", divisions, DIVISIONS_DTYPES)
    _require("divisions", out, out["score"].between(0, 1), "score must be in [0, 1]", "score")
    a, b = out["daughter_a"].to_numpy(), out["daughter_b"].to_numpy()
    _require("divisions", out, a != b, "the two daughters must differ", "daughter_a", "daughter_b")
    out["daughter_a"], out["daughter_b"] = np.minimum(a, b), np.maximum(a, b)

    repeated = out["parent_id"][out["parent_id"].duplicated()].unique()
    if repeated.size:
        _fail("divisions", f"one division per parent; parent {_list(repeated)} has several")
    daughters = pd.concat([out["daughter_a"], out["daughter_b"]])
    repeated = daughters[daughters.duplicated()].unique()
    if repeated.size:
        _fail("divisions", f"track {_list(repeated)} is a daughter in more than one division")

    index = pd.Index(lineage["track_id"])
    for column in ("parent_id", "daughter_a", "daughter_b"):
        _require(
            "divisions",
            out,
            out[column].isin(index),
            f"{column} must be a track in lineage",
            column,
        )
    by_id = lineage.set_index("track_id")
    for column in ("daughter_a", "daughter_b"):
        start = by_id["start"].reindex(out[column]).to_numpy()
        _require(
            "divisions",
            out.assign(lineage_start=start),
            out["t"].to_numpy() == start,
            f"t must be the first frame of {column} (its start in lineage)",
            "t",
            column,
            "lineage_start",
        )
    _require(
        "divisions",
        out,
        by_id["end"].reindex(out["parent_id"]).to_numpy() < out["t"].to_numpy(),
        "the parent must end before t",
        "parent_id",
        "t",
    )

    rejected = (out["status"] == "rejected").to_numpy()
    for column in ("daughter_a", "daughter_b"):
        linked = by_id["parent_id"].reindex(out[column]).to_numpy() == out["parent_id"].to_numpy()
        _require(
            "divisions",
            out,
            linked | rejected,
            f"a proposed or accepted division needs parent_id of {column} in lineage to be the "
            "division's parent_id",
            "parent_id",
            column,
            "status",
        )
        _require(
            "divisions",
            out,
            ~linked | ~rejected,
            f"a rejected division unlinks its daughters: {column} in lineage must not have the "
            "division's parent as parent_id (set it to 0)",
            "parent_id",
            column,
            "status",
        )

    linked = lineage[lineage["parent_id"] != 0]
    sizes = linked.groupby("parent_id").size()
    listed = pd.Index(out["parent_id"][~rejected])
    unlisted = sizes.index[(sizes == 2).to_numpy()].difference(listed)
    if unlisted.size:
        _fail(
            "divisions",
            f"track {_list(unlisted)} has two daughters in lineage but no proposed or accepted "
            "division; derive divisions with divisions_from_lineage",
        )
    return out.sort_values(["t", "parent_id"], ignore_index=True)


def _conform(table: str, frame: pd.DataFrame, dtypes: Mapping[str, ColumnDtype]) -> pd.DataFrame:
    """The contract's columns of `frame` in order and dtype, keeping its index for messages."""
    if not isinstance(frame, pd.DataFrame):
        _fail(table, f"expected a pandas DataFrame, got {type(frame).__name__}")
    expected = ", ".join(dtypes)
    missing = [c for c in dtypes if c not in frame.columns]
    if missing:
        _fail(table, f"missing column {_list(missing)}; the table has columns {expected}")
    extra = [str(c) for c in frame.columns if c not in dtypes]
    if extra:
        _fail(table, f"unexpected column {_list(extra)}; the table has exactly columns {expected}")
    return pd.DataFrame(
        {name: _coerce(table, frame, name, dtype) for name, dtype in dtypes.items()},
        index=frame.index,
    )


def _coerce(
    table: str, frame: pd.DataFrame, column: str, dtype: ColumnDtype
) -> np.ndarray[Any, Any] | pd.Categorical:
    values = frame[column]
    if isinstance(dtype, pd.CategoricalDtype):
        given = values.astype(object)
        _require(
            table,
            frame,
            given.isin(dtype.categories),
            f"{column} must be one of {', '.join(map(str, dtype.categories))}",
            column,
        )
        return pd.Categorical(given, dtype=dtype)
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        _fail(table, f"column {column!r} must be numeric ({dtype}), not {values.dtype}")
    if dtype.kind == "f":
        # float64 visibilities are rounded to float32: the contract's precision for them.
        return values.to_numpy(dtype=np.float64, na_value=np.nan).astype(dtype)
    if pd.api.types.is_integer_dtype(values):
        _require(table, frame, values.notna(), f"{column} must not be missing", column)
        if pd.api.types.is_unsigned_integer_dtype(values):
            _require(
                table, frame, values <= np.iinfo(np.int64).max, f"{column} overflows int64", column
            )
        return values.to_numpy(dtype=np.int64)
    floats = values.to_numpy(dtype=np.float64, na_value=np.nan)
    whole = np.isfinite(floats) & (floats == np.round(floats)) & (np.abs(floats) < 2.0**63)
    _require(table, frame, whole, f"{column} must hold whole numbers", column)
    return floats.astype(np.int64)


def _require(table: str, frame: pd.DataFrame, ok: Any, message: str, *columns: str) -> None:
    """Raise TableError quoting the rows of `frame` (and their `columns`) where `ok` is False."""
    bad = np.flatnonzero(~np.asarray(ok, dtype=bool))
    if not bad.size:
        return
    quoted = [
        f"index {frame.index[i]} ({', '.join(f'{c}={_show(frame[c].iloc[i])}' for c in columns)})"
        for i in bad[:_SHOWN]
    ]
    more = f" and {bad.size - _SHOWN} more" if bad.size > _SHOWN else ""
    _fail(table, f"{message}; fails at {'; '.join(quoted)}{more}")


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _list(items: Any) -> str:
    """Up to _SHOWN items, comma separated, with a count of the rest."""
    items = [str(i) for i in items]
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _fail(table: str, message: str) -> NoReturn:
    raise TableError(f"{table}: {message}")


# --- derivation and editing ------------------------------------------------------------------


def lineage_from_tracks(
    tracks: pd.DataFrame, parents: Mapping[int, int] | None = None
) -> pd.DataFrame:
    """The lineage of `tracks`: start/end from their frames, parent_id from `parents` (else 0)."""
    tracks = validate_tracks(tracks)
    span = tracks.groupby("track_id")["t"].agg(["min", "max"])
    parents = dict(parents or {})
    unknown = set(parents).difference(span.index)
    if unknown:
        _fail("lineage", f"parents names track {_list(sorted(unknown))}, not in tracks")
    lineage = pd.DataFrame(
        {
            "track_id": span.index.to_numpy(),
            "start": span["min"].to_numpy(),
            "end": span["max"].to_numpy(),
            "parent_id": [parents.get(int(i), 0) for i in span.index],
        }
    )
    return validate_lineage(lineage, tracks)


def divisions_from_lineage(
    lineage: pd.DataFrame,
    scores: Mapping[int, float] | None = None,
    status: Literal["proposed", "accepted"] = "accepted",
) -> pd.DataFrame:
    """One division per parent with exactly two daughters in `lineage`.

    A parent with one daughter is a continuation, not a division. `scores` maps a parent to its
    division score (1.0 where absent, as for ground truth); every row gets `status`.
    """
    lineage = validate_lineage(lineage)
    linked = lineage[lineage["parent_id"] != 0].sort_values(["parent_id", "track_id"])
    pairs = linked.groupby("parent_id").agg(
        n=("track_id", "size"),
        daughter_a=("track_id", "first"),
        daughter_b=("track_id", "last"),
        t=("start", "first"),
    )
    pairs = pairs[pairs["n"] == 2]
    scores = scores or {}
    divisions = pd.DataFrame(
        {
            "parent_id": pairs.index.to_numpy(),
            "t": pairs["t"].to_numpy(),
            "daughter_a": pairs["daughter_a"].to_numpy(),
            "daughter_b": pairs["daughter_b"].to_numpy(),
            "score": [float(scores.get(int(p), 1.0)) for p in pairs.index],
            "status": [status] * len(pairs),
        }
    )
    return validate_divisions(divisions, lineage)


def apply_division_status(
    lineage: pd.DataFrame, divisions: pd.DataFrame, parent_id: int, status: Status
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """New (lineage, divisions) with the division of `parent_id` set to `status`.

    Rejecting unlinks the daughters (their parent_id becomes 0); proposing or accepting links
    them to the parent again. The inputs are left as they are.
    """
    lineage = validate_lineage(lineage)
    divisions = validate_divisions(divisions, lineage)
    if status not in STATUSES:
        _fail("divisions", f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    row = divisions.index[divisions["parent_id"] == parent_id]
    if not row.size:
        _fail("divisions", f"no division has parent_id {parent_id}")
    division = divisions.loc[row[0]]
    daughters = lineage["track_id"].isin([division["daughter_a"], division["daughter_b"]])
    lineage.loc[daughters, "parent_id"] = 0 if status == "rejected" else parent_id
    divisions.loc[row, "status"] = status
    return lineage, validate_divisions(divisions, validate_lineage(lineage))


def relink_division(
    lineage: pd.DataFrame,
    divisions: pd.DataFrame,
    parent_id: int,
    mother: int,
    daughters: tuple[int, int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """New (lineage, divisions) where a reviewer corrected the division of `parent_id`: its
    mother is `mother` and its daughters `daughters`, and it is accepted.

    Daughters of the old division that are not kept become roots. A new daughter must be a
    root or one of the old daughters; a new mother must have no daughters (a rejected
    division of hers is replaced). The inputs are left as they are.
    """
    lineage = validate_lineage(lineage)
    divisions = validate_divisions(divisions, lineage)
    row = divisions.index[divisions["parent_id"] == parent_id]
    if not row.size:
        _fail("divisions", f"no division has parent_id {parent_id}")
    old = {int(d) for d in divisions.loc[row[0], ["daughter_a", "daughter_b"]].tolist()}
    a, b = (int(d) for d in daughters)
    if a == b:
        _fail("divisions", f"the two daughters must differ, got {a} twice")
    ids: list[int] = lineage["track_id"].tolist()
    start = dict(zip(ids, lineage["start"].tolist(), strict=True))
    end = dict(zip(ids, lineage["end"].tolist(), strict=True))
    parent = dict(zip(ids, lineage["parent_id"].tolist(), strict=True))
    for track in (mother, a, b):
        if track not in parent:
            _fail("lineage", f"no track {track}")
    for d in (a, b):
        if d not in old and parent[d] != 0:
            _fail(
                "divisions",
                f"track {d} is already a daughter of track {parent[d]}: reject or relink that "
                "division first",
            )
    if mother != parent_id:
        kids = [k for k, p in parent.items() if p == mother]
        if kids:
            _fail("divisions", f"track {mother} already has daughters {_list(kids)}")
    if start[a] != start[b]:
        _fail(
            "divisions",
            f"daughters must start on the same frame; track {a} starts at t={start[a]}, "
            f"track {b} at t={start[b]}",
        )
    if end[mother] >= start[a]:
        _fail(
            "divisions",
            f"the mother must end before her daughters start; track {mother} ends at "
            f"t={end[mother]}, the daughters start at t={start[a]}",
        )
    lineage.loc[lineage["track_id"].isin(old - {a, b}), "parent_id"] = 0
    lineage.loc[lineage["track_id"].isin([a, b]), "parent_id"] = mother
    divisions = divisions.drop(index=row)
    divisions = divisions[divisions["parent_id"] != mother]  # a rejected division of hers
    corrected = pd.DataFrame(
        {"parent_id": [mother], "t": [start[a]], "daughter_a": [a], "daughter_b": [b],
         "score": [1.0], "status": ["accepted"]}
    )  # fmt: skip
    divisions = pd.concat([divisions.astype({"status": str}), corrected], ignore_index=True)
    lineage = validate_lineage(lineage)
    return lineage, validate_divisions(divisions, lineage)


def shift_division(
    tracks: pd.DataFrame,
    lineage: pd.DataFrame,
    divisions: pd.DataFrame,
    parent_id: int,
    frames: Literal[-1, 1],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """New (tracks, lineage, divisions) where a reviewer moved the division of `parent_id` one
    frame earlier (-1) or later (+1), and accepted it. The mother's end and her daughters'
    start move together, as the CTC's convention wants (her last frame, then theirs).

    Earlier: the mother's last point goes, and each daughter gains a first point where the
    mother was, offset from her as the daughter is from the pair's midpoint a frame later.
    Later: each daughter's first point goes, and the mother gains a point at their midpoint.
    Refused where a track would be left without points, and for a rejected division (its
    daughters are no longer hers). The inputs are left as they are.
    """
    if frames not in (-1, 1):
        raise ValueError(
            f"a division moves a frame at a time: frames must be -1 or 1, not {frames}"
        )
    tracks, lineage, divisions = validate_tables(tracks, lineage, divisions)
    row = np.flatnonzero(divisions["parent_id"].to_numpy() == parent_id)
    if not row.size:
        _fail("divisions", f"no division has parent_id {parent_id}")
    division = divisions.iloc[int(row[0])]
    if division["status"] == "rejected":
        _fail("divisions", f"the division of track {parent_id} is rejected: accept it first")
    a, b = int(division["daughter_a"]), int(division["daughter_b"])
    ids = lineage["track_id"].tolist()
    first = dict(zip(ids, lineage["start"].tolist(), strict=True))
    last = dict(zip(ids, lineage["end"].tolist(), strict=True))
    end, start = last[parent_id], first[a]

    def point(track: int, t: int) -> FloatArray:
        """(y, x, visibility) of a track at frame t."""
        at = (tracks["track_id"].to_numpy() == track) & (tracks["t"].to_numpy() == t)
        row: FloatArray = tracks.loc[at, ["y", "x", "visibility"]].to_numpy(np.float64)[0]
        return row

    if frames < 0:
        if first[parent_id] == end:
            _fail("divisions", f"track {parent_id} has one frame: its division cannot be earlier")
        mother = point(parent_id, end)
        mid = (point(a, start) + point(b, start)) / 2
        added = [(d, end, *(mother[:2] + point(d, start)[:2] - mid[:2]), mother[2]) for d in (a, b)]
        gone = (tracks["track_id"] == parent_id) & (tracks["t"] == end)
    else:
        for d in (a, b):
            if last[d] == start:
                _fail("divisions", f"track {d} has one frame: the division cannot be later")
        added = [(parent_id, start, *((point(a, start) + point(b, start)) / 2))]
        gone = tracks["track_id"].isin([a, b]) & (tracks["t"] == start)
    new = pd.DataFrame(added, columns=["track_id", "t", "y", "x", "visibility"])
    tracks = pd.concat([tracks[~gone], new], ignore_index=True)
    tracks = tracks.sort_values(["track_id", "t"], ignore_index=True)
    lineage = lineage.assign(
        end=lineage["end"] + np.where(lineage["track_id"] == parent_id, frames, 0),
        start=lineage["start"] + np.where(lineage["track_id"].isin([a, b]), frames, 0),
    )
    moved = divisions["parent_id"] == parent_id
    divisions = divisions.assign(
        t=divisions["t"].where(~moved, start + frames),
        status=divisions["status"].astype(str).where(~moved, "accepted"),
    )
    return validate_tables(tracks, lineage, divisions)
