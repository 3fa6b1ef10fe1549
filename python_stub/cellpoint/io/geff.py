"""GEFF (the graph exchange file format of the tracking tools: traccuracy, motile, TrackMate's
and the CTC's converters) in and out: a result as a directed graph in a zarr store.

A store cellpoint writes has one node per row of `tracks`, with properties `t`, `y`, `x` (the
axes: time in frames, space in pixels), `track_id` (the tracklet), `lineage_id` (the root
track of its lineage) and `visibility`; an edge from each point of a track to its next, and from
a parent's last point to each daughter's first (proposed and accepted divisions, and
continuations: as in GEFF's own CTC converter, a parent with one daughter links two tracklets
by one edge). A division's `division_score` and `division_status` sit on its mother's last
point and its mother's track (`division_parent`) on each daughter's first point, missing
elsewhere, so that a rejected division, which has no edges, is kept too. The result's `shape`
and `metadata` go in the GEFF metadata's `extra`, under "cellpoint".

`read_geff` gives such a store back exactly. A store from another tool is read as
`TrackingResult.read` reads a foreign CTC folder: tracks from the declared tracklet property,
else from the graph (a chain of nodes where each has one successor and the next one predecessor
is a track; a node with two successors divides), visibility 1, and every parent with two
daughters an accepted division with score 1.

The `geff` package (`pip install 'cellpoint[geff]'`) is imported only when a store is read or
written.
"""

from __future__ import annotations

import json
import os
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .result import TrackingResult, _divisions_from_features, _json_text
from .tables import TableError, _list, divisions_from_lineage, lineage_from_tracks

if TYPE_CHECKING:
    from geff._typing import InMemoryGeff, PropDictNpArray
    from geff_spec import GeffMetadata

IntArray = npt.NDArray[np.int64]

EXTRA = "cellpoint"  # cellpoint's key in the GEFF metadata's `extra`
_AXES = (("t", "time", "frame"), ("y", "space", "pixel"), ("x", "space", "pixel"))
# An axis without a type counts by its name.
_TYPE_BY_NAME = {"t": "time", "z": "space", "y": "space", "x": "space"}
_DESCRIPTIONS = {
    "track_id": "cellpoint track: the tracklet (CTC label)",
    "lineage_id": "the track at the root of this point's lineage",
    "visibility": "the tracker's confidence that the cell is seen here, in [0, 1]",
    "division_score": "on a mother's last point: her division's score, in [0, 1]",
    "division_status": "on a mother's last point: her division proposed, accepted or rejected",
    "division_parent": "on a daughter's first point: the track of her division's mother",
}


def is_geff(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a zarr group (format 2 or 3) whose attributes hold GEFF metadata; read
    without zarr, so that telling costs nothing."""
    folder = Path(path)
    for name, key in ((".zattrs", None), ("zarr.json", "attributes")):
        file = folder / name
        if file.is_file():
            try:
                attributes = json.loads(file.read_text())
                return "geff" in (attributes if key is None else attributes[key])
            except (ValueError, KeyError, TypeError):
                return False
    return False


def _require_geff() -> None:
    if find_spec("geff") is None:
        raise ImportError("GEFF stores need the geff package: pip install 'cellpoint[geff]'")


def write_geff(result: TrackingResult, path: str | os.PathLike[str]) -> Path:
    """Write `result` as a GEFF store at `path` (by convention named `*.geff`), replacing a
    GEFF store there; returns the path."""
    _require_geff()
    from geff.core_io import write_arrays
    from geff_spec import Axis, DisplayHint, GeffMetadata, PropMetadata

    store = Path(path)
    tracks, lineage, divisions = result.tracks, result.lineage, result.divisions
    n = len(tracks)
    ids = tracks["track_id"].to_numpy()
    rows = pd.Series(np.arange(n)).groupby(ids)
    first, last = rows.min(), rows.max()

    def first_of(track_ids: Any) -> IntArray:
        return first.reindex(track_ids).to_numpy(dtype=np.int64)

    def last_of(track_ids: Any) -> IntArray:
        return last.reindex(track_ids).to_numpy(dtype=np.int64)

    steps = np.flatnonzero(ids[1:] == ids[:-1])
    linked = lineage[lineage["parent_id"] != 0]
    edges = np.concatenate(
        [
            np.stack([steps, steps + 1], axis=1),
            np.stack([last_of(linked["parent_id"]), first_of(linked["track_id"])], axis=1),
        ]
    )
    mothers = last_of(divisions["parent_id"])
    daughters = first_of(np.concatenate([divisions["daughter_a"], divisions["daughter_b"]]))
    props: dict[str, PropDictNpArray] = {
        name: {"values": tracks[name].to_numpy(), "missing": None}
        for name in ("t", "y", "x", "track_id", "visibility")
    }
    props["lineage_id"] = {"values": _roots(lineage).reindex(ids).to_numpy(), "missing": None}
    props["division_score"] = _sparse(n, mothers, divisions["score"].to_numpy())
    props["division_status"] = _sparse(n, mothers, divisions["status"].to_numpy(dtype=str))
    props["division_parent"] = _sparse(n, daughters, np.tile(divisions["parent_id"], 2))
    metadata = GeffMetadata(
        directed=True,
        axes=[Axis(name=name, type=kind, unit=unit) for name, kind, unit in _AXES],
        display_hints=DisplayHint(display_horizontal="x", display_vertical="y", display_time="t"),
        track_node_props={"tracklet": "track_id", "lineage": "lineage_id"},
        node_props_metadata={
            name: PropMetadata(
                identifier=name, dtype=props[name]["values"].dtype, description=description
            )
            for name, description in _DESCRIPTIONS.items()
        },
        edge_props_metadata={},
        extra={EXTRA: json.loads(_json_text({"shape": result.shape, "metadata": result.metadata}))},
    )
    node_ids = np.arange(n, dtype=np.uint64)
    write_arrays(store, node_ids, props, edges.astype(np.uint64), {}, metadata, overwrite=True)
    return store


def read_geff(path: str | os.PathLike[str]) -> TrackingResult:
    """The result in the GEFF store at `path` (see the module's docstring for how a store from
    another tool is read). Raises FileNotFoundError where there is no folder, ValueError naming
    the store where it is no GEFF or holds no 2-D tracks, TableError where its tracks break the
    tables' contract."""
    store = Path(path)
    if not store.is_dir():
        raise FileNotFoundError(f"no GEFF store at {store}")
    _require_geff()
    from geff.core_io import read_to_memory
    from geff.validate.data import ValidationConfig

    try:
        graph = read_to_memory(store, data_validation=ValidationConfig(graph=True))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{store} is not a GEFF store: {error}") from error
    metadata = graph["metadata"]
    if not metadata.directed:
        raise ValueError(f"{store}: the graph is undirected; tracks need edges forward in time")
    own = metadata.extra.get(EXTRA)
    t_axis, y_axis, x_axis = _axes(metadata, store)
    t = _integers(graph, t_axis, store)
    src, dst = _edge_rows(graph, t, store)
    tracklet = (metadata.track_node_props or {}).get("tracklet")
    if tracklet is not None:
        track = _track_ids(_integers(graph, tracklet, store), t, store, keep=True)
    else:
        track = _track_ids(_chains(len(t), src, dst), t, store, keep=False)
    tracks = pd.DataFrame(
        {
            "track_id": track,
            "t": t,
            "y": _values(graph, y_axis, store),
            "x": _values(graph, x_axis, store),
            "visibility": _values(graph, "visibility", store) if own else np.float32(1),
        }
    ).sort_values(["track_id", "t"])
    shape, info = (own.get("shape"), own.get("metadata", {})) if own else (None, {})
    try:
        lineage = lineage_from_tracks(tracks, _parents(track, t, src, dst, store))
        divisions = (
            _own_divisions(graph, track, lineage, store) if own else divisions_from_lineage(lineage)
        )
        return TrackingResult(tracks, lineage, divisions, shape=shape, metadata=info)
    except TableError as error:
        raise TableError(f"{store}: {error}") from error


# --- writing ----------------------------------------------------------------------------------


def _roots(lineage: pd.DataFrame) -> pd.Series[Any]:
    """Each track's lineage root (the ancestor without a parent), by track id."""
    up = lineage.set_index("track_id")["parent_id"]
    up = up.where(up != 0, up.index.to_series())
    while True:  # each pass doubles the generations skipped
        higher = up.reindex(up.to_numpy()).to_numpy()
        if (higher == up.to_numpy()).all():
            return up
        up[:] = higher


def _sparse(n: int, rows: npt.NDArray[Any], values: npt.NDArray[Any]) -> PropDictNpArray:
    """A property of `n` nodes set on `rows` only, missing on the others."""
    full = np.zeros(n, dtype=values.dtype)
    full[rows] = values
    missing = np.ones(n, dtype=bool)
    missing[rows] = False
    return {"values": full, "missing": missing}


# --- reading ----------------------------------------------------------------------------------


def _axes(metadata: GeffMetadata, store: Path) -> tuple[str, str, str]:
    """The names of the time, y and x axes."""
    kinds = {a.name: a.type or _TYPE_BY_NAME.get(a.name) for a in metadata.axes or []}
    time = [name for name, kind in kinds.items() if kind == "time"]
    space = [name for name, kind in kinds.items() if kind == "space"]
    if len(space) == 3:
        raise ValueError(
            f"{store}: 3-D spatial data (space axes {', '.join(space)}); cellpoint tracks 2-D "
            "(y, x)"
        )
    if len(time) != 1 or len(space) != 2:
        raise ValueError(
            f"{store}: needs one time axis and two space axes (t, y, x); its axes are "
            f"{', '.join(kinds) or 'none'}"
        )
    # Named y and x, they are taken by name; else in their order, rows first as in OME-Zarr.
    y, x = ("y", "x") if set(space) == {"y", "x"} else space
    return time[0], y, x


def _values(graph: InMemoryGeff, name: str, store: Path) -> npt.NDArray[Any]:
    """A node property present on every node."""
    prop = graph["node_props"].get(name)
    if prop is None:
        raise ValueError(f"{store}: no node property {name!r}")
    missing = prop["missing"]
    if missing is not None and missing.any():
        raise ValueError(f"{store}: node property {name!r} is missing on some nodes")
    return prop["values"]


def _integers(graph: InMemoryGeff, name: str, store: Path) -> IntArray:
    """A node property of whole numbers (frames, tracklet ids), as int64."""
    values = _values(graph, name, store)
    if values.dtype.kind not in "iuf":
        raise ValueError(f"{store}: node property {name!r} must be numeric, not {values.dtype}")
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        raise ValueError(f"{store}: node property {name!r} must hold whole numbers")
    return values.astype(np.int64)


def _edge_rows(graph: InMemoryGeff, t: IntArray, store: Path) -> tuple[IntArray, IntArray]:
    """Each edge's source and target as node rows, checked to go forward in time and never
    into a node that already has a predecessor."""
    node_ids = graph["node_ids"]
    rows = pd.Index(node_ids).get_indexer(graph["edge_ids"].reshape(-1))
    src, dst = rows.reshape(-1, 2).T.astype(np.int64)
    back = np.flatnonzero(t[dst] <= t[src])
    if back.size:
        raise ValueError(
            f"{store}: edges must go forward in time; "
            + _list(
                f"{node_ids[src[i]]} (t={t[src[i]]}) -> {node_ids[dst[i]]} (t={t[dst[i]]})"
                for i in back
            )
        )
    merged = np.flatnonzero(np.bincount(dst, minlength=len(t)) > 1)
    if merged.size:
        raise ValueError(
            f"{store}: a node has at most one predecessor (tracks do not merge); node "
            + _list(node_ids[merged])
            + " has several"
        )
    return src, dst


def _chains(n: int, src: IntArray, dst: IntArray) -> IntArray:
    """Per node, its chain: an edge joins one where its source has one successor and its
    target one predecessor."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    chained = (np.bincount(src, minlength=n)[src] == 1) & (np.bincount(dst, minlength=n)[dst] == 1)
    links = coo_matrix((np.ones(chained.sum()), (src[chained], dst[chained])), shape=(n, n))
    labels: IntArray = connected_components(links, directed=False)[1].astype(np.int64)
    return labels


def _track_ids(key: IntArray, t: IntArray, store: Path, keep: bool) -> IntArray:
    """Per node, its track: the nodes of one `key` in frame order, cut where a frame is skipped
    (cellpoint's tracks cover consecutive frames: the part after a gap continues the one before
    it). The keys are the ids where `keep` and they all are track ids (>= 1) with no cut; else
    the tracks are numbered 1, 2, ... by key and frame."""
    order = np.lexsort((t, key))
    k, f = key[order], t[order]
    same = k[1:] == k[:-1]
    twice = np.flatnonzero(same & (f[1:] == f[:-1]))
    if twice.size:
        raise ValueError(
            f"{store}: a tracklet has one node per frame; "
            + _list(f"tracklet {k[i]} has several at t={f[i]}" for i in twice)
        )
    cut = same & (f[1:] > f[:-1] + 1)
    if keep and not cut.any() and (k.size == 0 or k.min() >= 1):
        return key
    starts = np.ones(k.size, dtype=bool)
    starts[1:] = ~same | cut
    track = np.empty_like(key)
    track[order] = np.cumsum(starts)
    return track


def _parents(
    track: IntArray, t: IntArray, src: IntArray, dst: IntArray, store: Path
) -> dict[int, int]:
    """{daughter: parent} from the edges between tracks, each from a track's last point to a
    track's first."""
    span = pd.Series(t).groupby(track).agg(["min", "max"])
    across = track[src] != track[dst]
    a, b = src[across], dst[across]
    inner = (t[a] != span["max"].reindex(track[a]).to_numpy()) | (
        t[b] != span["min"].reindex(track[b]).to_numpy()
    )
    if inner.any():
        raise ValueError(
            f"{store}: an edge between tracks must go from a track's last point to a track's "
            "first; "
            + _list(
                f"track {track[i]} (t={t[i]}) -> track {track[j]} (t={t[j]})"
                for i, j in zip(a[inner], b[inner], strict=True)
            )
        )
    return dict(zip(track[b].tolist(), track[a].tolist(), strict=True))


def _own_divisions(
    graph: InMemoryGeff, track: IntArray, lineage: pd.DataFrame, store: Path
) -> pd.DataFrame:
    """The divisions a cellpoint store keeps on its nodes (see the module's docstring)."""
    props = graph["node_props"]
    absent = [name for name in _DESCRIPTIONS if name.startswith("division_") and name not in props]
    if absent:
        raise ValueError(f"{store}: a cellpoint GEFF store lacks node property {_list(absent)}")

    def present(name: str) -> npt.NDArray[np.bool_]:
        missing = props[name]["missing"]
        return np.ones(len(track), dtype=bool) if missing is None else ~missing

    mother, daughter = present("division_status"), present("division_parent")
    parent = props["division_parent"]["values"][daughter].astype(np.int64)
    by_mother = pd.DataFrame(
        {name: props[name]["values"][mother] for name in ("division_score", "division_status")},
        index=track[mother],
    ).reindex(parent)
    features = by_mother.assign(track_id=track[daughter], division_parent=parent)
    return _divisions_from_features(features.reset_index(drop=True), lineage)
