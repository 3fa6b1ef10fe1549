"""Validation figures for a checkpoint: TRA, DET and division F1 on data the model never
trained on (held-out simulator seeds, and the last 20% of frames of each shared sequence).

    python -m cellpoint.cap.validate --encoder runs/encoder/last.pt --tracker runs/tracker/last.pt
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from ..ctc import read_ctc
from ..frames import FrameStack
from ..infer import track_kernel
from ..metrics import evaluate
from ..raw import RawParams
from ..sim import simulate
from .encoder import Encoder
from .export import load_encoder, load_tracker
from .sources import REAL_SEQUENCES, TRAIN_FRACTION, data_dir
from .tracker import Tracker

VALIDATION_SEEDS = {"small": 10_001, "hard": 10_002}  # never drawn by training (random seeds)
FloatArray = npt.NDArray[np.float32]


class TorchCap:
    """PyTorch modules behind the same interface as the ONNX sessions (`infer.OnnxCap`)."""

    def __init__(self, encoder: Encoder, tracker: Tracker) -> None:
        self.encoder, self.tracker = encoder.eval(), tracker.eval()
        self.card: dict[str, Any] = {"name": "cap (PyTorch checkpoint)", "files": {}}

    @torch.no_grad()
    def encode(self, frame: FloatArray) -> tuple[FloatArray, FloatArray]:
        feats, heat = self.encoder(torch.from_numpy(frame)[None, None])
        return feats[0].numpy(), heat[0, 0].numpy()

    @torch.no_grad()
    def track(self, features: FloatArray, queries: FloatArray) -> tuple[FloatArray, FloatArray]:
        points, vis = self.tracker(
            torch.from_numpy(features)[None], torch.from_numpy(queries)[None]
        )
        return points[0].numpy(), vis[0].numpy()


@dataclass
class GroundTruthWindow:
    """CTC ground truth cut to frames [t0, t1), renumbered from 0 (what `evaluate` takes)."""

    markers: npt.NDArray[Any]
    lineage: pd.DataFrame


def cut_ground_truth(
    markers: npt.NDArray[Any], lineage: pd.DataFrame, t0: int, t1: int
) -> GroundTruthWindow:
    keep = lineage[(lineage["end"] >= t0) & (lineage["start"] < t1)].copy()
    keep["start"] = keep["start"].clip(lower=t0) - t0
    keep["end"] = keep["end"].clip(upper=t1 - 1) - t0
    # A parent that ended before the cut is not in the window: its daughters become roots.
    keep.loc[~keep["parent_id"].isin(keep["track_id"]), "parent_id"] = 0
    return GroundTruthWindow(markers[t0:t1], keep.reset_index(drop=True))


def validation_sets() -> Iterator[tuple[str, npt.NDArray[Any], Any, float]]:
    """(name, frames, ground truth, nucleus diameter) of every validation sequence."""
    for preset, seed in VALIDATION_SEEDS.items():
        seq = simulate(preset, seed=seed)
        yield f"sim:{preset}", seq.frames, seq, seq.config.diameter
    root = data_dir()
    if root is None:
        return
    for rel, diameter in REAL_SEQUENCES.items():
        real = read_ctc(root / rel)
        if real.frames is None or real.markers is None or real.lineage is None:
            raise FileNotFoundError(f"{root / rel}: frames or tracking ground truth missing")
        n = real.frames.shape[0]
        cut = int(n * TRAIN_FRACTION)
        truth = cut_ground_truth(real.markers, real.lineage, cut, n)
        yield f"{rel}[{cut}:]", real.frames[cut:], truth, diameter


def validate(encoder: Encoder, tracker: Tracker, params: RawParams | None = None) -> pd.DataFrame:
    """One row per validation sequence: TRA, DET, division F1, tracks, seconds."""
    model = TorchCap(encoder, tracker)
    rows = []
    for name, frames, truth, diameter in validation_sets():
        result = track_kernel(FrameStack(frames), diameter, params or RawParams(), model=model)
        report = evaluate(result, truth)
        rows.append(
            {
                "sequence": name,
                "TRA": report.tra,
                "DET": report.det,
                "division_F1": report.division_f1,
                "tracks": report.result_tracks,
                "gt_tracks": report.gt_tracks,
                "seconds": result.metadata["seconds"]["total"],
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--encoder", type=Path, required=True)
    parser.add_argument("--tracker", type=Path, required=True)
    args = parser.parse_args(argv)
    table = validate(load_encoder(args.encoder), load_tracker(args.tracker))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
