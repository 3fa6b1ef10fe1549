"""The simulator beyond bright nuclei: phase contrast, rod-shaped bacteria in colonies, whole
cells with protrusions; and the presets of nuclei left as they were."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from cellpoint.eval.sim import PRESETS, SimConfig, SimulatedSequence, simulate
from cellpoint.eval.sim_rods import contact_points, relax
from cellpoint.io.ctc import tracks_from_labels
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull

Array = npt.NDArray[Any]
# Bacteria small enough for a 160 px field: a few founders that grow into colonies.
RODS: dict[str, Any] = {"n_frames": 14, "height": 160, "width": 160, "diameter": 16.0,
                        "density": 0.02, "jitter": 1.0}  # fmt: skip
# Whole cells, crowded; markers half their size, which do not overlap in such a crowd.
CELLS: dict[str, Any] = {"n_frames": 3, "height": 256, "width": 256, "diameter": 60.0,
                         "density": 0.2, "marker_scale": 0.5}  # fmt: skip
QUIET: dict[str, Any] = {"snr": 1000.0, "background_texture": 0.0, "background_gradient": 0.0}


@pytest.fixture(scope="module")
def rods() -> SimulatedSequence:
    return simulate("phase_bacteria", seed=1, **RODS)


@pytest.fixture(scope="module")
def cells() -> SimulatedSequence:
    return simulate("cytoplasm", seed=1, **CELLS)


def axes(mask: Array) -> tuple[float, float, Array]:
    """Full major and minor axis lengths of the ellipse with a mask's moments, and the major
    axis direction (dy, dx)."""
    ys, xs = np.nonzero(mask)
    values, vectors = np.linalg.eigh(np.cov(np.stack([ys, xs]).astype(float)))
    return 4 * float(np.sqrt(values[1])), 4 * float(np.sqrt(values[0])), vectors[:, 1]


def solidity(mask: Array) -> float:
    ys, xs = np.nonzero(mask)
    return float(ys.size / ConvexHull(np.stack([ys, xs], 1).astype(float)).volume)


# --- the presets of nuclei are pinned ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "overrides", "digest"),
    [
        ("small", {}, "b47809e416165e0394142d5e7f030f2609195d2ce8511c9784d3f6b6df08a7ac"),
        ("hard", {"n_frames": 6, "height": 96, "width": 128},
         "740b8a6fe13e0f0e6710dbb03e0bdcd2793909edb6e3caa33881b2a3a33b0e89"),
        ("gowt1", {"n_frames": 2, "height": 192, "width": 160},
         "3d4ec9d5b536d01e5e1753f61e416aa5f431039159fd6b9670ba7f02e835fac2"),
        ("simplus", {"n_frames": 2, "height": 160, "width": 192},
         "eee6d74657282d47ea61188c3794be32560235e933a5bb60b7dfd43377d50299"),
    ],
)  # fmt: skip
def test_nucleus_presets_are_bit_identical(
    name: str, overrides: dict[str, Any], digest: str
) -> None:
    """Frames and markers as the simulator makes them, pinned so that drawing other bodies and
    modalities leaves nuclei alone; re-pinned when the nuclei's own look changes (mitosis as
    SIM+/02 shows it). numpy's float32 kernels may round differently on another CPU: then
    re-pin."""
    seq = simulate(name, seed=0, **overrides)
    assert hashlib.sha256(seq.frames.tobytes() + seq.markers.tobytes()).hexdigest() == digest


# --- shapes and ground truth -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "dtype"),
    [("phase_bacteria", (1305, 1009), np.uint8), ("cytoplasm", (782, 1200), np.uint16)],
)
def test_new_presets_match_their_data(name: str, shape: tuple[int, int], dtype: type) -> None:
    seq = simulate(name, seed=0, n_frames=1)
    assert seq.frames.shape == seq.markers.shape == (1, *shape)
    assert seq.frames.dtype == dtype
    assert 1 <= (seq.tracks["t"] == 0).sum() <= 10


@pytest.mark.parametrize("fixture", ["rods", "cells"])
def test_ground_truth_is_consistent(fixture: str, request: pytest.FixtureRequest) -> None:
    seq: SimulatedSequence = request.getfixturevalue(fixture)
    assert seq.frames.shape == seq.markers.shape == (seq.config.n_frames, *seq.frames.shape[1:])
    assert (seq.tracks["t"] == 0).sum() >= 3
    lineage = seq.lineage.set_index("track_id")
    for t, marker in enumerate(seq.markers):
        labels = np.unique(marker[marker > 0])
        assert set(labels) <= set(lineage.index)
        assert (lineage.loc[labels, "start"] <= t).all()
        assert (lineage.loc[labels, "end"] >= t).all()
    centroids = tracks_from_labels(seq.markers)
    pd.testing.assert_frame_equal(centroids[["track_id", "t"]], seq.tracks[["track_id", "t"]])
    assert np.hypot(centroids["y"] - seq.tracks["y"], centroids["x"] - seq.tracks["x"]).max() <= 1
    daughters = seq.lineage[seq.lineage["parent_id"] > 0]
    assert (daughters.groupby("parent_id").size() == 2).all()
    mother_end = lineage["end"].reindex(daughters["parent_id"]).to_numpy()
    assert (daughters["start"].to_numpy() == mother_end + 1).all()


def test_same_seed_same_colony() -> None:
    a, b = simulate("phase_bacteria", seed=3, **RODS), simulate("phase_bacteria", seed=3, **RODS)
    np.testing.assert_array_equal(a.frames, b.frames)
    pd.testing.assert_frame_equal(a.tracks, b.tracks)


# --- rods ------------------------------------------------------------------------------------


def test_colonies_grow_by_dividing(rods: SimulatedSequence) -> None:
    counts = rods.tracks.groupby("t").size()
    assert counts.iloc[-1] >= 3 * counts.iloc[0]
    assert len(rods.divisions) >= counts.iloc[0]
    assert set(rods.track_info["fate"]) <= {"division", "exit", "end"}  # rods do not die


def test_rods_divide_at_their_middle_into_two_rods_end_to_end(rods: SimulatedSequence) -> None:
    at = rods.tracks.set_index(["track_id", "t"])[["y", "x"]]
    columns = ["parent_id", "t", "daughter_a", "daughter_b"]
    checked = 0
    for mother, t, a, b in rods.divisions[columns].to_numpy().tolist():
        length, _, axis = axes(rods.markers[t - 1] == mother)
        normal = np.array([axis[1], -axis[0]])
        centre = at.loc[(mother, t - 1)].to_numpy()
        along = [float((at.loc[(d, t)].to_numpy() - centre) @ axis) for d in (a, b)]
        across = [abs(float((at.loc[(d, t)].to_numpy() - centre) @ normal)) for d in (a, b)]
        # Either side of her middle along her axis, a quarter of her length away, on her axis.
        assert along[0] * along[1] < 0
        for distance in np.abs(along):
            assert 0.15 * length < distance < 0.35 * length
        assert max(across) < 0.1 * length
        checked += 1
    assert checked >= 3


def test_rods_grow_in_length_at_constant_width(rods: SimulatedSequence) -> None:
    lineage = rods.lineage
    cycled = lineage[(lineage["parent_id"] > 0) & lineage["track_id"].isin(lineage["parent_id"])]
    assert len(cycled) >= 3
    growth = []
    for track, start, end in cycled[["track_id", "start", "end"]].to_numpy().tolist():
        first = axes(rods.markers[start] == track)
        last = axes(rods.markers[end] == track)
        growth.append(last[0] / first[0])
        assert last[1] == pytest.approx(first[1], rel=0.15)
    # From birth to division a rod grows from half its mother's division length to its own.
    assert min(growth) > 1.2
    assert np.median(growth) > 1.5


def test_rods_push_each_other_apart() -> None:
    """Markers are whole rods, drawn one after the other where no other is: where rods overlap,
    they cover less of the field per rod."""

    def area_per_rod(contact: float) -> float:
        seq = simulate("phase_bacteria", seed=2, **{**RODS, "n_frames": 18, "contact": contact,
                                                    "gap": 0.0})  # fmt: skip
        last = seq.markers[-1]
        return np.count_nonzero(last) / np.unique(last[last > 0]).size

    assert area_per_rod(0.95) > 1.2 * area_per_rod(0.2)


# A crowded colony of rods 11 px wide, large enough for a gap of a few pixels between them.
PRESSED: dict[str, Any] = {**RODS, **QUIET, "n_frames": 26, "height": 256, "width": 256,
                           "diameter": 32.0, "density": 0.02}  # fmt: skip


def touching_pairs(marker: Array) -> int:
    """Pairs of different markers with 4-neighbouring pixels."""
    pairs = set()
    for a, b in ((marker[1:], marker[:-1]), (marker[:, 1:], marker[:, :-1])):
        both = (a > 0) & (b > 0) & (a != b)
        pairs |= {tuple(sorted(p)) for p in zip(a[both].tolist(), b[both].tolist(), strict=True)}
    return len(pairs)


def test_pressed_rods_keep_their_gap() -> None:
    """Without a gap a crowded colony's rods touch; with one, no two of them do."""
    pressed = simulate("phase_bacteria", seed=4, **{**PRESSED, "contact": 0.95, "gap": 0.0})
    spaced = simulate("phase_bacteria", seed=4, **{**PRESSED, "gap": 0.3})
    assert touching_pairs(pressed.markers[-1]) >= 10
    assert np.unique(spaced.markers[-1]).size > 10  # a crowd
    assert all(touching_pairs(marker) == 0 for marker in spaced.markers)


def test_seams_between_rods_are_lit_less_than_the_colony_edge() -> None:
    """A seam between pressed rods is lighter than the rods and, with `seam_halo` below 1,
    darker than the halo at the colony's edge, as in the real colony."""

    def figures(seam_halo: float) -> tuple[float, float, float]:
        seq = simulate("phase_bacteria", seed=4, **{**PRESSED, "gap": 0.3,
                                                    "seam_halo": seam_halo})  # fmt: skip
        frame, marker = seq.frames[-1].astype(float), seq.markers[-1]
        cells = marker > 0
        highest = ndi.maximum_filter(marker, size=7)
        lowest = ndi.minimum_filter(np.where(cells, marker, 65535), size=7)
        seam = ~cells & (highest > lowest)
        distance = ndi.distance_transform_edt(~cells)
        edge = ~ndi.binary_dilation(seam, iterations=6) & (distance > 2) & (distance <= 6)
        return float(frame[cells].mean()), float(frame[seam].mean()), float(frame[edge].mean())

    rods, seam, edge = figures(0.4)
    assert rods + 20 < seam < edge - 20
    assert figures(1.0)[1] > seam + 20


def test_contact_points_of_segments() -> None:
    """The closest points, or for nearly parallel segments nearly as close, mid-stretch."""
    rng = np.random.default_rng(0)
    a0, a1, b0, b1 = (rng.normal(0, 1, (300, 2)) for _ in range(4))
    a1[:20] = a0[:20]  # points
    b1[20:40] = b0[20:40]
    d1 = a1 - a0
    # Parallel, b beside a and twice as long, facing all of a.
    b0[40:60] = a0[40:60] - d1[40:60] / 2 + 0.3 * np.stack([d1[40:60, 1], -d1[40:60, 0]], 1)
    b1[40:60] = b0[40:60] + 2 * d1[40:60]
    s, t = contact_points(a0, a1, b0, b1)
    assert ((s >= 0) & (s <= 1) & (t >= 0) & (t <= 1)).all()
    assert s[40:60] == pytest.approx(0.5)
    assert t[40:60] == pytest.approx(0.5)
    found = np.hypot(*(a0 + s[:, None] * d1 - b0 - t[:, None] * (b1 - b0)).T)
    grid = np.linspace(0, 1, 101)
    p = a0[:, None] + grid[None, :, None] * d1[:, None]
    q = b0[:, None] + grid[None, :, None] * (b1 - b0)[:, None]
    brute = np.sqrt(((p[:, :, None] - q[:, None]) ** 2).sum(-1)).min(axis=(1, 2))
    d2 = b1 - b0
    sine = np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) / np.maximum(
        np.hypot(*d1.T) * np.hypot(*d2.T), 1e-12
    )
    parallel = sine < 0.1
    assert (found[~parallel] <= brute[~parallel] + 1e-9).all()
    assert (found[parallel] <= brute[parallel] + 0.1 * np.hypot(*d1[parallel].T)).all()


def test_relax_separates_a_crowd_of_rods() -> None:
    rng = np.random.default_rng(1)
    n = 40
    pos, angle = rng.uniform(0, 250, (n, 2)), rng.uniform(0, np.pi, n)
    half, radius = np.full(n, 15.0), np.full(n, 6.0)
    pos, angle = relax(pos, angle, half, radius, contact=1.0, sweeps=60)
    i, j = np.triu_indices(n, 1)
    tip = half[:, None] * np.stack([np.sin(angle), np.cos(angle)], 1)
    s, t = contact_points(pos[i] - tip[i], pos[i] + tip[i], pos[j] - tip[j], pos[j] + tip[j])
    gap = pos[i] + (2 * s - 1)[:, None] * tip[i] - pos[j] - (2 * t - 1)[:, None] * tip[j]
    assert np.hypot(*gap.T).min() > 0.95 * 2 * 6.0


def test_relax_keeps_a_gap_between_rods_end_to_end() -> None:
    """With contact above 1 rods lying tip to tip are pushed apart too, not only side by side."""
    pos, angle = np.array([[0.0, 0.0], [0.0, 50.5], [30.0, 0.0], [40.0, 0.0]]), np.zeros(4)
    half, radius = np.full(4, 20.0), np.full(4, 5.0)
    pos, _ = relax(pos, angle, half, radius, contact=1.15)
    assert pos[1, 1] - pos[0, 1] - 40 == pytest.approx(11.5, abs=0.2)  # tips 10.5 apart before
    assert abs(pos[3, 0] - pos[2, 0]) == pytest.approx(11.5, abs=0.2)  # side by side, 10 before


# --- phase contrast --------------------------------------------------------------------------


def test_phase_contrast_cells_are_dark_in_bright_halos(rods: SimulatedSequence) -> None:
    for t in (0, rods.config.n_frames - 1):
        frame, cells = rods.frames[t].astype(float), rods.markers[t] > 0
        distance = ndi.distance_transform_edt(~cells)
        background = np.median(frame[distance > 3 * rods.config.diameter])
        labels = np.unique(rods.markers[t][cells])
        inside = np.asarray(ndi.mean(frame, rods.markers[t], labels))
        assert (inside < 0.5 * background).all()  # as dark as black, here
        halo = frame[(distance > 0) & (distance <= 3)].mean()
        assert halo > background + 0.2 * rods.config.contrast


def test_fluorescent_rods_are_bright() -> None:
    seq = simulate("phase_bacteria", seed=1, **{**RODS, "modality": "fluorescence", "halo": 0.0})
    frame, marker = seq.frames[-1].astype(float), seq.markers[-1]
    outside = np.median(frame[ndi.distance_transform_edt(marker == 0) > 30])
    assert np.median(frame[marker > 0]) > outside + 0.5 * seq.config.contrast


def test_background_texture_makes_the_background_uneven() -> None:
    def unevenness(texture: float) -> float:
        seq = simulate(seed=0, n_frames=1, density=0.0, **{**QUIET, "background_texture": texture,
                                                           "background": 100.0})  # fmt: skip
        return float(ndi.gaussian_filter(seq.frames[0].astype(float), 4).std())

    assert unevenness(0.0) < 1.0
    assert unevenness(0.2) > 10.0


# --- whole cells -----------------------------------------------------------------------------


def isolated_cells(seq: SimulatedSequence) -> list[tuple[float, float]]:
    """Elongation and solidity of the lit objects of the first frame that hold one marker and
    stay clear of the border."""
    frame, marker = seq.frames[0].astype(float) - seq.config.background, seq.markers[0]
    lit, _ = ndi.label(frame > 0.1 * seq.config.contrast)
    found = []
    for k, box in enumerate(ndi.find_objects(lit), 1):
        mask = lit[box] == k
        inner = all(s.start > 0 and s.stop < n for s, n in zip(box, frame.shape, strict=True))
        if inner and np.unique(marker[box][mask & (marker[box] > 0)]).size == 1:
            major, minor, _ = axes(mask)
            found.append((major / minor, solidity(mask)))
    return found


def test_whole_cells_are_elongated_and_protrusive() -> None:
    knobs: dict[str, Any] = {"n_frames": 1, "height": 640, "width": 640, "diameter": 70.0,
                             "density": 0.04, "blur": 0.0, **QUIET}  # fmt: skip

    def cells(protrusions: float) -> Array:
        found = [cell for seed in range(1, 5)
                 for cell in isolated_cells(simulate("cytoplasm", seed, protrusions=protrusions,
                                                     **knobs))]  # fmt: skip
        return np.asarray(found)

    spiky, smooth = cells(2.5), cells(0.0)
    assert len(spiky) >= 3
    assert len(smooth) >= 3
    assert np.median(smooth[:, 0]) > 2
    assert np.median(spiky[:, 1]) < np.median(smooth[:, 1]) - 0.1


def test_whole_cells_are_brightest_in_their_middle() -> None:
    knobs = {**CELLS, **QUIET, "protrusions": 0.0, "texture": 0.0, "spots": 0.0}
    middle = simulate("cytoplasm", seed=1, **{**knobs, "marker_scale": 0.3})
    whole = simulate("cytoplasm", seed=1, **{**knobs, "marker_scale": 0.9})
    np.testing.assert_array_equal(middle.frames, whole.frames)  # markers change no pixel
    frame = middle.frames[0].astype(float) - middle.config.background
    labels = np.unique(middle.markers[0][middle.markers[0] > 0])
    rim = np.where(middle.markers[0] > 0, 0, whole.markers[0])
    assert (ndi.mean(frame, middle.markers[0], labels) > 1.3 * ndi.mean(frame, rim, labels)).all()


# --- shared knobs and checks -----------------------------------------------------------------


def test_jitter_moves_all_cells_together() -> None:
    knobs: dict[str, Any] = {"speed": 0.0, "division_rate": 0.0, "density": 0.05}
    seq = simulate(seed=0, jitter=4.0, **knobs)
    moved = seq.tracks.groupby("track_id")[["y", "x"]].diff().dropna().join(seq.tracks["t"])
    per_frame = moved.groupby("t")
    assert per_frame.mean().abs().to_numpy().mean() > 2.0
    assert per_frame.std().to_numpy().max() < 0.5
    still = simulate(seed=0, **knobs).tracks.groupby("track_id")[["y", "x"]].diff().dropna()
    assert still.abs().to_numpy().max() < 1e-9


@pytest.mark.parametrize(
    "bad",
    [
        {"body": "amoeba"},
        {"modality": "darkfield"},
        {"body": "rod", "aspect": (1.5, 3.0)},
        {"halo_width": 0.0},
        {"protrusions": -1.0},
        {"jitter": -1.0},
        {"background_texture": -0.1},
    ],
)
def test_invalid_modality_configs_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid SimConfig"):
        SimConfig(**bad)


def test_new_presets_are_listed() -> None:
    assert {"phase_bacteria", "cytoplasm", "phase_cells", "brightfield", "confluent"} <= set(
        PRESETS
    )
    for name in ("phase_cells", "brightfield"):
        assert (PRESETS[name].body, PRESETS[name].modality) == ("cytoplasm", "phase")
        assert PRESETS[name].polarity == "dark"
    assert PRESETS["confluent"].density >= 0.5
    assert PRESETS["phase_bacteria"].body == "rod"
    assert PRESETS["phase_bacteria"].modality == "phase"
    assert PRESETS["cytoplasm"].body == "cytoplasm"


def test_confluent_cells_cover_most_of_the_field() -> None:
    seq = simulate("confluent", seed=0, n_frames=2)
    counts = seq.tracks.groupby("t").size()
    assert counts.min() >= 80  # ~110 cells of 40 px on 512 x 512
    # Markers (0.8 of each cell) cover about half the field: the cells touch.
    assert (seq.markers[0] > 0).mean() > 0.3


def test_brightfield_cells_are_fainter_than_in_phase_contrast() -> None:
    contrast = {}
    for name in ("phase_cells", "brightfield"):
        seq = simulate(name, seed=0, n_frames=1)
        inside = seq.markers[0] > 0
        frame = seq.frames[0].astype(np.float32)
        contrast[name] = (np.median(frame[~inside]) - np.median(frame[inside])) / frame.std()
    assert contrast["phase_cells"] > 1.5 * contrast["brightfield"] > 0
