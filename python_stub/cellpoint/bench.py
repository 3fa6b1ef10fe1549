"""Figures for CAP's kernel backend beside the classical baseline (LoG + laptrack), on the same
data with the same command:

    python -m cellpoint.bench [--quick] [--data DIR] [--json PATH]

Accuracy: TRA, DET, LNK and division F1 with their counts, of CAP (kernel backend, the shipped
ONNX model) and of the baseline (`cellpoint.eval.baseline`), on held-out simulated sequences (the
validation seeds) and on the held-out last 20% of frames of each shared real CTC
sequence where that data is present; on the real sequences CAP also runs as a user calls
`track()` with no diameter or polarity, both estimated from the frames. TRA is scored on the
points and, as "folder TRA", on the CTC folder `TrackingResult.to_ctc` writes, as the CTC's own
tools score it: the two part where a cell holds two points, each of whose masks takes part
of it.

Speed: seconds per frame of the kernel backend by stage (preprocess, encode, track, sisters) on a
GOWT1-size simulated sequence (T x 1024 x 1024), as T grows and as the number of cells grows,
beside the baseline's; and the kernel backend's peak memory: the peak resident set size of a
fresh process that tracks frames it reads one at a time from disk, and its growth from after
the model is loaded to the end of tracking (Linux: VmHWM, reset at the start; elsewhere
getrusage's ru_maxrss).

Growth: the same figures as a sequence gets longer (the first 25, 100 and 400 frames of one
256 x 256 "small" sequence without divisions or bleaching, about 74 cells in view throughout),
as one 584 x 584 field fills (about 100, 200 and 400 cells in view, 25 frames) and on a dense field
(512 x 512, about 270 cells, 200 frames), with each CAP stage's time and the most features and
tracks tracking held at once.

Tiled: frames tracked tile by tile and stitched (`cellpoint.engine.tiling`), in fresh processes
as the speed rows: a 1024 x 1024 field of nuclei 24 px across tracked whole and in tiles of at
most 512 px, then a 2048 x 4096 field of about 500 such nuclei in tiles of the default side, its
first 50 frames and all 100 (time, peak memory, features held; TRA against the simulator's truth
where every frame was tracked).

Figures are printed, never asserted: timings depend on the machine and what else runs on it (the
load average is printed with them). Without the shipped model, the CAP rows are left out with a
note and the baseline's figures are still printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from .engine.infer import (
    MODELS_DIR,
    CapModel,
    KernelRun,
    Lineage,
    ModelError,
    OnnxCap,
    model_card,
    run_kernel,
    track_kernel,
)
from .engine.preprocess import FEATURE_STRIDE, Geometry, Polarity, estimate_look
from .engine.raw import RawParams
from .engine.separation import separation_for
from .engine.tiling import track_tiled
from .eval.baseline import track_baseline
from .eval.heldout import (
    BACTERIA,
    CYTOPLASM,
    DENSE_COLONY,
    HELD_OUT_SEEDS,
    MODALITIES,
    NUCLEI,
    PHASE_CONTRAST,
    REAL_SEQUENCES,
    data_dir,
    held_out_real,
    whole_real,
)
from .eval.metrics import GroundTruth, evaluate, evaluate_ctc
from .eval.sim import PRESETS, SimulatedSequence, simulate
from .io.frames import FrameStack
from .io.result import TrackingResult


@dataclass(frozen=True)
class SimCase:
    """A held-out simulated sequence: a preset, a seed no training draws, what it shows."""

    preset: str
    seed: int
    modality: str
    overrides: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)  # overrides of --quick


ACCURACY_SIMS: dict[str, SimCase] = {
    "small": SimCase("small", HELD_OUT_SEEDS["small"], NUCLEI),
    "hard": SimCase("hard", HELD_OUT_SEEDS["hard"], NUCLEI, quick={"n_frames": 24}),
    # full: 92 x 1024 x 1024, as Fluo-N2DH-GOWT1
    "gowt1": SimCase("gowt1", HELD_OUT_SEEDS["gowt1"], NUCLEI, quick={"n_frames": 24}),
    # 30 frames of 1305 x 1009: a few rods growing to ~33, as the shared E. coli colony
    "phase_bacteria": SimCase(
        "phase_bacteria",
        HELD_OUT_SEEDS["phase_bacteria"],
        BACTERIA,
        quick={"n_frames": 12, "height": 512, "width": 512, "density": 0.01},
    ),
    "cytoplasm": SimCase(
        "cytoplasm", HELD_OUT_SEEDS["cytoplasm"], CYTOPLASM, quick={"n_frames": 12}
    ),
    "phase_cells": SimCase(
        "phase_cells", HELD_OUT_SEEDS["phase_cells"], PHASE_CONTRAST, quick={"n_frames": 12}
    ),
    # The colony grown on to ~420 rods in its last frame, as the real one at its frame 53
    "dense_colony": SimCase(
        "phase_bacteria",
        HELD_OUT_SEEDS["dense_colony"],
        DENSE_COLONY,
        overrides={"n_frames": 53, "density": 0.004},
        quick={"n_frames": 16, "height": 384, "width": 384, "density": 0.08},
    ),
}
SPEED_SEED = 20_001
SPEED_FRAMES = (24, 48, 92)
SPEED_FRAMES_QUICK = (8, 16)
SPEED_DENSITY = {"low": 0.04, "high": 0.16}  # the gowt1 preset has 0.08
SPEED_SIDE = 1024
# Growth: the "small" preset without divisions or bleaching (cells still come and go at the
# edges), as the sequence gets longer at a steady number of cells in view, and as the field fills.
GROWTH_SEED = 20_002
GROWTH_SIDE = 256  # about 74 cells in view
GROWTH_FRAMES = (25, 100, 400)
GROWTH_FRAMES_QUICK = (25, 100)
# Fuller fields: one field, its density raised for about these many cells in view, so that the
# time against the cells is read at one frame size. 584 px of 14 px nuclei is a 1000 x 1000
# model frame (the nuclei drawn 24 px across).
GROWTH_CELLS = (100, 200, 400)
GROWTH_CELLS_QUICK = (50, 150)
GROWTH_CELLS_SIDE = 584
GROWTH_CELLS_SIDE_QUICK = 296
GROWTH_CELLS_FRAMES = 25
DENSE_FIELD = (512, 200)  # side, frames: about 270 cells in view (full bench only)
# Tiled tracking: a large field of nuclei 24 px across (the model's own scale), about 500 in
# view on 2048 x 4096, about as many dividing as dying; tracked in tiles at two lengths, and a
# small field of the same kind tracked whole and in tiles.
TILED_SEED = 20_003
TILED_DIAMETER = 24.0
TILED_DENSITY = 0.027
TILED_FIELD = (2048, 4096)
TILED_FIELD_QUICK = (384, 768)
TILED_FRAMES = (50, 100)
TILED_FRAMES_QUICK = (8, 16)
TILED_SMALL = 1024  # the small field's side: tracked whole too
TILED_SMALL_QUICK = 384
CAP = "CAP (kernel)"
CAP_STAGES = ("preprocess", "encode", "track", "sisters")  # the kernel backend's, timed apart
CAP_GREEDY = "CAP, divisions as RAW called them"  # without the lineage step
# As a user calls track() with no diameter or polarity: both estimated from the frames
CAP_ESTIMATED = "CAP, look estimated"
BASELINE = "baseline (LoG + laptrack)"
MODEL_MISSING = "CAP model missing"

ModelFactory = Callable[[], CapModel]
_T = TypeVar("_T")


@dataclass
class Dataset:
    name: str
    frames: npt.NDArray[Any]
    truth: GroundTruth
    diameter: float
    polarity: Polarity
    modality: str
    estimate_look: bool = False  # also tracked as a user would: diameter and polarity estimated


@dataclass
class Bench:
    accuracy: pd.DataFrame
    speed: pd.DataFrame
    growth: pd.DataFrame
    notes: list[str]
    environment: dict[str, Any]


# --- data -------------------------------------------------------------------------------------


def sim_datasets(presets: Sequence[str], quick: bool, max_frames: int | None) -> Iterator[Dataset]:
    for name in presets:
        if name not in ACCURACY_SIMS:
            raise ValueError(f"no held-out sequence named {name!r}: {sorted(ACCURACY_SIMS)}")
        case = ACCURACY_SIMS[name]
        overrides = case.overrides | (case.quick if quick else {})
        n_frames = int(overrides.get("n_frames", PRESETS[case.preset].n_frames))
        if max_frames is not None:
            overrides["n_frames"] = min(n_frames, max_frames)
        seq = simulate(case.preset, seed=case.seed, **overrides)
        t, h, w = seq.frames.shape
        cfg = seq.config
        label = f"sim:{name} seed {case.seed} ({t}x{h}x{w})"
        yield Dataset(label, seq.frames, seq, cfg.diameter, cfg.polarity, case.modality)


def real_datasets(root: Path, max_frames: int | None) -> Iterator[Dataset]:
    """The held-out last 20% of frames of each shared sequence found under `root`; then, unless
    frames are capped, each whole sequence."""
    for name, frames, truth, spec in held_out_real(root, max_frames):
        yield Dataset(name, frames, truth, spec.diameter, spec.polarity, spec.modality, True)
    if max_frames is None:
        for name, frames, whole, spec in whole_real(root):
            yield Dataset(name, frames, whole, spec.diameter, spec.polarity, spec.modality, True)


def missing_real(root: Path) -> list[str]:
    return [rel for rel in REAL_SEQUENCES if not (root / rel).is_dir()]


# --- accuracy ---------------------------------------------------------------------------------


def accuracy_rows(
    dataset: Dataset, model: CapModel | None, params: RawParams
) -> list[dict[str, Any]]:
    """One row per method on one dataset: CAP where a model is given (with the lineage step and
    without it, from one run; then, where the dataset says so, with its look estimated as
    `track()` estimates it when given no diameter or polarity), then the baseline. Each row says
    the diameter, polarity and CAP's separation it ran at."""
    rows = []
    memory = _PeakMemory()

    def measured(work: Callable[[], _T]) -> tuple[_T, float, float]:
        """What `work` returns, its seconds and the peak memory it added (MiB)."""
        before = memory.start()
        start = time.perf_counter()
        value = work()
        return value, time.perf_counter() - start, memory.peak() - before

    look = Look(dataset.diameter, dataset.polarity)
    if model is not None:
        stack, network = FrameStack(dataset.frames), model

        def cap(polarity: str, diameter: float | None) -> tuple[Look, KernelRun]:
            """CAP as `track()` runs it given this polarity and diameter (None: estimated)."""
            seen, at_diameter, size = estimate_look(stack, polarity, diameter)
            separation = separation_for(stack, seen, at_diameter, size, params, lambda: network)
            separated = replace(params, min_separation=separation)
            run = run_kernel(stack, at_diameter, separated, model=network, polarity=seen)
            return Look(at_diameter, seen, separation), run

        (given, run), seconds, growth = measured(lambda: cap(look.polarity, look.diameter))
        methods: tuple[tuple[Lineage, str], ...] = (("global", CAP), ("greedy", CAP_GREEDY))
        for lineage, method in methods:
            result = run.result(lineage)
            rows.append(_accuracy_row(dataset, method, given, result, seconds, growth))
        if dataset.estimate_look:
            (found, run), seconds, growth = measured(lambda: cap("auto", None))
            result = run.result("global")
            rows.append(_accuracy_row(dataset, CAP_ESTIMATED, found, result, seconds, growth))
    result, seconds, growth = measured(
        lambda: track_baseline(dataset.frames, look.diameter, polarity=look.polarity)
    )
    rows.append(_accuracy_row(dataset, BASELINE, look, result, seconds, growth))
    return rows


@dataclass(frozen=True)
class Look:
    """The cell diameter (px) and polarity a method ran at, and CAP's min_separation."""

    diameter: float
    polarity: Polarity
    separation: float | None = None  # None: the baseline, which has none


def _accuracy_row(
    dataset: Dataset,
    method: str,
    look: Look,
    result: TrackingResult,
    seconds: float,
    peak_mib: float,
) -> dict[str, Any]:
    report = evaluate(result, dataset.truth)
    with tempfile.TemporaryDirectory() as folder:
        result.to_ctc(folder)
        folder_tra = evaluate_ctc(folder, dataset.truth).tra
    return {
        "modality": dataset.modality,
        "dataset": dataset.name,
        "method": method,
        "diameter": look.diameter,
        "polarity": look.polarity,
        "separation": look.separation,
        "frames": int(dataset.frames.shape[0]),
        "TRA": report.tra,
        "folder TRA": folder_tra,
        "DET": report.det,
        "LNK": report.lnk,
        "BC(0)": report.bc_0,
        "BC(1)": report.bc_1,
        "BC(2)": report.bc_2,
        "div P(1)": report.division_precision,
        "div R(1)": report.division_recall,
        "div timing": report.division_timing,
        "GT div": report.gt_divisions,
        "div found": report.result_divisions,
        "div TP(1)": report.division_tp,
        "CT": report.ct,
        "TF": report.tf,
        "CCA": report.cca,
        "GT tracks": report.gt_tracks,
        "tracks": report.result_tracks,
        "FN": report.fn,
        "FP": report.fp,
        "s/frame": seconds / max(1, dataset.frames.shape[0]),
        "peak MiB": peak_mib,
    }


# --- speed ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeedSetting:
    label: str
    frames: int
    side: int
    density: float


def speed_settings(quick: bool, max_frames: int | None, side: int) -> list[SpeedSetting]:
    counts: tuple[int, ...] = SPEED_FRAMES_QUICK if quick else SPEED_FRAMES
    if max_frames is not None:
        counts = tuple(sorted({min(t, max_frames) for t in counts}))
    density = PRESETS["gowt1"].density
    out = [SpeedSetting(f"T={t}", t, side, density) for t in counts]
    out += [
        SpeedSetting(f"T={counts[0]}, {name} density", counts[0], side, value)
        for name, value in SPEED_DENSITY.items()
    ]
    return out


def speed_rows(
    settings: Sequence[SpeedSetting], models: Path | None, workdir: Path
) -> list[dict[str, Any]]:
    """One row per setting; CAP's columns where `models` (a model folder) is given."""
    rows = []
    for setting in settings:
        seq = simulate(
            "gowt1",
            seed=SPEED_SEED,
            n_frames=setting.frames,
            height=setting.side,
            width=setting.side,
            density=setting.density,
        )
        frames = seq.frames
        t, h, w = frames.shape
        row: dict[str, Any] = {
            "setting": setting.label,
            "T": t,
            "H x W": f"{h}x{w}",
            "cells/frame": float(seq.tracks.groupby("t").size().mean()) if len(seq.tracks) else 0.0,
        }
        if models is not None:
            cap = _measure_cap(frames, seq.config.diameter, workdir, models)
            seconds = cap["seconds"]
            row |= {
                "CAP s/frame": seconds["total"] / t,
                **{stage: seconds[stage] / t for stage in CAP_STAGES},
                "CAP tracks": cap["tracks"],
                "peak RSS growth MiB": cap["rss_growth_mib"],
                "peak RSS MiB": cap["rss_peak_mib"],
                "memory": cap["memory_method"],
            }
        result = track_baseline(frames, seq.config.diameter)
        seconds = result.metadata["seconds"]
        row |= {
            "baseline s/frame": seconds["total"] / t,
            "detect": seconds["detect"] / t,
            "link": seconds["link"] / t,
            "baseline tracks": int(result.lineage.shape[0]),
        }
        rows.append(row)
    return rows


def _measure_cap(
    frames: npt.NDArray[Any], diameter: float, workdir: Path, models: Path
) -> dict[str, Any]:
    """Track `frames` with the kernel backend in a fresh process (see the module docstring)."""
    return _run_child(_frames_file(frames, workdir, models), diameter)


def _frames_file(frames: npt.NDArray[Any], workdir: Path, models: Path) -> dict[str, Any]:
    """`frames` written to a raw file in `workdir`: the spec a measuring process reads them by
    (its first `shape[0]` frames; `tile` and `out` as `_child`'s)."""
    path = workdir / "frames.raw"
    np.ascontiguousarray(frames).tofile(path)
    return {
        "path": str(path),
        "shape": list(frames.shape),
        "dtype": str(frames.dtype),
        "models": str(models),
    }


def _run_child(spec: dict[str, Any], diameter: float) -> dict[str, Any]:
    """`_child`'s figures, from a fresh process."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "cellpoint.bench", "--child", json.dumps(spec), str(diameter)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the speed measurement process failed:\n{done.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


class _FileFrames:
    """(T, H, W) frames read one at a time from a raw file (no memory map: what tracking
    holds is what the resident set shows); `[t, rows, cols]` reads those rows only."""

    def __init__(self, path: str, shape: Sequence[int], dtype: str) -> None:
        self.path, self.shape, self.dtype = path, tuple(shape), np.dtype(dtype)
        self._size = int(self.shape[1]) * int(self.shape[2])

    def __getitem__(self, index: int | tuple[int, slice, slice]) -> npt.NDArray[Any]:
        if isinstance(index, tuple):
            return self._region(*index)
        offset = int(index) * self._size * self.dtype.itemsize
        frame = np.fromfile(self.path, self.dtype, count=self._size, offset=offset)
        return frame.reshape(self.shape[1], self.shape[2])

    def _region(self, t: int, rows: slice, cols: slice) -> npt.NDArray[Any]:
        height, width = int(self.shape[1]), int(self.shape[2])
        lines = []
        with open(self.path, "rb") as file:
            for row in range(*rows.indices(height)):
                file.seek((int(t) * height + row) * width * self.dtype.itemsize)
                lines.append(np.fromfile(file, self.dtype, count=width)[cols])
        return np.stack(lines)


class _PeakMemory:
    """Resident set size now and at its peak, in MiB. On Linux the peak is the process's
    VmHWM, reset when the measurement starts (/proc/self/clear_refs); elsewhere ru_maxrss,
    which a spawned process inherits from its parent at fork (so the growth reads 0 when the
    parent was larger)."""

    def __init__(self) -> None:
        self.method = "VmHWM" if self._status() else "ru_maxrss"

    @staticmethod
    def _status() -> dict[str, float]:
        try:
            text = Path("/proc/self/status").read_text()
        except OSError:
            return {}
        fields = (line.split(":", 1) for line in text.splitlines() if ":" in line)
        return {
            key: int(value.split()[0]) / 1024  # kB
            for key, value in fields
            if key in ("VmRSS", "VmHWM")
        }

    def start(self) -> float:
        """Resets the peak where possible; returns the resident set size now."""
        if self.method == "VmHWM":
            try:
                Path("/proc/self/clear_refs").write_text("5")
            except OSError:
                self.method = "ru_maxrss"
        return self.now()

    def now(self) -> float:
        status = self._status()
        return status.get("VmRSS", self.peak())

    def peak(self) -> float:
        if self.method == "VmHWM":
            return self._status()["VmHWM"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def _child(spec_json: str, diameter: str) -> None:
    """Tracks the frames of a `_frames_file` spec, whole or, where the spec has `tile`, in
    tiles (`track_tiled`; null: its default side), writes the result's tables to the spec's
    `out` folder where given, and prints its figures as JSON."""
    spec = json.loads(spec_json)
    stack = FrameStack(_FileFrames(spec["path"], spec["shape"], spec["dtype"]))
    model = OnnxCap(Path(spec["models"]))
    memory = _PeakMemory()
    before = memory.start()
    if "tile" in spec:
        result = track_tiled(stack, float(diameter), RawParams(), tile=spec["tile"], model=model)
    else:
        result = track_kernel(stack, float(diameter), RawParams(), model=model)
    peak = memory.peak()
    if "out" in spec:
        result.to_csv(spec["out"])
    metadata = result.metadata
    print(
        json.dumps(
            {
                "seconds": metadata["seconds"],
                "tracker_frames": metadata["tracker_frames"],
                "peak_feature_bytes": metadata["peak_feature_bytes"],
                "peak_held_tracks": metadata["peak_held_tracks"],
                "tracks": int(result.lineage.shape[0]),
                "rss_growth_mib": peak - before,
                "rss_peak_mib": peak,
                "memory_method": memory.method,
                "tiling": metadata.get("tiling"),
            }
        )
    )


# --- growth -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrowthSetting:
    label: str
    frames: int
    side: int
    density: float = PRESETS["small"].density


def growth_settings(quick: bool, max_frames: int | None) -> list[GrowthSetting]:
    """Longer sequences at GROWTH_SIDE (the first T frames of one sequence), then fuller fields
    of GROWTH_CELLS_FRAMES frames (one side, denser), then, in the full bench, DENSE_FIELD."""

    def capped(frames: int) -> int:
        return frames if max_frames is None else min(frames, max_frames)

    lengths = sorted({capped(t) for t in (GROWTH_FRAMES_QUICK if quick else GROWTH_FRAMES)})
    out = [GrowthSetting(f"T={t}", t, GROWTH_SIDE) for t in lengths]
    side = GROWTH_CELLS_SIDE_QUICK if quick else GROWTH_CELLS_SIDE
    density = PRESETS["small"].density
    per_density = len(growth_sequence(1, side).tracks) / density  # cells in view per unit
    for cells in GROWTH_CELLS_QUICK if quick else GROWTH_CELLS:
        out.append(
            GrowthSetting(f"~{cells} cells", capped(GROWTH_CELLS_FRAMES), side, cells / per_density)
        )
    if not quick:
        side, frames = DENSE_FIELD
        out.append(GrowthSetting("dense field", capped(frames), side))
    return out


def growth_sequence(
    frames: int, side: int, density: float = PRESETS["small"].density
) -> SimulatedSequence:
    """Steady conditions: no divisions and no bleaching (fading cells are lost and found
    again more often late in a sequence, which would restart more windows there)."""
    return simulate("small", seed=GROWTH_SEED, n_frames=frames, height=side, width=side,
                    density=density, division_rate=0.0, bleach=0.0)  # fmt: skip


def growth_rows(
    settings: Sequence[GrowthSetting],
    models: Path,
    workdir: Path,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """One row per setting: the kernel backend in a fresh process (as the speed rows). Settings
    of one side and density track the first frames of one sequence."""
    longest: dict[tuple[int, float], int] = {}
    for setting in settings:
        field = (setting.side, setting.density)
        longest[field] = max(longest.get(field, 0), setting.frames)
    sequences = {field: growth_sequence(frames, *field) for field, frames in longest.items()}
    rows = []
    for setting in settings:
        log(f"growth: {setting.label} ({setting.frames} x {setting.side}^2)")
        seq = sequences[(setting.side, setting.density)]
        frames = seq.frames[: setting.frames]
        in_view = seq.tracks[seq.tracks["t"] < setting.frames].groupby("t").size()
        cap = _measure_cap(frames, seq.config.diameter, workdir, models)
        t = setting.frames
        rows.append(
            {
                "setting": setting.label,
                "T": t,
                "H x W": f"{setting.side}x{setting.side}",
                "cells/frame": float(in_view.mean()),
                "CAP s/frame": cap["seconds"]["total"] / t,
                **{f"{stage} s/frame": cap["seconds"][stage] / t for stage in CAP_STAGES},
                "tracked frames/frame": cap["tracker_frames"] / t,
                "peak RSS MiB": cap["rss_peak_mib"],
                "peak RSS growth MiB": cap["rss_growth_mib"],
                "features held MiB": cap["peak_feature_bytes"] / 2**20,
                "tracks held": cap["peak_held_tracks"],
                "tracks": cap["tracks"],
            }
        )
    return rows


# --- tiled tracking ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TiledSetting:
    field: tuple[int, int]  # (height, width) of the large field, tracked in tiles
    frames: tuple[int, ...]  # its first frames tracked, from one sequence
    tile: int | None  # the large field's largest tile side (None: track_tiled's default)
    side: int  # of the small field, tracked whole and in tiles of half its side


def tiled_setting(quick: bool, max_frames: int | None) -> TiledSetting:
    """The full bench's large field in tiles of the default side; the quick one's smaller, in
    tiles small enough that there are several."""
    frames: tuple[int, ...] = TILED_FRAMES_QUICK if quick else TILED_FRAMES
    if max_frames is not None:
        frames = tuple(sorted({min(t, max_frames) for t in frames}))
    if quick:
        return TiledSetting(TILED_FIELD_QUICK, frames, 256, TILED_SMALL_QUICK)
    return TiledSetting(TILED_FIELD, frames, None, TILED_SMALL)


def tiled_sequence(height: int, width: int, frames: int) -> SimulatedSequence:
    return simulate("small", seed=TILED_SEED, n_frames=frames, height=height, width=width,
                    diameter=TILED_DIAMETER, density=TILED_DENSITY, division_rate=0.003,
                    death_rate=0.001)  # fmt: skip


def tiled_bench(
    quick: bool, max_frames: int | None, models: Path, log: Callable[[str], None]
) -> pd.DataFrame:
    """Rows of the kernel backend in a fresh process each (as the speed rows): the small field
    whole and in tiles, then the large field in tiles at each length; TRA against the
    simulator's truth where every frame was tracked. No rows without the model."""
    try:
        OnnxCap(models)
    except ModelError as err:
        log(f"note: tiled tracking not measured ({err})")
        return pd.DataFrame()
    setting = tiled_setting(quick, max_frames)
    length = max(setting.frames)
    small = (setting.side, setting.side)
    # (label, field, frames, _child's options): a spec without `tile` tracks whole frames
    runs: list[tuple[str, tuple[int, int], int, dict[str, Any]]] = [
        ("small field, whole", small, length, {}),
        ("small field, tiled", small, length, {"tile": setting.side // 2}),
    ]
    runs += [
        ("large field, tiled", setting.field, frames, {"tile": setting.tile})
        for frames in setting.frames
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cellpoint-tiled-") as tmp:
        workdir = Path(tmp)
        for size in (small, setting.field):  # one sequence at a time: the large one is large
            seq = tiled_sequence(*size, length)
            spec = _frames_file(seq.frames, workdir, models)
            for label, _, frames, options in (run for run in runs if run[1] == size):
                log(f"tiled: {label}, {frames} x {size[0]} x {size[1]}")
                run_spec = spec | {"shape": [frames, *size]} | options
                rows.append(_tiled_row(label, seq, run_spec, frames, workdir))
    return pd.DataFrame(rows)


def _tiled_row(
    label: str, seq: SimulatedSequence, spec: dict[str, Any], frames: int, workdir: Path
) -> dict[str, Any]:
    out = workdir / f"result-{len(list(workdir.glob('result-*')))}"
    cap = _run_child(spec | {"out": str(out)}, TILED_DIAMETER)
    tiling = cap["tiling"]
    _, height, width = seq.frames.shape
    whole = seq.frames.shape[0] == frames  # the truth covers the frames tracked
    return {
        "setting": label,
        "T": frames,
        "H x W": f"{height}x{width}",
        "cells/frame": float(seq.tracks[seq.tracks["t"] < frames].groupby("t").size().mean()),
        "tiles": "x".join(map(str, tiling["grid"])) if tiling else "whole",
        "tile px": "x".join(map(str, tiling["tile_shape"])) if tiling else "",
        "CAP s/frame": cap["seconds"]["total"] / frames,
        "peak RSS MiB": cap["rss_peak_mib"],
        "peak RSS growth MiB": cap["rss_growth_mib"],
        "features held MiB": cap["peak_feature_bytes"] / 2**20,
        "tracks": cap["tracks"],
        "TRA": evaluate(TrackingResult.read(out), seq).tra if whole else float("nan"),
    }


def format_tiled(table: pd.DataFrame, models: Path = MODELS_DIR) -> str:
    """The tiled rows as a section of `format_bench`'s text, with what the full bench's large
    field would hold tracked whole."""
    if not len(table):
        return ""
    height, width = TILED_FIELD
    rows, cols = Geometry.for_diameter(height, width, TILED_DIAMETER).padded
    channels = model_card(models)["encoder"]["feature_dim"]
    pixels = (rows // FEATURE_STRIDE) * (cols // FEATURE_STRIDE)
    window = RawParams().window * pixels * channels * 4  # FeatureCache's float32 bytes
    text = table.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")
    return (
        "\n\n== Tiled tracking (CAP, kernel backend: frames tracked tile by tile and stitched) "
        f"==\n{text}\n\nTRA against the simulator's truth where every frame of the sequence "
        f"was tracked; peak RSS as in the speed rows. Whole, a {height} x {width} frame would "
        f"hold {window / 2**30:.1f} GiB of features a window."
    )


# --- the whole bench --------------------------------------------------------------------------


def run_bench(
    *,
    quick: bool = False,
    presets: Sequence[str] = tuple(ACCURACY_SIMS),
    data: Path | None = None,
    max_frames: int | None = None,
    speed_side: int = SPEED_SIDE,
    speed: bool = True,
    growth: bool = True,
    models: Path = MODELS_DIR,
    model_factory: ModelFactory | None = None,
    log: Callable[[str], None] = print,
) -> Bench:
    """All figures; `model_factory` stands in for the shipped model (tests)."""
    notes: list[str] = []
    model: CapModel | None
    try:
        model = model_factory() if model_factory is not None else OnnxCap(models)
    except ModelError as err:
        model = None
        notes.append(f"{MODEL_MISSING} ({err}): CAP rows left out, baseline rows only.")
        log(f"note: {notes[-1]}")
    params = RawParams()

    accuracy: list[dict[str, Any]] = []
    for dataset in sim_datasets(presets, quick, max_frames):
        log(f"accuracy: {dataset.name}")
        accuracy += accuracy_rows(dataset, model, params)
    accuracy += _real_accuracy(data, max_frames, model, params, notes, log)

    timed = models if model is not None and model_factory is None else None
    if (speed or growth) and model is not None and model_factory is not None:
        notes.append("speed: a stand-in model was given; CAP speed not measured.")
    speed_table: list[dict[str, Any]] = []
    growth_table: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cellpoint-bench-") as tmp:
        if speed:
            for setting in speed_settings(quick, max_frames, speed_side):
                log(f"speed: {setting.label} ({setting.frames} x {setting.side}^2)")
                speed_table += speed_rows([setting], timed, Path(tmp))
        if growth and timed is not None:
            growth_table = growth_rows(growth_settings(quick, max_frames), timed, Path(tmp), log)
    return Bench(
        accuracy=pd.DataFrame(accuracy),
        speed=pd.DataFrame(speed_table),
        growth=pd.DataFrame(growth_table),
        notes=notes,
        environment=_environment(model),
    )


def _real_accuracy(
    data: Path | None,
    max_frames: int | None,
    model: CapModel | None,
    params: RawParams,
    notes: list[str],
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Accuracy rows on the shared real sequences; a note where they cannot be had."""

    def note(text: str) -> list[dict[str, Any]]:
        notes.append(text)
        log(f"note: {text}")
        return []

    root = data if data is not None else data_dir()
    if root is None or not root.is_dir():
        looked = str(root) if root is not None else "$CELLPOINT_DATA or ../shared/data"
        return note(f"real data not found ({looked}): real sequences skipped.")
    absent = missing_real(root)
    if absent:
        note(f"not under {root}: {', '.join(absent)} (skipped).")
    rows = []
    for dataset in real_datasets(root, max_frames):
        log(f"accuracy: {dataset.name}")
        rows += accuracy_rows(dataset, model, params)
    return rows


def _environment(model: CapModel | None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in ("numpy", "pandas", "onnxruntime", "scikit-image", "laptrack"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }
    if model is not None:
        env["model"] = model.card.get("name")
        env["model_files"] = {k: v.get("sha256", "")[:16] for k, v in model.card["files"].items()}
    return env


def by_modality(accuracy: pd.DataFrame) -> pd.DataFrame:
    """The accuracy rows of CAP (lineage step; and with its look estimated) and the baseline,
    grouped by modality."""
    order = {name: k for k, name in enumerate(MODALITIES)}
    rows = accuracy[accuracy["method"].isin([CAP, CAP_ESTIMATED, BASELINE])]
    columns = ["modality", "dataset", "method", "diameter", "separation"]
    columns += ["TRA", "folder TRA", "DET", "BC(0)", "BC(1)", "s/frame", "peak MiB"]
    rows = rows[columns].copy()
    rows["rank"] = rows["modality"].map(order)
    return rows.sort_values(["rank", "dataset"], kind="stable").drop(columns="rank")


def format_bench(bench: Bench) -> str:
    """Plain-text tables."""

    def table(frame: pd.DataFrame) -> str:
        return frame.to_string(index=False, float_format=lambda v: f"{v:.3f}")

    env = bench.environment
    load = env.get("load_average")
    parts = ["== Accuracy (held-out data; division F1 with a 1-frame tolerance) =="]
    parts.append(table(bench.accuracy) if len(bench.accuracy) else "(no rows)")

    def section(title: str, frame: pd.DataFrame, note: str | None) -> list[str]:
        return ["", f"== {title} ==", table(frame)] + ([f"\n{note}"] if note else [])

    if len(bench.accuracy):
        parts += section(
            "By modality (the rows above, CAP with its lineage step next to the baseline)",
            by_modality(bench.accuracy),
            "BC(i): division F1 with an i-frame tolerance; folder TRA: of the CTC folder "
            "to_ctc writes; peak MiB: the process's peak "
            "resident memory above where it stood when the method started; diameter: the cell "
            f"diameter (px) a method ran at: the data's own, or for '{CAP_ESTIMATED}' on real "
            "sequences, track()'s estimate when given none; separation: CAP's min_separation "
            "(model px) as track() chooses it (cellpoint.engine.separation).",
        )

    if len(bench.speed):
        memory = "peak RSS MiB" in bench.speed
        parts += section(
            "Speed (seconds per frame; CAP stages: preprocess, encode, track, sisters; "
            "baseline stages: detect, link)",
            bench.speed,
            "peak RSS: of a fresh process running CAP alone on frames it reads one at a time; "
            "growth: from after the model is loaded to the end of tracking (VmHWM: Linux's "
            "peak, reset at the start; ru_maxrss: the process's lifetime peak)."
            if memory
            else None,
        )
    if len(bench.growth):
        parts += section(
            "Growth (CAP, kernel backend: a longer sequence at a steady number of cells in "
            "view, then fuller fields)",
            bench.growth,
            "tracked frames/frame: frames the tracker ran over per frame of the sequence (a "
            "window restarts at each new cell or division, and its call looks twice as far "
            "ahead as the window before was read, at least half a window; a short sequence's "
            "last windows are cut at its end, so it tracks fewer); features held: the most "
            "bytes of features cached at once; tracks held: the most tracks RAW kept as objects "
            "at once (the rest are finished rows).",
        )
    parts += [
        "",
        f"machine: {env['cpus']} CPUs ({env['machine']}), load average "
        + (", ".join(f"{v:.2f}" for v in load) if load else "n/a")
        + "; versions: "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
    ]
    if "model" in env:
        parts.append(f"model: {env['model']} {env['model_files']}")
    parts += [f"note: {note}" for note in bench.notes]
    return "\n".join(parts)


def to_json(bench: Bench) -> dict[str, Any]:
    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return json.loads(frame.to_json(orient="records"))  # type: ignore[no-any-return]

    return {
        "accuracy": records(bench.accuracy),
        "speed": records(bench.speed),
        "growth": records(bench.growth),
        "notes": bench.notes,
        "environment": bench.environment,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cellpoint.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shorter sequences: 'hard' and 'gowt1' cut to 24 frames, speed at T = 8, 16, growth "
        "at T = 25, 100 and 50, 150 cells, no dense field, tiled on 384 x 384 and 384 x 768 "
        "fields of 8 and 16 frames",
    )
    parser.add_argument(
        "--data", type=Path, help="the shared CTC data (default: $CELLPOINT_DATA or ../shared/data)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--presets",
        default=",".join(ACCURACY_SIMS),
        help="comma-separated simulated presets for accuracy (default: %(default)s)",
    )
    parser.add_argument("--frames", type=int, help="at most this many frames per sequence")
    parser.add_argument(
        "--size", type=int, default=SPEED_SIDE, help="frame side of the speed sequences (px)"
    )
    parser.add_argument("--no-speed", action="store_true", help="no speed table")
    parser.add_argument("--no-growth", action="store_true", help="no growth table")
    parser.add_argument("--no-tiled", action="store_true", help="no tiled-tracking table")
    parser.add_argument(
        "--models",
        type=Path,
        default=MODELS_DIR,
        help="folder of the ONNX model and its card (default: the package's own)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return
    if args.frames is not None and args.frames < 2:
        parser.error("--frames must be at least 2")
    presets = [p for p in args.presets.split(",") if p]
    log = _stderr_log
    bench = run_bench(
        quick=args.quick,
        presets=presets,
        data=args.data,
        max_frames=args.frames,
        speed_side=args.size,
        speed=not args.no_speed,
        growth=not args.no_growth,
        models=args.models,
        log=log,
    )
    tiled = (
        pd.DataFrame() if args.no_tiled else tiled_bench(args.quick, args.frames, args.models, log)
    )
    print(format_bench(bench) + format_tiled(tiled, args.models))
    if args.json:
        tiled_records = json.loads(tiled.to_json(orient="records")) if len(tiled) else []
        args.json.write_text(json.dumps(to_json(bench) | {"tiled": tiled_records}, indent=2))


def _stderr_log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    main()
