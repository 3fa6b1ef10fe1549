"""The stacks `track_many` and `cellpoint track` take, named, and opened lazily where they are
tracked.

A stack is a path or an array. Paths: a CTC sequence folder (`t000.tif ...`), a TIFF stack
(`.tif`, `.tiff`: every page a frame), a zarr array or an OME-Zarr image (multiscale: the level
the model needs, see `open_stack`). Arrays: numpy, dask, zarr, or anything `track()` takes.
Paths are opened in the worker that tracks them and read a frame at a time, so their pixels
never pass through the scheduler.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.preprocess import CANONICAL_DIAMETER, estimate_diameter
from ..io.frames import FrameStack
from ..io.result import TrackingResult

TIFF_SUFFIXES = (".tif", ".tiff")
# The largest side of the OME-Zarr level a missing diameter is estimated on: big enough to see
# cells, small enough to read quickly.
ESTIMATE_SIDE = 2048
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class InputError(ValueError):
    """A stack that cannot be opened; the message names the input and the problem."""


@dataclass(frozen=True)
class StackSource:
    """One stack of a batch: `name` is its folder under the output, `source` a path or array."""

    name: str
    source: Any

    @property
    def is_path(self) -> bool:
        return isinstance(self.source, (str, os.PathLike))

    def describe(self) -> str:
        if self.is_path:
            return str(self.source)
        shape = getattr(self.source, "shape", None)
        return f"{type(self.source).__name__} {tuple(shape) if shape is not None else ''}".strip()


def name_stacks(inputs: Sequence[Any] | Mapping[str, Any]) -> list[StackSource]:
    """Names every stack: a mapping's keys; a path's name (a CTC folder `GOWT1/02` is
    `GOWT1-02`); `stack-000 ...` for arrays. Names are made safe for a folder and unique."""
    if isinstance(inputs, Mapping):
        named = [(str(name), source) for name, source in inputs.items()]
    else:
        named = [(_default_name(source, i), source) for i, source in enumerate(inputs)]
    if not named:
        raise InputError("no stacks to track")
    taken: set[str] = set()
    stacks = []
    for name, source in named:
        base = _SAFE_NAME.sub("-", name).strip("-.") or "stack"
        unique, n = base, 2
        while unique in taken:
            unique, n = f"{base}-{n}", n + 1
        taken.add(unique)
        stacks.append(StackSource(unique, source))
    return stacks


def _default_name(source: Any, index: int) -> str:
    if not isinstance(source, (str, os.PathLike)):
        return f"stack-{index:03d}"
    path = Path(source)
    if path.is_dir() and _ctc_frames(path):
        return f"{path.parent.name}-{path.name}" if path.parent.name else path.name
    return path.name.removesuffix(".zarr") if path.is_dir() else path.stem


@dataclass(frozen=True)
class OpenedStack:
    """A stack ready to track: `frames` (T, H, W), read lazily; `factor` full-resolution pixels
    per pixel of `frames` (an OME-Zarr level's downsampling, else 1); `shape` the
    full-resolution (T, H, W); `level` the OME-Zarr level's path, where one was chosen."""

    frames: Any
    factor: float
    shape: tuple[int, int, int]
    level: str | None = None

    def to_full_resolution(self, result: TrackingResult) -> TrackingResult:
        """`result`, tracked on `frames`, in full-resolution pixels (pixel centres map onto
        pixel centres)."""
        if self.factor == 1:
            return result
        tracks = result.tracks.copy()
        for axis in ("y", "x"):
            tracks[axis] = (tracks[axis] + 0.5) * self.factor - 0.5
        metadata = {**result.metadata, "level": self.level, "level_factor": self.factor}
        if isinstance(metadata.get("diameter"), (int, float)):
            metadata["diameter"] = metadata["diameter"] * self.factor
        return TrackingResult(
            tracks, result.lineage, result.divisions, self.shape, metadata, result.frames
        )


def open_stack(source: Any, diameter: float | None = None) -> OpenedStack:
    """Opens a stack for tracking without reading its pixels. An OME-Zarr image is tracked on
    its coarsest level where a cell is still at least as large as the model works at
    (`diameter` in full-resolution pixels; estimated on a small level where not given)."""
    if not isinstance(source, (str, os.PathLike)):
        return _opened(source)
    path = Path(source)
    try:
        if not path.exists():
            raise InputError("no such file or folder")
        if path.is_dir():
            if _is_zarr(path):
                return _open_zarr(path, diameter)
            if _ctc_frames(path):
                return _opened(_open_tiff_sequence(path))
            raise InputError(
                "neither a CTC sequence folder (t000.tif ...) nor a zarr or OME-Zarr store"
            )
        if path.suffix.lower() in TIFF_SUFFIXES:
            return _opened(_open_tiff(path))
        raise InputError(
            f"cannot read {path.suffix or 'a file without a suffix'}: give a TIFF stack, a CTC "
            "folder or a zarr / OME-Zarr store"
        )
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    except Exception as error:  # a reader's own failure: say which file, keep its words
        raise InputError(f"{path}: cannot be read ({type(error).__name__}: {error})") from error


def _opened(frames: Any) -> OpenedStack:
    stack = FrameStack(frames)  # checks the shape and dtype now, reading nothing
    return OpenedStack(frames, 1.0, stack.shape)


def _ctc_frames(folder: Path) -> list[Path]:
    frames = [p for p in folder.iterdir() if re.fullmatch(r"t\d+\.tiff?", p.name)]
    return sorted(frames, key=lambda p: int(re.sub(r"\D", "", p.stem)))


def _open_tiff_sequence(folder: Path) -> Any:
    import dask.array as da
    import tifffile

    files = _ctc_frames(folder)
    first = tifffile.imread(files[0])
    frames = [
        da.from_delayed(_delayed_tiff(str(f)), shape=first.shape, dtype=first.dtype) for f in files
    ]
    return da.stack(frames)


def _delayed_tiff(path: str) -> Any:
    import tifffile
    from dask.delayed import delayed

    return delayed(tifffile.imread)(path)


def _open_tiff(path: Path) -> Any:
    import dask.array as da
    import tifffile
    import zarr

    array = zarr.open(tifffile.imread(path, aszarr=True, series=0, level=0), mode="r")
    frames = da.from_zarr(array)
    return frames[None] if frames.ndim == 2 else frames


def _is_zarr(path: Path) -> bool:
    return any((path / name).is_file() for name in ("zarr.json", ".zgroup", ".zarray"))


def _open_zarr(path: Path, diameter: float | None) -> OpenedStack:
    import dask.array as da
    import zarr

    node = zarr.open(str(path), mode="r")
    if isinstance(node, zarr.Array):
        return _opened(da.from_zarr(node))
    attrs: dict[str, Any] = dict(node.attrs)
    multiscales: list[dict[str, Any]] = attrs.get("multiscales") or attrs.get("ome", {}).get(
        "multiscales"
    )
    if not multiscales:
        arrays = sorted(name for name, _ in node.arrays())
        raise InputError(
            "a zarr group without OME-Zarr multiscales metadata: give one of its arrays "
            f"({', '.join(arrays) or 'it has none'}) as the input"
        )
    image = multiscales[0]
    axes = [a["name"] if isinstance(a, dict) else str(a) for a in image.get("axes", [])]
    missing = [a for a in ("t", "y", "x") if a not in axes]
    if missing:
        raise InputError(f"the image has axes {axes}, without {', '.join(missing)}")
    levels = []
    for dataset in image["datasets"]:
        scale = next(
            (
                c["scale"]
                for c in dataset.get("coordinateTransformations", [])
                if c["type"] == "scale"
            ),
            [1.0] * len(axes),
        )
        levels.append((dataset["path"], float(scale[axes.index("y")])))
    full = _squeezed(da.from_zarr(node[levels[0][0]]), axes)
    t, h, w = (int(s) for s in full.shape)
    factors = [(level, scale / levels[0][1]) for level, scale in levels]
    if diameter is None:
        level, factor = next(
            ((lv, f) for lv, f in factors if max(h, w) / f <= ESTIMATE_SIDE), factors[-1]
        )
        frames = FrameStack(_squeezed(da.from_zarr(node[level]), axes))
        picks = sorted({0, t // 2, t - 1})
        diameter = float(np.median([estimate_diameter(frames[i]) for i in picks])) * factor
    # The coarsest level where a cell is at least the model's working size.
    fitting = [(lv, f) for lv, f in factors if diameter / f >= CANONICAL_DIAMETER]
    level, factor = max(fitting, key=lambda item: item[1]) if fitting else factors[0]
    frames = _squeezed(da.from_zarr(node[level]), axes)
    FrameStack(frames)
    return OpenedStack(frames, factor, (t, h, w), level)


def _squeezed(array: Any, axes: list[str]) -> Any:
    """(T, H, W) of an OME-Zarr level: every axis but t, y, x must be of size 1."""
    index: list[Any] = []
    for axis, size in zip(axes, array.shape, strict=True):
        if axis in ("t", "y", "x"):
            index.append(slice(None))
        elif size == 1:
            index.append(0)
        else:
            kind = "z-stack" if axis == "z" else f"{size} entries on axis {axis!r}"
            raise InputError(
                f"the image has {kind} ({axis}={size}): cellpoint tracks 2D+t; write the "
                "plane or channel to track as its own array"
            )
    order = [a for a in axes if a in ("t", "y", "x")]
    squeezed = array[tuple(index)]
    return squeezed.transpose([order.index(a) for a in ("t", "y", "x")])
