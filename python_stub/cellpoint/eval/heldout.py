"""The shared real CTC sequences and the frames no training ever sees.

Training draws windows from the first 80% of frames of each sequence in ../shared/data;
validation and the bench score the last 20%. This module needs no torch, so the bench can use
it on a machine without the training extra.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..engine.preprocess import Polarity
from ..io.ctc import CTCSequence, read_ctc
from .sim import PRESETS


@dataclass(frozen=True)
class RealSpec:
    """How a shared sequence's cells look: their typical equivalent-circle diameter (input
    pixels, as measured for the simulator's preset that mimics it) and polarity."""

    diameter: float
    polarity: Polarity
    modality: str  # the bench's kind of data: one of MODALITIES


# The kinds of data the bench reports apart.
NUCLEI = "nuclei"
PHASE_CONTRAST = "phase contrast"  # whole mammalian cells
CYTOPLASM = "cytoplasm"
BACTERIA = "bacteria"  # rods in phase contrast
DENSE_COLONY = "dense colony"
MODALITIES = (NUCLEI, PHASE_CONTRAST, CYTOPLASM, BACTERIA, DENSE_COLONY)

REAL_SEQUENCES = {
    "Fluo-N2DH-GOWT1/02": RealSpec(PRESETS["gowt1"].diameter, "bright", NUCLEI),
    "Fluo-N2DH-SIM+/02": RealSpec(PRESETS["simplus"].diameter, "bright", NUCLEI),
    "Fluo-C2DL-MSC/02": RealSpec(PRESETS["cytoplasm"].diameter, "bright", CYTOPLASM),
    "Ecoli-PhC-colony/01": RealSpec(PRESETS["phase_bacteria"].diameter, "dark", BACTERIA),
}
TRAIN_FRACTION = 0.8
# Simulator seeds no training run draws (training seeds are random among 2^31), per preset.
HELD_OUT_SEEDS = {
    "small": 10_001,
    "hard": 10_002,
    "gowt1": 10_003,
    "phase_bacteria": 10_004,
    "cytoplasm": 10_005,
    "dense_colony": 10_006,  # phase_bacteria grown on to a dense colony (the bench's)
    "phase_cells": 10_007,
}
HELD_OUT_STRIDE = 1_000  # further held-out seeds of a preset: its seed + k * stride


def held_out_seeds(preset: str, count: int) -> list[int]:
    """The first `count` held-out simulator seeds of a preset."""
    if count < 1:
        raise ValueError(f"need at least one seed, got {count}")
    return [HELD_OUT_SEEDS[preset] + k * HELD_OUT_STRIDE for k in range(count)]


def data_dir() -> Path | None:
    """The shared CTC data: $CELLPOINT_DATA, else ../shared/data beside the project (seen from
    the working directory, as `make` runs, or from this file in a source checkout)."""
    env = os.environ.get("CELLPOINT_DATA")
    candidates = [Path(env)] if env else []
    for project in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidates.append(project / ".." / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    return None


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


def training_frames(n_frames: int) -> int:
    """How many leading frames of a shared sequence training may use; the rest are held out."""
    return int(n_frames * TRAIN_FRACTION)


@dataclass
class RealSequence:
    """A shared sequence with its frames and tracking ground truth, all present."""

    name: str
    spec: RealSpec
    sequence: CTCSequence
    frames: npt.NDArray[Any]
    markers: npt.NDArray[Any]
    lineage: pd.DataFrame


def real_sequences(root: Path) -> Iterator[RealSequence]:
    """Each shared sequence present under `root`."""
    for rel, spec in REAL_SEQUENCES.items():
        if not (root / rel).is_dir():
            continue
        seq = read_ctc(root / rel)
        if seq.frames is None or seq.markers is None or seq.lineage is None:
            raise FileNotFoundError(f"{root / rel}: frames or tracking ground truth missing")
        yield RealSequence(rel, spec, seq, seq.frames, seq.markers, seq.lineage)


def held_out_real(
    root: Path, max_frames: int | None = None
) -> Iterator[tuple[str, npt.NDArray[Any], GroundTruthWindow, RealSpec]]:
    """(name, frames, ground truth, how its cells look) of the held-out frames of each shared
    sequence present under `root`, at most `max_frames` of them."""
    for real in real_sequences(root):
        n = real.frames.shape[0]
        cut = training_frames(n)
        end = n if max_frames is None else min(n, cut + max_frames)
        truth = cut_ground_truth(real.markers, real.lineage, cut, end)
        yield f"{real.name}[{cut}:{end}]", np.asarray(real.frames[cut:end]), truth, real.spec


def whole_real(root: Path) -> Iterator[tuple[str, npt.NDArray[Any], RealSequence, RealSpec]]:
    """As `held_out_real`, the whole of each sequence: its first TRAIN_FRACTION was trained
    on, and the name says so."""
    for real in real_sequences(root):
        n = real.frames.shape[0]
        name = f"{real.name}[0:{n}] (0-{training_frames(n) - 1} trained on)"
        yield name, np.asarray(real.frames), real, real.spec
