"""`track()`: the notebook user's one call."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

from .engine.infer import Lineage, OnnxCap, check_lineage, track_kernel
from .engine.preprocess import estimate_look
from .engine.raw import RawParams
from .engine.separation import separation_for
from .engine.tiling import needs_tiles, plan_tiles, track_tiled
from .io.frames import FrameStack
from .io.result import TrackingResult

if TYPE_CHECKING:
    from .job.job import TrackingJob

Backend = Literal["auto", "browser", "kernel"]
BACKENDS = ("auto", "browser", "kernel")


@overload
def track(
    stack: Any,
    *,
    diameter: float | None = None,
    polarity: Literal["auto", "bright", "dark"] = "auto",
    backend: Literal["kernel"],
    window: int | None = None,
    detection_threshold: float | None = None,
    visibility_threshold: float | None = None,
    division_threshold: float | None = None,
    sister_threshold: float | None = None,
    min_separation: float | None = None,
    min_cycle: int | None = None,
    lineage: Lineage = "global",
    tile: int | bool | None = None,
    progress: bool | Callable[[int, int], None] = True,
    browser_backend: Literal["auto", "webgpu", "wasm"] | None = None,
    threads: int | None = None,
    review: bool = False,
) -> TrackingResult: ...


@overload
def track(
    stack: Any,
    *,
    diameter: float | None = None,
    polarity: Literal["auto", "bright", "dark"] = "auto",
    backend: Backend = "auto",
    window: int | None = None,
    detection_threshold: float | None = None,
    visibility_threshold: float | None = None,
    division_threshold: float | None = None,
    sister_threshold: float | None = None,
    min_separation: float | None = None,
    min_cycle: int | None = None,
    lineage: Lineage = "global",
    tile: int | bool | None = None,
    progress: bool | Callable[[int, int], None] = True,
    browser_backend: Literal["auto", "webgpu", "wasm"] | None = None,
    threads: int | None = None,
    review: bool = False,
) -> TrackingResult | TrackingJob: ...


def track(
    stack: Any,
    *,
    diameter: float | None = None,
    polarity: Literal["auto", "bright", "dark"] = "auto",
    backend: Backend = "auto",
    window: int | None = None,
    detection_threshold: float | None = None,
    visibility_threshold: float | None = None,
    division_threshold: float | None = None,
    sister_threshold: float | None = None,
    min_separation: float | None = None,
    min_cycle: int | None = None,
    lineage: Lineage = "global",
    tile: int | bool | None = None,
    progress: bool | Callable[[int, int], None] = True,
    browser_backend: Literal["auto", "webgpu", "wasm"] | None = None,
    threads: int | None = None,
    review: bool = False,
) -> TrackingResult | TrackingJob:
    """Track every cell of a (T, H, W) stack with the CAP network.

    stack: numpy (T, H, W) or (T, H, W, C) array, list of 2D arrays, or a dask / zarr array
        (read a frame at a time, never loaded whole).
    diameter: a typical cell's diameter in pixels (of a circle of its area: a rod's is about
        the square root of its length times its width); estimated from the frames when
        omitted. The frames' typical cell (its diameter, length and width) is measured either
        way: `res.metadata["cell_size"]`, absent where none was found.
    polarity: "bright" for cells brighter than the background (fluorescence), "dark" for
        darker ones (phase contrast, brightfield: the network sees them negated); "auto"
        (default) tells them apart from the frames. `res.metadata["polarity"]` says which.
    backend: "browser" runs the model in the attached JupyterLab (WebGPU, else WebAssembly),
        with a progress bar under the cell; "kernel" in this Python process with onnxruntime;
        "auto" (default) in the browser when a JupyterLab with cellpoint answers, else in the
        kernel, and says which; frames to track in tiles (`tile`) always in the kernel.
    window: frames the tracker sees at once (RAW window length).
    detection_threshold, visibility_threshold, division_threshold, sister_threshold: RAW's
        thresholds (`cellpoint.engine.raw.RawParams`): a new cell's heatmap peak, a cell still seen,
        both daughter slots lit, the sister head's peak that splits a mother.
    min_separation: model px (the model sees a typical cell 24 px across): a heatmap peak
        nearer a living cell than this is that cell, and no two new cells start nearer each
        other. None (default): 12, half a cell, where a nucleus' newborn daughters lie; 24, a
        whole cell, for cells stained whole (cytoplasm), on which the heatmap can peak more
        than once: bright cells at least twice as long as wide whose near heatmap peaks lie
        on ridges (`cellpoint.engine.separation`).
    min_cycle: frames a cell born by division lives before she can divide again (1: any);
        lower it only where the frames are hours apart.
        Each of these RAW parameters but min_separation, where not passed, is the browser's
        JupyterLab setting (Settings Editor, cellpoint) when the browser tracks, else the
        model's default (`RawParams`); `res.metadata["params"]` holds the values used.
    lineage: "global" (default) decides divisions over the whole sequence
        (`cellpoint.engine.lineage`): a cell that begins beside another with no mother becomes
        her daughter where the sister head names the two sisters, and each division is timed
        at the frame where the head saw the daughters born most strongly within a few frames
        after RAW's call; "greedy" keeps RAW's calls.
    tile: how the kernel backend tracks large frames: in overlapping tiles, one at a time, so
        that memory follows the tile, not the frame, stitched into one result
        (`cellpoint.engine.tiling`). None (default): tiles frames larger than 1024 x 1024 px at
        the model's scale (nuclei 24 px across); False: never; True: always; a number: in tiles
        of at most that many pixels a side. `res.metadata["tiling"]` says how a result was
        tiled. The browser tracks whole frames.
    progress: report frames done and cells found while tracking; a function is called with
        (frames done, cells found) instead, in the kernel.
    browser_backend: force WebGPU or WASM in the browser; None: the user's settings there.
    threads: the threads the network runs on: onnxruntime's in the kernel (None: every core),
        WebAssembly's in the browser (more than one only on a cross-origin isolated page, see
        the README; None: the user's settings there).
    review: also show the review viewer under the cell, filled as the browser tracks (at each
        checkpoint) or, in the kernel, when tracking ends; its decisions change the result.

    Returns the `TrackingResult`. Where this kernel cannot hear the browser while the cell runs
    (before ipykernel 7 / JupyterLab 4.4), `backend="browser"` returns a `TrackingJob` at once
    instead, and says so: read `job.result()` in a later cell. A browser job that fails raises
    `TrackingError`, whose `job` keeps the frames done (`job.partial`) and can `job.resume()`.
    """
    frames = FrameStack(stack)
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")
    if backend not in BACKENDS:
        raise ValueError(
            f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}"
        )
    passed: dict[str, Any] = {
        "window": window,
        "detection_threshold": detection_threshold,
        "visibility_threshold": visibility_threshold,
        "division_threshold": division_threshold,
        "sister_threshold": sister_threshold,
        "min_separation": min_separation,
        "min_cycle": min_cycle,
    }
    requested = {name: value for name, value in passed.items() if value is not None}
    params = RawParams(**requested)  # checks the values before any work starts
    check_lineage(lineage)
    if backend == "browser" and tile is not None and tile is not False:
        raise ValueError(f'backend="browser" tracks whole frames: tile={tile!r} is for the kernel')

    @functools.cache
    def network() -> OnnxCap:
        """The network in this process, on `threads`: made once, where it is first needed (the
        separation's look of cells stained whole, tracking in the kernel)."""
        return OnnxCap(threads=threads or 0)

    look, diameter, size = estimate_look(frames, polarity, diameter)
    estimated: dict[str, Any] = {} if size is None else {"cell_size": size.describe()}
    if min_separation is None:
        requested["min_separation"] = separation_for(frames, look, diameter, size, params, network)
        params = RawParams(**requested)
    _, height, width = frames.shape
    tiled = tile is not False and (tile is not None or needs_tiles(height, width, diameter))
    side = None if isinstance(tile, bool) else tile
    if tiled:
        plan_tiles(height, width, diameter, side)  # checks the tile before any work starts

    def track_here() -> TrackingResult:
        text = _TextProgress(len(frames)) if progress is True else None
        reporter = text or (progress if callable(progress) else None)
        model = network()
        if tiled:
            result = track_tiled(
                frames,
                diameter,
                params,
                tile=side,
                model=model,
                on_progress=reporter,
                lineage=lineage,
                polarity=look,
            )
        else:
            result = track_kernel(
                frames, diameter, params, model, reporter, lineage=lineage, polarity=look
            )
        if text:
            text.close()
        result.metadata.update(estimated)
        return result

    # Frames to tile go to the kernel: the browser tracks whole frames only.
    if backend == "kernel" or (backend == "auto" and (tiled or not in_kernel())):
        result = track_here()
        if review and in_kernel():
            from IPython.display import display

            display(result.review())  # type: ignore[no-untyped-call]
        return result
    if not in_kernel():
        raise RuntimeError(
            'backend="browser" needs a Jupyter kernel with JupyterLab attached; in a script '
            'use backend="kernel" (the same model, with onnxruntime)'
        )
    from .job.job import TrackingJob, run

    job = TrackingJob(
        frames,
        diameter,
        requested,
        browser_backend,
        lineage=lineage,
        threads=threads,
        polarity=look,
        metadata=estimated,
    )
    return run(job, fallback=track_here if backend == "auto" else None, review=review)


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel a frontend can be attached to."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


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
