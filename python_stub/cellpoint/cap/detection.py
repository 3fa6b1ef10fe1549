"""How well an encoder's heatmap finds cells, apart from tracking: recall and precision of its
peaks on the validation sets, and the recall on the simulated ones by each cell's SNR.

    python -m cellpoint.cap.detection --encoder training/checkpoints/encoder.pt

About a minute on 2 CPU cores, against ten for `cellpoint.cap.validate`: the check to run while
working on the encoder. Every `every`-th frame is scored. A peak finds a cell when it lies
within half a nucleus diameter of the centre of the cell's marker, one peak per cell (optimal
assignment).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from ..engine.preprocess import Geometry, Preprocessor
from ..engine.raw import RawParams, find_peaks
from ..eval.sim import SimulatedSequence
from ..io.ctc import tracks_from_labels
from ..io.frames import FrameStack
from .encoder import Encoder
from .export import load_encoder
from .validate import validation_sets

SNR_BINS: list[float] = [-np.inf, 1.0, 1.5, 2.0, 3.0, 5.0, np.inf]


def match_points(
    centres: npt.NDArray[np.floating[Any]], peaks: npt.NDArray[np.floating[Any]], radius: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(indices into `centres`, indices into `peaks`) of the pairs of the optimal one-to-one
    assignment of (y, x) points that lie within `radius` of each other."""
    if not len(centres) or not len(peaks):
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    distance = cdist(centres, peaks)
    rows, cols = linear_sum_assignment(distance)
    near = distance[rows, cols] < radius
    return rows[near], cols[near]


def found_cells(
    centres: npt.NDArray[np.floating[Any]], peaks: npt.NDArray[np.floating[Any]], radius: float
) -> npt.NDArray[np.bool_]:
    """Which of the (y, x) `centres` a distinct peak lies within `radius` of."""
    found = np.zeros(len(centres), bool)
    found[match_points(centres, peaks, radius)[0]] = True
    return found


def detection_table(
    encoder: Encoder, thresholds: Sequence[float], every: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(recall and precision per validation set and threshold, simulated cells found by SNR at
    the first threshold)."""
    encoder = encoder.eval()
    separation = RawParams().min_separation
    scores, by_snr = [], []
    for name, frames, truth, diameter, polarity in validation_sets():
        n, height, width = frames.shape
        geometry = Geometry.for_diameter(height, width, diameter)
        prepare, stack = Preprocessor(geometry, polarity=polarity), FrameStack(frames)
        snr = truth.cell_snr() if isinstance(truth, SimulatedSequence) else None
        # cells, peaks, cells found
        counts = {threshold: np.zeros(3, np.int64) for threshold in thresholds}
        for t in range(0, n, every):
            with torch.no_grad():
                _, heat = encoder(torch.from_numpy(prepare(stack[t]))[None, None])
            cells = tracks_from_labels(np.asarray(truth.markers[t])[None])
            centres = cells[["y", "x"]].to_numpy()
            for threshold in thresholds:
                peaks = find_peaks(heat[0, 0].numpy(), threshold, separation)
                y, x = geometry.to_input(peaks[:, 1], peaks[:, 0])
                found = found_cells(centres, np.stack([y, x], 1), diameter / 2)
                counts[threshold] += (len(centres), len(peaks), int(found.sum()))
                if snr is not None and threshold == thresholds[0]:
                    here = snr[snr["t"] == t].set_index("track_id")["snr"]
                    here = here.reindex(cells["track_id"])
                    by_snr.append(
                        pd.DataFrame({"sequence": name, "found": found, "snr": here.to_numpy()})
                    )
        for threshold, count in counts.items():
            n_cells, n_peaks, n_found = (int(v) for v in count)
            scores.append({"sequence": name, "threshold": threshold, "cells": n_cells,
                           "recall": n_found / max(n_cells, 1),
                           "precision": n_found / max(n_peaks, 1)})  # fmt: skip
    by_cell = pd.concat(by_snr, ignore_index=True)
    by_cell["snr"] = pd.cut(by_cell["snr"], SNR_BINS)
    table = by_cell.groupby(["sequence", "snr"], observed=True)["found"].agg(["size", "mean"])
    return pd.DataFrame(scores), table.rename(columns={"size": "cells", "mean": "recall"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--encoder", type=Path, required=True)
    parser.add_argument(
        "--thresholds", default=str(RawParams().detection_threshold),
        help="comma-separated heatmap thresholds (the first also scores cells by SNR)",
    )  # fmt: skip
    parser.add_argument("--every", type=int, default=5, help="score every n-th frame")
    args = parser.parse_args(argv)
    thresholds = [float(v) for v in args.thresholds.split(",")]
    scores, by_snr = detection_table(load_encoder(args.encoder), thresholds, args.every)
    print(scores.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nsimulated cells found at threshold {thresholds[0]}, by SNR:")
    print(by_snr.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
