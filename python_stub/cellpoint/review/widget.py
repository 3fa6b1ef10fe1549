"""The review viewer's kernel side: `TrackingResult.review()`.

The browser (src/widget/review/) draws frames, points, tails and the lineage tree, and lists
the divisions; this widget serves what it asks for and applies the reviewer's decisions to the
result at once, so that `res.lineage` and `res.divisions` are what the reviewer decided.

Synced state: the tables (each column a typed binary buffer in the wire dtypes of the job's
tables, the division status as words; the browser holds them as plain arrays, which is what a
saved notebook's widget state keeps, decisions included), the frame shape and dtype, and the
view (frame, selection, layers, contrast), which the browser owns. Custom messages from the
browser, each with an `id` the reply repeats:

    {"type": "frame", "id", "t"}                         -> reply + the frame's bytes
    {"type": "status", "id", "parent_id", "status"}      accept / reject / propose a division
    {"type": "relink", "id", "parent_id", "mother", "daughters": [a, b]}
    {"type": "shift", "id", "parent_id", "frames": -1 | 1}  a division a frame earlier / later
    {"type": "undo", "id"}, {"type": "redo", "id"}       the last decision undone / redone
    {"type": "export", "id", "format", "path"}           ctc, csv, parquet, geff, png (+ PNG bytes)

While `track(..., review=True)` runs, the viewer shows the tables of the frames done so far
and refuses decisions; the final result then replaces them. A checkpoint goes as what changed
since the last (`grow`: rows up to a checkpoint's frame are final), a custom message to the
browser: {"type": "grow", "since", "tracks", "lineage", "divisions", "buffer_paths"} holds the
tracks rows after frame `since`, the lineage rows of the tracks living at `since` or born
after, and the divisions after it, its columns as the synced tables' (the buffers at
`buffer_paths`); the synced tables change only with the final result.
Every decision can be undone and redone (`undo_depth`, `redo_depth` say how many); a new
decision drops what could be redone.

Replies: {"type": "reply", "id", "ok": true, ...} or {"type": "reply", "id", "ok": false,
"error": "..."}; a failed edit changes nothing. schema/review-messages.schema.json is the
contract of all of them; each side checks what it receives.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from traitlets import Bool, Dict, Float, Int, List, Unicode

from .. import contracts
from ..io.frames import FrameStack
from ..job.codec import TABLE_COLUMNS, wire_dtype
from ..widgets import _CellpointWidget, answer

if TYPE_CHECKING:
    from ..io.result import TrackingResult

_check_from_browser = contracts.message_check("review-messages.schema.json", "toKernel", ValueError)
Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]  # tracks, lineage, divisions


def _columns(name: str, table: pd.DataFrame) -> dict[str, Any]:
    """A table as it travels to the viewer: each column a little-endian typed array (a binary
    buffer) in the wire dtype of the job's tables (schema/job-messages.schema.json,
    `x-wire-columns`), the division status as its words."""
    out: dict[str, Any] = {}
    for column in table.columns:
        if column in TABLE_COLUMNS[name]:
            # Little-endian bytes, labelled with the native dtype so that the buffer reads as
            # numbers here too (the same on the little-endian machines browsers run on).
            little = wire_dtype(name, column)
            values = np.ascontiguousarray(table[column], little)
            out[column] = values.view(little.newbyteorder("=")).data
        else:
            out[column] = table[column].astype(object).tolist()
    return out


def _split_buffers(
    tables: dict[str, Any],
) -> tuple[dict[str, Any], list[list[str]], list[memoryview]]:
    """Tables without their binary columns, the columns' paths and the buffers (as ipywidgets
    puts them back in the browser: `put_buffers`)."""
    state: dict[str, Any] = {}
    paths, buffers = [], []
    for table, columns in tables.items():
        state[table] = {}
        for name, values in columns.items():
            if isinstance(values, memoryview):
                paths.append([table, name])
                buffers.append(values)
            else:
                state[table][name] = values
    return state, paths, buffers


def _tables(tracks: pd.DataFrame, lineage: pd.DataFrame, divisions: pd.DataFrame) -> dict[str, Any]:
    return {
        "tracks": _columns("tracks", tracks),
        "lineage": _columns("lineage", lineage),
        "divisions": _columns("divisions", divisions),
    }


class ReviewWidget(_CellpointWidget):
    """Frames, tracks and lineage of one result, with every division to accept, reject or
    relink. Decisions update the result's `lineage` and `divisions` as they are made."""

    _model_name = Unicode("ReviewModel").tag(sync=True)
    _view_name = Unicode("ReviewView").tag(sync=True)

    shape = List(Int(), help="(T, H, W) of the frames").tag(sync=True)
    dtype = Unicode(help="numpy dtype the frames travel in").tag(sync=True)
    tracks = Dict(help="tracks table, column -> values").tag(sync=True)
    lineage = Dict(help="lineage table, column -> values").tag(sync=True)
    divisions = Dict(help="divisions table, column -> values").tag(sync=True)
    # The view, owned by the browser and saved with the widget state.
    t = Int(0, help="frame shown").tag(sync=True)
    selected = Int(0, help="selected track (0: none)").tag(sync=True)
    tail_length = Int(10, help="frames of track tails drawn").tag(sync=True)
    contrast = List(Float(), help="[low, high] of the image; empty: auto").tag(sync=True)
    layers = List(Dict(), help="name, visible, opacity, colormap of each layer").tag(sync=True)
    export_dir = Unicode("cellpoint-review", help="where exports go").tag(sync=True)
    # While `track` still runs, the viewer shows the tables so far and takes no decisions.
    editable = Bool(True, help="whether divisions can be decided").tag(sync=True)
    note = Unicode(help="what the viewer shows, while tracking runs").tag(sync=True)
    undo_depth = Int(0, help="decisions that can be undone").tag(sync=True)
    redo_depth = Int(0, help="decisions undone that can be redone").tag(sync=True)

    def __init__(self, result: TrackingResult, frames: Any = None, **kwargs: Any) -> None:
        source = frames if frames is not None else result.frames
        if source is None:
            raise ValueError(
                "this result has no frames to show (it was read from files): pass them, "
                "res.review(stack)"
            )
        stack = source if isinstance(source, FrameStack) else FrameStack(source)
        if result.shape is not None and tuple(stack.shape) != tuple(result.shape):
            raise ValueError(
                f"the frames are {stack.shape} (T, H, W) but the result was tracked on "
                f"{result.shape}"
            )
        super().__init__(shape=list(stack.shape), dtype=stack.wire_dtype.name, **kwargs)
        self.result = result
        self.stack = stack
        # The tables before each decision, and those undone: (tracks, lineage, divisions).
        self._undo: list[Tables] = []
        self._redo: list[Tables] = []
        # The checkpoint frame of the tables the browser holds, grown from what was synced;
        # None where the synced tables are what it shows.
        self._grown_to: int | None = None
        self._publish()
        self.on_msg(self._on_msg)

    def __repr__(self) -> str:
        # The text a notebook shows where no JupyterLab draws the viewer (nbconvert, a console).
        t, h, w = self.shape
        statuses = self.result.divisions["status"].astype(object).value_counts()
        decided = ", ".join(f"{n} {s}" for s, n in statuses.items()) or "none"
        return (
            f"ReviewWidget: {len(self.result.lineage)} tracks over {t} frames of "
            f"{h} x {w} px; divisions: {decided} (the viewer shows in JupyterLab)"
        )

    def show(self, result: TrackingResult, editable: bool = True, note: str = "") -> None:
        """Show `result` instead (tracking's latest tables, then its final result)."""
        self.result = result
        self._undo.clear()
        self._redo.clear()
        self._grown_to = None
        with self.hold_sync():
            self.editable, self.note = editable, note
            self._publish()

    def grow(self, result: TrackingResult, until: int, note: str) -> None:
        """Show tracking's tables up to frame `until` (a checkpoint's), grown from those shown:
        only what changed travels (see the module's docstring)."""
        since, self._grown_to = self._grown_to, until
        self.result = result
        if since is None or until < since:
            self.show(result, editable=False, note=note)
            self._grown_to = until
            return
        tracks, lineage, divisions = result.tracks, result.lineage, result.divisions
        changed = lineage[(lineage["end"] >= since) | (lineage["start"] > since)]
        grown = _tables(tracks[tracks["t"] > since], changed, divisions[divisions["t"] > since])
        state, paths, buffers = _split_buffers(grown)
        self.send({"type": "grow", "since": since, **state, "buffer_paths": paths}, buffers)
        self.note = note

    def _publish(self) -> None:
        """Send the result's tables to the browser (after every decision)."""
        tables = _tables(self.result.tracks, self.result.lineage, self.result.divisions)
        self.tracks, self.lineage, self.divisions = (tables[k] for k in tables)
        self.undo_depth, self.redo_depth = len(self._undo), len(self._redo)

    def _on_msg(self, _widget: Any, content: Any, buffers: list[bytes]) -> None:
        message = content if isinstance(content, dict) else {}
        # A refused edit (or export, or a message off the contract) changes nothing; the
        # viewer shows why.
        refused = (ValueError, KeyError, TypeError, IndexError, OSError)
        answer(self, message, lambda: self._handle(_check_from_browser(content), buffers), refused)

    def _handle(
        self, message: dict[str, Any], buffers: list[bytes]
    ) -> tuple[dict[str, Any], list[bytes]]:
        kind = message.get("type")
        if kind == "frame":
            t = int(message["t"])
            frame = self.stack.wire(t)
            return {"t": t, "dtype": frame.dtype.name, "shape": list(frame.shape)}, [
                frame.tobytes()
            ]
        if kind in ("status", "relink", "shift", "undo", "redo") and not self.editable:
            raise ValueError("tracking still runs: decide divisions once it is done")
        if kind == "status":
            self._apply(
                self.result.with_division_status(int(message["parent_id"]), message["status"])
            )
            return {}, []
        if kind == "relink":
            a, b = (int(d) for d in message["daughters"])
            self._apply(
                self.result.with_division_relinked(
                    int(message["parent_id"]), int(message["mother"]), (a, b)
                )
            )
            return {}, []
        if kind == "shift":
            frames: Literal[-1, 1] = -1 if message["frames"] == -1 else 1
            self._apply(self.result.with_division_shifted(int(message["parent_id"]), frames))
            return {}, []
        if kind in ("undo", "redo"):
            self._step_back() if kind == "undo" else self._step_forward()
            return {}, []
        return {"path": str(self._export(message, buffers))}, []  # export: the contract's last

    def _apply(self, changed: TrackingResult) -> None:
        self._undo.append(self._tables())
        self._redo.clear()
        self._restore((changed.tracks, changed.lineage, changed.divisions))

    def _step_back(self) -> None:
        if not self._undo:
            raise ValueError("nothing to undo")
        self._redo.append(self._tables())
        self._restore(self._undo.pop())

    def _step_forward(self) -> None:
        if not self._redo:
            raise ValueError("nothing to redo")
        self._undo.append(self._tables())
        self._restore(self._redo.pop())

    def _tables(self) -> Tables:
        return self.result.tracks, self.result.lineage, self.result.divisions

    def _restore(self, tables: Tables) -> None:
        # The user's own result object changes, so `res.divisions` shows the decision.
        self.result.tracks, self.result.lineage, self.result.divisions = tables
        self._publish()

    def _export(self, message: dict[str, Any], buffers: list[bytes]) -> Path:
        fmt = message["format"]  # one the contract names
        path = Path(str(message.get("path") or self.export_dir))
        if fmt == "png":
            if len(buffers) != 1 or not bytes(buffers[0][:8]) == b"\x89PNG\r\n\x1a\n":
                raise ValueError("a PNG export needs the PNG's bytes")
            if path.suffix.lower() != ".png":
                path = path / f"frame{self.t:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(buffers[0]))
            return path
        if fmt == "geff":
            # A store of its own, so that a folder of tables stays one (TrackingResult.read).
            is_store = path.suffix.lower() in (".geff", ".zarr")
            return self.result.to_geff(path if is_store else path / "result.geff")
        if fmt == "ctc":
            return self.result.to_ctc(path)
        if fmt == "csv":
            return self.result.to_csv(path)
        return self.result.to_parquet(path)
