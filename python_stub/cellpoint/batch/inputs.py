"""The stacks `track_many` and `cellpoint track` take, named, and opened lazily where they are
tracked.

A stack is a path or an array. Paths: a CTC sequence folder (`t000.tif ...`), a TIFF stack
(`.tif`, `.tiff`: every page a frame), a zarr array or an OME-Zarr image (multiscale: the level
the model needs, see `open_stack`). Arrays: numpy, dask, zarr, or anything `track()` takes.
Paths are opened in the worker that tracks them and read a frame at a time, so their pixels
never pass through the scheduler. A dask array is read with dask's synchronous scheduler, a
frame at a time: inside a worker, its cluster's scheduler would ship every read back and forth.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..engine.preprocess import CANONICAL_DIAMETER, Polarity, estimate_look
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
    """One stack of a batch: `name` is its folder under the output, `source` a path (absolute,
    so that a worker elsewhere finds it) or an array."""

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
    `GOWT1-02`); `stack-000 ...` for arrays. Names are made safe for a folder, and unique even
    where the file system ignores case."""
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
        while unique.casefold() in taken:
            unique, n = f"{base}-{n}", n + 1
        taken.add(unique.casefold())
        if isinstance(source, (str, os.PathLike)):
            source = str(Path(source).absolute())
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
    """A stack ready to track: `frames` (T, H, W), read lazily; `shape` the full-resolution
    (T, H, W); for an OME-Zarr level, `level` its path and `to_full` the map of its (y, x)
    pixels onto full-resolution ones; `diameter` in full-resolution pixels and `polarity`
    where they were estimated to choose the level (tracking need not tell them again)."""

    frames: Any
    shape: tuple[int, int, int]
    level: str | None = None
    to_full: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 0.0), (1.0, 0.0))
    diameter: float | None = None
    polarity: Polarity | None = None

    @property
    def factor(self) -> float:
        """Full-resolution pixels per pixel of `frames`, along y."""
        return self.to_full[0][0]

    def to_full_resolution(self, result: TrackingResult) -> TrackingResult:
        """`result`, tracked on `frames`, in full-resolution pixels (the level's coordinate
        transformations), clipped to the frame."""
        if self.level is None:
            return result
        tracks = result.tracks.copy()
        for axis, (scale, offset), size in zip(
            ("y", "x"), self.to_full, self.shape[1:], strict=True
        ):
            tracks[axis] = np.clip(tracks[axis] * scale + offset, 0, size - 1)
        metadata = {**result.metadata, "level": self.level, "level_factor": self.factor}
        if isinstance(metadata.get("diameter"), (int, float)):
            metadata["diameter"] = metadata["diameter"] * self.factor
        return TrackingResult(tracks, result.lineage, result.divisions, self.shape, metadata)


def open_stack(source: Any, diameter: float | None = None, polarity: str = "auto") -> OpenedStack:
    """Opens a stack for tracking without reading its pixels. An OME-Zarr image is tracked on
    its coarsest level where a cell is still at least as large as the model works at
    (`diameter` in full-resolution pixels; estimated on a small level where not given, for
    cells of `polarity`, as `track()` takes it)."""
    if not isinstance(source, (str, os.PathLike)):
        return _opened(_SyncDask(source) if _is_dask(source) else source)
    path = Path(source)
    try:
        if not path.exists():
            raise InputError("no such file or folder")
        if path.is_dir():
            if _is_zarr(path):
                return _open_zarr(path, diameter, polarity)
            files = _ctc_frames(path)
            if files:
                return _opened(_TiffFiles(files))
            raise InputError(
                "neither a CTC sequence folder (t000.tif ...) nor a zarr or OME-Zarr store"
            )
        if path.suffix.lower() in TIFF_SUFFIXES:
            return _opened(_TiffPages(path))
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
    return OpenedStack(frames, stack.shape)


# --- lazy frames ------------------------------------------------------------------------------


class _Frames:
    """(T, H, W) frames read one at a time by `read(t)`; indexed by `t` or `(t, rows, cols)`,
    as FrameStack reads them."""

    def __init__(self, shape: tuple[int, int, int], dtype: Any, read: Callable[[int], Any]):
        self.shape, self.dtype, self._read = shape, np.dtype(dtype), read

    def __getitem__(self, index: Any) -> npt.NDArray[Any]:
        t, *rest = index if isinstance(index, tuple) else (index,)
        frame: npt.NDArray[Any] = np.asarray(self._read(int(t)))
        return frame[tuple(rest)] if rest else frame


class _TiffPages(_Frames):
    """A TIFF stack, a page a frame; the file is opened for each read, so no handle is held."""

    def __init__(self, path: Path) -> None:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype = tuple(int(s) for s in series.shape), series.dtype
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3:
            raise InputError(f"the TIFF's first series has shape {shape}; expected (T, H, W)")
        super().__init__((shape[0], shape[1], shape[2]), dtype, lambda t: self._page(path, t))

    @staticmethod
    def _page(path: Path, t: int) -> Any:
        import tifffile

        return tifffile.imread(path, series=0, key=t)


class _TiffFiles(_Frames):
    """A CTC sequence folder, a file a frame."""

    def __init__(self, files: list[Path]) -> None:
        import tifffile

        with tifffile.TiffFile(files[0]) as tif:
            page = tif.pages[0]
            height, width, dtype = int(page.shape[0]), int(page.shape[1]), page.dtype
        super().__init__((len(files), height, width), dtype, lambda t: tifffile.imread(files[t]))


class _SyncDask:
    """A dask array read a frame (or tile) at a time with dask's synchronous scheduler."""

    def __init__(self, array: Any) -> None:
        self.array, self.shape, self.dtype = array, array.shape, array.dtype

    def __getitem__(self, index: Any) -> npt.NDArray[Any]:
        frame: npt.NDArray[Any] = np.asarray(self.array[index].compute(scheduler="synchronous"))
        return frame


def _is_dask(source: Any) -> bool:
    return type(source).__module__.split(".")[0] == "dask"


def _ctc_frames(folder: Path) -> list[Path]:
    frames = [p for p in folder.iterdir() if re.fullmatch(r"t\d+\.tiff?", p.name)]
    return sorted(frames, key=lambda p: int(re.sub(r"\D", "", p.stem)))


# --- zarr and OME-Zarr ------------------------------------------------------------------------


def _is_zarr(path: Path) -> bool:
    return any((path / name).is_file() for name in ("zarr.json", ".zgroup", ".zarray"))


@dataclass(frozen=True)
class _Level:
    path: str
    # index -> physical coordinate along y and x (NGFF: scale, then translation)
    y: tuple[float, float]
    x: tuple[float, float]


def _open_zarr(path: Path, diameter: float | None, polarity: str) -> OpenedStack:
    import zarr

    node = zarr.open(str(path), mode="r")
    if isinstance(node, zarr.Array):
        return _opened(node)
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
    levels = [_level(dataset, axes) for dataset in image["datasets"]]
    full = _squeezed(node[levels[0].path], axes)
    t, h, w = full.shape
    # Full-resolution pixels per level pixel along y: which levels are coarse enough to skip.
    factor = {lv.path: lv.y[0] / levels[0].y[0] for lv in levels}
    look = None
    if diameter is None:
        small = next((lv for lv in levels if max(h, w) / factor[lv.path] <= ESTIMATE_SIDE), None)
        small = small or levels[-1]
        sample = FrameStack(_squeezed(node[small.path], axes))
        look, estimated, _ = estimate_look(sample, polarity, None)
        diameter = estimated * factor[small.path]
    # The coarsest level where a cell is at least the model's working size.
    fitting = [lv for lv in levels if diameter / factor[lv.path] >= CANONICAL_DIAMETER]
    level = max(fitting, key=lambda lv: factor[lv.path]) if fitting else levels[0]
    frames = _squeezed(node[level.path], axes)
    FrameStack(frames)
    # A level pixel v is at v * scale + translation; a full-resolution pixel u at
    # u * scale0 + translation0; so u = (v * scale + translation - translation0) / scale0.
    base = levels[0]
    to_full = (
        (level.y[0] / base.y[0], (level.y[1] - base.y[1]) / base.y[0]),
        (level.x[0] / base.x[0], (level.x[1] - base.x[1]) / base.x[0]),
    )
    return OpenedStack(frames, (t, h, w), level.path, to_full, diameter, look)


def _level(dataset: dict[str, Any], axes: list[str]) -> _Level:
    scale, translation = [1.0] * len(axes), [0.0] * len(axes)
    for transform in dataset.get("coordinateTransformations", []):
        if transform["type"] == "scale":
            scale = [float(s) for s in transform["scale"]]
        elif transform["type"] == "translation":
            translation = [float(s) for s in transform["translation"]]
    y, x = axes.index("y"), axes.index("x")
    return _Level(str(dataset["path"]), (scale[y], translation[y]), (scale[x], translation[x]))


class _Squeezed(_Frames):
    """(T, H, W) of an OME-Zarr level whose other axes are of size 1; tiles read as tiles."""

    def __init__(self, array: Any, axes: list[str]) -> None:
        self.array, self.axes = array, axes
        sizes = dict(zip(axes, (int(s) for s in array.shape), strict=True))
        super().__init__((sizes["t"], sizes["y"], sizes["x"]), array.dtype, self._region)

    def _region(self, t: int, rows: slice = slice(None), cols: slice = slice(None)) -> Any:
        picks = {"t": t, "y": rows, "x": cols}
        plane = self.array[tuple(picks.get(axis, 0) for axis in self.axes)]
        # (y, x) in the order the array holds them
        return plane if self.axes.index("y") < self.axes.index("x") else plane.T

    def __getitem__(self, index: Any) -> npt.NDArray[Any]:
        t, *rest = index if isinstance(index, tuple) else (index,)
        return np.asarray(self._region(int(t), *rest))


def _squeezed(array: Any, axes: list[str]) -> _Squeezed:
    """(T, H, W) of an OME-Zarr level: every axis but t, y, x must be of size 1."""
    for axis, size in zip(axes, array.shape, strict=True):
        if axis not in ("t", "y", "x") and size != 1:
            kind = "z-stack" if axis == "z" else f"{size} entries on axis {axis!r}"
            raise InputError(
                f"the image has {kind} ({axis}={size}): cellpoint tracks 2D+t; write the "
                "plane or channel to track as its own array"
            )
    return _Squeezed(array, axes)
