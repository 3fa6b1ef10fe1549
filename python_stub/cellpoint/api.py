"""`track()`: the notebook user's one call."""

from __future__ import annotations

import sys
import time
from typing import Any, Literal

import numpy as np

from .frames import FrameStack
from .infer import track_kernel
from .preprocess import estimate_diameter
from .raw import RawParams
from .result import TrackingResult

Backend = Literal["auto", "kernel"]


def track(
    stack: Any,
    *,
    diameter: float | None = None,
    backend: Backend = "auto",
    window: int = RawParams.window,
    detection_threshold: float = RawParams.detection_threshold,
    visibility_threshold: float = RawParams.visibility_threshold,
    division_threshold: float = RawParams.division_threshold,
    progress: bool = True,
) -> TrackingResult:
    """Track every cell of a (T, H, W) stack with the CAP network.

    stack: numpy (T, H, W) or (T, H, W, C) array, list of 2D arrays, or a dask / zarr array.
    diameter: typical nucleus diameter in pixels; estimated from the frames when omitted.
    backend: "kernel" runs the model in this Python process with onnxruntime; "auto" chooses
        (the browser backend, which runs it in JupyterLab, is not available yet: "auto" runs
        in the kernel).
    window: frames the tracker sees at once (RAW window length).
    progress: print frames done and cells found while tracking.
    """
    frames = FrameStack(stack)
    if backend not in ("auto", "kernel"):
        raise ValueError(f'backend must be "auto" or "kernel", got {backend!r}')
    if diameter is None:
        picks = sorted({0, len(frames) // 2, len(frames) - 1})
        diameter = float(np.median([estimate_diameter(frames[t]) for t in picks]))
    params = RawParams(
        window=window,
        detection_threshold=detection_threshold,
        visibility_threshold=visibility_threshold,
        division_threshold=division_threshold,
    )
    reporter = _TextProgress(len(frames)) if progress else None
    result = track_kernel(frames, diameter, params, on_progress=reporter)
    if reporter:
        reporter.close()
    return result


class _TextProgress:
    """A one-line progress report, rewritten at most twice a second."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.start = time.perf_counter()
        self.last = 0.0

    def __call__(self, done: int, cells: int) -> None:
        now = time.perf_counter()
        if now - self.last < 0.5 and done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        sys.stderr.write(
            f"\rcellpoint: frame {done}/{self.total}, {cells} tracks, "
            f"{elapsed:.0f} s elapsed, ~{eta:.0f} s left   "
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
