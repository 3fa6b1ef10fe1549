"""RAW's tracks: those a later frame may still change or read are `Track` objects (`held`, in
id order); the others are finished rows in numpy columns, so that what RAW holds is bounded by
the cells in view, not by the length of the sequence. The browser's twin is
src/engine/track-store.ts.

At frame t RAW's rules change only living tracks and read, besides them, the tracks that ended
at t - 1 (a mother the sister head names may have been lost there): a track that ended before
t - 1 is final, and `TrackStore.retire(t)` moves it to the finished rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass
class Track:
    """A track RAW may still change: its points so far, in model pixels."""

    track_id: int
    parent_id: int
    start: int
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    vis: list[float] = field(default_factory=list)
    alive: bool = True

    @property
    def end(self) -> int:
        return self.start + len(self.xs) - 1

    def add(self, x: float, y: float, v: float) -> None:
        self.xs.append(x)
        self.ys.append(y)
        self.vis.append(v)

    def end_before_last(self) -> None:
        """Ends the track a frame earlier: its last point belongs to another cell."""
        self.xs.pop()
        self.ys.pop()
        self.vis.pop()
        self.alive = False


class _Rows:
    """Append-only table columns: numpy arrays that double when full, so that a finished row
    costs its bytes and nothing besides."""

    def __init__(self, dtypes: dict[str, type[np.generic]]) -> None:
        self._data = {name: np.empty(64, dtype) for name, dtype in dtypes.items()}
        self.size = 0

    def extend(self, columns: Mapping[str, npt.ArrayLike]) -> None:
        arrays = {name: np.asarray(values) for name, values in columns.items()}
        end = self.size + len(next(iter(arrays.values())))
        for name, values in arrays.items():
            data = self._data[name]
            if end > len(data):
                data = np.resize(data, max(2 * len(data), end))
                self._data[name] = data
            data[self.size : end] = values
        self.size = end

    def columns(self) -> dict[str, npt.NDArray[np.generic]]:
        return {name: data[: self.size] for name, data in self._data.items()}


TRACK_COLUMNS: dict[str, type[np.generic]] = {
    "track_id": np.int64,
    "t": np.int64,
    "x": np.float64,
    "y": np.float64,
    "visibility": np.float32,
}
LINEAGE_COLUMNS: dict[str, type[np.generic]] = dict.fromkeys(
    ("track_id", "start", "end", "parent_id"), np.int64
)


def is_final(track: Track, t: int) -> bool:
    """Whether no rule at frame t or later changes or reads the track: it ended before t - 1."""
    return not track.alive and track.end < t - 1


class TrackStore:
    """The held tracks and the finished rows of one RAW run."""

    def __init__(self) -> None:
        self.held: list[Track] = []  # in id order
        self.made = 0  # tracks made so far; the next track's id is made + 1
        self.peak_held = 0  # the most tracks held at once
        self._rows = _Rows(TRACK_COLUMNS)
        self._lineage = _Rows(LINEAGE_COLUMNS)

    def start(self, t: int, x: float, y: float, v: float, parent: int) -> Track:
        """A new track with one point at frame t."""
        self.made += 1
        track = Track(track_id=self.made, parent_id=parent, start=t)
        track.add(x, y, v)
        self.held.append(track)
        self.peak_held = max(self.peak_held, len(self.held))
        return track

    def living(self, t: int) -> list[Track]:
        """The tracks alive at frame t, in id order."""
        return [tr for tr in self.held if tr.alive and tr.end == t]

    def retire(self, t: int) -> None:
        """Moves the tracks final at frame t to the finished rows."""
        kept = []
        for tr in self.held:
            if is_final(tr, t):
                _append(self._rows, self._lineage, tr)
            else:
                kept.append(tr)
        self.held = kept

    def tables(self) -> tuple[dict[str, npt.NDArray[np.generic]], dict[str, npt.NDArray[np.int64]]]:
        """The tracks and lineage tables, finished and held tracks together, by (track_id, t)."""
        rows, lineage = _Rows(TRACK_COLUMNS), _Rows(LINEAGE_COLUMNS)
        rows.extend(self._rows.columns())
        lineage.extend(self._lineage.columns())
        for tr in self.held:
            _append(rows, lineage, tr)
        # Each track's rows are consecutive and in time order in either part: a stable sort by
        # id orders them by (track_id, t).
        by_id = np.argsort(rows.columns()["track_id"], kind="stable")
        tracks = {name: values[by_id] for name, values in rows.columns().items()}
        line_by_id = np.argsort(lineage.columns()["track_id"], kind="stable")
        lines = {name: values[line_by_id].astype(np.int64)
                 for name, values in lineage.columns().items()}  # fmt: skip
        return tracks, lines


def _append(rows: _Rows, lineage: _Rows, tr: Track) -> None:
    n = len(tr.xs)
    rows.extend({"track_id": np.full(n, tr.track_id), "t": np.arange(tr.start, tr.end + 1),
                 "x": tr.xs, "y": tr.ys, "visibility": tr.vis})  # fmt: skip
    lineage.extend({"track_id": [tr.track_id], "start": [tr.start], "end": [tr.end],
                    "parent_id": [tr.parent_id]})  # fmt: skip
