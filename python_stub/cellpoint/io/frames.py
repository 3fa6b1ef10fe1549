"""Input stacks: what `track()` accepts, checked before any work starts, read frame by frame.

Accepted: numpy arrays (T, H, W) of any real dtype, (T, H, W, C) with C in {1, 3} (turned to
grey), lists of 2D arrays of one shape, and lazy arrays (dask, zarr, h5py: anything with
`shape`, `dtype` and indexing), which are read one frame at a time (tiled tracking: a tile of
a frame at a time, `data[t, rows, cols]`) and never loaded whole.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

MIN_FRAMES = 2
MIN_SIDE = 16  # px: smaller frames cannot hold a cell at any useful scale
MAX_SIDE = 32768  # px
MAX_PIXELS_PER_FRAME = 2**28  # 16384 x 16384
# dtypes the browser engine reads as they are; frames of others travel as float32.
WIRE_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")
# ITU-R BT.601 luma weights, the usual RGB -> grey conversion.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class StackError(ValueError):
    """An input stack `track()` cannot work on; the message says what is wrong and what to do."""


class FrameStack:
    """A checked (T, H, W) view of the user's frames; `stack[t]` is one frame as float32."""

    def __init__(self, data: Any) -> None:
        self._list: Sequence[Any] | None = None
        self._rgb = False
        if isinstance(data, (list, tuple)):
            self._init_list(data)
        else:
            self._init_array(data)
        self._check_size()
        self._data = data
        self._lazy = self._list is None and not isinstance(data, np.ndarray)
        if isinstance(data, np.ndarray):
            self._check_finite_all(data)

    # --- construction -----------------------------------------------------------------------
    def _init_list(self, frames: Sequence[Any]) -> None:
        if len(frames) == 0:
            raise StackError("the stack is empty: give at least 2 frames")
        arrays = [np.asarray(f) for f in frames]
        for i, a in enumerate(arrays):
            if a.ndim != 2:
                raise StackError(
                    f"frame {i} of the list has shape {a.shape}; each frame must be 2D"
                )
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            counts = {s: sum(a.shape == s for a in arrays) for s in shapes}
            odd = next(i for i, a in enumerate(arrays) if a.shape != arrays[0].shape)
            raise StackError(
                f"the frames differ in shape ({counts}); frame {odd} is {arrays[odd].shape}, "
                f"frame 0 is {arrays[0].shape}. All frames must have one shape."
            )
        self._check_dtype(np.result_type(*[a.dtype for a in arrays]))
        for i, a in enumerate(arrays):
            self._check_finite(a, i)
        self._list = arrays
        self.dtype = np.result_type(*[a.dtype for a in arrays])
        self.shape = (len(arrays), *arrays[0].shape)

    def _init_array(self, data: Any) -> None:
        if not (hasattr(data, "shape") and hasattr(data, "dtype") and hasattr(data, "__getitem__")):
            raise StackError(
                f"cannot track a {type(data).__name__}: give a numpy array (T, H, W), a list of "
                "2D arrays, or a dask / zarr array"
            )
        shape = tuple(int(s) for s in data.shape)
        if len(shape) == 4 and shape[-1] in (1, 3):
            if shape[-1] == 3:
                self._rgb = True
                warnings.warn(
                    "the stack has 3 colour channels: converting each frame to grey "
                    "(0.299 R + 0.587 G + 0.114 B)",
                    stacklevel=3,
                )
            shape = shape[:3]
        elif len(shape) != 3:
            raise StackError(
                f"the stack has shape {shape}; expected (T, H, W) frames, or (T, H, W, C) with "
                "C = 1 or 3. For one 2D image there is nothing to track; for a z-stack or "
                "several channels, select a 2D+t view first"
            )
        self._check_dtype(np.dtype(data.dtype))
        self.dtype = np.dtype(data.dtype)
        self.shape = (shape[0], shape[1], shape[2])

    @staticmethod
    def _check_dtype(dtype: np.dtype[Any]) -> None:
        if dtype.kind not in "uif":
            what = {"b": "boolean", "c": "complex", "O": "object", "U": "string", "S": "bytes"}
            raise StackError(
                f"frames of dtype {dtype} ({what.get(dtype.kind, 'non-numeric')}) cannot be "
                "tracked: give real-valued intensities (integer or float)"
            )

    def _check_size(self) -> None:
        t, h, w = self.shape
        if t < MIN_FRAMES:
            raise StackError(
                f"the stack has {t} frame{'s' if t != 1 else ''}; tracking needs at least "
                f"{MIN_FRAMES}"
            )
        if min(h, w) < MIN_SIDE:
            raise StackError(
                f"frames of {h} x {w} px are too small (at least {MIN_SIDE} px a side)"
            )
        if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS_PER_FRAME:
            raise StackError(
                f"frames of {h} x {w} px are too large (at most {MAX_SIDE} px a side and "
                f"{MAX_PIXELS_PER_FRAME:,} px a frame): crop or bin them first"
            )

    @staticmethod
    def _check_finite_all(data: npt.NDArray[Any]) -> None:
        if data.dtype.kind != "f":
            return
        bad = ~np.isfinite(data)
        if bad.any():
            frames = np.unique(np.nonzero(bad)[0])
            n_nan = int(np.isnan(data).sum())
            listed = ", ".join(map(str, frames[:10])) + (" ..." if len(frames) > 10 else "")
            raise StackError(
                f"the stack has {n_nan} NaN and {int(bad.sum()) - n_nan} infinite values, in "
                f"{len(frames)} frame(s): {listed}. Replace them (e.g. np.nan_to_num) first"
            )

    @staticmethod
    def _check_finite(frame: npt.NDArray[Any], index: int) -> None:
        if frame.dtype.kind == "f" and not np.isfinite(frame).all():
            n_nan = int(np.isnan(frame).sum())
            n_inf = int(np.isinf(frame).sum())
            y, x = np.argwhere(~np.isfinite(frame))[0][:2]  # (H, W) or (H, W, C) frames
            raise StackError(
                f"frame {index} has {n_nan} NaN and {n_inf} infinite values (first at y={y}, "
                f"x={x}). Replace them (e.g. np.nan_to_num) first"
            )

    # --- access -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, t: int) -> npt.NDArray[np.float32]:
        self._check_index(t)
        if self._list is not None:
            return self._float(self._list[t], t)
        return self._float(self._data[t], t)

    def region(self, t: int, rows: slice, cols: slice) -> npt.NDArray[np.float32]:
        """Rows and columns of frame t as float32, as `stack[t][rows, cols]`, reading only them
        from an array (`data[t, rows, cols]`): tiled tracking reads its tiles so."""
        self._check_index(t)
        if self._list is not None:
            return self._float(self._list[t][rows, cols], t)
        return self._float(self._data[t, rows, cols], t)

    def _check_index(self, t: int) -> None:
        if not 0 <= t < self.shape[0]:
            raise IndexError(f"frame {t} outside 0..{self.shape[0] - 1}")

    def _float(self, data: Any, t: int) -> npt.NDArray[np.float32]:
        """Pixels of frame t as read from the user's data -> float32 grey."""
        raw = np.asarray(data)
        if self._lazy:
            self._check_finite(raw, t)
        frame = np.asarray(raw, dtype=np.float32)
        if frame.ndim == 3:
            frame = frame @ _LUMA if self._rgb else frame[..., 0]
        return frame

    @property
    def wire_dtype(self) -> np.dtype[Any]:
        """The dtype frames are sent to the browser in: their own where the engine reads it
        and no colour needs converting, else float32 (as `stack[t]` gives them)."""
        native = np.dtype(self.dtype).newbyteorder("=")
        plain = not self._rgb and len(self._frame_shape()) == 2
        return native if plain and native.name in WIRE_DTYPES else np.dtype(np.float32)

    def wire(self, t: int) -> npt.NDArray[Any]:
        """Frame t as sent to the browser: C-ordered, little-endian, of `wire_dtype`."""
        dtype = self.wire_dtype
        if dtype == np.float32:
            frame = self[t]
        else:
            self._check_index(t)
            frame = np.asarray(self._list[t] if self._list is not None else self._data[t])
            if self._lazy:
                self._check_finite(frame, t)
        return np.ascontiguousarray(frame, dtype=dtype.newbyteorder("<"))

    def _frame_shape(self) -> tuple[int, ...]:
        if self._list is not None:
            return tuple(self._list[0].shape)
        return tuple(int(s) for s in self._data.shape[1:])

    def __repr__(self) -> str:
        t, h, w = self.shape
        return f"FrameStack({t} frames of {h} x {w} px, {self.dtype})"
