"""The table wire codec of a tracking job: RAW's tables (model pixels) as typed columns packed
into comm buffers, in `tables` messages of parts under `MAX_MESSAGE_BYTES`, and put back together
from them; and the message contract (`schema/job-messages.schema.json`, which src/job/messages.ts
checks too, and whose `x-wire-columns` both codecs read) that every message from the browser
must follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import contracts
from ..engine.raw import RawResult

MAX_MESSAGE_BYTES = 8 * 2**20  # the server takes websocket messages of up to 10 MiB
SCHEMA = "job-messages.schema.json"

# Table -> column -> wire dtype, in the order the columns travel.
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    table: columns
    for table, columns in contracts.load(SCHEMA)["x-wire-columns"].items()
    if table != "description"
}


def wire_dtype(table: str, column: str) -> np.dtype[Any]:
    """The little-endian dtype a table's column travels in."""
    return np.dtype(TABLE_COLUMNS[table][column]).newbyteorder("<")


Columns = dict[str, dict[str, npt.NDArray[Any]]]


class MessageError(ValueError):
    """A message from the browser that breaks the contract."""


check_from_browser = contracts.message_check(SCHEMA, "toKernel", MessageError)


@dataclass
class Checkpoint:
    """RAW's tables (model pixels) up to frame `t_cur`, from which a run can go on."""

    columns: Columns
    t_cur: int

    def raw(self) -> RawResult:
        c = self.columns

        def widened(table: str) -> dict[str, npt.NDArray[Any]]:
            """The table with its integer columns as int64, as RAW makes them."""
            return {k: v.astype(np.int64) if v.dtype.kind == "i" else v
                    for k, v in c[table].items()}  # fmt: skip

        windows = np.stack([c["windows"][k] for k in ("first", "length", "queries")], axis=1)
        return RawResult(
            tracks=widened("tracks"),
            lineage=widened("lineage"),
            divisions=widened("divisions"),
            sisters=widened("sisters"),
            windows=[tuple(int(x) for x in row) for row in windows],  # type: ignore[misc]
        )


def encode_tables(
    columns: Columns, seq: int, kind: str, t_cur: int
) -> Iterator[tuple[dict[str, Any], list[bytes]]]:
    """(message, buffers) parts of the tables, each under MAX_MESSAGE_BYTES."""
    chunks: list[tuple[dict[str, Any], bytes]] = []
    for table, names in TABLE_COLUMNS.items():
        for name, dtype in names.items():
            values = np.ascontiguousarray(columns[table][name], dtype=wire_dtype(table, name))
            step = max(1, MAX_MESSAGE_BYTES // 2 // values.itemsize)
            for offset in range(0, max(len(values), 1), step):
                piece = values[offset : offset + step]
                meta = {"table": table, "name": name, "dtype": dtype, "offset": offset,
                        "length": len(piece)}  # fmt: skip
                chunks.append((meta, piece.tobytes()))
    rows = {table: len(columns[table][next(iter(names))]) for table, names in TABLE_COLUMNS.items()}
    parts: list[list[tuple[dict[str, Any], bytes]]] = [[]]
    size = 0
    for meta, chunk in chunks:
        if parts[-1] and size + len(chunk) > MAX_MESSAGE_BYTES // 2:
            parts.append([])
            size = 0
        parts[-1].append((meta, chunk))
        size += len(chunk)
    for i, part in enumerate(parts):
        message = {"type": "tables", "seq": seq, "kind": kind, "part": i, "parts": len(parts),
                   "t_cur": t_cur, "rows": rows, "columns": [m for m, _ in part]}  # fmt: skip
        yield message, [chunk for _, chunk in part]


@dataclass
class TableAssembly:
    """One `tables` message's columns, put together as its parts arrive."""

    kind: str
    t_cur: int
    parts: int
    rows: dict[str, int]
    columns: Columns = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    def add(self, message: dict[str, Any], buffers: list[bytes]) -> None:
        part = message["part"]
        if part in self.seen or part >= self.parts:
            raise MessageError(f"tables {message['seq']}: part {part} again or out of range")
        if len(buffers) != len(message["columns"]):
            n = len(message["columns"])
            raise MessageError(f"tables {message['seq']}: {n} columns, {len(buffers)} buffers")
        self.seen.add(part)
        for meta, data in zip(message["columns"], buffers, strict=True):
            table, name = meta["table"], meta["name"]
            dtype = TABLE_COLUMNS[table].get(name)
            if dtype != meta["dtype"]:
                raise MessageError(f"tables: {table}.{name} is not a {meta['dtype']} column")
            values = np.frombuffer(memoryview(data), dtype=wire_dtype(table, name))
            if len(values) != meta["length"] or meta["offset"] + len(values) > self.rows[table]:
                raise MessageError(f"tables: {table}.{name} chunk does not fit its rows")
            target = self.columns.setdefault(table, {}).setdefault(
                name, np.zeros(self.rows[table], dtype=dtype)
            )
            target[meta["offset"] : meta["offset"] + len(values)] = values

    def complete(self) -> bool:
        return len(self.seen) == self.parts

    def checkpoint(self) -> Checkpoint:
        for table, names in TABLE_COLUMNS.items():
            for name in names:
                if name not in self.columns.get(table, {}):
                    if self.rows[table] == 0:
                        self.columns.setdefault(table, {})[name] = np.zeros(
                            0, TABLE_COLUMNS[table][name]
                        )
                    else:
                        raise MessageError(f"tables: {table}.{name} never arrived")
        return Checkpoint(self.columns, self.t_cur)
