"""Figures for the browser engine: the CAP tracker contribution in a real JupyterLab in
Chromium, on WASM (one thread: JupyterLab pages are not cross-origin isolated by default) and
on WebGPU, then the whole `track()` call on a cross-origin isolated page.

    python -m tests.browser.bench_engine [--quick] [--webgpu-frames N] [--calls-only] [--json PATH]

Sequences: simulated, of a GOWT1 size (92 x 1024 x 1024, uint8, the `gowt1` preset) and of a
U373 size (115 x 520 x 696, uint16, the `simplus` preset at that size). Each is written to the
server's folder and fetched by the page once; the engine then pulls its frames a window at a
time, as it does from the kernel.

Then the kernel benchmark's growth sequence (`cellpoint.bench`: a 256 x 256 "small" sequence
without divisions, about 74 cells in view) at its shortest and longest length, on WASM: what
the engine holds should not grow with the length.

Then the whole user call, `cellpoint.track(stack, backend="browser")` from a notebook on the
GOWT1-size sequence, in a JupyterLab served cross-origin isolated (cellpoint's server setting):
on 1 and 2 WebAssembly threads, a first call (the page's engine starts: `start`) and a second
(warm), each with its transfer (the browser asking the kernel for frames until they arrive, and
its throughput in MB/s), the engine's stages, the return of the tables and the call's seconds;
then the kernel backend on the same frames on 1 and 2 onnxruntime threads, the ratio browser /
kernel at the same threads, and whether the tables are the same.

Printed per run: seconds per frame in each stage (preprocess, encode, track, sisters, assemble,
as the worker measures them), the whole call's seconds, the most bytes of features the engine held,
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
from cellpoint.bench import GROWTH_FRAMES, GROWTH_FRAMES_QUICK, GROWTH_SIDE, growth_sequence
from cellpoint.eval.sim import PRESETS, simulate
from playwright.sync_api import Browser, sync_playwright

from .engine_page import open_lab, run_engine
from .lab import NO_GPU_ARGS, WEBGPU_ARGS, LabServer, lab_server, launch

SEED = 20_001  # the kernel benchmark's speed seed
STAGES = ("preprocess", "encode", "track", "sisters", "assemble")


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


def growth_sequences(quick: bool) -> Iterator[Sequence]:
    """The kernel benchmark's growth sequence (`cellpoint.bench`): its first and last lengths."""
    lengths = GROWTH_FRAMES_QUICK if quick else GROWTH_FRAMES
    seq = growth_sequence(max(lengths), GROWTH_SIDE)
    for t in (min(lengths), max(lengths)):
        frames = seq.frames[:t]
        name = f"growth {t}x{GROWTH_SIDE}x{GROWTH_SIDE} {frames.dtype}"
        yield Sequence(name, frames, seq.config.diameter)


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
        "tracks held": result["peakHeldTracks"],
        "Chromium RSS peak MiB": round(memory["peak"], 0),
        "RSS above start MiB": round(memory["peak"] - memory["base"], 0),
    }
    return row


TRACK_CALLS = """
import json, time, cellpoint as cp
from cellpoint.engine.infer import OnnxCap, track_kernel
from cellpoint.engine.raw import RawParams
from cellpoint.eval.sim import simulate
from cellpoint.io.frames import FrameStack
seq = simulate("gowt1", seed={seed}, n_frames={n_frames})
diameter = seq.config.diameter

def say(run, threads, wall, res):
    print("BENCH " + json.dumps({{"run": run, "wall": wall, "seconds": res.metadata["seconds"],
          "frame_bytes": res.metadata.get("frame_bytes", 0), "backend": res.metadata["backend"],
          "threads": threads, "threads_used": res.metadata.get("threads", threads),
          "tracks": len(res.lineage), "frames": len(seq.frames)}}), flush=True)

browser = {{}}
for threads in (1, 2):
    for call in ("first", "second"):
        start = time.perf_counter()
        res = cp.track(seq.frames, diameter=diameter, backend="browser", threads=threads)
        wall = time.perf_counter() - start
        say(f"browser {{threads}} thread(s), {{call}} call", threads, wall, res)
        browser[threads] = res
params = RawParams(**browser[1].metadata["params"])
for threads in (1, 2):
    start = time.perf_counter()
    ref = track_kernel(FrameStack(seq.frames), diameter, params, OnnxCap(threads=threads))
    say(f"kernel {{threads}} thread(s)", threads, time.perf_counter() - start, ref)
    same = ref.lineage.equals(browser[threads].lineage)
    print("BENCH " + json.dumps({{"run": f"same tables, {{threads}} thread(s)", "same": same}}))
print("BENCH END")
"""


def track_calls(browser: Browser, lab: LabServer, n_frames: int) -> list[dict[str, Any]]:
    """`track()` in a notebook on a cross-origin isolated page: on 1 and 2 WebAssembly threads,
    a first call (the engine starts) and a second (warm), then the kernel backend on 1 and 2
    onnxruntime threads on the same data, timed by the kernel."""
    from .conftest import open_notebook, run_cell, write_notebook

    write_notebook(lab.root, "bench.ipynb", [TRACK_CALLS.format(seed=SEED, n_frames=n_frames)])
    page = browser.new_page()
    try:
        open_notebook(page, lab, "bench.ipynb")
        run_cell(page, 0)
        area = page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-OutputArea")
        area.get_by_text("BENCH END").wait_for(timeout=3_600_000)
        lines = [x for x in area.inner_text().splitlines() if x.startswith("BENCH {")]
    finally:
        page.close()
    runs = [json.loads(line[len("BENCH ") :]) for line in lines]
    kernel = {r["threads"]: r["wall"] for r in runs if r["run"].startswith("kernel")}
    rows = []
    for out in runs:
        if "same" in out:
            rows.append({"call": out["run"], "browser tables == kernel tables": out["same"]})
            continue
        s = out["seconds"]
        row: dict[str, Any] = {
            "call": f"{out['run']}: GOWT1-size {out['frames']}x1024x1024 uint8, {out['backend']}",
            "tracks": out["tracks"],
            "call s": round(out["wall"], 2),
            "call s/frame": round(out["wall"] / out["frames"], 4),
        }
        if out["run"].startswith("browser"):
            megabytes = out["frame_bytes"] / 1e6
            row |= {
                "threads": out["threads_used"],
                "start s": round(s["start"], 2),
                "transfer s": round(s["transfer"], 2),
                "transfer MB/s": round(megabytes / max(s["transfer"], 1e-9), 1),
                **{f"{stage} s": round(s[stage], 2) for stage in STAGES},
                "return s": round(s["return"], 3),
                "browser / kernel, same threads": round(out["wall"] / kernel[out["threads"]], 2),
            }
        rows.append(row)
    firsts = {r["call"].split(" thread")[0]: r for r in rows if "first call" in r["call"]}
    for r in rows:
        if "second call" in r["call"]:
            first = firsts[r["call"].split(" thread")[0]]
            r["second / first call"] = round(r["call s"] / first["call s"], 2)
    return rows


def engine_rows(quick: bool, webgpu_frames: int) -> list[dict[str, Any]]:
    """The engine alone in a page, on WASM (and WebGPU on the first `webgpu_frames` frames)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp, lab_server(Path(tmp)) as lab, sync_playwright() as p:
        wasm_browser = launch(p, *NO_GPU_ARGS)
        webgpu_browser = launch(p, *WEBGPU_ARGS) if webgpu_frames else None
        for seq in sequences(quick):
            print(f"{seq.name}: WASM ...", flush=True)
            rows.append(run(wasm_browser, lab, seq, "wasm"))
            print(json.dumps(rows[-1]), flush=True)
            if webgpu_browser is not None:
                short = dataclasses.replace(
                    seq,
                    name=f"{seq.name.split()[0]} first {webgpu_frames} frames",
                    frames=seq.frames[:webgpu_frames],
                )
                print(f"{short.name}: WebGPU (SwiftShader) ...", flush=True)
                rows.append(run(webgpu_browser, lab, short, "webgpu"))
                print(json.dumps(rows[-1]), flush=True)
        for seq in growth_sequences(quick):
            print(f"{seq.name}: WASM ...", flush=True)
            rows.append(run(wasm_browser, lab, seq, "wasm"))
            print(json.dumps(rows[-1]), flush=True)
        wasm_browser.close()
        if webgpu_browser is not None:
            webgpu_browser.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 frames of each sequence")
    parser.add_argument("--webgpu-frames", type=int, default=8, help="0: no WebGPU run")
    parser.add_argument(
        "--calls-only", action="store_true", help="only the track() calls from a notebook"
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = [] if args.calls_only else engine_rows(args.quick, args.webgpu_frames)
    with (
        tempfile.TemporaryDirectory() as tmp,
        lab_server(Path(tmp), isolated=True) as isolated,
        sync_playwright() as p,
    ):
        print("track() from a notebook, cross-origin isolated ...", flush=True)
        wasm_browser = launch(p, *NO_GPU_ARGS)
        for row in track_calls(wasm_browser, isolated, 16 if args.quick else 92):
            rows.append(row)
            print(json.dumps(row), flush=True)
        wasm_browser.close()
    print(f"\nbrowser engine, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for row in rows:
        print("\n".join(f"  {k}: {v}" for k, v in row.items()) + "\n")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
