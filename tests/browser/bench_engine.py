"""Figures for the browser engine: the CAP tracker contribution in a real JupyterLab in
Chromium, on WASM (one thread: JupyterLab pages are not cross-origin isolated) and on WebGPU.

    python -m tests.browser.bench_engine [--quick] [--webgpu-frames N] [--json PATH]

Sequences: simulated, of a GOWT1 size (92 x 1024 x 1024, uint8, the `gowt1` preset) and of a
U373 size (115 x 520 x 696, uint16, the `simplus` preset at that size). Each is written to the
server's folder and fetched by the page once; the engine then pulls its frames a window at a
time, as it does from the kernel.

Printed per run: seconds per frame in each stage (preprocess, encode, track, assemble, as the
worker measures them), the whole call's seconds, the most bytes of features the engine held,
and the peak resident memory of Chromium's processes (all of them, sampled every 50 ms) above
what they held before the run. WebGPU here is SwiftShader's (Vulkan emulated on the CPU): it
proves the path, and its speed says nothing of a real GPU, so it runs on the first
`--webgpu-frames` frames only. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil
from cellpoint.sim import PRESETS, simulate
from playwright.sync_api import Browser, sync_playwright

from .engine_page import open_lab, run_engine
from .lab import NO_GPU_ARGS, WEBGPU_ARGS, LabServer, lab_server, launch

SEED = 20_001  # the kernel benchmark's speed seed
STAGES = ("preprocess", "encode", "track", "assemble")


@dataclasses.dataclass
class Sequence:
    name: str
    frames: npt.NDArray[Any]
    diameter: float


def sequences(quick: bool) -> Iterator[Sequence]:
    gowt1 = PRESETS["gowt1"]
    u373 = dataclasses.replace(PRESETS["simplus"], n_frames=115, height=520, width=696)
    for name, config in (("GOWT1-size", gowt1), ("U373-size", u373)):
        if quick:
            config = dataclasses.replace(config, n_frames=16)
        seq = simulate(config, seed=SEED)
        t, h, w = seq.frames.shape
        yield Sequence(f"{name} {t}x{h}x{w} {seq.frames.dtype}", seq.frames, config.diameter)


@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """Samples the summed RSS of this process's Chromium descendants; yields {"peak", "base"}
    in MiB, filled in when the block ends."""
    me = psutil.Process()

    def total() -> float:
        rss = 0
        for child in me.children(recursive=True):
            try:
                if "chrom" in child.name() or "headless" in child.name():
                    rss += child.memory_info().rss
            except psutil.Error:
                pass
        return rss / 2**20

    figures = {"base": total(), "peak": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            figures["peak"] = max(figures["peak"], total())
            stop.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield figures
    finally:
        stop.set()
        thread.join()


def run(browser: Browser, lab: LabServer, seq: Sequence, backend: str) -> dict[str, Any]:
    name = f"bench-{abs(hash((seq.name, len(seq.frames)))) % 10**8}.raw"
    (lab.root / name).write_bytes(np.ascontiguousarray(seq.frames).tobytes())
    context = browser.new_context()
    page = context.new_page()
    try:
        open_lab(page, lab)
        # Loads the model and makes the sessions, so that the timed run measures tracking.
        warm = run_engine(
            page,
            {
                "url": f"{lab.url}/files/{name}?token={lab.token}",
                "shape": [2, *seq.frames.shape[1:]],
                "dtype": str(seq.frames.dtype),
                "options": {"diameter": seq.diameter, "backend": backend},
            },
        )
        if not warm["ok"]:
            raise RuntimeError(f"{backend} warm-up failed: {warm['message']}")
        with peak_rss() as memory:
            out = run_engine(
                page,
                {
                    "url": f"{lab.url}/files/{name}?token={lab.token}",
                    "shape": list(seq.frames.shape),
                    "dtype": str(seq.frames.dtype),
                    "options": {"diameter": seq.diameter, "backend": backend},
                },
            )
        if not out["ok"]:
            raise RuntimeError(f"{backend} run failed: {out['message']}")
    finally:
        context.close()
        (lab.root / name).unlink()
    result = out["result"]
    n = len(seq.frames)
    row = {
        "sequence": seq.name,
        "backend": result["backend"],
        "frames": n,
        "tracks": len(result["lineage"]["track_id"]),
        "seconds": round(out["seconds"], 2),
        **{f"{s} s/frame": round(result["timings"][s] / n, 4) for s in STAGES},
        "total s/frame": round(out["seconds"] / n, 4),
        "features held MiB": round(result["peakFeatureBytes"] / 2**20, 1),
        "Chromium RSS peak MiB": round(memory["peak"], 0),
        "RSS above start MiB": round(memory["peak"] - memory["base"], 0),
    }
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 frames of each sequence")
    parser.add_argument("--webgpu-frames", type=int, default=8, help="0: no WebGPU run")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, lab_server(Path(tmp)) as lab, sync_playwright() as p:
        wasm_browser = launch(p, *NO_GPU_ARGS)
        webgpu_browser = launch(p, *WEBGPU_ARGS) if args.webgpu_frames else None
        for seq in sequences(args.quick):
            print(f"{seq.name}: WASM ...", flush=True)
            rows.append(run(wasm_browser, lab, seq, "wasm"))
            print(json.dumps(rows[-1]), flush=True)
            if webgpu_browser is not None:
                short = dataclasses.replace(
                    seq,
                    name=f"{seq.name.split()[0]} first {args.webgpu_frames} frames",
                    frames=seq.frames[: args.webgpu_frames],
                )
                print(f"{short.name}: WebGPU (SwiftShader) ...", flush=True)
                rows.append(run(webgpu_browser, lab, short, "webgpu"))
                print(json.dumps(rows[-1]), flush=True)
        wasm_browser.close()
        if webgpu_browser is not None:
            webgpu_browser.close()
    print(f"\nbrowser engine, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    keys = list(rows[0])
    for row in rows:
        print("\n".join(f"  {k}: {row[k]}" for k in keys) + "\n")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
