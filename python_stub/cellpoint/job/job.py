"""The browser backend: a tracking job that runs the CAP network in the attached JupyterLab.

The kernel side of a tracking job (docs/architecture.md). A `TrackingJob` owns one `JobWidget`; its
view (the progress bar under the cell) and its model live in the browser, where the model runs the
engine. The browser pulls frames a request at a time (`get-frames`, each answer under
`MAX_MESSAGE_BYTES`), reports progress, and sends RAW's tables (model pixels) as checkpoints while
it works and as the result at the end, in parts under `MAX_MESSAGE_BYTES` (codec.py). Every message
from the browser is checked against `schema/job-messages.schema.json` first.

Where comm messages reach the kernel while a cell runs (ipykernel >= 7 with JupyterLab >= 4.4
sends them on a subshell) `wait()` blocks with a watchdog: a browser that stops talking for
`SILENCE_TIMEOUT_S` ends the job. Elsewhere messages arrive only between cells; the job then
runs after the cell ends and `result()` is read in a later cell. A job that fails keeps its last
checkpoint (`partial`), and `resume()` goes on from it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..engine.infer import Lineage, check_lineage, model_card, to_result
from ..engine.preprocess import Geometry, Polarity, Preprocessor, check_polarity
from ..engine.raw import RawParams
from ..io.frames import FrameStack
from ..io.result import TrackingResult
from ..io.tables import empty_divisions, empty_lineage, empty_tracks
from ..review.widget import ReviewWidget
from ..widgets import answer
from .codec import (
    MAX_MESSAGE_BYTES,
    Checkpoint,
    MessageError,
    TableAssembly,
    check_from_browser,
    encode_tables,
)
from .widget import JobWidget

PROTOCOL = 3
READY_TIMEOUT_S = 10.0
SILENCE_TIMEOUT_S = 30.0  # the browser reports at least every 2 s while it works


class TrackingError(RuntimeError):
    """A tracking job that did not finish; `job` keeps what was tracked (`job.partial`) and
    can go on from there (`job.resume()`)."""

    def __init__(self, message: str, job: TrackingJob) -> None:
        super().__init__(message)
        self.job = job


class TrackingJob:
    """One run of the CAP network in the browser on one stack.

    `result()` gives the `TrackingResult`, `cancel()` stops the run, `await job` waits where the
    kernel hears the browser while a cell runs; `partial` holds the tables of the frames done
    so far and `resume()` goes on from them after a failure.
    """

    def __init__(
        self,
        frames: FrameStack,
        diameter: float,
        params: Mapping[str, Any],
        backend: str | None = None,
        checkpoint: Checkpoint | None = None,
        lineage: Lineage = "global",
        threads: int | None = None,
        polarity: Polarity = "bright",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        RawParams(**params)  # the browser checks them too; fail here, before any transfer
        check_lineage(lineage)
        self.lineage = lineage
        self.frames = frames
        self.diameter = diameter
        self.polarity = check_polarity(polarity)
        self.metadata = dict(metadata or {})  # for the result's metadata: the estimates made
        # RAW's parameters the user passed; the browser takes the others from its settings
        # and says which values it used (`used_params`) when the run ends.
        self.params = dict(params)
        self.used_params: dict[str, float] | None = None
        self.backend_choice = backend
        self.threads_choice = threads
        self.checkpoint = checkpoint
        self.geometry = Geometry.for_diameter(frames.shape[1], frames.shape[2], diameter)
        # Frames travel as the network's inputs (this backend's preprocessing: normalised,
        # resized, zero-padded float32) where those are smaller than the stack's own frames: fewer
        # bytes to move, and numpy's preprocessing instead of the browser's.
        model_h, model_w = self.geometry.padded
        own_bytes = frames.shape[1] * frames.shape[2] * frames.wire_dtype.itemsize
        self._model_inputs = (
            Preprocessor(self.geometry, polarity=self.polarity)
            if model_h * model_w * 4 < own_bytes
            else None
        )
        if self._model_inputs is None:
            self._frame_shape, self._frame_dtype = frames.shape[1:], frames.wire_dtype
        else:
            self._frame_shape, self._frame_dtype = self.geometry.padded, np.dtype("<f4")
        self._lock = threading.RLock()
        self._ready = threading.Event()
        self._done = threading.Event()
        self._result: TrackingResult | None = None
        self._error: str | None = None
        self._assembling: dict[int, TableAssembly] = {}
        self._finished_tables: dict[int, Checkpoint] = {}
        self._completed: set[int] = set()
        self._last_heard = time.monotonic()
        self._started = 0.0
        self._result_started = 0.0
        self._viewers: list[ReviewWidget] = []
        # True once a message arrived on another thread than the one that made the job: the
        # kernel then hears the browser while a cell runs, and waiting is safe.
        self.concurrent = False
        self._main_thread = threading.get_ident()
        self.widget = JobWidget(
            shape=list(frames.shape),
            frame_shape=list(self._frame_shape),
            dtype=self._frame_dtype.name,
            model_inputs=self._model_inputs is not None,
            diameter=float(diameter),
            polarity=polarity,
            params=self.params,
            backend_choice=backend or "",
            threads_choice=threads or 0,
            n_frames=frames.shape[0],
        )
        self.widget.on_msg(self._on_msg)
        # ipykernel >= 7.4 hands a comm's incoming messages to the subshell that last sent on
        # it: here the main shell, busy with the very cell that waits for them. Let them go
        # where JupyterLab sends them instead, the comm target's own subshell, which runs
        # while the cell waits. (Older kernels have no such routing; the attribute is unused.)
        if self.widget.comm is not None:
            self.widget.comm._reply_subshell_for = lambda _data, default: default

    # --- what the user sees -------------------------------------------------------------
    @property
    def status(self) -> str:
        return str(self.widget.status)

    @property
    def progress(self) -> dict[str, Any]:
        w = self.widget
        return {"frames_done": w.frames_done, "n_frames": w.n_frames, "cells": w.cells,
                "backend": w.backend, "eta_s": w.eta_s}  # fmt: skip

    @property
    def partial(self) -> TrackingResult | None:
        """The tables of the frames done so far (input pixels), or None before any."""
        with self._lock:
            checkpoint = self.checkpoint
        if checkpoint is None:
            return None
        return self._to_result(checkpoint, {"partial": True, "frames_done": checkpoint.t_cur + 1})

    def result(self, timeout: float | None = None) -> TrackingResult:
        """The tables; waits for them where the kernel hears the browser while a cell runs."""
        if not self._done.is_set() and not self.concurrent:
            raise TrackingError(
                f"the job is {self.status} ({self.widget.frames_done}/{self.widget.n_frames} "
                "frames): this kernel hears the browser only between cells, so run "
                "`job.result()` again in a later cell once the bar says done",
                self,
            )
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> TrackingResult:
        """Blocks until the job ends; a browser silent for SILENCE_TIMEOUT_S ends it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._done.wait(0.25):
                silent = time.monotonic() - self._last_heard
                if self.status == "running" and silent > SILENCE_TIMEOUT_S:
                    self._fail(
                        f"the browser stopped answering {silent:.0f} s ago (page closed or "
                        "reloaded, or the connection lost)"
                    )
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"the job is still {self.status} after {timeout} s")
        except KeyboardInterrupt:
            self.cancel("interrupted")
            raise TrackingError("tracking was interrupted", self) from None
        if self._error is not None:
            raise TrackingError(self._error, self)
        assert self._result is not None
        return self._result

    def cancel(self, reason: str = "cancelled by the user") -> None:
        """Stops the run; the frames done stay in `partial`."""
        if not self._done.is_set():
            self.widget.send({"type": "cancel", "reason": reason})
            self._fail(f"tracking was cancelled: {reason}", "cancelled")

    def resume(self) -> TrackingResult | TrackingJob:
        """Goes on from this job's last checkpoint in a new job shown in the current cell: its
        result where the kernel can wait for it, else the new job (as `track` does)."""
        # The values this run used, so that a setting changed since does not apply halfway.
        params = self.used_params if self.used_params is not None else self.params
        job = TrackingJob(self.frames, self.diameter, params, self.backend_choice,
                          checkpoint=self.checkpoint, lineage=self.lineage,
                          threads=self.threads_choice, polarity=self.polarity,
                          metadata=self.metadata)  # fmt: skip
        return run(job, fallback=None)

    def __await__(self) -> Generator[Any, None, TrackingResult]:
        import asyncio

        while not self._done.is_set():
            yield from asyncio.sleep(0.2).__await__()
        return self.wait()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return (
            f"TrackingJob({self.status}, {self.widget.frames_done}/{self.widget.n_frames} frames)"
        )

    def close(self) -> None:
        self.widget.close()

    # --- running ------------------------------------------------------------------------
    def wait_ready(self, timeout: float) -> bool:
        """Whether the browser's model said it is ready within `timeout` seconds."""
        return self._ready.wait(timeout)

    def start(self) -> None:
        with self._lock:
            self.widget.status = "running"
            self._started = time.monotonic()
            self._last_heard = time.monotonic()
            resume_seq = None
            if self.checkpoint is not None:
                resume_seq = 0
                for message, buffers in encode_tables(
                    self.checkpoint.columns, resume_seq, "resume", self.checkpoint.t_cur
                ):
                    self.widget.send(message, buffers)
            self.widget.send({"type": "start", "resume_seq": resume_seq})

    def _on_msg(self, _widget: Any, content: Any, buffers: list[bytes]) -> None:
        if threading.get_ident() != self._main_thread:
            self.concurrent = True
        self._last_heard = time.monotonic()
        if self._done.is_set():
            return  # a job that has ended ignores late messages
        try:
            check_from_browser(content)
            self._handle(content, [bytes(b) for b in buffers])
        except MessageError as error:
            self.widget.send({"type": "cancel", "reason": str(error)})
            self._fail(f"the browser broke the job's protocol: {error}")
        except Exception as error:
            self._fail(f"{type(error).__name__}: {error}")

    def _handle(self, message: dict[str, Any], buffers: list[bytes]) -> None:
        kind = message["type"]
        if kind == "ready":
            if self._ready.is_set():
                return  # the browser saying it again, or another page's view of this job
            if message["protocol"] != PROTOCOL:
                raise MessageError(f"protocol {message['protocol']}, this kernel speaks {PROTOCOL}")
            self._ready.set()
            if self.status == "waiting" and not self.concurrent:
                self.start()  # a job that could not wait starts as soon as the browser is there
        elif self.status != "running":
            raise MessageError(f"a {kind!r} message while the job is {self.status}")
        elif kind == "get-frames":
            self._send_frames(message)
        elif kind == "starting":
            self.widget.stage = "starting"
        elif kind == "progress":
            self._progress(message)
        elif kind == "tables":
            self._tables(message, buffers)
        elif kind == "done":
            tables = self._finished_tables.pop(message["seq"], None)
            if tables is None:
                raise MessageError(f"done with tables {message['seq']}, which did not all arrive")
            now = time.monotonic()
            seconds = {
                **message["seconds"],
                "return": now - self._result_started,
                "call": now - self._started,
            }
            metadata = {
                "backend": f"browser ({message['backend']})",
                "fallback_reason": message["fallback_reason"],
                "threads": message["threads"]["count"],
                "cross_origin_isolated": message["threads"]["cross_origin_isolated"],
                "threads_reason": message["threads"]["reason"],
                "seconds": seconds,
                "frame_bytes": message["frame_bytes"],
                "frames_sent": "stack" if self._model_inputs is None else "model inputs",
            }
            self.used_params = message["params"]
            result = self._to_result(tables, metadata)
            with self._lock:
                self._result = result
                self.widget.status = "done"
                self.widget.frames_done = self.frames.shape[0]
                self._done.set()
            self._refresh_viewers()
        elif kind == "failed":
            if message["params"] is not None:
                self.used_params = message["params"]
            if message["seq"] is not None and message["seq"] in self._finished_tables:
                self.checkpoint = self._finished_tables.pop(message["seq"])
            self._fail(f"{message['name']}: {message['message']}")

    def _send_frames(self, message: dict[str, Any]) -> None:
        first, count = message["first"], message["count"]
        n = self.frames.shape[0]
        if first + count > n:
            raise MessageError(f"frames {first} to {first + count - 1} asked of a {n}-frame stack")
        frame_bytes = int(np.prod(self._frame_shape)) * self._frame_dtype.itemsize
        if count > 1 and count * frame_bytes > MAX_MESSAGE_BYTES:
            raise MessageError(f"{count} frames of {frame_bytes} bytes in one message")
        error = answer(self.widget, message, lambda: self._frame_bytes(first, count))
        if error is not None:
            raise error  # the job fails here too, saying why

    def _frame_bytes(self, first: int, count: int) -> tuple[dict[str, Any], list[bytes]]:
        data = [self._sent(t).tobytes() for t in range(first, first + count)]
        return {"first": first, "count": count, "dtype": self._frame_dtype.name}, data

    def _sent(self, t: int) -> npt.NDArray[Any]:
        """Frame t as it travels: the stack's own, or the network's input."""
        if self._model_inputs is None:
            return self.frames.wire(t)
        return np.ascontiguousarray(self._model_inputs(self.frames[t]), self._frame_dtype)

    def _progress(self, message: dict[str, Any]) -> None:
        done, total = message["frames_done"], message["n_frames"]
        if total != self.frames.shape[0] or done > total:
            raise MessageError(
                f"progress of {done}/{total} frames for a {self.frames.shape[0]}-frame stack"
            )
        rate = message["seconds"] / max(done - self._resumed_frames(), 1)
        with self.widget.hold_sync():
            self.widget.stage = "tracking"
            self.widget.frames_done = done
            self.widget.cells = message["cells"]
            self.widget.backend = message["backend"]
            self.widget.eta_s = round(rate * (total - done), 1)

    def _resumed_frames(self) -> int:
        return 0 if self.checkpoint is None else self.checkpoint.t_cur + 1

    def _tables(self, message: dict[str, Any], buffers: list[bytes]) -> None:
        seq = message["seq"]
        if seq in self._completed:
            raise MessageError(f"tables {seq} again, after all their parts arrived")
        assembly = self._assembling.get(seq)
        if assembly is None:
            if message["kind"] == "result":
                self._result_started = time.monotonic()
            assembly = TableAssembly(message["kind"], message["t_cur"], message["parts"],
                                      dict(message["rows"]))  # fmt: skip
            self._assembling[seq] = assembly
        elif (assembly.kind, assembly.parts) != (message["kind"], message["parts"]):
            raise MessageError(f"tables {seq}: parts disagree on kind or count")
        assembly.add(message, buffers)
        if assembly.complete():
            del self._assembling[seq]
            self._completed.add(seq)
            tables = assembly.checkpoint()
            if assembly.kind == "checkpoint":
                with self._lock:
                    self.checkpoint = tables
                self._refresh_viewers()
            else:
                self._finished_tables[seq] = tables

    def review(self) -> ReviewWidget:
        """A review viewer of this job: the tables of the frames done so far, refreshed at
        every checkpoint, then the result, whose divisions it lets you decide."""
        viewer = ReviewWidget(self.partial or _no_tracks(self.frames), self.frames)
        self._viewers.append(viewer)
        self._refresh_viewers()
        return viewer

    def _refresh_viewers(self) -> None:
        with self._lock:
            result, partial = self._result, (None if self._result else self.partial)
        for viewer in self._viewers:
            if result is not None:
                viewer.show(result)
            elif partial is not None:
                done = partial.metadata["frames_done"]
                viewer.grow(partial, done - 1, f"tracking: {done}/{len(self.frames)} frames")

    def _fail(self, message: str, status: str = "failed") -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._error = message
            with self.widget.hold_sync():
                self.widget.status = status
                self.widget.message = message
            self._done.set()
        for viewer in self._viewers:
            viewer.note = f"tracking {status}: {message}"

    def _to_result(self, tables: Checkpoint, extra: dict[str, Any]) -> TrackingResult:
        card = model_card()
        raw = tables.raw()
        params = self.used_params if self.used_params is not None else self.params
        metadata = {
            "model": card["name"],
            "diameter": self.diameter,
            "polarity": self.polarity,
            # The values used, once the browser has said; before that what the user passed.
            "params": params,
            "windows": len(raw.windows),
            **self.metadata,
            **extra,
        }
        return to_result(raw, self.geometry, self.frames, metadata, RawParams(**params),
                         self.lineage)  # fmt: skip


def run(
    job: TrackingJob, fallback: Callable[[], TrackingResult] | None, review: bool = False
) -> TrackingResult | TrackingJob:
    """Shows the job under the cell (with its review viewer if `review`) and runs it in the
    browser: its result where the kernel hears the browser while the cell runs; where no
    browser answers in READY_TIMEOUT_S, the `fallback`'s result (after saying why), or else
    the job itself, which starts when the browser's messages arrive after the cell ends."""
    from IPython.display import display

    display(job.widget)  # type: ignore[no-untyped-call]
    if review:
        display(job.review())  # type: ignore[no-untyped-call]
    if job.wait_ready(READY_TIMEOUT_S):
        job.start()
        return job.wait()
    why = (
        f"no JupyterLab with the cellpoint extension answered within {READY_TIMEOUT_S:.0f} s "
        "while this cell runs (that needs comms on kernel subshells: ipykernel >= 7 and "
        "JupyterLab >= 4.4)"
    )
    if fallback is not None:
        job.close()
        print(f"cellpoint: {why}; tracking in the kernel instead (same model, onnxruntime)")
        result = fallback()
        if review:
            display(result.review())  # type: ignore[no-untyped-call]
        return result
    print(
        f"cellpoint: {why}. The job starts when the browser's messages arrive, after this "
        "cell; read `job.result()` in a later cell once the bar says done."
    )
    return job


def _no_tracks(frames: FrameStack) -> TrackingResult:
    return TrackingResult(empty_tracks(), empty_lineage(), empty_divisions(), frames.shape,
                          frames=frames)  # fmt: skip
