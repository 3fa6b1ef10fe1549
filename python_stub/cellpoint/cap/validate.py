"""Validation figures for a checkpoint: TRA, DET and division F1 on data the model never
trained on (held-out simulator seeds, and the last 20% of frames of each shared sequence).

    python -m cellpoint.cap.validate --encoder runs/encoder/last.pt --tracker runs/tracker/last.pt
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from ..engine.infer import track_kernel
from ..engine.judge import TreeJudge
from ..engine.preprocess import Polarity
from ..engine.raw import RawParams
from ..eval.heldout import data_dir, held_out_real, held_out_seeds
from ..eval.metrics import evaluate
from ..eval.sim import simulate
from ..io.frames import FrameStack
from .encoder import Encoder
from .export import load_encoder, load_sisters, load_tracker
from .sisters import SisterHead
from .tracker import Tracker

VALIDATION_PRESETS = ("small", "hard")  # quick enough to score at every validation
FloatArray = npt.NDArray[np.float32]


class TorchCap:
    """PyTorch modules behind the same interface as the ONNX sessions (`infer.OnnxCap`)."""

    def __init__(
        self, encoder: Encoder, tracker: Tracker, sister_head: SisterHead | None = None
    ) -> None:
        self.encoder, self.tracker = encoder.eval(), tracker.eval()
        self.sister_head = sister_head.eval() if sister_head is not None else None
        self.has_sisters = sister_head is not None
        self.judge: TreeJudge | None = None  # checkpoints carry no judge: it ships with export
        self.device = next(tracker.parameters()).device  # training validates on its device
        self.card: dict[str, Any] = {"name": "cap (PyTorch checkpoint)", "files": {}}

    @torch.no_grad()
    def encode(self, frame: FloatArray) -> tuple[FloatArray, FloatArray]:
        feats, heat = self.encoder(torch.from_numpy(frame)[None, None].to(self.device))
        return feats[0].permute(1, 2, 0).cpu().numpy(), heat[0, 0].cpu().numpy()  # channel-last

    @torch.no_grad()
    def track(self, features: FloatArray, queries: FloatArray) -> tuple[FloatArray, FloatArray]:
        points, vis = self.tracker(
            torch.from_numpy(features)[None].to(self.device),
            torch.from_numpy(queries)[None].to(self.device),
        )
        return points[0].cpu().numpy(), vis[0].cpu().numpy()

    @torch.no_grad()
    def sisters(self, previous: FloatArray, current: FloatArray) -> FloatArray:
        assert self.sister_head is not None, "no sister head"
        out = self.sister_head(  # channel-first, as the head's convolutions read them
            torch.from_numpy(previous).permute(2, 0, 1)[None].to(self.device),
            torch.from_numpy(current).permute(2, 0, 1)[None].to(self.device),
        )
        sister_map: FloatArray = out[0].cpu().numpy()
        return sister_map


def validation_sets(
    sim_seeds: int = 1,
) -> Iterator[tuple[str, npt.NDArray[Any], Any, float, Polarity]]:
    """(name, frames, ground truth, cell diameter, polarity) of every validation sequence,
    with `sim_seeds` held-out seeds per simulator preset."""
    for preset in VALIDATION_PRESETS:
        for seed in held_out_seeds(preset, sim_seeds):
            seq = simulate(preset, seed=seed)
            cfg = seq.config
            yield f"sim:{preset} seed {seed}", seq.frames, seq, cfg.diameter, cfg.polarity
    root = data_dir()
    if root is not None:
        for name, frames, truth, spec in held_out_real(root):
            yield name, frames, truth, spec.diameter, spec.polarity


def validate(
    encoder: Encoder,
    tracker: Tracker,
    params: RawParams | None = None,
    sim_seeds: int = 1,
    sister_head: SisterHead | None = None,
) -> pd.DataFrame:
    """One row per validation sequence: TRA, DET, division F1, tracks, seconds."""
    model = TorchCap(encoder, tracker, sister_head)
    rows = []
    for name, frames, truth, diameter, polarity in validation_sets(sim_seeds):
        stack = FrameStack(frames)
        result = track_kernel(stack, diameter, params or RawParams(), model, polarity=polarity)
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
    parser.add_argument("--sisters", type=Path, help="sister head checkpoint (none: without)")
    parser.add_argument(
        "--sim-seeds", type=int, default=1,
        help="held-out seeds per simulator preset: one seed's figures move by up to 0.02 "
        "between nearby checkpoints, too much to rank close candidates",
    )  # fmt: skip
    parser.add_argument(
        "--detection-threshold", type=float, default=RawParams.detection_threshold,
        help="heatmap peak value that starts a cell (RAW's default: the shipped model's)",
    )  # fmt: skip
    parser.add_argument(
        "--sister-threshold", type=float, default=RawParams.sister_threshold,
        help="sister-map peak value that splits a mother",
    )  # fmt: skip
    args = parser.parse_args(argv)
    params = RawParams(
        detection_threshold=args.detection_threshold, sister_threshold=args.sister_threshold
    )
    encoder, tracker = load_encoder(args.encoder), load_tracker(args.tracker)
    sister_head = load_sisters(args.sisters) if args.sisters else None
    table = validate(encoder, tracker, params, args.sim_seeds, sister_head)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.sim_seeds > 1:
        preset = table["sequence"].str.extract(r"^(sim:\w+) seed", expand=False)
        means = table[preset.notna()].groupby(preset)[["TRA", "DET", "division_F1"]].mean()
        print(f"\nmeans over {args.sim_seeds} seeds:")
        print(means.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
