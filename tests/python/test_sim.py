"""The simulator: determinism, exact and consistent ground truth, and knobs that act."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandas.testing as pdt
import pytest
from cellpoint.eval.sim import PRESETS, SimConfig, SimulatedSequence, simulate
from cellpoint.io.ctc import read_ctc, tracks_from_labels
from cellpoint.io.result import TrackingResult
from cellpoint.io.tables import validate_tables
from scipy import ndimage as ndi

Array = npt.NDArray[Any]
# Clean images, so that intensities measure the cells and not the noise.
CLEAN: dict[str, Any] = {"snr": 60.0, "background_gradient": 0.0, "bleach": 0.0}


@pytest.fixture(scope="module")
def small() -> SimulatedSequence:
    return simulate("small", seed=0)


@pytest.fixture(scope="module")
def hard() -> SimulatedSequence:
    return simulate("hard", seed=1, n_frames=16, height=160, width=192)


@pytest.fixture(params=["small", "hard"])
def sequence(request: pytest.FixtureRequest) -> SimulatedSequence:
    seq: SimulatedSequence = request.getfixturevalue(request.param)
    return seq


def nearest_distances(tracks: pd.DataFrame) -> Array:
    """For every point, the distance to the nearest other point of the same frame."""
    out = []
    for _, frame in tracks.groupby("t"):
        points = frame[["y", "x"]].to_numpy()
        if len(points) > 1:
            distance = np.linalg.norm(points[:, None] - points[None], axis=-1)
            np.fill_diagonal(distance, np.inf)
            out.append(distance.min(axis=1))
    return np.concatenate(out)


def steps(tracks: pd.DataFrame) -> Array:
    """Displacement of every track from one frame to the next (px)."""
    moved = tracks.groupby("track_id")[["y", "x"]].diff().dropna()
    return np.asarray(np.hypot(moved["y"], moved["x"]))


def brightness(seq: SimulatedSequence, track_id: int, t: int) -> float:
    """Mean intensity above the background in the 5 x 5 pixels around a track's centre."""
    row = seq.tracks[(seq.tracks["track_id"] == track_id) & (seq.tracks["t"] == t)].iloc[0]
    y, x = round(row["y"]), round(row["x"])
    frame = seq.frames[t].astype(float)
    window = frame[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3]
    return float(window.mean()) - seq.config.background


# --- determinism, shapes, tables -------------------------------------------------------------


def test_same_seed_gives_identical_sequences() -> None:
    a, b = simulate(seed=5), simulate(seed=5)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.markers, b.markers)
    for name in ("tracks", "lineage", "divisions", "track_info"):
        pdt.assert_frame_equal(getattr(a, name), getattr(b, name))
    other = simulate(seed=6)
    assert not np.array_equal(a.frames, other.frames)
    assert not a.tracks[["y", "x"]].equals(other.tracks[["y", "x"]])


def test_imaging_knobs_leave_the_cells_alone() -> None:
    """Motion and imaging draw from separate streams: same seed, same cells, other pictures."""
    a, b = simulate(seed=3), simulate(seed=3, snr=2.0, blur=2.0, texture=0.0)
    pdt.assert_frame_equal(a.tracks, b.tracks)
    pdt.assert_frame_equal(a.lineage, b.lineage)
    assert not np.array_equal(a.frames, b.frames)


def test_shapes_dtypes_and_canonical_tables(small: SimulatedSequence) -> None:
    assert small.frames.shape == small.markers.shape == (24, 128, 128)
    assert small.frames.dtype == np.uint8
    assert small.markers.dtype == np.uint16
    assert small.config == PRESETS["small"]
    assert small.seed == 0
    tracks, lineage, divisions = validate_tables(small.tracks, small.lineage, small.divisions)
    pdt.assert_frame_equal(tracks, small.tracks)
    pdt.assert_frame_equal(lineage, small.lineage)
    pdt.assert_frame_equal(divisions, small.divisions)
    assert (small.tracks["visibility"] == 1).all()
    assert (small.divisions["score"] == 1).all()
    assert (small.divisions["status"] == "accepted").all()
    assert small.lineage["track_id"].tolist() == list(range(1, len(small.lineage) + 1))
    assert small.track_info["track_id"].tolist() == small.lineage["track_id"].tolist()
    assert set(small.track_info["origin"]) <= {"initial", "division", "entered"}
    assert set(small.track_info["fate"]) <= {"division", "death", "exit", "end"}

    wide = simulate(seed=0, dtype="uint16", n_frames=3, height=40, width=56)
    assert wide.frames.shape == (3, 40, 56)
    assert wide.frames.dtype == np.uint16


def test_no_cells_gives_empty_tables() -> None:
    seq = simulate(density=0.0, n_frames=3)
    assert seq.tracks.empty
    assert seq.lineage.empty
    assert seq.divisions.empty
    assert not seq.markers.any()
    assert seq.frames.std() > 0  # background and noise remain


# --- markers against tracks ------------------------------------------------------------------


def test_each_marker_is_one_blob_at_its_tracks_centre(sequence: SimulatedSequence) -> None:
    tracks = sequence.tracks
    _, height, width = sequence.frames.shape
    assert tracks["y"].between(0, height - 1).all()
    assert tracks["x"].between(0, width - 1).all()
    centroids = tracks_from_labels(sequence.markers)
    # The same (track, frame) pairs: every seen cell has a marker and every marker a point.
    pdt.assert_frame_equal(centroids[["track_id", "t"]], tracks[["track_id", "t"]])
    error = np.hypot(centroids["y"] - tracks["y"], centroids["x"] - tracks["x"])
    assert error.max() <= 1.0
    assert error.mean() < 0.3
    for t, frame in enumerate(sequence.markers):
        labels = np.unique(frame[frame > 0])
        _, pieces = ndi.label(frame > 0, structure=np.ones((3, 3)))
        assert pieces <= labels.size  # no marker falls apart
        boxes = ndi.find_objects(frame)
        for label in labels:
            _, count = ndi.label(frame[boxes[label - 1]] == label, structure=np.ones((3, 3)))
            assert count == 1, f"marker {label} at t={t} is in {count} pieces"


def test_markers_sit_on_bright_nuclei() -> None:
    seq = simulate(seed=2, **CLEAN)
    for t in range(0, 24, 6):
        frame = seq.frames[t].astype(float) - seq.config.background
        labels = np.unique(seq.markers[t][seq.markers[t] > 0])
        inside = np.asarray(ndi.mean(frame, seq.markers[t], labels))
        assert inside.min() > 0.2 * seq.config.contrast
    background = seq.frames[:, seq.markers.max(axis=0) == 0].astype(float)
    assert np.median(background) < seq.config.background + 0.1 * seq.config.contrast


# --- lineage ---------------------------------------------------------------------------------


def test_lineage_has_ctc_semantics(sequence: SimulatedSequence) -> None:
    tracks, lineage, divisions = sequence.tracks, sequence.lineage, sequence.divisions
    span = tracks.groupby("track_id")["t"].agg(["min", "max", "size"])
    assert (span["size"] == span["max"] - span["min"] + 1).all()  # no gaps
    assert (span["min"].to_numpy() == lineage["start"].to_numpy()).all()
    assert (span["max"].to_numpy() == lineage["end"].to_numpy()).all()

    by_id = lineage.set_index("track_id")
    daughters = lineage[lineage["parent_id"] > 0]
    assert len(daughters) >= 4  # a test of divisions needs divisions
    assert (daughters.groupby("parent_id").size() == 2).all()
    mother_end = by_id["end"].reindex(daughters["parent_id"]).to_numpy()
    assert (daughters["start"].to_numpy() == mother_end + 1).all()

    listed = {
        tuple(row) for row in divisions[["parent_id", "t", "daughter_a", "daughter_b"]].to_numpy()
    }
    derived = {
        (parent, int(group["start"].iloc[0]), *sorted(group["track_id"].tolist()))
        for parent, group in daughters.groupby("parent_id")
    }
    assert listed == derived
    info = sequence.track_info.set_index("track_id")
    assert (info.loc[divisions["parent_id"], "fate"] == "division").all()
    assert (info.loc[daughters["track_id"], "origin"] == "division").all()

    # Daughters appear next to where their mother was last seen.
    last = tracks.groupby("track_id")[["y", "x"]].last()
    first = tracks.groupby("track_id")[["y", "x"]].first()
    gap = first.loc[daughters["track_id"]].to_numpy() - last.loc[daughters["parent_id"]].to_numpy()
    assert np.hypot(*gap.T).max() < sequence.config.diameter


def test_cells_entering_and_leaving_make_border_tracks() -> None:
    seq = simulate(seed=4, n_frames=40, drift=(0.0, 3.0), speed=0.05, division_rate=0.0)
    _, height, width = seq.frames.shape
    info = seq.track_info.set_index("track_id")
    first = seq.tracks.groupby("track_id")[["t", "y", "x"]].first()
    last = seq.tracks.groupby("track_id")[["t", "y", "x"]].last()

    entered = info.index[info["origin"] == "entered"]
    left = info.index[info["fate"] == "exit"]
    assert len(entered) >= 3
    assert len(left) >= 3
    assert (first.loc[entered, "t"] > 0).all()
    assert (seq.lineage.set_index("track_id").loc[entered, "parent_id"] == 0).all()
    assert (last.loc[left, "t"] < seq.config.n_frames - 1).all()
    # The drift brings cells in on the left and takes them out on the right (the random walk
    # and crowding take some across the other borders).
    x_in, x_out = first.loc[entered, "x"], last.loc[left, "x"]
    assert (x_in < 12).sum() >= max(3, 4 * (x_in > width - 13).sum())
    assert (x_out > width - 13).sum() >= max(3, 4 * (x_out < 12).sum())

    # Without divisions or deaths every track starts at frame 0 or at the border, and ends at
    # the last frame or at the border.
    def border(p: pd.DataFrame) -> Array:
        y, x = p["y"].to_numpy(), p["x"].to_numpy()
        distance: Array = np.minimum(np.minimum(y, height - 1 - y), np.minimum(x, width - 1 - x))
        return distance

    assert ((first["t"] == 0) | (border(first) < 12)).all()
    assert ((last["t"] == seq.config.n_frames - 1) | (border(last) < 12)).all()


def test_dying_cells_shrink_and_fade_out() -> None:
    seq = simulate(seed=1, death_rate=0.04, death_frames=4, division_rate=0.0, **CLEAN)
    info = seq.track_info.set_index("track_id")
    lineage = seq.lineage.set_index("track_id")
    dead = [
        i
        for i in info.index[info["fate"] == "death"]
        if lineage.loc[i, "start"] <= lineage.loc[i, "end"] - 3
    ]
    alive = info.index[info["fate"] == "end"]
    assert len(dead) >= 3
    assert (lineage.loc[dead, "end"] < seq.config.n_frames - 1).all()
    fading = [
        brightness(seq, i, lineage.loc[i, "end"]) / brightness(seq, i, lineage.loc[i, "end"] - 3)
        for i in dead
    ]
    steady = [brightness(seq, i, 23) / brightness(seq, i, 20) for i in alive]
    assert np.median(fading) < 0.5
    assert np.median(steady) > 0.8


def test_mothers_round_up_and_brighten() -> None:
    # Without anaphase: her last frame shows her whole, not two lobes with a waist between.
    seq = simulate(seed=1, division_rate=0.04, mitosis_frames=3, anaphase_frames=0, **CLEAN)
    lineage = seq.lineage.set_index("track_id")
    mothers = [
        p
        for p in seq.divisions["parent_id"]
        if lineage.loc[p, "end"] - lineage.loc[p, "start"] >= 3
    ]
    assert len(mothers) >= 3
    gain = [
        brightness(seq, p, lineage.loc[p, "end"]) / brightness(seq, p, lineage.loc[p, "end"] - 3)
        for p in mothers
    ]
    assert np.median(gain) > 1.2


def moments(marker: Array) -> tuple[Array, Array]:
    """Eigenvalues (ascending) and eigenvectors ((y, x) columns) of a marker's second moments."""
    ys, xs = np.nonzero(marker)
    return np.linalg.eigh(np.cov(np.stack([ys, xs]).astype(float)))


def elongation(marker: Array) -> float:
    """Major over minor axis of a marker (from its second moments)."""
    eigen, _ = moments(marker)
    return float(np.sqrt(eigen[1] / max(eigen[0], 1e-9)))


def alignment(marker: Array, direction: Array) -> float:
    """|cos| of the angle between a marker's major axis and a (y, x) direction."""
    _, vectors = moments(marker)
    return float(abs(vectors[:, 1] @ direction) / np.linalg.norm(direction))


def test_mothers_part_into_two_lobes_while_still_one_cell() -> None:
    # The CTC's convention: in anaphase a mother is one object (one marker, her track) though
    # her chromatin has parted in two; the daughters' tracks begin the frame after. Before
    # anaphase her chromatin is a plate across the axis her daughters will part along.
    def mothers(seq: SimulatedSequence) -> list[tuple[int, int, int, int]]:
        lineage = seq.lineage.set_index("track_id")
        return [
            (p, t, a, b)
            for p, t, a, b in seq.divisions[["parent_id", "t", "daughter_a", "daughter_b"]]
            .to_numpy()
            .tolist()
            if t - lineage.loc[p, "start"] >= 4
        ]

    seq = simulate(seed=1, division_rate=0.04, mitosis_frames=3, **CLEAN)
    columns = (seq.tracks[c].tolist() for c in ("track_id", "t", "y", "x"))
    at = {(k, t): (y, x) for k, t, y, x in zip(*columns, strict=True)}
    found = mothers(seq)
    assert len(found) >= 3
    before, plate, last, along, across, dip, gain = [], [], [], [], [], [], []
    for p, t, a, b in found:
        assert seq.lineage.set_index("track_id").loc[p, "end"] == t - 1
        (ya, xa), (yb, xb) = at[(a, t)], at[(b, t)]
        axis = np.array([yb - ya, xb - xa])
        before.append(elongation(seq.markers[t - 4] == p))  # before mitosis: round-ish
        plate.append(elongation(seq.markers[t - 3] == p))
        across.append(alignment(seq.markers[t - 3] == p, axis))
        last.append(elongation(seq.markers[t - 1] == p))  # one marker over both lobes
        along.append(alignment(seq.markers[t - 1] == p, axis))
        y, x = at[(p, t - 1)]
        assert seq.markers[t - 1, round(y), round(x)] == p  # her centre is on her marker
        # Her chromatin has parted: her middle is dimmer than the lobes, which lie about 2/3 of
        # the way to where the daughters appear, brighter than the daughters will be.
        for lag in (1, 2):
            frame = seq.frames[t - lag].astype(float) - seq.config.background
            y, x = at[(p, t - lag)]
            lobes = [
                frame[round(y + (yd - y) * 2 / 3), round(x + (xd - x) * 2 / 3)]
                for yd, xd in ((ya, xa), (yb, xb))
            ]
            dip.append(frame[round(y), round(x)] / np.mean(lobes))
        daughters = np.mean([brightness(seq, d, t) for d in (a, b)])
        gain.append(np.mean(lobes) / daughters)  # lag 2: her first frame of anaphase
    assert np.median(plate) > 1.5 > np.median(before)
    assert np.median(across) < 0.3
    assert np.median(last) > 1.3
    assert np.median(along) > 0.9
    assert np.median(dip) < 0.5
    assert np.median(gain) > 1.2
    whole = simulate(seed=1, division_rate=0.04, mitosis_frames=3, anaphase_frames=0, **CLEAN)
    rounded = [elongation(whole.markers[t - 1] == p) for p, t, _, _ in mothers(whole)]
    assert np.median(rounded) < 1.2


def test_birth_spacing_sigma_spreads_the_daughters_spacing() -> None:
    # Real daughters are born touching as well as well apart (SIM+/02: 0.79-1.68 daughter
    # diameters); a spread spacing lets the simulator show the detector both.
    def spacings(sigma: float) -> Array:  # in daughter diameters
        seq = simulate(seed=1, division_rate=0.04, n_frames=40, birth_spacing_sigma=sigma)
        at = {(k, t): (y, x) for k, t, y, x in seq.tracks[["track_id", "t", "y", "x"]].to_numpy()}
        gaps = [
            np.hypot(*np.subtract(at[(a, t)], at[(b, t)]))
            for t, a, b in seq.divisions[["t", "daughter_a", "daughter_b"]].to_numpy()
        ]
        daughter = seq.config.diameter / 2**0.5
        return np.asarray(gaps, dtype=float) / daughter

    fixed, spread = spacings(0.0), spacings(0.3)
    assert min(len(fixed), len(spread)) >= 10
    assert np.log(spread).std() > np.log(fixed).std() + 0.1  # sizes alone spread the fixed one
    assert (spread < 0.8).any()
    assert not (fixed < 0.8).any()


def test_daughters_born_touching_are_pressed_flat_and_part() -> None:
    # Real daughters born closer than two discs can lie (SIM+/02: down to 0.55 daughter
    # diameters) are flattened against each other, long axis across the division axis, and
    # part over the next frames. Crowding alone would push them a disc's width apart at once.
    seq = simulate(seed=1, division_rate=0.04, n_frames=40, birth_spacing=0.6, **CLEAN)
    at = {(k, t): (y, x) for k, t, y, x in seq.tracks[["track_id", "t", "y", "x"]].to_numpy()}
    daughter = seq.config.diameter / 2**0.5
    spacing, later, shape, across = [], [], [], []
    for t, a, b in seq.divisions[["t", "daughter_a", "daughter_b"]].to_numpy().tolist():
        if (a, t + 10) not in at or (b, t + 10) not in at:
            continue
        axis = np.subtract(at[(a, t)], at[(b, t)])
        spacing.append(np.linalg.norm(axis) / daughter)
        later.append(np.linalg.norm(np.subtract(at[(a, t + 10)], at[(b, t + 10)])) / daughter)
        for k in (a, b):
            shape.append(elongation(seq.markers[t] == k))
            across.append(alignment(seq.markers[t] == k, axis))
    assert len(spacing) >= 5
    assert np.median(spacing) < 0.75  # not pushed to `contact` (0.9) at birth
    assert np.median(shape) > 1.5
    assert np.median(across) < 0.5  # the long axis within 60 degrees of across
    assert np.median(later) > 0.85


# --- crowding and knobs ----------------------------------------------------------------------


def test_crowding_keeps_nuclei_apart() -> None:
    diameter = PRESETS["small"].diameter
    busy: dict[str, Any] = {"density": 0.4, "division_rate": 0.03, "death_rate": 0.01}
    crowded = nearest_distances(simulate(seed=0, **busy).tracks)
    assert crowded.min() > 0.35 * diameter
    assert np.percentile(crowded, 5) > 0.5 * diameter
    # The same cells allowed to overlap: the check above can fail.
    ghosts = nearest_distances(simulate(seed=0, contact=0.1, **busy).tracks)
    assert np.percentile(ghosts, 5) < 0.3 * diameter


def test_density_sets_the_number_of_cells() -> None:
    sparse = simulate(seed=0, density=0.05).tracks.groupby("t").size().mean()
    dense = simulate(seed=0, density=0.3).tracks.groupby("t").size().mean()
    assert dense > 3 * sparse


def test_division_rate_zero_means_no_divisions() -> None:
    none = simulate(seed=0, division_rate=0.0)
    assert none.divisions.empty
    assert (none.lineage["parent_id"] == 0).all()
    assert "division" not in set(none.track_info["fate"])
    assert len(simulate(seed=0, division_rate=0.04).divisions) >= 3


def test_speed_is_the_mean_step_in_diameters() -> None:
    knobs: dict[str, Any] = {"division_rate": 0.0, "density": 0.05, "n_frames": 48}
    slow = steps(simulate(seed=0, speed=0.05, **knobs).tracks)
    fast = steps(simulate(seed=0, speed=0.3, **knobs).tracks)
    assert fast.mean() > 3 * slow.mean()
    for speed, found in ((0.05, slow), (0.3, fast)):
        expected = speed * PRESETS["small"].diameter
        assert 0.85 * expected < found.mean() < 1.1 * expected


def test_snr_sets_the_background_noise() -> None:
    def noise(snr: float) -> float:
        seq = simulate(seed=0, density=0.0, dtype="uint16", background=1000.0, snr=snr,
                       background_gradient=0.0)  # fmt: skip
        return float(seq.frames.astype(float).std())

    contrast = PRESETS["small"].contrast
    assert noise(2.0) == pytest.approx(contrast / 2.0, rel=0.05)
    assert noise(8.0) == pytest.approx(contrast / 8.0, rel=0.05)


def test_cell_snr_is_each_nucleus_signal_over_the_noise() -> None:
    flat: dict[str, Any] = {"brightness_cv": 0.0, "texture": 0.0, "spots": 0, "blur": 0.0,
            "mitosis_brightening": 0.0, "division_rate": 0.0, "death_rate": 0.0,
            "background_gradient": 0.0}  # fmt: skip
    seq = simulate(seed=1, snr=3.0, **flat)
    snr = seq.cell_snr()
    visible = seq.tracks[["track_id", "t"]]
    pdt.assert_frame_equal(snr[["track_id", "t"]].sort_values(["track_id", "t"], ignore_index=True),
                           visible.sort_values(["track_id", "t"], ignore_index=True))  # fmt: skip
    # Flat nuclei of one brightness: every cell's SNR is the configured one.
    assert snr["snr"].to_numpy() == pytest.approx(3.0, rel=0.05)
    # Unequal brightness spreads it; bleaching lowers it over time.
    spread = simulate(seed=1, snr=3.0, **{**flat, "brightness_cv": 0.6}).cell_snr()["snr"]
    assert spread.std() > 0.3 * spread.mean()
    bleached = simulate(seed=1, snr=3.0, **{**flat, "bleach": 0.03}).cell_snr()
    last = bleached["t"].max()
    late = bleached.loc[bleached["t"] == last, "snr"].mean()
    assert late == pytest.approx(3.0 * np.exp(-0.03 * last), rel=0.05)


def test_photobleaching_dims_nuclei() -> None:
    seq = simulate(seed=0, division_rate=0.0, **{**CLEAN, "bleach": 0.03})
    start = np.median([brightness(seq, i, 0) for i in seq.tracks[seq.tracks["t"] == 0]["track_id"]])
    ids = seq.tracks[seq.tracks["t"] == 23]["track_id"]
    end = np.median([brightness(seq, i, 23) for i in ids])
    assert end / start == pytest.approx(np.exp(-0.03 * 23), rel=0.25)


# --- configuration and presets ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"division_rate": 0.2, "min_cycle": 8},
        {"dtype": "float32"},
        {"density": -0.1},
        {"persistence": 1.0},
        {"aspect": (1.5, 1.2)},
        {"death_frames": 1},
    ],
)
def test_invalid_configs_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid SimConfig"):
        SimConfig(**bad)


def test_unknown_preset_or_knob_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        simulate("gowt2")
    with pytest.raises(TypeError):
        simulate(sped=0.3)


@pytest.mark.parametrize(
    ("name", "shape", "dtype", "cells"),
    [
        ("gowt1", (1024, 1024), np.uint8, (15, 40)),
        ("simplus", (773, 739), np.uint16, (4, 16)),
        ("hard", (384, 384), np.uint16, (150, 400)),
    ],
)
def test_presets_match_their_data(
    name: str, shape: tuple[int, int], dtype: type, cells: tuple[int, int]
) -> None:
    seq = simulate(name, seed=0, n_frames=2)
    assert seq.frames.shape == (2, *shape)
    assert seq.frames.dtype == dtype
    assert cells[0] <= (seq.tracks["t"] == 0).sum() <= cells[1]


# --- CTC files and TrackingResult ------------------------------------------------------------


def test_ctc_round_trip(small: SimulatedSequence, tmp_path: Path) -> None:
    folder = small.write_ctc(tmp_path, "02")
    assert folder == tmp_path / "02"
    assert (tmp_path / "02" / "t023.tif").is_file()
    assert (tmp_path / "02_GT" / "TRA" / "man_track023.tif").is_file()
    back = read_ctc(folder)
    assert back.frames is not None
    assert back.markers is not None
    assert back.lineage is not None
    np.testing.assert_array_equal(back.frames, small.frames)
    np.testing.assert_array_equal(back.markers, small.markers)
    pdt.assert_frame_equal(back.lineage, small.lineage)

    truth = TrackingResult.from_ctc(back)
    pdt.assert_frame_equal(truth.divisions, small.divisions)
    assert (
        np.hypot(truth.tracks["y"] - small.tracks["y"], truth.tracks["x"] - small.tracks["x"]).max()
        <= 1
    )


def test_to_result(small: SimulatedSequence) -> None:
    result = small.to_result()
    assert result.shape == small.frames.shape
    pdt.assert_frame_equal(result.tracks, small.tracks)
    pdt.assert_frame_equal(result.lineage, small.lineage)
    pdt.assert_frame_equal(result.divisions, small.divisions)
    assert result.metadata["seed"] == 0
