"""Driving the CAP tracker contribution from a JupyterLab page, for the engine's browser tests
and its benchmark: the test extension (fixtures/) hands cellpoint's registry to the page."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from .lab import LabServer

# Runs the CAP tracker on frames given as base64 or fetched from a URL, and returns its tables
# as plain lists (typed arrays do not cross into Python), or the error with its partial tables.
TRACK_JS = """
async ({ base64, url, shape, dtype, options, cancelAtFrame }) => {
  const cap = await window.cellpointTestRegistry.load('cellpoint.cap');
  const bytes = url
    ? new Uint8Array(await (await fetch(url)).arrayBuffer())
    : Uint8Array.from(atob(base64), c => c.charCodeAt(0));
  const itemSize = { uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4,
                     float32: 4, float64: 8 }[dtype];
  const frameBytes = shape[1] * shape[2] * itemSize;
  const requests = [];
  const source = {
    shape, dtype,
    frames: async (first, count) => {
      requests.push([first, count]);
      return Array.from({ length: count }, (_, i) =>
        bytes.slice((first + i) * frameBytes, (first + i + 1) * frameBytes).buffer);
    }
  };
  const controller = new AbortController();
  const progress = [];
  const columns = t => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(v)]));
  const plain = r => r && {
    tracks: columns(r.tracks), lineage: columns(r.lineage), divisions: columns(r.divisions),
    backend: r.backend, fallbackReason: r.fallbackReason, windows: r.windows.length,
    timings: r.timings, peakFeatureBytes: r.peakFeatureBytes, peakHeldTracks: r.peakHeldTracks
  };
  const start = performance.now();
  try {
    const result = await cap.track(source, {
      ...options,
      signal: controller.signal,
      onProgress: p => {
        progress.push(p);
        if (cancelAtFrame != null && p.framesDone >= cancelAtFrame) controller.abort('stop');
      }
    });
    const seconds = (performance.now() - start) / 1000;
    return { ok: true, result: plain(result), requests, progress, seconds };
  } catch (e) {
    return { ok: false, name: e.name, message: e.message, partial: plain(e.partial),
             framesDone: e.framesDone, requests, progress };
  }
}
"""


def open_lab(page: Page, lab: LabServer) -> None:
    """JupyterLab's main page, once the test extension has handed over the registry."""
    page.goto(lab.lab_url())
    page.wait_for_function("() => window.cellpointTestRegistry !== undefined", timeout=60_000)


def run_engine(page: Page, args: dict[str, Any]) -> dict[str, Any]:
    """TRACK_JS with `args`: base64 or url, shape, dtype, options, cancelAtFrame."""
    out: dict[str, Any] = page.evaluate(TRACK_JS, {"cancelAtFrame": None, **args})
    return out
