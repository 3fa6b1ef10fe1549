"""GEFF in and out: cellpoint's stores come back exactly, other GEFF readers (the geff package's
own, traccuracy's) see the graph they should, and stores other tools write are read as tracks."""

from __future__ import annotations

import re
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import geff
import networkx as nx
import numpy as np
import pandas.testing as pdt
import pytest
from cellpoint.io.geff import is_geff, read_geff, write_geff
from cellpoint.io.result import TrackingResult
from cellpoint.io.tables import TableError
from geff.core_io import read_to_memory
from geff.validate.data import ValidationConfig
from geff_spec import Axis, GeffMetadata
from test_package import loaded_after
from test_result import assert_same, example
from traccuracy.loaders import load_geff_data

Edge = tuple[tuple[int, int], tuple[int, int]]  # (track_id, t) -> (track_id, t)


def reviewed() -> TrackingResult:
    """The example result (divisions accepted, rejected and proposed, a continuation) with
    full-precision floats, points the tracker did not see (visibility 0) inside tracks, and
    nested metadata."""
    res = example(precise=True)
    tracks = res.tracks.copy()
    tracks.loc[[2, 5, 6], "visibility"] = np.float32(0)
    metadata = {**res.metadata, "params": {"window": 24, "thresholds": [0.25, 0.5]}}
    return TrackingResult(tracks, res.lineage, res.divisions, res.shape, metadata)


def expected_edges(res: TrackingResult) -> set[Edge]:
    """Consecutive points of each track, and a parent's last point to each daughter's first
    where lineage links them (a rejected division's daughters are roots: no edge)."""
    points = list(zip(res.tracks["track_id"].tolist(), res.tracks["t"].tolist(), strict=True))
    steps = {(a, b) for a, b in pairwise(points) if a[0] == b[0]}
    start, end = spans(res)
    links = {
        ((parent, end[parent]), (track, start[track]))
        for track, parent in res.lineage[["track_id", "parent_id"]].values.tolist()
        if parent
    }
    return steps | links


def spans(res: TrackingResult) -> tuple[dict[int, int], dict[int, int]]:
    """Each track's first and last frame."""
    ids = res.lineage["track_id"].tolist()
    return (
        dict(zip(ids, res.lineage["start"].tolist(), strict=True)),
        dict(zip(ids, res.lineage["end"].tolist(), strict=True)),
    )


def graph_edges(graph: Any) -> set[Edge]:
    """A networkx graph's edges as (track_id, t) pairs."""
    node = {n: (d["track_id"], d["t"]) for n, d in graph.nodes(data=True)}
    return {(node[u], node[v]) for u, v in graph.edges}


# --- cellpoint's own stores -------------------------------------------------------------------


def test_round_trip_is_exact(tmp_path: Path) -> None:
    res = reviewed()
    assert sorted(res.divisions["status"]) == ["accepted", "proposed", "rejected"]
    store = write_geff(res, tmp_path / "res.geff")
    assert store == tmp_path / "res.geff"
    back = read_geff(store)
    assert_same(back, res)
    assert back.tracks["visibility"].dtype == np.float32
    assert (back.tracks["visibility"] == 0).sum() == 3


def test_read_detects_a_store_and_to_geff_replaces_one(tmp_path: Path) -> None:
    res = reviewed()
    assert res.to_geff(tmp_path / "res.geff") == tmp_path / "res.geff"
    assert is_geff(tmp_path / "res.geff")
    assert_same(TrackingResult.read(tmp_path / "res.geff"), res)
    # Written again over itself, after a decision: the new result replaces the old.
    decided = res.with_division_status(9, "accepted")
    decided.to_geff(tmp_path / "res.geff")
    assert_same(TrackingResult.read(tmp_path / "res.geff"), decided)
    # A tables folder is not a GEFF store, and is read as before.
    res.to_parquet(tmp_path / "tables")
    assert not is_geff(tmp_path / "tables")
    assert_same(TrackingResult.read(tmp_path / "tables"), res)


def test_empty_result_round_trips(tmp_path: Path) -> None:
    res = reviewed()
    empty = TrackingResult(res.tracks[:0], res.lineage[:0], res.divisions[:0], shape=(1, 4, 4))
    assert_same(read_geff(write_geff(empty, tmp_path / "empty.geff")), empty)


def test_geff_package_reads_the_same_graph(tmp_path: Path) -> None:
    res = reviewed()
    store = res.to_geff(tmp_path / "res.geff")
    graph, metadata = geff.read(store, backend="networkx")
    assert isinstance(graph, nx.DiGraph)
    assert graph.number_of_nodes() == len(res.tracks)
    assert graph_edges(graph) == expected_edges(res)
    by_point = {(d["track_id"], d["t"]): d for _, d in graph.nodes(data=True)}
    for row in res.tracks.itertuples():
        node = by_point[(row.track_id, row.t)]
        assert (node["y"], node["x"], node["visibility"]) == (row.y, row.x, row.visibility)
    assert [(a.name, a.type, a.unit) for a in metadata.axes or []] == [
        ("t", "time", "frame"),
        ("y", "space", "pixel"),
        ("x", "space", "pixel"),
    ]
    assert metadata.track_node_props == {"tracklet": "track_id", "lineage": "lineage_id"}
    assert metadata.extra["cellpoint"] == {"shape": list(res.shape or ()), "metadata": res.metadata}
    # Each division on its mother's last point; the mother on each daughter's first.
    _, end = spans(res)
    for parent, t, a, b, score, status in res.divisions.values.tolist():
        mother = by_point[(parent, end[parent])]
        assert (mother["division_score"], mother["division_status"]) == (score, status)
        for daughter in (a, b):
            assert by_point[(daughter, t)]["division_parent"] == parent
    assert sum("division_status" in d for d in by_point.values()) == len(res.divisions)
    # Lineages are the weakly connected components, as the spec defines them.
    read_to_memory(store, data_validation=ValidationConfig(graph=True, lineage=True))
    roots = {2: 1, 3: 1, 5: 4, 10: 9, 11: 9}  # the others are roots
    for (track, _), node in by_point.items():
        assert node["lineage_id"] == roots.get(track, track)


def test_traccuracy_loads_the_same_graph(tmp_path: Path) -> None:
    res = reviewed()
    store = res.to_geff(tmp_path / "res.geff")
    loaded = load_geff_data(str(store), load_all_props=True)
    assert (loaded.frame_key, loaded.location_keys) == ("t", ("y", "x"))
    assert len(loaded.nodes) == len(res.tracks)
    assert graph_edges(loaded.graph) == expected_edges(res)
    positions = sorted((d["t"], d["y"], d["x"]) for _, d in loaded.graph.nodes(data=True))
    assert positions == sorted(res.tracks[["t", "y", "x"]].itertuples(index=False, name=None))


# --- stores other tools write -----------------------------------------------------------------


def foreign_graph() -> nx.DiGraph[int]:
    """A mother (nodes 0-2) divides into 3-5 and 6-7; 8-9 skip frame 2 on to 10-11; 12 is
    alone. Each node's y is the number its track gets (by chain, then frame), x half its t."""
    graph: nx.DiGraph[int] = nx.DiGraph()
    points = {0: (0, 1), 1: (1, 1), 2: (2, 1), 3: (3, 2), 4: (4, 2), 5: (5, 2), 6: (3, 3),
              7: (4, 3), 8: (0, 4), 9: (1, 4), 10: (3, 5), 11: (4, 5), 12: (2, 6)}  # fmt: skip
    for node, (t, track) in points.items():
        graph.add_node(node, t=t, y=float(track), x=0.5 * t)
    graph.add_edges_from([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (2, 6), (6, 7), (8, 9)])
    graph.add_edges_from([(9, 10), (10, 11)])
    return graph


def write_foreign(graph: nx.DiGraph[int], store: Path, **metadata: Any) -> Path:
    """`graph` written by the geff package's own writer, as another tool would."""
    geff.write(
        graph,
        store,
        metadata=GeffMetadata(
            directed=True, node_props_metadata={}, edge_props_metadata={}, **metadata
        ),
        axis_names=["t", "y", "x"],
        axis_types=["time", "space", "space"],
    )
    return store


FOREIGN_LINEAGE = [  # [track_id, start, end, parent_id], tracks numbered by chain then frame
    [1, 0, 2, 0],
    [2, 3, 5, 1],
    [3, 3, 4, 1],
    [4, 0, 1, 0],
    [5, 3, 4, 4],  # after the skipped frame: a continuation
    [6, 2, 2, 0],
]


def test_foreign_graph_is_read_by_its_chains(tmp_path: Path) -> None:
    res = read_geff(write_foreign(foreign_graph(), tmp_path / "other.geff"))
    assert res.lineage.values.tolist() == FOREIGN_LINEAGE
    assert (res.tracks["y"] == res.tracks["track_id"]).all()
    assert (res.tracks["x"] == 0.5 * res.tracks["t"]).all()
    assert (res.tracks["visibility"] == 1).all()
    assert res.divisions.values.tolist() == [[1, 3, 2, 3, 1.0, "accepted"]]
    assert (res.shape, res.metadata) == (None, {})


def test_foreign_tracklets_are_kept_as_track_ids(tmp_path: Path) -> None:
    graph = foreign_graph()
    ids = {1: 10, 2: 20, 3: 30, 4: 40, 5: 40, 6: 60}  # one tracklet over the skipped frame
    for _, data in graph.nodes(data=True):
        data["cell"] = ids[int(data["y"])]
    store = write_foreign(graph, tmp_path / "tracklets.geff", track_node_props={"tracklet": "cell"})
    res = TrackingResult.read(store)
    # A tracklet with a skipped frame is cut in two, so the tracks are numbered afresh.
    assert res.lineage.values.tolist() == FOREIGN_LINEAGE
    del ids[5]
    graph.remove_nodes_from([10, 11])
    store = write_foreign(graph, tmp_path / "kept.geff", track_node_props={"tracklet": "cell"})
    res = read_geff(store)
    assert res.lineage["track_id"].tolist() == sorted(ids.values())
    assert res.divisions[["parent_id", "daughter_a", "daughter_b"]].values.tolist() == [
        [10, 20, 30]
    ]
    for _, data in graph.nodes(data=True):
        data["cell"] = data["cell"] // 10 - 1  # from 0: no track ids, so numbered afresh
    store = write_foreign(graph, tmp_path / "zero.geff", track_node_props={"tracklet": "cell"})
    assert read_geff(store).lineage["track_id"].tolist() == [1, 2, 3, 4, 5]


# --- what cannot be read ----------------------------------------------------------------------


def test_bad_stores_are_refused_naming_the_store_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no GEFF store at .*absent\.geff"):
        read_geff(tmp_path / "absent.geff")
    reviewed().to_parquet(tmp_path / "tables")
    with pytest.raises(ValueError, match=r"tables is not a GEFF store: "):
        read_geff(tmp_path / "tables")

    def refused(graph: nx.DiGraph[int] | nx.Graph[int], name: str, **write: Any) -> str:
        store = tmp_path / name
        geff.write(graph, store, **write)
        with pytest.raises(ValueError, match=re.escape(str(store))) as error:
            read_geff(store)
        return str(error.value)

    txy = {"axis_names": ["t", "y", "x"], "axis_types": ["time", "space", "space"]}
    graph = foreign_graph()
    assert "its axes are t, y" in refused(graph, "no-x.geff", axis_names=["t", "y"])
    for _, data in graph.nodes(data=True):
        data["z"] = 1.0
    message = refused(graph, "3d.geff", axis_names=["t", "z", "y", "x"])
    assert "3-D spatial data (space axes z, y, x); cellpoint tracks 2-D" in message
    assert "undirected" in refused(nx.Graph(foreign_graph()), "undirected.geff", **txy)

    merged = foreign_graph()
    merged.add_edge(9, 12)
    merged.nodes[12]["t"] = 2
    merged.add_edge(1, 12)
    assert "at most one predecessor (tracks do not merge); node 12" in refused(
        merged, "merge.geff", **txy
    )
    backward = foreign_graph()
    backward.add_edge(5, 12)
    assert "edges must go forward in time; 5 (t=5) -> 12 (t=2)" in refused(
        backward, "backward.geff", **txy
    )
    fractional = foreign_graph()
    fractional.nodes[0]["t"] = 0.5
    assert "node property 't' must hold whole numbers" in refused(
        fractional, "fraction.geff", **txy
    )


def test_tracklets_that_are_no_tracks_are_refused(tmp_path: Path) -> None:
    graph = foreign_graph()
    for node, data in graph.nodes(data=True):
        data["cell"] = 1 if node in (0, 1, 2, 3) else 2  # 2 branches off the middle of 1
    store = write_foreign(graph, tmp_path / "branching.geff", track_node_props={"tracklet": "cell"})
    with pytest.raises(ValueError, match=r"has several at t="):
        read_geff(store)
    for node, data in graph.nodes(data=True):
        data["cell"] = {0: 1, 1: 1, 2: 2, 3: 2}.get(node, node)  # 1 -> 2, 2 -> 6 off its middle
    store = write_foreign(graph, tmp_path / "middle.geff", track_node_props={"tracklet": "cell"})
    with pytest.raises(ValueError, match=r"from a track's last point to a track's first; track 2"):
        read_geff(store)
    for node, data in graph.nodes(data=True):
        data["cell"] = node + 1  # a track per node: edges are continuations, or divisions...
    graph.add_edge(2, 12)
    graph.nodes[12]["t"] = 3  # ... of three daughters, which a parent cannot have
    store = write_foreign(graph, tmp_path / "three.geff", track_node_props={"tracklet": "cell"})
    with pytest.raises(TableError, match=r"three\.geff: lineage: a parent has at most 2"):
        read_geff(store)


def test_axes_without_types_count_by_name(tmp_path: Path) -> None:
    store = tmp_path / "untyped.geff"
    geff.write(foreign_graph(), store, axis_names=["t", "y", "x"])
    assert read_geff(store).lineage.values.tolist() == FOREIGN_LINEAGE
    assert [a.type for a in GeffMetadata.read(store).axes or []] == [None, None, None]


def test_axes_are_found_by_type_whatever_their_names(tmp_path: Path) -> None:
    graph = foreign_graph()
    for _, data in graph.nodes(data=True):
        data["frame"], data["row"], data["col"] = data.pop("t"), data.pop("y"), data.pop("x")
    store = tmp_path / "named.geff"
    geff.write(
        graph,
        store,
        metadata=GeffMetadata(
            directed=True,
            axes=[Axis(name="frame", type="time"), Axis(name="row", type="space"),
                  Axis(name="col", type="space")],
            node_props_metadata={},
            edge_props_metadata={},
        ),
    )  # fmt: skip
    res = read_geff(store)
    pdt.assert_series_equal(
        res.tracks["y"], res.tracks["track_id"].astype(float), check_names=False
    )
    assert res.lineage.values.tolist() == FOREIGN_LINEAGE


def test_geff_is_read_only_where_asked(tmp_path: Path) -> None:
    assert not is_geff(tmp_path)
    (tmp_path / ".zattrs").write_text("{not json")
    assert not is_geff(tmp_path)
    with pytest.raises(FileNotFoundError, match="holds no tracking result"):
        TrackingResult.read(tmp_path)


def test_geff_is_imported_only_for_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = loaded_after("import cellpoint.io.geff\ncellpoint.io.geff.is_geff('.')")
    assert [m for m in ("geff", "zarr", "pydantic") if m in loaded] == []
    # Without the package, tables still read, and a store asks for it by name.
    res = reviewed()
    res.to_parquet(tmp_path / "tables")
    monkeypatch.setitem(sys.modules, "geff", None)
    assert_same(TrackingResult.read(tmp_path / "tables"), res)
    with pytest.raises(ImportError, match=r"pip install 'cellpoint\[geff\]'"):
        res.to_geff(tmp_path / "res.geff")
