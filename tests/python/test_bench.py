"""cellpoint.bench: the command prints its tables, with or without the shipped model, in a tiny
setting (one 8-frame "small" sequence, speed at 8 frames of 128 x 128 px)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from cellpoint import bench
from cellpoint.engine.infer import ModelError, OnnxCap
from cellpoint.engine.judge import TreeJudge
from cellpoint.engine.preprocess import estimate_look
from cellpoint.engine.raw import RawParams
from cellpoint.eval.heldout import MODALITIES
from cellpoint.eval.sim import PRESETS, simulate
from cellpoint.io.frames import FrameStack
from cellpoint.io.result import TrackingResult
from cellpoint.io.tables import empty_divisions

TINY = ["--quick", "--presets", "small", "--frames", "8", "--size", "128"]
ACCURACY_COLUMNS = [
    "dataset",
    "method",
    "frames",
    "TRA",
    "DET",
    "BC(0)",
    "BC(1)",
    "div timing",
    "GT div",
    "div TP(1)",
    "CT",
    "TF",
    "CCA",
]
SPEED_COLUMNS = ["setting", "T", "H x W", "cells/frame", "baseline s/frame", "detect", "link"]
GROWTH_COLUMNS = ["CAP s/frame", "tracked frames/frame", "peak RSS MiB", "tracks held"]
CAP_SPEED_COLUMNS = [
    "CAP s/frame", "preprocess", "encode", "track", "sisters", "peak RSS growth MiB"
]  # fmt: skip


def model_available() -> bool:
    try:
        OnnxCap()
    except ModelError:
        return False
    return True


def section(text: str, title: str) -> list[str]:
    """The lines of one printed table: from the line after its title to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"== {title}")) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def test_main_prints_accuracy_and_speed_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "bench.json"
    bench.main([*TINY, "--data", str(tmp_path / "no-data"), "--json", str(out_json)])
    text = capsys.readouterr().out
    has_model = model_available()

    accuracy = section(text, "Accuracy")
    for column in ACCURACY_COLUMNS:
        assert column in accuracy[0]
    rows = accuracy[1:]
    methods = [bench.CAP, bench.CAP_GREEDY, bench.BASELINE] if has_model else [bench.BASELINE]
    assert len(rows) == len(methods)
    for row, method in zip(rows, methods, strict=True):
        assert row.lstrip().startswith("nuclei")
        assert "sim:small seed 10001 (8x128x128)" in row
        assert method in row

    by_modality = section(text, "By modality")
    for column in ("modality", "TRA", "folder TRA", "BC(0)", "BC(1)", "s/frame", "peak MiB"):
        assert column in by_modality[0]
    shown = [bench.CAP, bench.BASELINE] if has_model else [bench.BASELINE]
    assert len(by_modality[1:]) == len(shown)
    for row, method in zip(by_modality[1:], shown, strict=True):
        assert row.lstrip().startswith("nuclei")
        assert method in row

    speed = section(text, "Speed")
    for column in SPEED_COLUMNS + (CAP_SPEED_COLUMNS if has_model else []):
        assert column in speed[0]
    assert [line.split()[0] for line in speed[1:]] == ["T=8", "T=8,", "T=8,"]
    assert "low density" in speed[2]
    assert "high density" in speed[3]

    if has_model:
        growth = section(text, "Growth")
        for column in GROWTH_COLUMNS:
            assert column in growth[0]
        labels = [line.split()[0] for line in growth[1:]]
        assert labels == ["T=8", "~50", "~150"]  # --frames 8 caps the lengths; quick: no dense
        assert [row["T"] for row in json.loads(out_json.read_text())["growth"]] == [8, 8, 8]
    else:
        assert "== Growth" not in text

    if has_model:  # quick: a 384 x 384 field whole and tiled, a 384 x 768 one tiled
        tiled = section(text, "Tiled tracking")
        assert "TRA" in tiled[0]
        assert [line.split(",")[0].strip() for line in tiled[1:]] == [
            "small field", "small field", "large field"
        ]  # fmt: skip
        tiled_figures = json.loads(out_json.read_text())["tiled"]
        assert [(row["T"], row["tiles"]) for row in tiled_figures] == [
            (8, "whole"), (8, "3x3"), (8, "2x5")
        ]  # fmt: skip
    else:
        assert "== Tiled" not in text

    assert "note: real data not found" in text
    assert ("note: CAP model missing" in text) != has_model

    figures = json.loads(out_json.read_text())
    assert [row["method"] for row in figures["accuracy"]] == methods
    assert len(figures["speed"]) == 3
    assert 0 <= figures["accuracy"][-1]["DET"] <= 1
    assert figures["environment"]["versions"]["laptrack"]


class StandIn:
    """A model that finds no cells: the CAP rows' plumbing without the shipped model."""

    def __init__(self) -> None:
        self.card: dict[str, Any] = {"name": "stand-in", "files": {}}
        self.has_sisters = True
        self.judge: TreeJudge | None = None

    def sisters(self, previous: Any, current: Any) -> Any:
        return np.zeros((3, *previous.shape[:2]), np.float32)

    def encode(self, frame: npt.NDArray[np.float32]) -> tuple[Any, Any]:
        h, w = frame.shape[0] // 4, frame.shape[1] // 4
        return np.zeros((h, w, 8), np.float32), np.zeros((h, w), np.float32)

    def track(self, features: Any, queries: Any) -> tuple[Any, Any]:
        t, n = features.shape[0], queries.shape[0]
        return np.zeros((t, n, 3, 2), np.float32), np.zeros((t, n, 3), np.float32)


def test_run_bench_puts_cap_and_baseline_side_by_side() -> None:
    result = bench.run_bench(
        quick=True,
        presets=["small"],
        max_frames=6,
        data=Path("/nonexistent"),
        speed=False,
        model_factory=StandIn,
        log=lambda _: None,
    )
    assert result.accuracy["method"].tolist() == [bench.CAP, bench.CAP_GREEDY, bench.BASELINE]
    assert result.accuracy["frames"].tolist() == [6, 6, 6]
    cap = result.accuracy.iloc[0]
    assert cap["tracks"] == 0
    assert cap["DET"] == 0.0
    assert result.speed.empty
    assert result.environment["model"] == "stand-in"
    text = bench.format_bench(result)
    assert "== Speed" not in text
    assert "real data not found (/nonexistent)" in text


def test_real_data_is_also_tracked_with_its_look_estimated() -> None:
    # On real sequences the bench also runs CAP as a user calls track() with no diameter or
    # polarity; each row says the diameter and polarity it ran at.
    seq = simulate("small", seed=3, n_frames=4)
    dataset = bench.Dataset(
        "real-like", seq.frames, seq, 20.0, "bright", "nuclei", estimate_look=True
    )
    rows = pd.DataFrame(bench.accuracy_rows(dataset, StandIn(), RawParams()))
    methods = [bench.CAP, bench.CAP_GREEDY, bench.CAP_ESTIMATED, bench.BASELINE]
    assert rows["method"].tolist() == methods
    polarity, diameter, _ = estimate_look(FrameStack(seq.frames), "auto", None)
    assert diameter != 20.0
    assert rows["diameter"].tolist() == [20.0, 20.0, diameter, 20.0]
    assert rows["polarity"].tolist() == ["bright", "bright", polarity, "bright"]
    assert bench.CAP_ESTIMATED in bench.by_modality(rows)["method"].tolist()


def test_a_missing_model_leaves_the_baseline_rows() -> None:
    def missing() -> OnnxCap:
        raise ModelError("no model card at models/cap-v1.json")

    result = bench.run_bench(
        presets=["small"],
        max_frames=4,
        data=Path("/nonexistent"),
        speed=False,
        model_factory=missing,
        log=lambda _: None,
    )
    assert result.accuracy["method"].tolist() == [bench.BASELINE]
    assert any(note.startswith(bench.MODEL_MISSING) for note in result.notes)


def test_speed_settings_grow_with_frames_and_density() -> None:
    full = bench.speed_settings(quick=False, max_frames=None, side=1024)
    assert [s.frames for s in full] == [24, 48, 92, 24, 24]
    densities = [s.density for s in full]
    assert densities[3] < densities[0] < densities[4]
    capped = bench.speed_settings(quick=True, max_frames=10, side=256)
    assert [s.frames for s in capped] == [8, 10, 8, 8]
    with pytest.raises(SystemExit):
        bench.main(["--frames", "1"])


def test_every_modality_has_held_out_simulated_data() -> None:
    datasets = list(bench.sim_datasets(list(bench.ACCURACY_SIMS), quick=True, max_frames=2))
    assert {d.modality for d in datasets} == set(MODALITIES)
    for dataset in datasets:
        case = bench.ACCURACY_SIMS[dataset.name.split()[0].removeprefix("sim:")]
        assert dataset.polarity == PRESETS[case.preset].polarity
        assert dataset.polarity == ("dark" if case.preset.startswith("phase") else "bright")
        assert dataset.frames.shape[0] == 2


def test_accuracy_rows_score_the_written_ctc_folder_beside_the_points() -> None:
    # The truth's own points score 1 both ways. Three points around each cell's centre, inside
    # its marker: on the points the nearest matches and the others are false positives, but in
    # the folder to_ctc writes each point's mask takes a third of the marker, and no mask
    # covers the half of it that the CTC's matching asks.
    seq = simulate("small", seed=3, n_frames=4)
    dataset = bench.Dataset("cells", seq.frames, seq, seq.config.diameter, "bright", "nuclei")
    look = bench.Look(seq.config.diameter, "bright")
    truth = seq.to_result()
    row = bench._accuracy_row(dataset, bench.CAP, look, truth, 1.0, 0.0)
    assert row["TRA"] == pytest.approx(1.0)
    assert row["folder TRA"] == pytest.approx(1.0)

    tracks, lineage = [], []
    step = int(truth.tracks["track_id"].max())
    for k, angle in enumerate(np.deg2rad([90.0, 210.0, 330.0])):
        moved = truth.tracks.assign(
            track_id=truth.tracks["track_id"] + k * step,
            y=truth.tracks["y"] + 1.5 * np.sin(angle),
            x=truth.tracks["x"] + 1.5 * np.cos(angle),
        )
        tracks.append(moved)
        lineage.append(truth.lineage.assign(track_id=truth.lineage["track_id"] + k * step))
    thrice = TrackingResult(
        pd.concat(tracks, ignore_index=True),
        pd.concat(lineage, ignore_index=True).assign(parent_id=0),
        empty_divisions(),
        shape=truth.shape,
        metadata=truth.metadata,
    )
    row = bench._accuracy_row(dataset, bench.CAP, look, thrice, 1.0, 0.0)
    assert row["folder TRA"] < 0.2 < 0.7 < row["TRA"]
