"""TrackingResult: construction, review, and round trips through CTC, napari, Parquet, CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from cellpoint.io.ctc import read_ctc, read_stack
from cellpoint.io.result import TrackingResult
from cellpoint.io.tables import STATUS_DTYPE, TableError
from test_ctc import TRUTH, ctc_folder
from test_tables import SHAPE, example_tables

METADATA = {"backend": "kernel", "model": "cap-v1", "window": 24}


def example(precise: bool = False) -> TrackingResult:
    """The example tables; `precise` gives them full-precision floats to catch rounding."""
    tracks, lineage, divisions = example_tables()
    if precise:
        rng = np.random.default_rng(7)
        tracks["y"] += rng.uniform(-1, 1, len(tracks))
        tracks["x"] += rng.uniform(-1, 1, len(tracks))
        tracks["visibility"] = rng.uniform(0, 1, len(tracks)).astype(np.float32)
        divisions["score"] = rng.uniform(0, 1, len(divisions))
    return TrackingResult(tracks, lineage, divisions, SHAPE, dict(METADATA))


def assert_same(result: TrackingResult, expected: TrackingResult) -> None:
    pdt.assert_frame_equal(result.tracks, expected.tracks)
    pdt.assert_frame_equal(result.lineage, expected.lineage)
    pdt.assert_frame_equal(result.divisions, expected.divisions)
    assert result.shape == expected.shape
    assert result.metadata == expected.metadata


def test_construction_validates_and_canonicalises() -> None:
    tracks, lineage, divisions = example_tables()
    result = TrackingResult(tracks.astype({"t": np.int32}), lineage.iloc[::-1], divisions)
    pdt.assert_frame_equal(result.tracks, tracks)
    pdt.assert_frame_equal(result.lineage, lineage)
    assert result.shape is None
    assert result.metadata == {}
    with pytest.raises(TableError, match=r"lineage: every track needs a row; no row for track 4"):
        TrackingResult(tracks, lineage[lineage["track_id"] != 4], divisions)


def test_shape_is_checked() -> None:
    tracks, lineage, divisions = example_tables()
    result = TrackingResult(tracks, lineage, divisions, shape=[np.int64(6), 48, 256])  # type: ignore[arg-type]
    assert result.shape == (6, 48, 256)
    assert type(result.shape[0]) is int
    with pytest.raises(ValueError, match=r"tracks reach t=5, beyond the 5 frames of shape"):
        TrackingResult(tracks, lineage, divisions, shape=(5, 48, 256))
    with pytest.raises(ValueError, match=r"shape must be \(T, H, W\) of positive sizes"):
        TrackingResult(tracks, lineage, divisions, shape=(6, 48))  # type: ignore[arg-type]


def test_ctc_round_trip_is_exact(tmp_path: Path) -> None:
    result = example(precise=True)
    assert result.to_ctc(tmp_path / "res") == tmp_path / "res"
    assert_same(TrackingResult.read(tmp_path / "res"), result)
    # The CTC files themselves: rejected daughters (7, 8) are roots.
    lines = (tmp_path / "res" / "res_track.txt").read_text().splitlines()
    assert lines[:3] == ["1 0 2 0", "2 3 5 1", "3 3 5 1"]
    assert lines[6:8] == ["7 3 5 0", "8 3 5 0"]
    masks = read_stack(tmp_path / "res", "mask")
    assert masks.shape == SHAPE
    assert masks.dtype == np.uint16
    assert set(np.unique(masks[3])) == {0, 2, 3, 5, 7, 8, 9}


def test_ctc_round_trip_without_the_exact_tables(tmp_path: Path) -> None:
    result = example()
    result.to_ctc(tmp_path, radius=4)
    for name in ("cellpoint.json", "tracks.parquet", "lineage.parquet", "divisions.parquet"):
        (tmp_path / name).unlink()

    back = TrackingResult.read(tmp_path)

    pdt.assert_frame_equal(back.tracks[["track_id", "t"]], result.tracks[["track_id", "t"]])
    distance = np.hypot(
        back.tracks["y"] - result.tracks["y"], back.tracks["x"] - result.tracks["x"]
    )
    assert distance.max() < 0.5
    assert (back.tracks["visibility"] == 1).all()
    pdt.assert_frame_equal(back.lineage, result.lineage)
    # The rejected division is gone with its link; the proposed one reads as accepted.
    expected = result.divisions[result.divisions["status"] != "rejected"].reset_index(drop=True)
    expected["score"] = 1.0
    expected["status"] = pd.Categorical(["accepted", "accepted"], dtype=STATUS_DTYPE)
    pdt.assert_frame_equal(back.divisions, expected)
    assert back.shape == SHAPE
    assert back.metadata == {}


def test_to_ctc_needs_a_shape(tmp_path: Path) -> None:
    tracks, lineage, divisions = example_tables()
    result = TrackingResult(tracks, lineage, divisions)
    with pytest.raises(ValueError, match=r"to_ctc needs the image shape \(T, H, W\)"):
        result.to_ctc(tmp_path)
    result.to_ctc(tmp_path, shape=(8, 48, 256))
    assert read_stack(tmp_path, "mask").shape == (8, 48, 256)
    assert TrackingResult.read(tmp_path).shape is None


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_table_files_round_trip_exactly(tmp_path: Path, kind: str) -> None:
    result = example(precise=True)
    getattr(result, f"to_{kind}")(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "cellpoint.json",
        f"tracks.{kind}",
        f"lineage.{kind}",
        f"divisions.{kind}",
    }
    assert_same(TrackingResult.read(tmp_path), result)
    tracks, lineage, divisions = (table.iloc[:0] for table in example_tables())
    empty = TrackingResult(tracks, lineage, divisions)
    getattr(empty, f"to_{kind}")(tmp_path / "empty")
    assert_same(TrackingResult.read(tmp_path / "empty"), empty)


def test_table_files_read_without_the_sidecar(tmp_path: Path) -> None:
    result = example(precise=True)
    result.to_csv(tmp_path)
    (tmp_path / "cellpoint.json").unlink()
    back = TrackingResult.read(tmp_path)
    pdt.assert_frame_equal(back.tracks, result.tracks)
    pdt.assert_frame_equal(back.divisions, result.divisions)
    assert back.shape is None


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no result folder at"):
        TrackingResult.read(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"holds no tracking result"):
        TrackingResult.read(tmp_path)
    result = example()
    result.metadata["when"] = object()
    with pytest.raises(TypeError, match=r"metadata must be JSON-serialisable"):
        result.to_parquet(tmp_path)


def test_sidecar_records_shape_and_metadata(tmp_path: Path) -> None:
    example().to_parquet(tmp_path)
    sidecar = json.loads((tmp_path / "cellpoint.json").read_text())
    assert sidecar == {"tables": "parquet", "shape": list(SHAPE), "metadata": METADATA}


def test_napari_without_features() -> None:
    result = example(precise=True)
    data, graph = result.to_napari()
    assert data.dtype == np.float64
    np.testing.assert_array_equal(data, result.tracks[["track_id", "t", "y", "x"]].to_numpy())
    assert graph == {2: [1], 3: [1], 5: [4], 10: [9], 11: [9]}

    back = TrackingResult.from_napari(data, graph)
    pdt.assert_frame_equal(back.tracks, result.tracks.assign(visibility=np.float32(1)))
    pdt.assert_frame_equal(back.lineage, result.lineage)
    assert list(back.divisions["parent_id"]) == [1, 9]
    assert list(back.divisions["status"]) == ["accepted", "accepted"]
    assert list(back.divisions["score"]) == [1.0, 1.0]


def test_napari_with_features_is_exact() -> None:
    result = example(precise=True)
    data, graph, features = result.to_napari(features=True)
    assert len(features) == len(data)
    rows = features.assign(track_id=data[:, 0].astype(int)).drop_duplicates("track_id")
    rows = rows.set_index("track_id")
    assert list(rows.loc[[7, 8], "division_parent"]) == [6, 6]
    assert list(rows.loc[[7, 8], "division_status"]) == ["rejected", "rejected"]
    assert rows.loc[10, "division_status"] == "proposed"
    assert list(rows.loc[[1, 4, 5, 6, 9], "division_parent"]) == [0] * 5
    assert rows.loc[[1, 4, 5, 6, 9], "division_score"].isna().all()

    back = TrackingResult.from_napari(data, graph, features, shape=SHAPE, metadata=METADATA)
    assert_same(back, result)

    order = np.random.default_rng(3).permutation(len(data))  # napari keeps no row order
    shuffled = TrackingResult.from_napari(
        data[order], graph, features.iloc[order], shape=SHAPE, metadata=METADATA
    )
    assert_same(shuffled, result)


def test_from_napari_errors() -> None:
    data, graph, features = example().to_napari(features=True)
    with pytest.raises(ValueError, match=r"napari data must be \(N, 4\)"):
        TrackingResult.from_napari(data[:, :3], graph)
    with pytest.raises(ValueError, match=r"features has 30 rows but data has 31"):
        TrackingResult.from_napari(data, graph, features.iloc[1:])
    with pytest.raises(ValueError, match=r"track 5 has parents \[4, 1\]; a track has one parent"):
        TrackingResult.from_napari(data, {**graph, 5: [4, 1]})
    plain = TrackingResult.from_napari(
        data, {c: p[0] for c, p in graph.items()}, features[["visibility"]]
    )
    pdt.assert_frame_equal(plain.tracks, example().tracks)
    assert list(plain.divisions["parent_id"]) == [1, 9]
    assert list(plain.lineage["parent_id"]) == [0, 1, 1, 0, 4, 0, 0, 0, 0, 9, 9]


def test_with_division_status() -> None:
    result = example()
    rejected = result.with_division_status(9, "rejected")
    assert list(rejected.lineage.set_index("track_id")["parent_id"][[10, 11]]) == [0, 0]
    assert rejected.divisions.set_index("parent_id")["status"][9] == "rejected"
    assert rejected.metadata == METADATA
    assert rejected.shape == SHAPE
    assert result.divisions.set_index("parent_id")["status"][9] == "proposed"
    assert_same(rejected.with_division_status(9, "proposed"), result)


def test_repr_tells_a_biologist_what_is_there() -> None:
    text = repr(example())
    assert text.startswith("TrackingResult: 11 tracks, 31 points, 6 frames of 48 x 256 px")
    assert "3-7 cells per frame (median 5)" in text
    assert "divisions: 3 (1 proposed, 1 accepted, 1 rejected); continuations: 1; roots: 6" in text
    assert "backend: kernel, model: cap-v1" in text


def test_ground_truth_as_a_result(tmp_path: Path) -> None:
    ctc_folder(tmp_path)
    truth = TrackingResult.from_ctc(read_ctc(tmp_path / "01"))
    assert truth.shape == (4, 32, 40)
    centres = truth.tracks.groupby("track_id")[["y", "x"]].first()
    assert [tuple(c) for c in centres.to_numpy()] == [c for *_, c in TRUTH.values()]
    assert list(truth.divisions[["parent_id", "daughter_a", "daughter_b"]].iloc[0]) == [1, 2, 3]
    assert truth.divisions["status"].iloc[0] == "accepted"
    ctc_folder(tmp_path / "bare", truth=False)
    with pytest.raises(ValueError, match=r"has no tracking ground truth"):
        TrackingResult.from_ctc(read_ctc(tmp_path / "bare" / "01"))
