"""Cell Tracking Challenge (CTC) files: sequences, tracking ground truth and results.

Layout (celltrackingchallenge.net): a sequence folder `01/` holds frames `t000.tif ...`
(`t0000.tif` beyond 1000 frames); its ground truth `01_GT/TRA/` holds marker label images
`man_track000.tif ...` (label = track id) and `man_track.txt`; a result folder holds
`mask000.tif ...` and `res_track.txt`. The text files have one line `L B E P` per track: label,
first frame, last frame, parent label (0 for none), the lineage table (schema/tables.schema.json).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import tifffile

from .tables import (
    LINEAGE_COLUMNS,
    TRACKS_COLUMNS,
    TableError,
    validate_lineage,
    validate_tracks,
)

Array = npt.NDArray[Any]
_T = TypeVar("_T")
_WORKERS = min(8, os.cpu_count() or 1)  # TIFF codecs release the GIL: threads read in parallel


@dataclass(eq=False)
class CTCSequence:
    """A CTC sequence: frames (T, H, W) and, where there is ground truth, its markers and lineage.

    `frames` is None only when a ground-truth folder was read whose sequence folder is absent.
    """

    path: Path
    frames: Array | None
    markers: Array | None
    lineage: pd.DataFrame | None

    def __repr__(self) -> str:
        frames = "no frames" if self.frames is None else _describe(self.frames)
        truth = (
            "no ground truth"
            if self.lineage is None
            else f"ground truth: {len(self.lineage)} tracks"
        )
        return f"CTCSequence({str(self.path)!r}: {frames}; {truth})"


def _describe(stack: Array) -> str:
    t, h, w = stack.shape
    return f"{t} frames of {h} x {w} {stack.dtype}"


def read_ctc(path: str | os.PathLike[str]) -> CTCSequence:
    """Read a CTC sequence folder (e.g. `.../01`) or its ground-truth folder (`.../01_GT/TRA`).

    Ground truth is taken from the sibling `<seq>_GT/TRA` where it exists.
    """
    given = Path(path)
    if not given.is_dir():
        raise FileNotFoundError(f"no CTC folder at {given}")
    if (given / "TRA").is_dir():
        given = given / "TRA"
    if _numbered(given, "man_track") or (given / "man_track.txt").exists():
        truth: Path | None = given
        owner = given.parent.name
        sequence = given.parent.parent / owner.removesuffix("_GT")
        frames = _read_frames(sequence) if owner.endswith("_GT") and sequence.is_dir() else None
    else:
        sequence = given
        frames = _read_frames(sequence)
        candidate = sequence.parent / f"{sequence.name}_GT" / "TRA"
        truth = candidate if candidate.is_dir() else None

    if truth is None:
        return CTCSequence(path=given, frames=frames, markers=None, lineage=None)
    markers = read_stack(truth, "man_track")
    if frames is not None and markers.shape != frames.shape:
        raise ValueError(
            f"ground truth in {truth} has markers of shape {markers.shape}, but the frames in "
            f"{sequence} have shape {frames.shape}"
        )
    lineage = read_res_track(truth / "man_track.txt")
    return CTCSequence(path=given, frames=frames, markers=markers, lineage=lineage)


def _read_frames(folder: Path) -> Array:
    if not _numbered(folder, "t"):
        raise ValueError(f"no frames t000.tif ... in {folder}")
    return read_stack(folder, "t")


def _numbered(folder: Path, prefix: str) -> dict[int, Path]:
    """Files `<prefix><digits>.tif` (or .tiff) in `folder`, by number."""
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)\.tiff?")
    found = {}
    for entry in folder.iterdir() if folder.is_dir() else ():
        match = pattern.fullmatch(entry.name)
        if match:
            found[int(match.group(1))] = entry
    return found


def read_stack(folder: str | os.PathLike[str], prefix: str) -> Array:
    """The 2-D images `<prefix>000.tif ...` of `folder` as one (T, H, W) array of their dtype."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}")
    files = _numbered(folder, prefix)
    if not files:
        raise FileNotFoundError(f"no {prefix}000.tif ... in {folder}")
    missing = sorted(set(range(len(files))).difference(files))
    if missing:
        raise ValueError(
            f"{folder}: {prefix}*.tif must be numbered 0..{len(files) - 1} without gaps; "
            f"missing number {', '.join(map(str, missing[:5]))}"
        )
    paths = [files[i] for i in range(len(files))]
    images = _parallel(tifffile.imread, paths)
    first = images[0]
    for file, image in zip(paths, images, strict=True):
        if image.ndim != 2:
            raise ValueError(f"{file}: expected a 2-D image, got shape {image.shape}")
        if image.shape != first.shape or image.dtype != first.dtype:
            raise ValueError(
                f"{folder}: frames differ; {paths[0].name} is {first.shape} {first.dtype}, "
                f"{file.name} is {image.shape} {image.dtype}"
            )
    return np.stack(images)


def _parallel(function: Callable[[Any], _T], items: Sequence[Any]) -> list[_T]:
    with ThreadPoolExecutor(_WORKERS) as pool:
        return list(pool.map(function, items))


# --- res_track.txt / man_track.txt ------------------------------------------------------------


def read_res_track(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The lineage table of a CTC `res_track.txt` or `man_track.txt` (`L B E P` lines)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no track file {path}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 4:
                raise ValueError
            rows.append([int(f) for f in fields])
        except ValueError:
            raise ValueError(
                f"{path}, line {number}: expected four whole numbers 'L B E P', got {line!r}"
            ) from None
    try:
        return validate_lineage(pd.DataFrame(rows, columns=list(LINEAGE_COLUMNS), dtype=np.int64))
    except TableError as error:
        raise TableError(f"{path}: {error}") from error


def write_res_track(lineage: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write `lineage` as CTC `L B E P` lines."""
    lineage = validate_lineage(lineage)
    lines = (" ".join(map(str, row)) + "\n" for row in lineage.itertuples(index=False))
    Path(path).write_text("".join(lines))


# --- label images <-> points ------------------------------------------------------------------


def tracks_from_markers(markers: Array, lineage: pd.DataFrame) -> pd.DataFrame:
    """Tracks from CTC marker label images (T, H, W): one point per label and frame at the
    marker's centroid, visibility 1. Checked against `lineage` (raises TableError)."""
    tracks = tracks_from_labels(markers)
    validate_lineage(lineage, tracks)
    return tracks


def tracks_from_labels(labels: Array) -> pd.DataFrame:
    """The centroid (y, x) of every label > 0 in every frame of a (T, H, W) label stack."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"expected label images of shape (T, H, W), got {labels.shape}")
    parts = []
    for index, frame in enumerate(labels):
        ys, xs = np.nonzero(frame)
        ids, inverse, counts = np.unique(frame[ys, xs], return_inverse=True, return_counts=True)
        parts.append(
            (
                ids.astype(np.int64),
                np.full(ids.size, index, np.int64),
                np.bincount(inverse, ys, ids.size) / counts,
                np.bincount(inverse, xs, ids.size) / counts,
            )
        )
    track_id, t, y, x = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = np.lexsort((t, track_id))
    tracks = pd.DataFrame(
        {
            "track_id": track_id[order],
            "t": t[order],
            "y": y[order],
            "x": x[order],
            "visibility": np.ones(order.size, np.float32),
        },
        columns=list(TRACKS_COLUMNS),
    )
    return validate_tracks(tracks)


def tracks_from_masks(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """Tracks read back from the `mask000.tif ...` of a CTC result folder (centroid per label)."""
    return tracks_from_labels(read_stack(folder, "mask"))


def default_radius(tracks: pd.DataFrame) -> float:
    """A disk radius for masks, at least 2 px: half the 10th percentile of the distances from
    a point to its nearest neighbour in the same frame. The closest neighbours are cells that
    touch, so this is about a cell's radius."""
    tracks = validate_tracks(tracks)
    frames = np.unique(tracks["t"].to_numpy())
    # A few dozen frames tell the spacing as well as all of them, at a fraction of the cost.
    sample = frames[np.linspace(0, frames.size - 1, min(frames.size, 50)).astype(int)]
    nearest = []
    for _, frame in tracks[tracks["t"].isin(sample)].groupby("t"):
        points = frame[["y", "x"]].to_numpy()
        if len(points) < 2:
            continue
        distance = np.linalg.norm(points[:, None] - points[None], axis=-1)
        np.fill_diagonal(distance, np.inf)
        nearest.append(distance.min(axis=1))
    if not nearest:
        return 2.0
    return max(2.0, 0.5 * float(np.percentile(np.concatenate(nearest), 10)))


def write_masks(
    tracks: pd.DataFrame,
    shape: tuple[int, int, int],
    folder: str | os.PathLike[str],
    radius: float | None = None,
) -> None:
    """Write CTC result masks: per frame a uint16 image with a disk of `radius` px around each
    point, labelled by its track id (`mask000.tif ...`, `mask0000.tif ...` past 1000 frames),
    replacing any masks already in `folder`.

    Where disks overlap each pixel goes to the nearest point, and every point keeps the pixel
    under it, so each track appears in every frame it has a point. `radius` defaults to
    `default_radius(tracks)`.
    """
    tracks = validate_tracks(tracks)
    n_frames, height, width = (int(n) for n in shape)
    if len(tracks) and tracks["t"].max() >= n_frames:
        raise ValueError(f"tracks reach t={tracks['t'].max()}, beyond the {n_frames} frames")
    if len(tracks) and tracks["track_id"].max() > np.iinfo(np.uint16).max:
        raise ValueError(f"CTC masks are uint16: track_id {tracks['track_id'].max()} exceeds 65535")
    radius = default_radius(tracks) if radius is None else float(radius)
    if not radius >= 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in _numbered(folder, "mask").values():  # left by a longer earlier run
        stale.unlink()
    reach = int(np.ceil(radius + 0.5))
    dy, dx = (d.ravel() for d in np.mgrid[-reach : reach + 1, -reach : reach + 1])
    by_frame = dict(list(tracks.groupby("t")))

    def write(t: int) -> None:
        image = np.zeros((height, width), np.uint16)
        if t in by_frame:
            _paint(image, by_frame[t], radius, dy, dx)
        _write_frame(image, frame_path(folder, "mask", t, n_frames))

    _parallel(write, range(n_frames))


def frame_path(folder: Path, prefix: str, t: int, n_frames: int) -> Path:
    """CTC file name of frame t: three digits, four past 1000 frames (`t000.tif`, `mask0999`)."""
    return folder / f"{prefix}{t:0{4 if n_frames > 1000 else 3}d}.tif"


def _write_frame(image: Array, path: Path) -> None:
    # LZW, as in the CTC's own files, so that every CTC tool reads them.
    tifffile.imwrite(path, image, compression="lzw")


def write_stack(stack: Array, folder: str | os.PathLike[str], prefix: str) -> None:
    """Write a (T, H, W) stack as CTC-numbered TIFFs `<prefix>000.tif ...` in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_frames = len(stack)
    _parallel(
        lambda t: _write_frame(stack[t], frame_path(folder, prefix, t, n_frames)), range(n_frames)
    )


def _paint(image: Array, frame: pd.DataFrame, radius: float, dy: Array, dx: Array) -> None:
    """Paint nearest-point disks of one frame's points into `image`, in place."""
    height, width = image.shape
    ids = frame["track_id"].to_numpy()
    y, x = frame["y"].to_numpy(), frame["x"].to_numpy()
    # The pixel under each point (clipped into the image, for points on or past its edge).
    cy = np.clip(np.rint(y), 0, height - 1).astype(np.int64)
    cx = np.clip(np.rint(x), 0, width - 1).astype(np.int64)
    py, px = cy[:, None] + dy, cx[:, None] + dx
    d2 = (py - y[:, None]) ** 2 + (px - x[:, None]) ** 2
    own = (dy == 0) & (dx == 0)
    keep = ((d2 <= radius**2) | own) & (py >= 0) & (py < height) & (px >= 0) & (px < width)
    priority = np.where(own, -1.0, d2)  # the pixel under a point first, then the nearest point
    point = np.broadcast_to(np.arange(len(ids))[:, None], d2.shape)
    pixel, priority, point = (py * width + px)[keep], priority[keep], point[keep]
    order = np.lexsort((priority, pixel))
    pixel, point = pixel[order], point[order]
    first = np.r_[True, pixel[1:] != pixel[:-1]]
    image.flat[pixel[first]] = ids[point[first]]

    # Points that share their pixel with another point: give each the nearest pixel of its
    # disk that lies under no other point.
    centres = cy * width + cx
    reserved = list(centres)
    for lost in np.flatnonzero(image.flat[centres] != ids):
        free = (point == lost) & ~np.isin(pixel, reserved)
        if not free.any():
            raise ValueError(
                f"frame {frame['t'].iloc[0]}: track {ids[lost]} sits on the pixel of another "
                f"track and its disk (radius {radius}) has no other pixel; use a larger radius"
            )
        candidates = pixel[free]
        distance = (candidates // width - y[lost]) ** 2 + (candidates % width - x[lost]) ** 2
        reserved.append(candidates[np.argmin(distance)])
        image.flat[reserved[-1]] = ids[lost]
