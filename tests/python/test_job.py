"""cellpoint.job.job.TrackingJob, the kernel's side of the browser backend, driven by a browser
played here: its messages go into the widget as the comm delivers them, the kernel's come out of
`widget.send`. The real transport, and the TypeScript side, are exercised by
tests/browser/test_track.py; this checks the kernel's bookkeeping message by message: frames
served as asked, tables put together from parts, the contract enforced, failures kept.
"""

from __future__ import annotations

import threading
from typing import Any

import cellpoint.job.job
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from cellpoint.engine.infer import to_result
from cellpoint.engine.preprocess import Geometry, Preprocessor
from cellpoint.engine.raw import RawParams
from cellpoint.io.frames import FrameStack
from cellpoint.io.result import TrackingResult
from cellpoint.job.codec import (
    MAX_MESSAGE_BYTES,
    TABLE_COLUMNS,
    Checkpoint,
    Columns,
    TableAssembly,
    check_from_browser,
    encode_tables,
    wire_dtype,
)
from cellpoint.job.job import PROTOCOL, TrackingError, TrackingJob

Array = npt.NDArray[Any]


def raw_columns(n_frames: int, n_tracks: int = 3) -> Columns:
    """RAW tables (model pixels) of `n_tracks` cells, the last of which divides at frame 3."""
    ids, ts, xs, ys = [], [], [], []
    for k in range(1, n_tracks + 1):
        last = 2 if k == n_tracks else n_frames - 1
        for t in range(last + 1):
            ids.append(k)
            ts.append(t)
            xs.append(10.0 * k + 0.25 * t)
            ys.append(5.0 + 0.5 * t)
    ends = [n_frames - 1] * (n_tracks - 1) + [2]
    lineage = {"track_id": list(range(1, n_tracks + 1)), "start": [0] * n_tracks,
               "end": ends, "parent_id": [0] * n_tracks}  # fmt: skip
    for d in (n_tracks + 1, n_tracks + 2):  # the daughters
        lineage["track_id"].append(d)
        lineage["start"].append(3)
        lineage["end"].append(n_frames - 1)
        lineage["parent_id"].append(n_tracks)
        for t in range(3, n_frames):
            ids.append(d)
            ts.append(t)
            xs.append(40.0 + d)
            ys.append(30.0 + t)
    return {
        "tracks": {"track_id": np.array(ids, np.int32), "t": np.array(ts, np.int32),
                   "x": np.array(xs), "y": np.array(ys),
                   "visibility": np.full(len(ids), 0.9, np.float32)},
        "lineage": {k: np.array(v, np.int32) for k, v in lineage.items()},
        "divisions": {"parent_id": np.array([n_tracks], np.int32), "t": np.array([3], np.int32),
                      "daughter_a": np.array([n_tracks + 1], np.int32),
                      "daughter_b": np.array([n_tracks + 2], np.int32),
                      "score": np.array([0.8])},
        "sisters": {"t": np.array([3, 3], np.int32),
                    **{k: np.array(v, np.float32) for k, v in
                       {"xa": [40.5, 10], "ya": [30.25, 11], "xb": [42.5, 12],
                        "yb": [33.75, 13], "score": [0.875, 0.25]}.items()}},
        "windows": {"first": np.array([0, 3], np.int32),
                    "length": np.array([4, n_frames - 3], np.int32),
                    "queries": np.array([3, 4], np.int32)},
    }  # fmt: skip


def cut(columns: Columns, t_cur: int) -> Columns:
    """The tables as a checkpoint at `t_cur` holds them."""
    out = {table: dict(cols) for table, cols in columns.items()}
    rows = columns["tracks"]["t"] <= t_cur
    out["tracks"] = {k: v[rows] for k, v in columns["tracks"].items()}
    started = columns["lineage"]["start"] <= t_cur
    out["lineage"] = {k: v[started] for k, v in columns["lineage"].items()}
    out["lineage"]["end"] = np.minimum(out["lineage"]["end"], t_cur)
    divided = columns["divisions"]["t"] <= t_cur
    out["divisions"] = {k: v[divided] for k, v in columns["divisions"].items()}
    named = columns["sisters"]["t"] <= t_cur
    out["sisters"] = {k: v[named] for k, v in columns["sisters"].items()}
    return out


class PlayedBrowser:
    """Says what the browser says; records what the kernel sends it."""

    def __init__(self, job: TrackingJob) -> None:
        self.job = job
        self.sent: list[tuple[dict[str, Any], list[bytes]]] = []
        job.widget.send = lambda content, buffers=None: self.sent.append(
            (content, list(buffers or []))
        )

    def say(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        self.job.widget._handle_custom_msg(content, buffers or [])

    def say_tables(self, columns: Columns, seq: int, kind: str, t_cur: int) -> int:
        parts = list(encode_tables(columns, seq, kind, t_cur))
        for message, buffers in parts:
            self.say(message, buffers)
        return len(parts)

    def last(self, kind: str) -> dict[str, Any]:
        return next(m for m, _ in reversed(self.sent) if m["type"] == kind)


@pytest.fixture
def frames() -> Array:
    rng = np.random.default_rng(3)
    return rng.integers(0, 4000, (6, 40, 48)).astype(np.uint16)


def make_job(frames: Array, **kwargs: Any) -> tuple[TrackingJob, PlayedBrowser]:
    job = TrackingJob(FrameStack(frames), 14.0, {"window": 4}, **kwargs)
    return job, PlayedBrowser(job)


def expected_result(job: TrackingJob, columns: Columns) -> TrackingResult:
    raw = Checkpoint(columns, len(job.frames) - 1).raw()
    params = RawParams(**(job.used_params or job.params))
    return to_result(raw, job.geometry, job.frames, {}, params, job.lineage)


# RAW's parameters as a browser reports them: the job's window, its settings' detection
# threshold, the rest RAW's defaults.
USED = {**RawParams(window=4, detection_threshold=0.3).__dict__}
ONE_THREAD = {"count": 1, "cross_origin_isolated": False, "reason": "not isolated"}


def test_a_job_runs_from_ready_to_done(frames: Array) -> None:
    job, played = make_job(frames)
    assert job.widget.shape == [6, 40, 48]
    # At 14 px cells are drawn larger for the network: the stack's own frames are smaller.
    assert (job.widget.frame_shape, job.widget.dtype) == ([40, 48], "uint16")
    assert not job.widget.model_inputs
    assert job.widget.params == {"window": 4}  # only what the user passed: settings do the rest
    played.say({"type": "ready", "protocol": PROTOCOL})
    # Messages that arrive between cells start the job at once.
    assert played.sent[-1][0] == {"type": "start", "resume_seq": None}
    assert job.status == "running"

    played.say({"type": "get-frames", "id": 7, "first": 2, "count": 3})
    reply, buffers = played.sent[-1]
    assert reply == {"type": "reply", "id": 7, "ok": True, "first": 2, "count": 3,
                     "dtype": "uint16"}  # fmt: skip
    assert buffers == [frames[t].astype("<u2").tobytes() for t in (2, 3, 4)]

    # The engine was not warm: it starts first, a step of its own on the bar.
    played.say({"type": "starting"})
    assert job.widget.stage == "starting"
    played.say({"type": "progress", "frames_done": 3, "n_frames": 6, "cells": 4,
                "backend": "wasm", "seconds": 1.5})  # fmt: skip
    assert job.widget.stage == "tracking"
    assert job.progress == {"frames_done": 3, "n_frames": 6, "cells": 4, "backend": "wasm",
                            "eta_s": 1.5}  # fmt: skip

    columns = raw_columns(6)
    played.say_tables(cut(columns, 3), 1, "checkpoint", 3)
    partial = job.partial
    assert partial is not None
    assert partial.tracks["t"].max() == 3
    assert partial.metadata["params"] == {"window": 4}  # the browser has not said yet
    played.say_tables(columns, 2, "result", 5)
    played.say({"type": "done", "seq": 2, "backend": "wasm", "fallback_reason": None,
                "threads": ONE_THREAD, "seconds": {"encode": 1.0, "track": 0.5},
                "frame_bytes": 23040, "params": USED})  # fmt: skip
    assert job.status == "done"
    result = job.result()
    want = expected_result(job, columns)
    pd.testing.assert_frame_equal(result.tracks, want.tracks)
    pd.testing.assert_frame_equal(result.lineage, want.lineage)
    pd.testing.assert_frame_equal(result.divisions, want.divisions)
    assert list(result.divisions["status"]) == ["proposed"]
    assert result.metadata["backend"] == "browser (wasm)"
    seconds = result.metadata["seconds"]
    assert (seconds["encode"], seconds["track"]) == (1.0, 0.5)
    assert 0 <= seconds["return"] <= seconds["call"]
    assert result.metadata["frame_bytes"] == 23040
    assert result.metadata["frames_sent"] == "stack"
    assert result.metadata["params"] == USED
    assert (result.metadata["threads"], result.metadata["cross_origin_isolated"]) == (1, False)
    assert result.metadata["threads_reason"] == ONE_THREAD["reason"]


def test_frames_travel_as_the_networks_inputs_where_those_are_smaller() -> None:
    """48 px cells are drawn at half size for the network: the kernel sends its preprocessing of
    each frame (what its own backend feeds the encoder), 64 x 64 float32 for 100 x 120 uint16."""
    frames = np.random.default_rng(5).integers(0, 4000, (4, 100, 120)).astype(np.uint16)
    job = TrackingJob(FrameStack(frames), 48.0, {}, polarity="dark")
    played = PlayedBrowser(job)
    assert (job.widget.frame_shape, job.widget.dtype) == ([64, 64], "float32")
    assert job.widget.model_inputs
    played.say({"type": "ready", "protocol": PROTOCOL})
    played.say({"type": "get-frames", "id": 3, "first": 1, "count": 2})
    reply, buffers = played.sent[-1]
    assert reply == {"type": "reply", "id": 3, "ok": True, "first": 1, "count": 2,
                     "dtype": "float32"}  # fmt: skip
    prep = Preprocessor(Geometry.for_diameter(100, 120, 48.0), polarity="dark")
    assert buffers == [prep(frames[t].astype(np.float32)).astype("<f4").tobytes() for t in (1, 2)]
    columns = raw_columns(4)
    played.say_tables(columns, 1, "result", 3)
    played.say({"type": "done", "seq": 1, "backend": "wasm", "fallback_reason": None,
                "threads": ONE_THREAD, "seconds": {}, "frame_bytes": 4 * 64 * 64 * 4,
                "params": USED})  # fmt: skip
    assert job.result().metadata["frames_sent"] == "model inputs"


def test_the_jobs_viewer_follows_the_checkpoints_then_takes_decisions(frames: Array) -> None:
    job, played = make_job(frames)
    viewer = job.review()
    assert viewer.tracks["track_id"].tolist() == []  # nothing tracked yet
    assert viewer.shape == [6, 40, 48]
    viewer_sent: list[dict[str, Any]] = []
    viewer_buffers: list[list[Any]] = []

    def send(content: dict[str, Any], buffers: list[Any] | None = None) -> None:
        viewer_sent.append(content)
        viewer_buffers.append(list(buffers or []))

    viewer.send = send
    played.say({"type": "ready", "protocol": PROTOCOL})
    columns = raw_columns(6)
    played.say_tables(cut(columns, 3), 1, "checkpoint", 3)
    assert max(viewer.tracks["t"].tolist()) == 3
    assert (viewer.editable, viewer.note) == (False, "tracking: 4/6 frames")
    viewer._handle_custom_msg({"type": "status", "id": 1, "parent_id": 3, "status": "rejected"}, [])
    assert not viewer_sent[-1]["ok"]
    assert "tracking still runs" in viewer_sent[-1]["error"]

    # The next checkpoint goes as what changed: rows after frame 3 are new, and the lineage
    # rows of the tracks living at 3 (their ends moved on); the synced tables stay.
    played.say_tables(cut(columns, 4), 3, "checkpoint", 4)
    growth = viewer_sent[-1]
    assert growth["type"] == "grow"
    assert growth["since"] == 3
    # Typed columns, as the synced tables: one buffer each, where buffer_paths says.
    paths, buffers = growth["buffer_paths"], viewer_buffers[-1]
    little = {tuple(p): wire_dtype(*p) for p in paths}
    grown = {p: np.frombuffer(b, little[p]) for p, b in zip(little, buffers, strict=True)}
    assert set(grown[("tracks", "t")]) == {4}
    assert grown[("tracks", "track_id")].tolist() == [1, 2, 4, 5]
    assert grown[("lineage", "track_id")].tolist() == [1, 2, 4, 5]
    assert grown[("lineage", "end")].tolist() == [4, 4, 4, 4]
    assert grown[("divisions", "parent_id")].tolist() == []
    assert growth["divisions"] == {"status": []}
    assert max(viewer.tracks["t"].tolist()) == 3
    assert viewer.note == "tracking: 5/6 frames"

    played.say_tables(columns, 2, "result", 5)
    played.say({"type": "done", "seq": 2, "backend": "wasm", "fallback_reason": None,
                "threads": ONE_THREAD, "seconds": {}, "frame_bytes": 23040,
                "params": USED})  # fmt: skip
    assert (viewer.editable, viewer.note) == (True, "")
    assert max(viewer.tracks["t"].tolist()) == 5
    viewer._handle_custom_msg({"type": "status", "id": 2, "parent_id": 3, "status": "rejected"}, [])
    assert viewer_sent[-1]["ok"]
    assert job.result().divisions["status"].tolist() == ["rejected"]  # the user's result


def test_tables_travel_in_parts_under_the_message_limit() -> None:
    n = 700_000  # about 20 MB of tracks
    columns = raw_columns(6)
    columns["tracks"] = {
        "track_id": np.repeat(np.arange(1, n // 7 + 1, dtype=np.int32), 7)[:n],
        "t": np.tile(np.arange(7, dtype=np.int32), n // 7 + 1)[:n],
        "x": np.linspace(0, 1000, n),
        "y": np.linspace(5, 500, n),
        "visibility": np.linspace(0, 1, n).astype(np.float32),
    }
    parts = list(encode_tables(columns, 4, "result", 5))
    assert len(parts) > 2
    for message, buffers in parts:
        assert sum(len(b) for b in buffers) <= MAX_MESSAGE_BYTES
        check_from_browser(message)
    assembly = TableAssembly("result", 5, len(parts), parts[0][0]["rows"])
    for message, buffers in reversed(parts):  # any order
        assembly.add(message, buffers)
    assert assembly.complete()
    back = assembly.checkpoint().columns
    for table, names in TABLE_COLUMNS.items():
        for name in names:
            np.testing.assert_array_equal(back[table][name], columns[table][name])


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ({"type": "teleport"}, "is not valid under any of the given schemas"),
        ({"type": "get-frames", "id": 1, "first": 0}, "'count' is a required property"),
        (
            {"type": "get-frames", "id": 1, "first": -1, "count": 1},
            "-1 is less than the minimum of 0",
        ),
        (
            {
                "type": "progress",
                "frames_done": 1,
                "n_frames": 6,
                "cells": 1,
                "backend": "cuda",
                "seconds": 1,
            },
            "'cuda' is not one of ['webgpu', 'wasm']",
        ),
        ({"type": "get-frames", "id": 1, "first": 5, "count": 2}, "asked of a 6-frame stack"),
        (
            {
                "type": "done",
                "seq": 9,
                "backend": "wasm",
                "fallback_reason": None,
                "threads": ONE_THREAD,
                "seconds": {},
                "frame_bytes": 0,
                "params": USED,
            },
            "which did not all arrive",
        ),
        (
            {
                "type": "progress",
                "frames_done": 9,
                "n_frames": 6,
                "cells": 1,
                "backend": "wasm",
                "seconds": 1,
            },
            "progress of 9/6 frames",
        ),
        ({"type": "ready", "protocol": 99}, None),  # a second ready is a second view: ignored
    ],
)
def test_a_message_that_breaks_the_contract_ends_the_job(
    frames: Array, message: dict[str, Any], why: str | None
) -> None:
    job, played = make_job(frames)
    played.say({"type": "ready", "protocol": PROTOCOL})
    played.say_tables(cut(raw_columns(6), 2), 1, "checkpoint", 2)
    played.say(message)
    if why is None:
        assert job.status == "running"
        return
    assert job.status == "failed"
    assert played.last("cancel")["reason"]
    assert why in job.widget.message
    assert "broke the job's protocol" in job.widget.message
    with pytest.raises(TrackingError, match="broke the job's protocol") as failure:
        job.result()
    # What was tracked before stays with the job.
    partial = failure.value.job.partial
    assert partial is not None
    assert partial.tracks["t"].max() == 2


def test_a_frame_that_cannot_be_read_is_refused_and_ends_the_job(
    frames: Array, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, played = make_job(frames)
    played.say({"type": "ready", "protocol": PROTOCOL})
    wire = job.frames.wire

    def broken(t: int) -> Array:
        if t == 3:
            raise OSError("frame 3: the file is gone")
        return wire(t)

    monkeypatch.setattr(job.frames, "wire", broken)
    played.say({"type": "get-frames", "id": 4, "first": 2, "count": 2})
    reply, buffers = played.sent[-1]
    assert reply == {"type": "reply", "id": 4, "ok": False, "error": "frame 3: the file is gone"}
    assert buffers == []
    assert job.status == "failed"
    assert job.widget.message == "OSError: frame 3: the file is gone"


def test_messages_before_start_and_parts_out_of_order_are_refused(frames: Array) -> None:
    job, played = make_job(frames)
    played.say({"type": "get-frames", "id": 1, "first": 0, "count": 1})
    assert job.status == "failed"
    assert "a 'get-frames' message while the job is waiting" in job.widget.message

    job, played = make_job(frames)
    played.say({"type": "ready", "protocol": PROTOCOL})
    message, buffers = next(encode_tables(raw_columns(6), 3, "result", 5))
    played.say(message, buffers)
    played.say(message, buffers)
    assert job.status == "failed"
    assert "tables 3 again" in job.widget.message

    job, played = make_job(frames)
    played.say({"type": "ready", "protocol": PROTOCOL})
    played.say(message, buffers[:-1])
    assert "columns" in job.widget.message
    assert "buffers" in job.widget.message


def test_a_failure_in_the_browser_keeps_its_partial_tables(frames: Array) -> None:
    job, played = make_job(frames)
    played.say({"type": "ready", "protocol": PROTOCOL})
    played.say_tables(cut(raw_columns(6), 4), 5, "partial", 4)
    played.say({"type": "failed", "name": "ModelIntegrityError", "message": "tracker.onnx does "
                "not match the model card", "frames_done": 5, "seq": 5,
                "params": USED})  # fmt: skip
    assert job.status == "failed"
    with pytest.raises(TrackingError, match=r"ModelIntegrityError: tracker\.onnx does not"):
        job.result()
    partial = job.partial
    assert partial is not None
    assert partial.metadata["frames_done"] == 5
    assert partial.metadata["params"] == USED
    assert partial.tracks["t"].max() == 4


def test_a_silent_browser_ends_a_waiting_job(
    frames: Array, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cellpoint.job.job, "SILENCE_TIMEOUT_S", 0.5)
    job, played = make_job(frames)
    # The browser's messages arrive on another thread (a kernel subshell) while the cell waits.
    speaker = threading.Thread(target=played.say, args=({"type": "ready", "protocol": PROTOCOL},))
    speaker.start()
    speaker.join()
    assert job.concurrent
    assert job.wait_ready(1)
    job.start()
    played.say_tables(cut(raw_columns(6), 3), 1, "checkpoint", 3)
    with pytest.raises(TrackingError, match="the browser stopped answering"):
        job.wait(timeout=10)
    assert job.status == "failed"
    partial = job.partial
    assert partial is not None
    assert partial.tracks["t"].max() == 3


def test_resume_sends_the_checkpoint_then_starts_from_it(frames: Array) -> None:
    job, played = make_job(frames)
    played.say({"type": "ready", "protocol": PROTOCOL})
    columns = cut(raw_columns(6), 3)
    played.say_tables(columns, 1, "checkpoint", 3)
    job.cancel("the user pressed stop")
    assert job.status == "cancelled"
    assert played.last("cancel") == {"type": "cancel", "reason": "the user pressed stop"}

    again, played_again = make_job(frames, checkpoint=job.checkpoint)
    played_again.say({"type": "ready", "protocol": PROTOCOL})
    *tables, start = played_again.sent
    assert start[0] == {"type": "start", "resume_seq": 0}
    assembly = TableAssembly("resume", 3, len(tables), tables[0][0]["rows"])
    for message, buffers in tables:
        assert message["kind"] == "resume"
        assembly.add(message, buffers)
    sent_back = assembly.checkpoint()
    assert sent_back.t_cur == 3
    np.testing.assert_array_equal(sent_back.columns["tracks"]["x"], columns["tracks"]["x"])
    # Progress after a resume estimates the time left from the frames this job did.
    played_again.say({"type": "progress", "frames_done": 5, "n_frames": 6, "cells": 5,
                      "backend": "webgpu", "seconds": 2.0})  # fmt: skip
    assert again.progress["eta_s"] == 2.0


def test_a_thread_count_travels_to_the_browser(frames: Array) -> None:
    job, _ = make_job(frames)
    assert job.widget.threads_choice == 0  # the user's settings in the browser
    job, _ = make_job(frames, threads=2)
    assert job.widget.threads_choice == 2


def test_result_before_done_says_to_ask_again_later(frames: Array) -> None:
    job, played = make_job(frames)
    played.say({"type": "ready", "protocol": PROTOCOL})
    with pytest.raises(TrackingError, match=r"run `job.result\(\)` again in a later cell"):
        job.result()
    assert "running" in repr(job)


def test_track_outside_a_kernel(frames: Array) -> None:
    import cellpoint as cp

    with pytest.raises(RuntimeError, match='backend="browser" needs a Jupyter kernel'):
        cp.track(frames, diameter=14.0, backend="browser")
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'browser', 'kernel'"):
        cp.track(frames, diameter=14.0, backend="gpu")  # type: ignore[call-overload]
    # "auto" with no kernel around runs in this process: what is passed, else RAW's defaults.
    result = cp.track(frames, diameter=14.0, progress=False, window=3)
    assert isinstance(result, cp.TrackingResult)
    assert result.metadata["backend"] == "kernel"
    assert result.metadata["params"] == {**RawParams().__dict__, "window": 3}
    with pytest.raises(ValueError, match="detection_threshold must be in"):
        cp.track(frames, diameter=14.0, backend="browser", detection_threshold=2)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads must be a whole number >= 1"):
            cp.track(frames, diameter=14.0, threads=bad)  # type: ignore[arg-type]
    # A function hears the kernel's progress: (frames done, cells found).
    heard: list[tuple[int, int]] = []
    cp.track(frames, diameter=14.0, progress=lambda *a: heard.append(a), threads=1)
    assert heard[-1][0] == len(frames)
    assert heard[-1][1] > 0
