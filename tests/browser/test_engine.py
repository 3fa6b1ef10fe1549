"""The browser engine inside a real JupyterLab in Chromium: the built-in CAP tracker
contribution runs the shipped network in its Web Worker, from the labextension's static files,
and must give the Python reference's tables (tests/vectors/model.json) on WASM and on WebGPU
(SwiftShader's, on this CPU), fall back to WASM where WebGPU is missing, and stop when asked.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import cellpoint
import numpy as np
import pytest
from cellpoint.engine.infer import model_card
from cellpoint.engine.preprocess import Geometry
from cellpoint.eval.sim import simulate
from jupyter_core.paths import jupyter_path
from playwright.sync_api import Browser, Page, Response, expect

from .conftest import artifact
from .engine_page import open_lab, run_engine
from .lab import LabServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from make_vectors import MODEL_VECTOR, VECTORS, dec

pytestmark = pytest.mark.browser

POINT_TOLERANCE = 1e-3  # pixels
VALUE_TOLERANCE = 1e-4
# WebGPU sums in another order than the CPU: on SwiftShader one visibility of the model vector
# (of 102) lies 1.0e-4 from the reference's; coordinates stay within POINT_TOLERANCE.
WEBGPU_VALUE_TOLERANCE = 2e-4


def _vector() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / MODEL_VECTOR).read_text())
    return data


def _track(
    page: Page, backend: str, cancel_at_frame: int | None = None, **params: Any
) -> dict[str, Any]:
    vector = _vector()
    frames = dec(vector["frames"])
    args = {
        "base64": base64.b64encode(frames.tobytes()).decode(),
        "shape": list(frames.shape),
        "dtype": str(frames.dtype),
        "options": {
            "diameter": vector["diameter"],
            "backend": backend,
            "params": {**vector["params"], **params},
        },
        "cancelAtFrame": cancel_at_frame,
    }
    return run_engine(page, args)


def _check_tables(result: dict[str, Any], value_tolerance: float = VALUE_TOLERANCE) -> None:
    expected = _vector()["tables"]
    for table in ("tracks", "lineage", "divisions"):
        for column, encoded in expected[table].items():
            want = dec(encoded)
            got = np.asarray(result[table][column], dtype=want.dtype)
            if want.dtype.kind in "iu":
                np.testing.assert_array_equal(got, want, err_msg=f"{table}.{column}")
            else:
                tolerance = POINT_TOLERANCE if column in ("x", "y") else value_tolerance
                np.testing.assert_allclose(got, want, rtol=0, atol=tolerance, err_msg=column)
    assert result["windows"] == expected["windows"]
    assert set(result["divisions"]["status"]) <= {"proposed"}


def _record_wasm_builds(page: Page) -> list[str]:
    """The onnxruntime-web builds the page's engine fetches from now on: "jsep" (WebGPU and
    WASM) or "wasm" (WebAssembly only), told apart by the JSEP build's exports in the
    labextension's file of that name (installed, or built beside the sources)."""
    folders = [Path(p) / "cellpoint" / "static" for p in jupyter_path("labextensions")]
    folders.append(Path(cellpoint.__file__).parent / "labextension" / "static")
    builds: list[str] = []

    def fetched(response: Response) -> None:
        if response.url.endswith(".wasm") and response.ok:
            name = response.url.rsplit("/", 1)[-1]
            binary = next(f / name for f in folders if (f / name).is_file()).read_bytes()
            builds.append("jsep" if b"JsepOutput" in binary else "wasm")

    page.on("response", fetched)
    return builds


def test_wasm_gives_the_python_tables_in_a_worker(page: Page, lab_server: LabServer) -> None:
    open_lab(page, lab_server)
    builds = _record_wasm_builds(page)
    out = _track(page, "wasm")
    assert out["ok"], out
    result = out["result"]
    assert result["backend"] == "wasm"
    assert result["fallbackReason"] is None
    _check_tables(result)
    assert builds == ["wasm"]  # the WebAssembly-only build, half the JSEP one's size
    # The network ran in a Web Worker, not on the page's thread.
    workers = [w.url for w in page.workers]
    assert any("/lab/extensions/cellpoint/static/" in url for url in workers), workers
    # Frames were pulled a window at a time, each once.
    window = _vector()["params"]["window"]
    assert all(count <= window for _, count in out["requests"])
    assert sum(count for _, count in out["requests"]) == len(dec(_vector()["frames"]))
    assert out["progress"][-1]["framesDone"] == out["progress"][-1]["nFrames"]


def test_auto_falls_back_to_wasm_without_webgpu(page: Page, lab_server: LabServer) -> None:
    # This browser runs with --disable-gpu: no WebGPU adapter. Where it still offers
    # navigator.gpu, WebGPU is tried, on the JSEP build, and fails.
    open_lab(page, lab_server)
    builds = _record_wasm_builds(page)
    out = _track(page, "auto")
    assert out["ok"], out
    assert out["result"]["backend"] == "wasm"
    assert "WebGPU" in out["result"]["fallbackReason"]
    _check_tables(out["result"])
    assert builds == (["jsep"] if page.evaluate("!!navigator.gpu") else ["wasm"])


def test_cancelling_keeps_the_frames_done(page: Page, lab_server: LabServer) -> None:
    open_lab(page, lab_server)
    out = _track(page, "wasm", cancel_at_frame=3)
    assert not out["ok"], out
    assert out["name"] == "AbortError", out
    done = out["framesDone"]
    assert 3 <= done < len(dec(_vector()["frames"]))
    expected_t = dec(_vector()["tables"]["tracks"]["t"])
    assert len(out["partial"]["tracks"]["t"]) == int((expected_t < done).sum())


def test_webgpu_gives_the_wasm_answers(webgpu_browser: Browser, lab_server: LabServer) -> None:
    context = webgpu_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        open_lab(page, lab_server)
        has_adapter = page.evaluate(
            "async () => !!(navigator.gpu && await navigator.gpu.requestAdapter())"
        )
        assert has_adapter, "Chromium offers no WebGPU adapter with SwiftShader here"
        builds = _record_wasm_builds(page)
        out = _track(page, "webgpu")
        assert out["ok"], out
        assert out["result"]["backend"] == "webgpu"
        assert out["result"]["fallbackReason"] is None
        _check_tables(out["result"], WEBGPU_VALUE_TOLERANCE)
        assert builds == ["jsep"]
        expect(page.locator("#jp-main-dock-panel")).to_be_visible()
    finally:
        page.screenshot(path=artifact("engine-webgpu-last.png"))
        context.close()


def test_what_the_engine_holds_does_not_grow_with_the_sequence(
    page: Page, lab_server: LabServer
) -> None:
    # The first 12 and all 48 frames of one sequence whose cells come and go at the edges
    # (fast ones: 25 cells pass through, at most 10 at once): the features cached are at most
    # two windows' (the one tracked and the frames pulled ahead) either way, and the tracks
    # that ended are finished rows.
    seq = simulate("small", seed=7, n_frames=48, height=96, width=96, division_rate=0.0, speed=0.3)
    window = 6
    card = model_card()["encoder"]
    padded = Geometry.for_diameter(96, 96, seq.config.diameter).padded
    frame_bytes = (
        4 * card["feature_dim"] * (padded[0] // card["stride"]) * (padded[1] // card["stride"])
    )
    open_lab(page, lab_server)
    held = {}
    for n in (12, 48):
        frames = seq.frames[:n]
        out = run_engine(
            page,
            {
                "base64": base64.b64encode(frames.tobytes()).decode(),
                "shape": list(frames.shape),
                "dtype": str(frames.dtype),
                "options": {"diameter": seq.config.diameter, "backend": "wasm",
                            "params": {"window": window}},
            },
        )  # fmt: skip
        assert out["ok"], out
        held[n] = out["result"]
    assert held[48]["peakFeatureBytes"] <= 2 * window * frame_bytes
    in_view = int(seq.tracks.groupby("t").size().max())
    passed_through = seq.tracks["track_id"].nunique()
    made = len(held[48]["lineage"]["track_id"])
    assert held[48]["peakHeldTracks"] <= 2 * in_view < passed_through
    assert held[48]["peakHeldTracks"] < made
