"""The kernel backend: the shipped ONNX graphs run with onnxruntime under RAW inference.

The browser engine does the same with onnxruntime-web; this module is its reference.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..io.frames import FrameStack
from ..io.result import TrackingResult
from ..io.tables import divisions_from_lineage
from .judge import HISTORY, TreeJudge
from .lineage import global_lineage
from .preprocess import Geometry, Polarity, Preprocessor
from .raw import PairJudge, RawParams, RawResult, raw_inference

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
MODEL_NAME = "cap-v1"
FEATURE_LAYOUT = "channel-last"  # features [h, w, C] a frame between the graphs (cap.export)
FloatArray = npt.NDArray[np.float32]
# How divisions are timed: over the whole sequence (lineage.py), or as RAW called them.
Lineage = Literal["global", "greedy"]
LINEAGES = ("global", "greedy")


def check_lineage(lineage: str) -> None:
    if lineage not in LINEAGES:
        raise ValueError(
            f"lineage must be one of {', '.join(map(repr, LINEAGES))}, got {lineage!r}"
        )


class ModelError(RuntimeError):
    """The shipped model is missing or does not match its model card."""


def model_card(models_dir: Path = MODELS_DIR) -> dict[str, Any]:
    path = models_dir / f"{MODEL_NAME}.json"
    if not path.exists():
        raise ModelError(
            f"no model card at {path}: the package was installed without its trained model"
        )
    card: dict[str, Any] = json.loads(path.read_text())
    layout = card.get("encoder", {}).get("feature_layout")
    if layout != FEATURE_LAYOUT:
        raise ModelError(
            f"the model at {models_dir} hands features over as {layout or 'channel-first'}, "
            f"this cellpoint reads them {FEATURE_LAYOUT}: reinstall cellpoint"
        )
    return card


class CapModel(Protocol):
    """What RAW inference needs of the network: ONNX sessions here, PyTorch in validation."""

    card: dict[str, Any]
    has_sisters: bool  # whether `sisters` works (models before it have no sister head)
    judge: TreeJudge | None  # the division judge (judge.py), where the model ships one

    def encode(self, frame: FloatArray) -> tuple[FloatArray, FloatArray]: ...

    def track(self, features: FloatArray, queries: FloatArray) -> tuple[FloatArray, FloatArray]: ...

    def sisters(self, previous: FloatArray, current: FloatArray) -> FloatArray: ...


def load_judge(models_dir: Path, card: dict[str, Any]) -> TreeJudge | None:
    """The division judge the model card names, checked against its hash; None if none."""
    info = card.get("judge")
    if info is None:
        return None
    path = models_dir / info["file"]
    if not path.exists():
        raise ModelError(f"{path} is missing")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != info["sha256"]:
        raise ModelError(f"{path} does not match the model card (sha256 {digest[:12]}...)")
    return TreeJudge.from_json(json.loads(data))


class OnnxCap:
    """The CAP graphs in onnxruntime sessions, checked against the model card's hashes."""

    def __init__(self, models_dir: Path = MODELS_DIR, threads: int = 0) -> None:
        import onnxruntime as ort

        self.card = model_card(models_dir)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # A memory pattern is planned and kept for every distinct input shape, and the tracker
        # sees a new (frames, cells) shape nearly every window: kept, they grow the process
        # by megabytes a window. Without them the arena reuses its blocks for every shape.
        options.enable_mem_pattern = False
        sessions = {}
        for name, info in self.card["files"].items():
            path = models_dir / name
            if not path.exists():
                raise ModelError(f"{path} is missing")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != info["sha256"]:
                raise ModelError(
                    f"{path} does not match the model card (sha256 {digest[:12]}..., card says "
                    f"{info['sha256'][:12]}...): reinstall cellpoint"
                )
            sessions[name] = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        self._encoder = sessions["encoder.onnx"]
        self._tracker = sessions["tracker.onnx"]
        self._sisters = sessions.get("sisters.onnx")
        self.has_sisters = self._sisters is not None
        self.judge = load_judge(models_dir, self.card)

    def encode(self, frame: FloatArray) -> tuple[FloatArray, FloatArray]:
        """One preprocessed frame [H', W'] -> features [h, w, C], heatmap [h, w]."""
        feats, heat = self._encoder.run(None, {"frames": frame[None, None]})
        return feats[0], heat[0, 0]

    def track(self, features: FloatArray, queries: FloatArray) -> tuple[FloatArray, FloatArray]:
        """features [T, h, w, C], queries [N, 3] -> points [T, N, 3, 2], visibility [T, N, 3]."""
        points, vis = self._tracker.run(
            None, {"features": features[None], "queries": queries[None]}
        )
        return points[0], vis[0]

    def sisters(self, previous: FloatArray, current: FloatArray) -> FloatArray:
        """Features [h, w, C] of frames t - 1 and t -> the sister map [3, h, w]."""
        if self._sisters is None:
            raise ModelError("this model has no sister head (sisters.onnx)")
        (out,) = self._sisters.run(None, {"previous": previous[None], "current": current[None]})
        sister_map: FloatArray = out[0]
        return sister_map


@dataclass
class Timings:
    preprocess: float = 0.0
    encode: float = 0.0
    track: float = 0.0
    sisters: float = 0.0


class FeatureCache:
    """Encodes each frame once, into one array of `capacity` frames in which the frames RAW
    still needs lie in order, so that a window's features go to the tracker as a view, not as a
    copy. RAW only moves forward: frames before the current window are dropped and their slots
    reused, so memory stays bounded by the window length whatever T is."""

    def __init__(
        self,
        stack: FrameStack,
        prep: Callable[[npt.NDArray[np.generic]], FloatArray],  # a Preprocessor
        model: CapModel,
        timings: Timings,
        keep_frames: bool,
        capacity: int,
    ) -> None:
        self._stack, self._prep, self._model, self._timings = stack, prep, model, timings
        self._capacity = capacity
        self._features: FloatArray | None = None  # [capacity, h, w, C], made at the first frame
        self._base = 0  # the frame in slot 0
        self._start = self._end = 0  # frames start .. end - 1 are held
        self._heatmaps: dict[int, FloatArray] = {}
        # Preprocessed frames, kept HISTORY frames longer than features, only for the judge.
        self._keep_frames = keep_frames
        self._frames: dict[int, FloatArray] = {}
        self.peak_bytes = 0  # the most bytes of features held at once

    def heatmap(self, t: int) -> FloatArray:
        """Frame t's heatmap [h, w]."""
        self._hold(t)
        return self._heatmaps[t]

    def window(self, first: int, length: int) -> FloatArray:
        """The features of frames first .. first + length - 1, [length, h, w, C]: a view, valid
        until the next frame is encoded."""
        for t in range(first, first + length):
            self._hold(t)
        assert self._features is not None
        return self._features[first - self._base : first - self._base + length]

    def model_frame(self, t: int) -> FloatArray:
        """Frame t preprocessed (the division judge reads brightness HISTORY frames back)."""
        if t not in self._frames:
            self._frames[t] = self._preprocess(t)
        return self._frames[t]

    def forget_before(self, t: int) -> None:
        self._start = max(self._start, t)
        self._end = max(self._end, self._start)
        for old in [k for k in self._heatmaps if k < t]:
            del self._heatmaps[old]
        for old in [k for k in self._frames if k < t - HISTORY]:
            del self._frames[old]

    def _preprocess(self, t: int) -> FloatArray:
        t0 = time.perf_counter()
        frame = self._prep(self._stack[t])
        self._timings.preprocess += time.perf_counter() - t0
        return frame

    def _hold(self, t: int) -> None:
        if not self._start <= t < self._end:
            self._encode(t)

    def _encode(self, t: int) -> None:
        if t != self._end:  # not the next frame: the frames held no longer follow on
            self._heatmaps.clear()
            self._base = self._start = t
        frame = self.model_frame(t) if self._keep_frames else self._preprocess(t)
        t1 = time.perf_counter()
        features, heatmap = self._model.encode(frame)
        self._timings.encode += time.perf_counter() - t1
        if self._features is None:
            self._features = np.empty((self._capacity, *features.shape), features.dtype)
        if t - self._base >= len(self._features):
            self._make_room()
        assert self._features is not None
        self._features[t - self._base] = features
        self._heatmaps[t] = heatmap
        self._end = t + 1
        self.peak_bytes = max(self.peak_bytes, (self._end - self._start) * features.nbytes)

    def _make_room(self) -> None:
        """Moves the frames held to the first slots, a frame at a time (no two slots overlap);
        doubles the array if they fill it (RAW never holds more than a window)."""
        assert self._features is not None
        held = self._end - self._start
        if held >= len(self._features):
            self._features = np.concatenate([self._features, np.empty_like(self._features)])
        shift = self._start - self._base
        for slot in range(held):
            self._features[slot] = self._features[slot + shift]
        self._base = self._start


def track_kernel(
    stack: FrameStack,
    diameter: float,
    params: RawParams,
    model: CapModel | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    judge: PairJudge | None = None,
    lineage: Lineage = "global",
    polarity: Polarity = "bright",
) -> TrackingResult:
    """Tracks a checked stack in this process; coordinates come back in input pixels. `judge`
    stands in for the model's division judge (training records its candidates so); `lineage`
    as `to_result`'s; `polarity`, whether cells are brighter or darker than the background."""
    run = run_kernel(stack, diameter, params, model, on_progress, judge, polarity=polarity)
    return run.result(lineage)


@dataclass
class KernelRun:
    """RAW's tables of a run in this process (model pixels), before the lineage step."""

    raw: RawResult
    geometry: Geometry
    stack: FrameStack
    params: RawParams
    metadata: dict[str, Any]

    def result(self, lineage: Lineage = "global") -> TrackingResult:
        return to_result(self.raw, self.geometry, self.stack, self.metadata, self.params, lineage)


def run_kernel(
    stack: FrameStack,
    diameter: float,
    params: RawParams,
    model: CapModel | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    judge: PairJudge | None = None,
    *,
    normalised: bool = False,
    polarity: Polarity = "bright",
) -> KernelRun:
    """RAW on a checked stack in this process (`track_kernel` without the lineage step).
    `normalised`: the frames come normalised already (`Preprocessor`'s), for `polarity`."""
    model = model if model is not None else OnnxCap()
    t, h, w = stack.shape
    geometry = Geometry.for_diameter(h, w, diameter)
    timings = Timings()
    judge = judge if judge is not None else model.judge
    judging = judge is not None and model.has_sisters  # RAW judges sister pairs only
    capacity = min(params.window, t)
    prep = Preprocessor(geometry, normalised, polarity)
    cache = FeatureCache(stack, prep, model, timings, judging, capacity)

    def track_window(first: int, length: int, queries: FloatArray) -> tuple[FloatArray, FloatArray]:
        cache.forget_before(first)
        feats = cache.window(first, length)
        t0 = time.perf_counter()
        out = model.track(feats, queries)
        timings.track += time.perf_counter() - t0
        return out

    def heatmap(i: int) -> FloatArray:
        # RAW asks for frame i's heatmap only once every window it needs has started at or
        # after i, and after frame i's sisters, so earlier frames can go (this bounds memory
        # through cell-free stretches).
        cache.forget_before(i)
        return cache.heatmap(i)

    def sister_map(i: int) -> FloatArray:
        previous, current = cache.window(i - 1, 2)
        t0 = time.perf_counter()
        out = model.sisters(previous, current)
        timings.sisters += time.perf_counter() - t0
        return out

    start = time.perf_counter()
    raw = raw_inference(
        t,
        heatmap,
        track_window,
        params,
        on_progress,
        sister_map if model.has_sisters else None,
        cache.model_frame if judging else None,
        judge if judging else None,
    )
    metadata = {
        "backend": "kernel",
        "model": model.card["name"],
        "model_sha256": {k: v["sha256"][:16] for k, v in model.card["files"].items()},
        "diameter": diameter,
        "polarity": polarity,
        "params": params.__dict__,
        "windows": len(raw.windows),
        # Frames the tracker ran over, summed over its calls: a window restarts at each event,
        # so every frame is tracked in each window that spans it.
        "tracker_frames": sum(length for _, length, _ in raw.windows),
        "peak_feature_bytes": cache.peak_bytes,
        "peak_held_tracks": raw.peak_held_tracks,
        "seconds": {
            "total": time.perf_counter() - start,
            "preprocess": timings.preprocess,
            "encode": timings.encode,
            "track": timings.track,
            "sisters": timings.sisters,
        },
    }
    return KernelRun(raw, geometry, stack, params, metadata)


def to_result(
    raw: RawResult,
    geometry: Geometry,
    frames: FrameStack,
    metadata: dict[str, Any],
    params: RawParams,
    lineage: Lineage = "global",
) -> TrackingResult:
    """RAW output in model pixels -> the result's tables in input pixels, its divisions timed
    over the whole sequence (lineage.py) unless `lineage` is "greedy" (as RAW called them)."""
    check_lineage(lineage)
    if lineage == "global":
        raw = global_lineage(raw, params)
    metadata = {**metadata, "lineage": lineage}
    shape = frames.shape
    y, x = geometry.to_input(raw.tracks["y"], raw.tracks["x"])
    # Points may drift into the padding; they still belong to the frame's edge.
    y = np.clip(y, 0, shape[1] - 1)
    x = np.clip(x, 0, shape[2] - 1)
    tracks = pd.DataFrame(
        {
            "track_id": raw.tracks["track_id"],
            "t": raw.tracks["t"],
            "y": y,
            "x": x,
            "visibility": raw.tracks["visibility"],
        }
    ).sort_values(["track_id", "t"], kind="stable", ignore_index=True)
    lineage_table = pd.DataFrame(raw.lineage)
    scores = dict(
        zip(raw.divisions["parent_id"].tolist(), raw.divisions["score"].tolist(), strict=True)
    )
    divisions = divisions_from_lineage(lineage_table, scores=scores, status="proposed")
    return TrackingResult(tracks, lineage_table, divisions, shape, metadata, frames)
