"""Figures for `track_many`: stacks a minute on this machine's local Dask cluster.

    python -m cellpoint.batch.bench [--quick] [--stacks N] [--frames T] [--side S]
                                    [--plate N] [--plate-frames T] [--plate-side S]
                                    [--plate-density D]

Throughput: N simulated stacks (the "small" preset: T frames of S x S, uint8 TIFFs), tracked by
`track_many` with 1 worker on 1 onnxruntime thread, 1 worker on every core, and a worker per
core on 1 thread each; stacks a minute and the ratio to 1 worker on 1 thread. The cluster is
started before the clock starts: its start-up (a few seconds) is paid once a batch.

`--plate N`: the command line on N stacks (100 x 512 x 512 by default) as a pipeline would run
it, stopped (SIGTERM, as a scheduler's time limit does) once a third of them are written, then
run again to the end; then a check that every stack's tables are complete (all T frames, each
track's points once) and none written twice. Its distinct stacks are 8 seeds, each copied
under N / 8 names.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tifffile

from ..eval.sim import simulate
from ..io.result import TrackingResult
from .run import MANIFEST, STACK_RECORD, track_many

SEED = 30_000
DISTINCT = 8  # distinct simulated stacks of a plate; the rest are copies


def write_stacks(
    folder: Path, n: int, frames: int, side: int, density: float | None = None
) -> list[Path]:
    """`n` TIFF stacks of the "small" preset (`density`: its share of the field covered by
    cells, where given); at most DISTINCT distinct ones, the others copies of them."""
    more = {} if density is None else {"density": density}
    paths: list[Path] = []
    for i in range(n):
        path = folder / f"well-{i:03d}.tif"
        if i < DISTINCT:
            seq = simulate("small", seed=SEED + i, n_frames=frames, height=side, width=side, **more)
            tifffile.imwrite(path, seq.frames)
        else:
            os.link(paths[i % DISTINCT], path)
        paths.append(path)
    return paths


def throughput(paths: list[Path], workers: int, threads: int, diameter: float) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    with (
        tempfile.TemporaryDirectory() as out,
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter()
        report = track_many(
            paths, out, client=client, threads=threads, diameter=diameter, progress=False
        )
        seconds = time.perf_counter() - start
    return {
        "workers": workers,
        "threads per worker": threads,
        "stacks": len(paths),
        "done": sum(s.status == "done" for s in report.stacks),
        "seconds": round(seconds, 1),
        "stacks/min": round(len(paths) / seconds * 60, 2),
    }


def plate(
    folder: Path, paths: list[Path], diameter: float, frames: int, side: int
) -> dict[str, Any]:
    out = folder / "plate-out"
    command = [sys.executable, "-m", "cellpoint.cli", "track", *map(str, paths),
               "--out", str(out), "--diameter", str(diameter), "--no-progress"]  # fmt: skip
    start = time.perf_counter()
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while len(_done(out)) < len(paths) // 3 and first.poll() is None:
        time.sleep(0.5)
    # SIGTERM: a process started in the background ignores SIGINT
    first.send_signal(signal.SIGTERM)
    first.communicate()
    at_interrupt = len(_done(out))
    second = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    manifest = json.loads((out / MANIFEST).read_text())
    skipped = sum(s["skipped"] for s in manifest["stacks"])
    complete = 0
    for path in paths:
        result = TrackingResult.read(out / path.stem)
        record = json.loads((out / path.stem / STACK_RECORD).read_text())
        once = not result.tracks.duplicated(["track_id", "t"]).any()
        every_frame = set(result.tracks["t"]) == set(range(record["frames"]))
        complete += once and every_frame and record["frames"] == frames
    folders = [p.name for p in out.iterdir() if p.is_dir()]
    return {
        "plate": f"{len(paths)} stacks of {frames} x {side} x {side}, command line, stopped once",
        "cells a frame (first stack, mean)": _cells(paths[0]),
        "exit status (stopped, resumed)": (first.returncode, second.returncode),
        "done when stopped (manifest)": at_interrupt,
        "written before the rerun, skipped by it": skipped,
        "complete tables": complete,
        "stack folders": len(folders),
        "seconds, both runs": round(seconds, 1),
        "stacks/min": round(len(paths) / seconds * 60, 2),
    }


def _cells(stack: Path) -> float:
    result = TrackingResult.read(stack.parent.parent / "plate-out" / stack.stem)
    return round(float(result.tracks.groupby("t").size().mean()), 1)


def _done(out: Path) -> list[str]:
    if not (out / MANIFEST).is_file():
        return []
    stacks = json.loads((out / MANIFEST).read_text())["stacks"]
    return [s["name"] for s in stacks if s["status"] == "done"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cellpoint.batch.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="4 stacks of 20 x 256 x 256")
    parser.add_argument("--stacks", type=int, default=8)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--plate", type=int, default=0, help="stacks of the command-line run")
    parser.add_argument("--plate-frames", type=int, default=100)
    parser.add_argument("--plate-side", type=int, default=512)
    parser.add_argument(
        "--plate-density", type=float, help="share of the field covered by cells (small: 0.15)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.stacks, args.frames, args.side = 4, 20, 256
    diameter = simulate("small", n_frames=2).config.diameter
    cores = os.cpu_count() or 1
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="cellpoint-batch-bench-"))
    try:
        paths = write_stacks(folder, args.stacks, args.frames, args.side)
        for workers, threads in ((1, 1), (1, cores), (cores, 1)):
            print(f"{workers} worker(s) x {threads} thread(s) ...", file=sys.stderr, flush=True)
            rows.append(throughput(paths, workers, threads, diameter))
        base = rows[0]["stacks/min"]
        for row in rows:
            row["x 1 worker, 1 thread"] = round(row["stacks/min"] / base, 2)
        if args.plate:
            (folder / "plate").mkdir()
            frames, side = args.plate_frames, args.plate_side
            plate_paths = write_stacks(
                folder / "plate", args.plate, frames, side, args.plate_density
            )
            print(f"plate of {args.plate} stacks ...", file=sys.stderr, flush=True)
            rows.append(plate(folder, plate_paths, diameter, frames, side))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sequence = f"{args.stacks} stacks of {args.frames} x {args.side} x {args.side} uint8"
    print(f"\ntrack_many, {sequence}, {cores} CPUs, load average {os.getloadavg()[0]:.2f}")
    for row in rows:
        print("\n".join(f"  {k}: {v}" for k, v in row.items()) + "\n")


if __name__ == "__main__":
    main()
