"""Image and motion statistics of a CTC sequence with tracking ground truth, for a real
sequence and a simulated one side by side: the figures the simulator's presets are tuned to.

    PYTHONPATH=python_stub .venv/bin/python training/measure_modality.py \
        ../shared/data/Ecoli-PhC-colony/01 phase_bacteria [--seed 0] [--set n_frames=10 ...]

Cells are located by their ground-truth markers. Intensities are given raw and, after a slash,
normalised as the model sees them (each frame's 1st percentile to 0, its 99.8th to 1), since
real sequences are often contrast-stretched frame by frame. Per-frame figures are medians over
the frames.

- cells: markers in the first, middle and last frame.
- cycle: frames from a daughter's first frame to her last, for daughters who divide again.
- step: a marker centroid's displacement from one frame to the next (median, 90th percentile).
- marker length / width: 4 x the square roots of the marker's second-moment eigenvalues (the
  axes of the ellipse of the same moments); the cell's own size where markers are whole masks.
- object: the connected pixels around a marker beyond half its contrast, in a lightly smoothed
  frame: equivalent diameter, elongation (axis ratio) and solidity (area over convex hull
  area, low for protrusive cells).
- background: pixels far from every marker and every object; its level, unevenness (standard
  deviation of the background smoothed over 16 px, over its level) and noise (robust standard
  deviation of neighbouring pixels' differences / sqrt 2, which blur lowers).
- interior: mean over a marker minus the background (negative: cells darker), and over the
  noise (the CTC's SNR, signed).
- halo: pixels 1-6 px outside the markers' union, mean and 95th percentile minus background;
  halo far: pixels 10-25 px outside, mean minus background (how far the halo reaches).
- seam: pixels outside the markers with two different markers within 2 px (between touching
  cells), mean minus background; and the share of touching cells, those with such a seam pixel
  beside them.
- neighbour gap: the distance from a marker to the nearest other one, over the markers with one
  within 12 px.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from cellpoint.engine.preprocess import normalise
from cellpoint.eval.sim import simulate
from cellpoint.io.ctc import read_ctc, tracks_from_labels
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull, QhullError

Array = npt.NDArray[Any]
HALO_REACH = 6  # px outside the markers counted as halo
FAR_HALO = (10, 25)  # px outside the markers: where a wide halo still lights the background
BG_SMOOTH = 16.0  # px: scale at which the background's unevenness is measured
OBJECT_SMOOTH = 2.0  # px: smoothing before objects are cut at half their contrast
SEAM_REACH = 2  # px: a pixel outside the markers this near two of them lies between cells
NEIGHBOUR_REACH = 12  # px: markers farther apart than this are not neighbours


def robust_sd(values: Array) -> float:
    """Standard deviation from the median absolute deviation."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def axes(ys: Array, xs: Array) -> tuple[float, float]:
    """Full lengths of the major and minor axes of the ellipse with these pixels' moments."""
    if ys.size < 3:
        return 1.0, 1.0
    low, high = np.linalg.eigvalsh(np.cov(np.stack([ys, xs]).astype(float)))
    return 4 * float(np.sqrt(max(high, 0.0))), 4 * float(np.sqrt(max(low, 0.0)))


def solidity(ys: Array, xs: Array) -> float:
    """Area over the area of the convex hull of the pixels' squares."""
    corners = np.concatenate([np.stack([ys + dy, xs + dx], 1) for dy in (0, 1) for dx in (0, 1)])
    try:
        return float(ys.size / ConvexHull(corners).volume)
    except QhullError:
        return 1.0


def frame_stats(frame: Array, marker: Array) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Per-frame background, interior and halo figures, and per-cell figures, of one frame."""
    image = frame.astype(np.float64)
    scaled = normalise(frame).astype(np.float64)
    cells = marker > 0
    labels = np.unique(marker[cells])
    if labels.size == 0:
        return {}, []
    lengths = [axes(*np.nonzero(marker == k))[0] for k in labels]
    far = ndi.distance_transform_edt(~cells) > max(2 * float(np.median(lengths)), 3 * HALO_REACH)
    level = float(np.median(image[far]))
    noise = robust_sd(np.diff(image, axis=1)[far[:, 1:] & far[:, :-1]]) / np.sqrt(2)
    smooth = ndi.gaussian_filter(image, OBJECT_SMOOTH)
    inside = np.asarray(ndi.mean(image, marker, labels))
    polarity = 1.0 if np.median(inside) >= level else -1.0
    # Objects: beyond half the median cell's contrast. The background excludes them all.
    half = level + 0.5 * (float(np.median(inside)) - level)
    objects, _ = ndi.label(polarity * (smooth - half) > 0)
    background = far & ~ndi.binary_dilation(objects > 0, iterations=HALO_REACH)
    if background.sum() < 1000:  # a crowded field: fall back on the distance to the markers
        background = far
    weight = ndi.gaussian_filter(background.astype(float), BG_SMOOTH)
    local = ndi.gaussian_filter(np.where(background, image, 0.0), BG_SMOOTH)
    valid = background & (weight > 0.5)
    uneven = float(np.std(local[valid] / weight[valid])) / level if valid.any() else np.nan
    outside = ndi.distance_transform_edt(~cells)
    ring = (outside <= HALO_REACH) & ~cells
    far_ring = (outside > FAR_HALO[0]) & (outside <= FAR_HALO[1])
    sc_level = float(np.median(scaled[background]))
    per_frame = {
        "background": level,
        "background_n": sc_level,
        "unevenness": uneven,
        "noise": noise,
        "noise_n": robust_sd(np.diff(scaled, axis=1)[far[:, 1:] & far[:, :-1]]) / np.sqrt(2),
        "interior": float(np.median(inside)) - level,
        "interior_n": float(np.median(ndi.mean(scaled, marker, labels))) - sc_level,
        "halo": float(image[ring].mean()) - level,
        "halo_n": float(scaled[ring].mean()) - sc_level,
        "halo_peak": float(np.percentile(image[ring], 95)) - level,
        "halo_peak_n": float(np.percentile(scaled[ring], 95)) - sc_level,
        "halo_far": float(image[far_ring].mean()) - level,
        "halo_far_n": float(scaled[far_ring].mean()) - sc_level,
    }
    seam = seams(marker)
    if seam.any():
        per_frame |= {
            "seam": float(image[seam].mean()) - level,
            "seam_n": float(scaled[seam].mean()) - sc_level,
        }
    beside = ndi.maximum_filter(seam, size=2 * SEAM_REACH + 1)
    per_frame["touching"] = float(np.isin(labels, marker[beside & cells]).mean())
    per_cell = []
    for k, mean in zip(labels.tolist(), inside.tolist(), strict=True):
        ys, xs = np.nonzero(marker == k)
        length, width = axes(ys, xs)
        cut = level + 0.5 * (mean - level)
        grown, _ = ndi.label(polarity * (smooth - cut) > 0)
        hit = np.bincount(grown[ys, xs], minlength=1)
        hit[0] = 0
        obj_ys, obj_xs = np.nonzero(grown == int(hit.argmax())) if hit.any() else (ys, xs)
        obj_long, obj_short = axes(obj_ys, obj_xs)
        per_cell.append(
            {
                "marker_length": length,
                "marker_width": width,
                "object_diameter": 2 * float(np.sqrt(obj_ys.size / np.pi)),
                "object_elongation": obj_long / max(obj_short, 1.0),
                "object_solidity": solidity(obj_ys, obj_xs),
                "snr": polarity * abs(mean - level) / max(noise, 1e-9),
                "neighbour_gap": neighbour_gap(marker, k, ys, xs),
            }
        )
    return per_frame, per_cell


def neighbour_gap(marker: Array, label: int, ys: Array, xs: Array) -> float:
    """Distance (px, pixel centres) from a marker to the nearest other one, where one lies
    within NEIGHBOUR_REACH px; NaN otherwise."""
    y0, x0 = max(ys.min() - NEIGHBOUR_REACH, 0), max(xs.min() - NEIGHBOUR_REACH, 0)
    crop = marker[y0 : ys.max() + NEIGHBOUR_REACH + 1, x0 : xs.max() + NEIGHBOUR_REACH + 1]
    others = (crop > 0) & (crop != label)
    if not others.any():
        return float("nan")
    nearest = float(ndi.distance_transform_edt(~others)[ys - y0, xs - x0].min())
    return nearest if nearest <= NEIGHBOUR_REACH else float("nan")


def seams(marker: Array) -> Array:
    """Pixels outside the markers with two different markers within SEAM_REACH px."""
    cells = marker > 0
    size = 2 * SEAM_REACH + 1
    highest = ndi.maximum_filter(marker, size=size)
    lowest = ndi.minimum_filter(np.where(cells, marker, np.iinfo(marker.dtype).max), size=size)
    seam: Array = ~cells & (highest > lowest)  # lowest: the most where no marker is near
    return seam


def lineage_stats(markers: Array, lineage: pd.DataFrame) -> dict[str, Any]:
    """Cell counts, cycle lengths and steps from the markers and the lineage."""
    counts = [np.unique(m[m > 0]).size for m in markers]
    daughters = lineage[lineage["parent_id"] > 0]
    cycled = daughters[daughters["track_id"].isin(daughters["parent_id"])]
    cycle = np.asarray(cycled["end"] - cycled["start"] + 1)
    tracks = tracks_from_labels(markers)
    moved = tracks.groupby("track_id")[["y", "x"]].diff().dropna()
    step = np.asarray(np.hypot(moved["y"], moved["x"]))
    return {
        "cells first": counts[0],
        "cells middle": counts[len(counts) // 2],
        "cells last": counts[-1],
        "divisions": int((daughters.groupby("parent_id").size() == 2).sum()),
        "cycle median": float(np.median(cycle)) if cycle.size else np.nan,
        "cycle range": f"{cycle.min()}-{cycle.max()}" if cycle.size else "-",
        "step median": float(np.median(step)) if step.size else np.nan,
        "step p90": float(np.percentile(step, 90)) if step.size else np.nan,
    }


def measure(frames: Array, markers: Array, lineage: pd.DataFrame) -> dict[str, Any]:
    """All figures of a sequence (see the module's docstring)."""
    stats: dict[str, Any] = {"shape": "x".join(map(str, frames.shape)), "dtype": str(frames.dtype)}
    stats |= lineage_stats(markers, lineage)
    frame_rows, cell_rows = [], []
    for frame, marker in zip(frames, markers, strict=True):
        per_frame, per_cell = frame_stats(frame, marker)
        if per_frame:
            frame_rows.append(per_frame)
        cell_rows.extend(per_cell)
    framewise = pd.DataFrame(frame_rows).median()
    cellwise = pd.DataFrame(cell_rows).median()
    for name in ("marker_length", "marker_width", "object_diameter", "object_elongation",
                 "object_solidity", "snr", "neighbour_gap"):  # fmt: skip
        stats[name.replace("_", " ")] = float(cellwise[name])
    for name in ("background", "noise", "interior", "halo", "halo_peak", "halo_far",
                 "seam"):  # fmt: skip
        if name in framewise:
            stats[name.replace("_", " ")] = (float(framewise[name]), float(framewise[f"{name}_n"]))
    stats["unevenness"] = float(framewise["unevenness"])
    stats["touching"] = float(framewise["touching"])
    return stats


def show(value: Any) -> str:
    if isinstance(value, tuple):
        return " / ".join(show(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def parse_override(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    return name, ast.literal_eval(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("real", help="a CTC sequence folder with ground truth, e.g. .../01")
    parser.add_argument("preset", help="the simulator preset to compare with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], type=parse_override,
                        help="simulator overrides NAME=VALUE")  # fmt: skip
    args = parser.parse_args()
    real = read_ctc(args.real)
    if real.frames is None or real.markers is None or real.lineage is None:
        raise SystemExit(f"{args.real}: no frames or no tracking ground truth")
    sim = simulate(args.preset, seed=args.seed, **dict(args.set))
    table = {
        Path(args.real).resolve().parent.name: measure(real.frames, real.markers, real.lineage),
        f"sim {args.preset}": measure(sim.frames, sim.markers, sim.lineage),
    }
    print(f"{'':20}" + "".join(f"{name:>26}" for name in table))
    for key in dict.fromkeys(key for stats in table.values() for key in stats):
        print(f"{key:20}" + "".join(f"{show(stats.get(key, '-')):>26}" for stats in table.values()))


if __name__ == "__main__":
    main()
