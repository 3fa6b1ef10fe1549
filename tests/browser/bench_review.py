"""Figures for the review viewer in a real JupyterLab in Chromium: how fast it fetches frames
from the kernel and draws them.

    python -m tests.browser.bench_review [--frames 92] [--tracks 120] [--json PATH]

Data: a GOWT1-size stack (92 x 1024 x 1024, uint8, noise over smooth blobs) and `--tracks`
random-walk tracks of 20 to 92 frames, with divisions among them, made here (the viewer's cost
does not depend on what the pixels show). The page steps through every frame as the time
slider does (each asked of the kernel over the comm, then drawn), then steps again through the
frames the viewer keeps (contrast limits, colour-mapping, tails and points: the draw alone),
then redraws one frame as hovering does. Each time includes rasterising the canvas. Printed:
median, 95th percentile and maximum in milliseconds. The goal is a draw under 16 ms; the
figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from .conftest import open_notebook, run_cell, write_notebook
from .lab import NO_GPU_ARGS, lab_server, launch

MAKE = """
import numpy as np, pandas as pd
from cellpoint.io.result import TrackingResult
from cellpoint.io.tables import divisions_from_lineage
rng = np.random.default_rng(3)
T, H, W, N = {frames}, 1024, 1024, {tracks}
yy, xx = np.mgrid[0:H, 0:W]
base = (60 + 40 * np.sin(yy / 97.0) * np.cos(xx / 131.0)).astype(np.float32)
frames = np.stack([np.clip(base + rng.normal(0, 12, (H, W)), 0, 255).astype(np.uint8)
                   for _ in range(T)])
rows, spans = [], []
for k in range(1, N + 1):
    start = int(rng.integers(0, T // 2)); end = min(T - 1, start + int(rng.integers(20, T)))
    y, x = rng.uniform(50, H - 50), rng.uniform(50, W - 50)
    for t in range(start, end + 1):
        y = float(np.clip(y + rng.normal(0, 3), 0, H - 1))
        x = float(np.clip(x + rng.normal(0, 3), 0, W - 1))
        rows.append((k, t, y, x, 0.9))
    spans.append((k, start, end, 0))
tracks = pd.DataFrame(rows, columns=["track_id", "t", "y", "x", "visibility"])
lineage = pd.DataFrame(spans, columns=["track_id", "start", "end", "parent_id"])
res = TrackingResult(tracks, lineage, divisions_from_lineage(lineage, status="proposed"),
                     shape=frames.shape, frames=frames)
viewer = res.review()
viewer
"""

MEASURE = """
async () => {
  const v = document.querySelector('cellpoint-review');
  const ctx = v.shadowRoot.querySelector('canvas.view').getContext('2d');
  // Canvas drawing is deferred until the page paints; reading a pixel makes it happen now, so
  // that the times include the rasterising.
  const flush = () => ctx.getImageData(0, 0, 1, 1);
  const frames = v.shape[0];
  const timed = async step => {
    const start = performance.now();
    await step();
    flush();
    return performance.now() - start;
  };
  const uncached = [], cached = [], overlay = [];
  for (let t = 0; t < frames; t++) {
    uncached.push(await timed(() => v.showFrame(t)));  // asked of the kernel, then drawn
  }
  const kept = Math.min(frames, 24);  // the viewer keeps the last 24 frames
  for (let round = 0; round < 3; round++) {
    for (let t = frames - kept; t < frames; t++) {
      cached.push(await timed(() => v.showFrame(t)));  // contrast, colour map, tails, points
    }
  }
  for (let k = 0; k < 100; k++) {
    overlay.push(await timed(async () => v.draw()));  // as hovering redraws
  }
  const points = v.tables.index.pointsAt(Math.floor(frames / 2)).trackId.length;
  return { uncached, cached, overlay, points, tracks: v.tables.lineage.length };
}
"""


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"median": pick(0.5), "p95": pick(0.95), "max": pick(1.0)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=92)
    parser.add_argument("--tracks", type=int, default=120)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, lab_server(Path(tmp)) as lab, sync_playwright() as p:
        browser = launch(p, *NO_GPU_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        write_notebook(
            lab.root, "bench-review.ipynb", [MAKE.format(frames=args.frames, tracks=args.tracks)]
        )
        open_notebook(page, lab, "bench-review.ipynb")
        run_cell(page, 0)
        page.locator("cellpoint-review canvas.view").wait_for(timeout=300_000)
        page.wait_for_function(
            "document.querySelector('cellpoint-review').drawTimes.length > 0", timeout=300_000
        )
        out: dict[str, Any] = page.evaluate(MEASURE)
        browser.close()
    figures = {
        "data": f"{args.frames} x 1024 x 1024 uint8, {out['tracks']} tracks "
        f"({out['points']} points in the middle frame)",
        "step to a frame from the kernel, ms": summary(out["uncached"]),
        "step to a cached frame (the draw), ms": summary(out["cached"]),
        "redraw of the same frame, ms": summary(out["overlay"]),
    }
    print(f"\nreview viewer, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for k, v in figures.items():
        print(f"  {k}: {v}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
