"""The shared test vectors (tests/vectors, written by make_vectors.py) against the current Python.

The TypeScript engine is held to these files by tests/jest/engine-*.test.ts; these tests hold
the Python reference to the same files, so that a change to one host without the other fails:

- every RAW vector is replayed through `raw_inference` (recorded heatmaps; a tracker that
  answers only the recorded calls) and must give the recorded tables, windows and progress;
- `find_peaks`, `normalise`, `resize_weights`, `Geometry` and `Preprocessor` must give the
  recorded outputs for the recorded inputs;
- regenerating the vectors must give the committed files (else: run make_vectors.py, and run
  jest, which then tells whether the TypeScript engine still agrees).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from cellpoint.engine.infer import model_card
from cellpoint.engine.judge import TreeJudge, box_mean, pair_features
from cellpoint.engine.preprocess import (
    Geometry,
    Polarity,
    Preprocessor,
    normalise,
    resize_weights,
)
from cellpoint.engine.raw import RawParams, find_peaks, raw_inference
from make_vectors import MODEL_VECTOR, VECTORS, build_all, dec, model_vector, skewed_frame

Array = npt.NDArray[Any]
Json = dict[str, Any]
FILES = ["raw-scenes.json", "raw-sisters.json", "raw-judge.json"]
FILES += ["raw-turnover.json", "raw-sim-small.json", "raw-sim-hard.json"]
FILES += ["peaks.json"]
FILES += ["preprocess.json", "judge.json"]


def load(name: str) -> Json:
    data: Json = json.loads((VECTORS / name).read_text())
    return data


RAW_CASES = [
    pytest.param(case, id=f"{name}:{case['name']}")
    for name in FILES
    if name.startswith("raw-")
    for case in load(name)["cases"]
]


def test_vector_files_are_small() -> None:
    for name in FILES:
        size = Path(VECTORS / name).stat().st_size
        assert size < 200_000, f"{name}: {size} bytes"


@pytest.mark.parametrize("case", RAW_CASES)
def test_raw_inference_replays_to_the_recorded_tables(case: Json) -> None:
    q = dec(case["heatmaps"]["q"])
    scale = np.float32(case["heatmaps"]["scale"])
    calls = iter(case["calls"])
    reads: list[int] = []

    def heatmap(t: int) -> npt.NDArray[np.float32]:
        reads.append(t)
        out: npt.NDArray[np.float32] = q[t].astype(np.float32) * scale
        return out

    def track_window(first: int, length: int, queries: Array) -> tuple[Array, Array]:
        call = next(calls, None)
        assert call is not None, f"an extra tracker call at {first}"
        assert (first, length) == (call["first"], call["length"])
        np.testing.assert_allclose(queries, dec(call["queries"]), rtol=0, atol=1e-4)
        return dec(call["points"]), dec(call["visibility"])

    sister_reads: list[int] = []
    recorded = case["sister_maps"]

    def sister_map(t: int) -> npt.NDArray[np.float32]:
        sister_reads.append(t)
        frames = dec(recorded["frames"]).tolist()
        assert t in frames, f"no sister map was read at frame {t}"
        out: npt.NDArray[np.float32] = dec(recorded["maps"])[frames.index(t)]
        return out

    frame_reads: list[int] = []
    judged = case["judge"]

    def model_frame(t: int) -> npt.NDArray[np.float32]:
        frame_reads.append(t)
        frames = dec(judged["frames"]).tolist()
        assert t in frames, f"no model frame was read at frame {t}"
        out: npt.NDArray[np.float32] = dec(judged["q"])[frames.index(t)].astype(np.float32)
        return out * np.float32(judged["scale"])

    progress: list[tuple[int, int]] = []
    result = raw_inference(
        case["n_frames"],
        heatmap,
        track_window,
        RawParams(**case["params"]),
        lambda done, cells: progress.append((done, cells)),
        sister_map if recorded else None,
        model_frame if judged else None,
        TreeJudge.from_json(json.loads(judged["judge"])) if judged else None,
    )
    assert next(calls, None) is None, "fewer tracker calls than recorded"
    assert reads == list(range(case["n_frames"]))
    assert sister_reads == (dec(recorded["frames"]).tolist() if recorded else [])
    assert sorted(set(frame_reads)) == (dec(judged["frames"]).tolist() if judged else [])
    expected = case["expected"]
    for table in ("tracks", "lineage", "divisions", "sisters"):
        got = getattr(result, table)
        assert sorted(got) == sorted(expected[table])
        for column, encoded in expected[table].items():
            np.testing.assert_array_equal(got[column], dec(encoded), err_msg=f"{table}.{column}")
    np.testing.assert_array_equal(
        np.array(result.windows, np.int64).reshape(-1, 3), dec(expected["windows"])
    )
    np.testing.assert_array_equal(np.array(progress).reshape(-1, 2), dec(expected["progress"]))
    assert result.peak_held_tracks == expected["peak_held_tracks"]
    if case["divisions_on_time"] is not None:  # the CTC's convention, as the ground truth's
        assert sorted(result.divisions["t"].tolist()) == case["divisions_on_time"]


def test_the_simulated_vectors_pin_when_divisions_are_called() -> None:
    cases = [case for name in FILES if name.startswith("raw-") for case in load(name)["cases"]]
    on_time = {case["name"]: case["divisions_on_time"] for case in cases}
    on_time = {name: frames for name, frames in on_time.items() if frames}
    assert set(on_time) == {"sim_small", "sim_hard_crop"}
    assert sum(len(frames) for frames in on_time.values()) >= 3


@pytest.mark.parametrize("case", load("peaks.json")["cases"], ids=lambda c: c["name"])
def test_find_peaks_gives_the_recorded_peaks(case: Json) -> None:
    peaks = find_peaks(dec(case["heatmap"]), case["threshold"], case["min_separation"])
    np.testing.assert_array_equal(peaks, dec(case["expected"]))


def test_preprocessing_gives_the_recorded_outputs() -> None:
    v = load("preprocess.json")
    cases: tuple[tuple[str, str, Polarity], ...] = (
        ("frame", "normalised", "bright"),
        ("frame_float", "normalised_float", "bright"),
        ("frame_uint8", "normalised_uint8", "bright"),
        ("frame", "normalised_dark", "dark"),
        ("frame_float", "normalised_float_dark", "dark"),
    )
    for source, expected, polarity in cases:
        got = normalise(dec(v[source]), polarity)
        np.testing.assert_array_equal(got, dec(v[expected]), err_msg=expected)
    for s in v["skewed_frames"]:
        out = normalise(skewed_frame(s["height"], s["width"])).reshape(-1)
        np.testing.assert_array_equal(out[dec(s["indices"])], dec(s["expected"]))
    for w in v["weights"]:
        np.testing.assert_allclose(
            resize_weights(w["n_in"], w["n_out"]), dec(w["expected"]), rtol=0, atol=1e-7
        )
    for g in v["geometries"]:
        geo = Geometry.for_diameter(g["height"], g["width"], g["diameter"])
        assert (geo.scale, list(geo.resized), list(geo.padded)) == (
            g["scale"],
            g["resized"],
            g["padded"],
        )
        my, mx = geo.to_model(dec(g["input_y"]), dec(g["input_x"]))
        np.testing.assert_array_equal(my, dec(g["model_y"]))
        np.testing.assert_array_equal(mx, dec(g["model_x"]))
        iy, ix = geo.to_input(my, mx)
        np.testing.assert_array_equal(iy, dec(g["back_y"]))
        np.testing.assert_array_equal(ix, dec(g["back_x"]))
    frame = dec(v["frame"])
    for f in v["frames"]:
        geo = Geometry.for_diameter(frame.shape[0], frame.shape[1], f["diameter"])
        # A float32 matrix product: BLAS may sum in another order on another machine.
        prep = Preprocessor(geo, polarity=f["polarity"])
        np.testing.assert_allclose(prep(frame), dec(f["expected"]), atol=1e-6)


def same(got: Any, want: Any, where: str, atol: float = 1e-6) -> None:
    """Vectors equal, encoded arrays compared decoded (floats to `atol`: BLAS and libm may
    differ in the last bits between machines)."""
    if isinstance(want, dict) and "zlib" in want:
        a, b = dec(got), dec(want)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=where)
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(want, dict):
        assert isinstance(got, dict), where
        assert list(got) == list(want), where
        for key in want:
            same(got[key], want[key], f"{where}.{key}", atol)
    elif isinstance(want, list):
        assert isinstance(got, list), where
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            same(g, w, f"{where}[{i}]", atol)
    else:
        assert got == want, where


def test_the_committed_vectors_are_current() -> None:
    fresh = build_all()
    assert sorted(fresh) == sorted(FILES)
    for name, vector in fresh.items():
        # Through JSON, as the file was written.
        same(json.loads(json.dumps(vector)), load(name), name)


def test_the_model_vector_is_the_shipped_models_answer() -> None:
    committed = load(MODEL_VECTOR)
    files = model_card()["files"]
    assert committed["sha256"] == {name: f["sha256"] for name, f in files.items()}, (
        "tests/vectors/model.json was made with another model: run make_vectors.py"
    )
    # A real network's floats: equal to a tolerance, not to the bit, across CPUs.
    same(json.loads(json.dumps(model_vector())), committed, MODEL_VECTOR, atol=1e-4)


def test_judge_parts_give_the_recorded_outputs() -> None:
    v = load("judge.json")
    frame = dec(v["frame"])
    for box in v["boxes"]:
        assert box_mean(frame, box["x"], box["y"]) == box["mean"]
    for pair in v["pairs"]:
        history, sisters = dec(pair["history"]).tolist(), tuple(dec(pair["sisters"]).tolist())
        got = pair_features(
            pair["score"], pair["half"], pair["gap"], pair["alive"], history, sisters
        )
        np.testing.assert_array_equal(got, dec(pair["features"]))
    judge = TreeJudge.from_json(json.loads(v["judge"]))
    got = [judge.log_odds(s) for s in dec(v["samples"]).tolist()]
    np.testing.assert_array_equal(got, dec(v["log_odds"]))
