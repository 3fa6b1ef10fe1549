"""The shipped model: present, matching its card, and tracking end to end in the kernel."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from cellpoint import StackError, evaluate, load_sample, track
from cellpoint.engine.infer import (
    MODELS_DIR,
    FeatureCache,
    ModelError,
    OnnxCap,
    Timings,
    model_card,
)
from cellpoint.engine.judge import HISTORY
from cellpoint.engine.preprocess import Geometry, Polarity, Preprocessor
from cellpoint.engine.raw import RawParams
from cellpoint.eval.sim import simulate
from cellpoint.io.frames import FrameStack
from cellpoint.io.result import TrackingResult


def test_model_card_describes_the_shipped_files() -> None:
    card = model_card()
    assert card["name"] == "cap-v1"
    assert set(card["files"]) == {"encoder.onnx", "tracker.onnx", "sisters.onnx"}
    for name, info in card["files"].items():
        assert (MODELS_DIR / name).stat().st_size == info["bytes"]
    assert card["input"]["canonical_diameter"] > 0
    assert "training" in card


def test_graphs_run_with_dynamic_sizes() -> None:
    model = OnnxCap()
    feats, heat = model.encode(np.zeros((96, 128), np.float32))
    assert feats.shape == (24, 32, model.card["encoder"]["feature_dim"])  # channel-last
    assert heat.shape == (24, 32)
    queries = np.array([[0, 40.0, 30.0], [0, 80.0, 60.0]], np.float32)
    points, vis = model.track(np.stack([feats] * 5), queries)
    assert points.shape == (5, 2, 3, 2)
    assert vis.shape == (5, 2, 3)
    assert float(vis.min()) >= 0
    assert float(vis.max()) <= 1
    assert model.has_sisters
    sister_map = model.sisters(feats, feats)
    assert sister_map.shape == (3, 24, 32)
    assert 0 <= float(sister_map[0].min()) <= float(sister_map[0].max()) <= 1


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)
    data = bytearray((models / "tracker.onnx").read_bytes())
    data[-1] ^= 0xFF
    (models / "tracker.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"tracker\.onnx does not match the model card"):
        OnnxCap(models)


def test_track_in_the_kernel_finds_the_sample_cells() -> None:
    seq = load_sample("sim-small")
    res = track(seq.frames, diameter=seq.config.diameter, backend="kernel", progress=False)
    assert res.metadata["backend"] == "kernel"
    assert res.shape == seq.frames.shape
    assert res.tracks["y"].between(0, 127).all()
    assert res.tracks["x"].between(0, 127).all()
    # A floor, not the model's figure (see models/cap-v1.json): most cells are found and
    # followed. The early shipped checkpoint measures DET ~0.7 here.
    report = evaluate(res, seq)
    assert report.det > 0.5


SIGNS: tuple[tuple[Polarity, int], ...] = (("bright", 1), ("dark", -1))


def test_dark_cells_are_tracked_as_their_negative() -> None:
    # polarity="dark" negates frames before normalising them: the negative of a fluorescence
    # stack, tracked as dark cells, gives the stack's own tables, to the bit; "auto" tells the
    # two apart. The same for tiles, which normalise over the whole frame themselves.
    seq = load_sample("sim-small")
    frames = seq.frames.astype(np.float32)
    diameter = seq.config.diameter
    bright = track(frames, diameter=diameter, backend="kernel", progress=False)
    dark = track(-frames, diameter=diameter, polarity="dark", backend="kernel", progress=False)
    auto = track(-frames, diameter=diameter, backend="kernel", progress=False)
    assert len(bright.tracks) > 0
    for res in (dark, auto):
        assert res.metadata["polarity"] == "dark"
        pd.testing.assert_frame_equal(res.tracks, bright.tracks)
        pd.testing.assert_frame_equal(res.lineage, bright.lineage)
    assert bright.metadata["polarity"] == "bright"
    field = simulate("small", seed=3, n_frames=6, height=256, width=256).frames.astype(np.float32)
    tiled = {
        polarity: track(
            sign * field, diameter=diameter, polarity=polarity, tile=128, backend="kernel",
            progress=False,
        )
        for polarity, sign in SIGNS
    }  # fmt: skip
    assert tiled["bright"].metadata["tiling"]["grid"] != [1, 1]
    assert len(tiled["bright"].tracks) > 0
    assert tiled["dark"].metadata["polarity"] == "dark"
    pd.testing.assert_frame_equal(tiled["dark"].tracks, tiled["bright"].tracks)


def test_track_estimates_the_cell_size_it_was_not_given() -> None:
    seq = load_sample("sim-small")
    res = track(seq.frames, backend="kernel", progress=False)
    size = res.metadata["cell_size"]
    assert res.metadata["diameter"] == size["diameter"]
    assert size["length"] >= size["width"] > 0
    # Given a diameter, it tracks at it; the cells are measured all the same.
    given = track(seq.frames, diameter=14.0, backend="kernel", progress=False)
    assert given.metadata["diameter"] == 14.0
    assert given.metadata["cell_size"] == size


def test_track_refuses_an_unknown_polarity() -> None:
    with pytest.raises(
        ValueError, match=r'polarity must be "bright" .* or "dark" .*, got .inverted.'
    ):
        track(np.zeros((3, 64, 64), np.uint8), diameter=10.0, polarity="inverted")  # type: ignore[call-overload]


def test_track_refuses_a_single_frame_before_any_work() -> None:
    with pytest.raises(StackError, match="the stack has 1 frame; tracking needs at least 2"):
        track(np.zeros((1, 64, 64), np.uint8))


@pytest.mark.parametrize(
    ("passed", "message"),
    [
        ({"min_cycle": 0}, r"min_cycle must be a whole number of frames >= 1, got 0"),
        ({"min_separation": 0.0}, r"min_separation must be positive, got 0.0"),
    ],
)
def test_track_checks_raw_params_before_any_work(passed: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        track(np.zeros((3, 64, 64), np.uint8), diameter=10.0, backend="kernel", **passed)


def test_track_keeps_new_cells_apart_by_min_separation() -> None:
    """Wider apart, fewer heatmap peaks are cells of their own: fewer points, further apart."""
    seq = load_sample("sim-small")

    def median_nearest(res: TrackingResult) -> float:
        nearest = []
        for _, frame in res.tracks.groupby("t"):
            xy = frame[["x", "y"]].to_numpy()
            d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
            np.fill_diagonal(d, np.inf)
            nearest.append(d.min())
        return float(np.median(nearest))

    default = track(seq.frames, diameter=14.0, backend="kernel", progress=False)
    wide = track(seq.frames, diameter=14.0, backend="kernel", progress=False, min_separation=36)
    assert default.metadata["params"]["min_separation"] == RawParams().min_separation
    assert wide.metadata["params"]["min_separation"] == 36
    assert len(wide.tracks) < len(default.tracks)
    assert median_nearest(wide) > median_nearest(default)


@pytest.mark.parametrize("keep_frames", [True, False])
def test_feature_cache_keeps_preprocessed_frames_only_for_the_judge(keep_frames: bool) -> None:
    frames = np.random.default_rng(0).random((12, 32, 32)).astype(np.float32)
    prep = Preprocessor(Geometry.for_diameter(32, 32, 24.0))
    calls: list[int] = []

    def counted(frame: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
        calls.append(1)
        return prep(frame)

    cache = FeatureCache(FrameStack(frames), counted, OnnxCap(), Timings(), keep_frames, 4)
    for t in range(10):
        cache.forget_before(t)
        cache.heatmap(t)
    assert len(calls) == 10  # each frame preprocessed once to encode it
    cache.model_frame(9 - HISTORY)  # the judge's oldest frame at t = 9
    assert len(calls) == (10 if keep_frames else 11)
    cache.model_frame(8 - HISTORY)  # older: gone either way, preprocessed again
    assert len(calls) == (11 if keep_frames else 12)


def test_feature_cache_gives_windows_as_views_of_frames_encoded_once() -> None:
    # RAW's pattern: a window from each start, heatmaps and sister pairs inside it; starts
    # move forward. The features stay in one array of `capacity` frames, whatever the length.
    frames = np.random.default_rng(1).random((30, 32, 32)).astype(np.float32)
    prep = Preprocessor(Geometry.for_diameter(32, 32, 24.0))
    model = OnnxCap()
    encoded: list[int] = []

    class Counted:
        card, has_sisters, judge = model.card, model.has_sisters, model.judge
        track, sisters = model.track, model.sisters

        def encode(self, frame: npt.NDArray[np.float32]) -> Any:
            encoded.append(1)
            return model.encode(frame)

    window = 6
    cache = FeatureCache(FrameStack(frames), prep, Counted(), Timings(), False, window)
    first = 0
    arrays = set()
    while first < len(frames) - 1:
        length = min(window, len(frames) - first)
        cache.forget_before(first)
        feats = cache.window(first, length)
        arrays.add(id(feats.base))
        for i, t in enumerate(range(first, first + length)):
            np.testing.assert_array_equal(feats[i], model.encode(prep(frames[t]))[0])
        # An event at the second frame restarts the window there; else it hands over at its end.
        last = first + 2 if first % 3 else first + length - 1
        for t in range(first + 1, min(last, len(frames) - 1) + 1):
            pair = cache.window(t - 1, 2)
            np.testing.assert_array_equal(pair, feats[t - 1 - first : t + 1 - first])
            cache.forget_before(t)
            cache.heatmap(t)
        first = last
    assert len(encoded) == len(frames)
    assert len(arrays) == 1  # never copied out or reallocated
    assert cache.peak_bytes == window * feats[0].nbytes
