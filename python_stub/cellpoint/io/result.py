"""TrackingResult: the three tables of one tracking run, and their ways in and out."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from .ctc import (
    CTCSequence,
    default_radius,
    read_res_track,
    read_stack,
    tracks_from_labels,
    write_masks,
    write_res_track,
)
from .tables import (
    DIVISIONS_DTYPES,
    LINEAGE_DTYPES,
    STATUS_DTYPE,
    STATUSES,
    TRACKS_DTYPES,
    ColumnDtype,
    Status,
    apply_division_status,
    divisions_from_lineage,
    lineage_from_tracks,
    relink_division,
    shift_division,
    validate_tables,
)

if TYPE_CHECKING:
    from ..review.widget import ReviewWidget

SIDECAR = "cellpoint.json"
# CTC masks: disks of this many nucleus diameters in radius cover nuclei up to 1.5 times the
# typical size (mothers round up and grow before they divide).
MASK_RADIUS = 0.75
_TABLES: dict[str, Mapping[str, ColumnDtype]] = {
    "tracks": TRACKS_DTYPES,
    "lineage": LINEAGE_DTYPES,
    "divisions": DIVISIONS_DTYPES,
}
Graph = dict[int, list[int]]
# pandas before 3.1 parses every float back exactly only with its round-trip converter, an
# option that 3.1 deprecates, having made that converter the only one.
_EXACT_FLOATS: dict[str, Any] = (
    {}
    if tuple(map(int, pd.__version__.split(".")[:2])) >= (3, 1)
    else {"float_precision": "round_trip"}
)


@dataclass(eq=False, repr=False)
class TrackingResult:
    """Tracks, lineage and divisions (schema/tables.schema.json), checked and made canonical on
    construction; `shape` is the (T, H, W) of the tracked frames where known, `metadata` a
    JSON-serialisable dict (backend, model version, ...)."""

    tracks: pd.DataFrame
    lineage: pd.DataFrame
    divisions: pd.DataFrame
    shape: tuple[int, int, int] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # The frames tracked (a FrameStack, or anything it takes), where `track` made this result:
    # what `review()` shows. Never saved.
    frames: Any = None

    def __post_init__(self) -> None:
        self.tracks, self.lineage, self.divisions = validate_tables(
            self.tracks, self.lineage, self.divisions
        )
        if self.shape is not None:
            self.shape = _shape(self.shape)
            if len(self.tracks) and self.tracks["t"].max() >= self.shape[0]:
                raise ValueError(
                    f"tracks reach t={self.tracks['t'].max()}, beyond the {self.shape[0]} "
                    "frames of shape"
                )
        self.metadata = dict(self.metadata)

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_ctc(cls, sequence: CTCSequence) -> TrackingResult:
        """The ground truth of a CTC sequence as a result: a point per marker (its centroid),
        visibility 1, divisions accepted with score 1."""
        if sequence.markers is None or sequence.lineage is None:
            raise ValueError(f"{sequence.path} has no tracking ground truth (<seq>_GT/TRA)")
        return cls._from_labels(sequence.markers, sequence.lineage, {"source": str(sequence.path)})

    @classmethod
    def _from_labels(
        cls, labels: npt.NDArray[Any], lineage: pd.DataFrame, metadata: dict[str, Any]
    ) -> TrackingResult:
        return cls(
            tracks_from_labels(labels),
            lineage,
            divisions_from_lineage(lineage),
            shape=labels.shape,
            metadata=metadata,
        )

    def with_division_status(self, parent_id: int, status: Status) -> TrackingResult:
        """A new result with the division of `parent_id` proposed, accepted or rejected
        (rejecting unlinks the daughters from the parent in lineage)."""
        lineage, divisions = apply_division_status(self.lineage, self.divisions, parent_id, status)
        return type(self)(self.tracks, lineage, divisions, self.shape, self.metadata, self.frames)

    def with_division_relinked(
        self, parent_id: int, mother: int, daughters: tuple[int, int]
    ) -> TrackingResult:
        """A new result where the division of `parent_id` is `mother` -> `daughters`, accepted
        (see `tables.relink_division`)."""
        lineage, divisions = relink_division(
            self.lineage, self.divisions, parent_id, mother, daughters
        )
        return type(self)(self.tracks, lineage, divisions, self.shape, self.metadata, self.frames)

    def with_division_shifted(self, parent_id: int, frames: Literal[-1, 1]) -> TrackingResult:
        """A new result where the division of `parent_id` is one frame earlier (-1) or later
        (+1), accepted: the mother's end and her daughters' start move together (see
        `tables.shift_division`)."""
        tracks, lineage, divisions = shift_division(
            self.tracks, self.lineage, self.divisions, parent_id, frames
        )
        return type(self)(tracks, lineage, divisions, self.shape, self.metadata, self.frames)

    def review(self, frames: Any = None) -> ReviewWidget:
        """The review viewer: frames, points, tails, lineage tree, and every division to
        accept, reject or relink. Decisions change this result's `lineage` and `divisions` at
        once. `frames`: the stack to show, by default the one `track` was given."""
        from ..review.widget import ReviewWidget

        return ReviewWidget(self, frames)

    # --- files ----------------------------------------------------------------------------

    def to_ctc(
        self,
        folder: str | os.PathLike[str],
        radius: float | None = None,
        shape: tuple[int, int, int] | None = None,
    ) -> Path:
        """Write a CTC result folder: `res_track.txt` and `mask000.tif ...` with a disk of
        `radius` px per point, plus the exact tables (Parquet and `cellpoint.json`) so that
        `TrackingResult.read` gets back exactly this result. `shape` (T, H, W) defaults to
        the result's own.

        `radius` defaults to MASK_RADIUS times the nucleus diameter the tracker used
        (`metadata`), else to one from the spacing of the points (`ctc.default_radius`).
        Where disks meet, each pixel goes to the nearest point, so masks never overlap and a
        cell's mask covers its CTC marker as the points view of `cellpoint.evaluate` assumes,
        however near a neighbour."""
        shape = self.shape if shape is None else _shape(shape)
        if shape is None:
            raise ValueError("to_ctc needs the image shape (T, H, W) for the masks: pass shape=...")
        if radius is None:
            diameter = self.metadata.get("diameter")
            if isinstance(diameter, (int, float)) and diameter > 0:
                radius = MASK_RADIUS * diameter
            else:
                radius = default_radius(self.tracks)
        folder = Path(folder)
        write_masks(self.tracks, shape, folder, radius)
        write_res_track(self.lineage, folder / "res_track.txt")
        self._write_tables(folder, "parquet")
        return folder

    def to_parquet(self, folder: str | os.PathLike[str]) -> Path:
        """Write tracks.parquet, lineage.parquet, divisions.parquet and cellpoint.json."""
        return self._write_tables(Path(folder), "parquet")

    def to_csv(self, folder: str | os.PathLike[str]) -> Path:
        """Write tracks.csv, lineage.csv, divisions.csv and cellpoint.json."""
        return self._write_tables(Path(folder), "csv")

    def to_geff(self, path: str | os.PathLike[str]) -> Path:
        """Write a GEFF store (the field's graph exchange format, a zarr folder, by convention
        named `*.geff`): a node per point, an edge per step of a track and per daughter, the
        divisions on the nodes, so that `TrackingResult.read` gets back exactly this result
        (see `cellpoint.io.geff`). Needs the `geff` package: `pip install 'cellpoint[geff]'`."""
        from .geff import write_geff

        return write_geff(self, path)

    def _write_tables(self, folder: Path, kind: Literal["parquet", "csv"]) -> Path:
        sidecar = _json_text({"tables": kind, "shape": self.shape, "metadata": self.metadata})
        folder.mkdir(parents=True, exist_ok=True)
        for name in _TABLES:
            table: pd.DataFrame = getattr(self, name)
            if kind == "parquet":
                table.to_parquet(folder / f"{name}.parquet", index=False)
            else:
                # float32 written at float64 precision, so that it parses back to the same value
                float64 = {c: np.float64 for c, d in _TABLES[name].items() if d == np.float32}
                table.astype(float64).to_csv(folder / f"{name}.csv", index=False)
        (folder / SIDECAR).write_text(sidecar)
        return folder

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> TrackingResult:
        """Read a folder written by `to_ctc`, `to_parquet`, `to_csv` or `to_geff`.

        A CTC folder without the exact tables (e.g. from another tracker) is rebuilt from
        `res_track.txt` and the masks: a point per label at its centroid, visibility 1,
        divisions (accepted, score 1) wherever a parent has two daughters. A GEFF store (a zarr
        group with GEFF metadata) from another tool is read as `cellpoint.io.geff.read_geff`
        says.
        """
        from .geff import is_geff, read_geff

        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"no result folder at {folder}")
        if is_geff(folder):
            return read_geff(folder)
        info: dict[str, Any] = {}
        if (folder / SIDECAR).is_file():
            info = json.loads((folder / SIDECAR).read_text())
        for kind in ("parquet", "csv"):
            if info.get("tables", kind) == kind and (folder / f"tracks.{kind}").is_file():
                tracks, lineage, divisions = (_read_table(folder, name, kind) for name in _TABLES)
                return cls(tracks, lineage, divisions, info.get("shape"), info.get("metadata", {}))
        if (folder / "res_track.txt").is_file():
            labels = read_stack(folder, "mask")
            return cls._from_labels(labels, read_res_track(folder / "res_track.txt"), {})
        raise FileNotFoundError(
            f"{folder} holds no tracking result (tracks.parquet, tracks.csv or res_track.txt)"
        )

    # --- napari ---------------------------------------------------------------------------

    @overload
    def to_napari(
        self, features: Literal[False] = False
    ) -> tuple[npt.NDArray[np.float64], Graph]: ...

    @overload
    def to_napari(
        self, features: Literal[True]
    ) -> tuple[npt.NDArray[np.float64], Graph, pd.DataFrame]: ...

    def to_napari(
        self, features: bool = False
    ) -> (
        tuple[npt.NDArray[np.float64], Graph] | tuple[npt.NDArray[np.float64], Graph, pd.DataFrame]
    ):
        """`(data, graph)` for napari's Tracks layer: data rows [track_id, t, y, x], graph
        {daughter: [parent]}. With `features=True` also a DataFrame aligned with data rows:
        `visibility`, and on a daughter's rows its division's `division_parent`,
        `division_score` and `division_status` (rejected ones too, which graph lacks)."""
        data = self.tracks[["track_id", "t", "y", "x"]].to_numpy(dtype=np.float64)
        linked = self.lineage[self.lineage["parent_id"] != 0]
        graph = {
            int(c): [int(p)] for c, p in zip(linked["track_id"], linked["parent_id"], strict=True)
        }
        if not features:
            return data, graph
        by_daughter = pd.concat(
            [
                self.divisions.rename(columns={column: "track_id"})
                for column in ("daughter_a", "daughter_b")
            ]
        )[["track_id", "parent_id", "score", "status"]]
        joined = self.tracks[["track_id"]].merge(by_daughter, how="left", on="track_id")
        table = pd.DataFrame(
            {
                "visibility": self.tracks["visibility"].to_numpy(),
                "division_parent": joined["parent_id"].fillna(0).to_numpy(dtype=np.int64),
                "division_score": joined["score"].to_numpy(dtype=np.float64),
                "division_status": pd.Categorical(joined["status"], dtype=STATUS_DTYPE),
            }
        )
        return data, graph, table

    @classmethod
    def from_napari(
        cls,
        data: npt.ArrayLike,
        graph: Mapping[int, int | Sequence[int]],
        features: pd.DataFrame | None = None,
        *,
        shape: tuple[int, int, int] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> TrackingResult:
        """The result behind napari Tracks `data`, `graph` and `features` (as made by
        `to_napari(features=True)`). Without a `visibility` feature visibility is 1; without
        the `division_*` features every two-daughter parent is an accepted division, score 1."""
        points = np.asarray(data, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 4:
            raise ValueError(
                f"napari data must be (N, 4) rows [track_id, t, y, x], got shape {points.shape}"
            )
        if features is not None and len(features) != len(points):
            raise ValueError(
                f"features has {len(features)} rows but data has {len(points)}; they must align"
            )
        tracks = pd.DataFrame(points, columns=["track_id", "t", "y", "x"])
        features = pd.DataFrame(index=range(len(points))) if features is None else features
        tracks["visibility"] = (
            features["visibility"].to_numpy() if "visibility" in features else np.float32(1)
        )
        order = np.lexsort((points[:, 1], points[:, 0]))  # napari does not require row order
        tracks = tracks.iloc[order].reset_index(drop=True)
        lineage = lineage_from_tracks(tracks, _parents(graph))
        if "division_parent" not in features:
            divisions = divisions_from_lineage(lineage)
        else:
            divisions = _divisions_from_features(
                features.iloc[order].assign(track_id=tracks["track_id"].to_numpy()), lineage
            )
        return cls(tracks, lineage, divisions, shape=shape, metadata=metadata or {})

    # --- display --------------------------------------------------------------------------

    def __repr__(self) -> str:
        tracks, lineage = self.tracks, self.lineage
        if self.shape is not None:
            frames = f"{self.shape[0]} frames of {self.shape[1]} x {self.shape[2]} px"
        elif len(tracks):
            frames = f"frames {tracks['t'].min()}..{tracks['t'].max()}"
        else:
            frames = "no frames"
        per_frame = tracks.groupby("t").size()
        cells = (
            f"; {per_frame.min()}-{per_frame.max()} cells per frame (median {per_frame.median():g})"
            if len(per_frame)
            else ""
        )
        counts = self.divisions["status"].value_counts()
        statuses = ", ".join(f"{counts[s]} {s}" for s in STATUSES)
        parents = lineage["parent_id"][lineage["parent_id"] != 0]
        continuations = int((parents.value_counts() == 1).sum())
        lines = [
            f"TrackingResult: {lineage['track_id'].nunique()} tracks, {len(tracks)} points, "
            f"{frames}{cells}",
            f"  divisions: {len(self.divisions)} ({statuses}); "
            f"continuations: {continuations}; roots: {int((lineage['parent_id'] == 0).sum())}",
        ]
        if self.metadata:
            lines.append("  " + ", ".join(f"{k}: {v}" for k, v in self.metadata.items()))
        return "\n".join(lines)


def _shape(shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3 or any(int(n) < 1 for n in shape):
        raise ValueError(f"shape must be (T, H, W) of positive sizes, got {tuple(shape)}")
    return int(shape[0]), int(shape[1]), int(shape[2])


def _json_text(info: dict[str, Any]) -> str:
    """`info` (the shape and metadata of a result, for a file beside its tables) as JSON."""
    try:
        return json.dumps(info, indent=2)
    except TypeError as error:
        raise TypeError(f"metadata must be JSON-serialisable: {error}") from error


def _read_table(folder: Path, name: str, kind: str) -> pd.DataFrame:
    if kind == "parquet":
        return pd.read_parquet(folder / f"{name}.parquet")
    dtypes = {
        column: "str" if dtype == STATUS_DTYPE else "float64" if dtype.kind == "f" else dtype
        for column, dtype in _TABLES[name].items()
    }
    table: pd.DataFrame = pd.read_csv(folder / f"{name}.csv", dtype=dtypes, **_EXACT_FLOATS)
    return table


def _parents(graph: Mapping[int, int | Sequence[int]]) -> dict[int, int]:
    """napari's graph {daughter: parent or [parents]} as {daughter: parent}."""
    parents = {}
    for daughter, parent in graph.items():
        listed = np.atleast_1d(parent).tolist()
        if len(listed) != 1:
            raise ValueError(
                f"napari graph: track {daughter} has parents {listed}; a track has one parent"
            )
        parents[int(daughter)] = int(listed[0])
    return parents


def _divisions_from_features(features: pd.DataFrame, lineage: pd.DataFrame) -> pd.DataFrame:
    """Divisions from the division_* features of daughters' rows (one division per parent)."""
    rows = features[features["division_parent"] != 0].drop_duplicates("track_id")
    rows = rows.sort_values(["division_parent", "track_id"])
    pairs = rows.groupby("division_parent").agg(
        daughter_a=("track_id", "first"),
        daughter_b=("track_id", "last"),
        score=("division_score", "first"),
        status=("division_status", "first"),
    )
    starts = lineage.set_index("track_id")["start"]
    return pd.DataFrame(
        {
            "parent_id": pairs.index.to_numpy(),
            "t": starts.reindex(pairs["daughter_a"]).to_numpy(),
            "daughter_a": pairs["daughter_a"].to_numpy(),
            "daughter_b": pairs["daughter_b"].to_numpy(),
            "score": pairs["score"].to_numpy(),
            "status": pairs["status"].astype(object).to_numpy(),
        }
    )
