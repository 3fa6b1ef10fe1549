"""cellpoint.engine.preprocess: per-frame normalisation, antialiased resizing, the input <-> model
pixel geometry (pixel centres at integers), padding, polarity, and the rough cell-size and
polarity estimates."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from cellpoint.engine.preprocess import (
    CANONICAL_DIAMETER,
    MAX_SAMPLES,
    PAD_MULTIPLE,
    Geometry,
    Preprocessor,
    _Band,
    check_polarity,
    estimate_cell_size,
    estimate_polarity,
    estimate_stack_cell_size,
    estimate_stack_polarity,
    normalise,
    resize_weights,
)
from cellpoint.eval.sim import simulate
from cellpoint.io.frames import FrameStack

Array = npt.NDArray[Any]


def gaussian(shape: tuple[int, int], y: float, x: float, sigma: float) -> Array:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    blob: Array = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
    return blob


def centroid(image: Array) -> tuple[float, float]:
    """Intensity-weighted centre (y, x) of an image, in its pixel coordinates."""
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    total = float(image.sum())
    return float((yy * image).sum()) / total, float((xx * image).sum()) / total


# --- normalise --------------------------------------------------------------------------------


def test_normalise_maps_the_percentiles_to_0_and_1_without_interpolation() -> None:
    # 10,000 distinct values 0..9999 in random order: under MAX_SAMPLES, so every pixel counts.
    # Sorted, index int(0.01 * 9999) = 99 is the 1st percentile and int(0.998 * 9999) = 9979
    # the 99.8th: both are pixel values, not interpolated between two.
    values = np.random.default_rng(0).permutation(10_000).reshape(100, 100).astype(np.uint16)
    out = normalise(values)
    assert out.dtype == np.float32
    assert out.shape == (100, 100)
    np.testing.assert_allclose(out, (values.astype(np.float64) - 99) / (9979 - 99), atol=1e-6)
    assert out[values == 99].item() == 0.0
    assert out[values == 9979].item() == pytest.approx(1.0, abs=1e-7)
    # Values outside the percentiles are kept, not clipped.
    assert out.min() == pytest.approx(-99 / 9880, abs=1e-6)
    assert out.max() == pytest.approx(9900 / 9880, abs=1e-6)


def test_normalise_reads_percentiles_off_a_regular_subsample() -> None:
    # 512 x 512 = 4 * MAX_SAMPLES pixels: the percentiles come from every 4th pixel only. Those
    # hold 0..65535 (in order); the other pixels hold values that would move any full-frame
    # percentile (a huge constant), and must not matter.
    n = 512 * 512
    assert n == 4 * MAX_SAMPLES
    flat = np.full(n, 1e6, np.float32)
    flat[::4] = np.arange(MAX_SAMPLES, dtype=np.float32)
    out = normalise(flat.reshape(512, 512)).reshape(-1)
    last = MAX_SAMPLES - 1
    lo, hi = int(0.01 * last), int(0.998 * last)  # 655 and 65403
    assert (lo, hi) == (655, 65403)
    assert out[4 * lo] == 0.0
    assert out[4 * hi] == pytest.approx(1.0, abs=1e-6)
    assert out[1] == pytest.approx((1e6 - lo) / (hi - lo), rel=1e-6)


def test_normalise_is_per_frame_and_ignores_gain_and_offset() -> None:
    rng = np.random.default_rng(1)
    frame = rng.gamma(2.0, 10.0, (64, 80)).astype(np.float32)
    ref = normalise(frame)
    for gain, offset in ((3.0, 0.0), (0.5, 1000.0), (7.0, -50.0)):
        np.testing.assert_allclose(normalise(frame * gain + offset), ref, atol=2e-4)
    # About 1% of the pixels fall below 0 and 0.2% above 1.
    assert 0.005 < (ref < 0).mean() < 0.015
    assert 0.0005 < (ref > 1).mean() < 0.004


def test_normalise_constant_and_integer_frames() -> None:
    for frame in (np.zeros((32, 32), np.uint8), np.full((32, 32), 7.5, np.float64)):
        out = normalise(frame)
        assert out.dtype == np.float32
        assert np.isfinite(out).all()
        assert (out == 0).all()
    big = np.full((20, 20), 60000, np.uint16)
    big[:10] = 100
    out = normalise(big)
    np.testing.assert_allclose(np.unique(out), [0.0, 1.0], atol=1e-6)


# --- resize_weights ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_in", "n_out"), [(7, 7), (10, 20), (20, 10), (100, 37), (37, 100), (1, 5), (5, 1), (64, 17)]
)
def test_resize_weights_are_a_partition_of_unity(n_in: int, n_out: int) -> None:
    w = resize_weights(n_in, n_out)
    assert w.shape == (n_out, n_in)
    assert w.dtype == np.float32
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
    # A constant image stays constant.
    np.testing.assert_allclose(w @ np.full(n_in, 3.25, np.float32), 3.25, rtol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 16, 97])
def test_resize_weights_identity(n: int) -> None:
    np.testing.assert_array_equal(resize_weights(n, n), np.eye(n, dtype=np.float32))


def test_resize_weights_enlarging_is_linear_interpolation() -> None:
    # x2: output pixel i is centred on input (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, ...
    w = resize_weights(4, 8)
    expected = np.array(
        [
            [1, 0, 0, 0],  # -0.25: clamped to the edge pixel
            [0.75, 0.25, 0, 0],  # 0.25
            [0.25, 0.75, 0, 0],  # 0.75
            [0, 0.75, 0.25, 0],
            [0, 0.25, 0.75, 0],
            [0, 0, 0.75, 0.25],
            [0, 0, 0.25, 0.75],
            [0, 0, 0, 1],  # 3.25: clamped
        ],
        np.float32,
    )
    np.testing.assert_allclose(w, expected, atol=1e-7)


def test_resize_weights_shrinking_is_a_triangle_over_the_footprint() -> None:
    # /2: output pixel i is centred on input 2 i + 0.5, the triangle is 2 input pixels wide
    # (half-width), so interior rows are (1, 3, 3, 1) / 8.
    w = resize_weights(8, 4)
    expected = np.array(
        [
            [3, 3, 1, 0, 0, 0, 0, 0],  # (the missing input -1 is dropped, the rest renormalised)
            [0, 1, 3, 3, 1, 0, 0, 0],
            [0, 0, 0, 1, 3, 3, 1, 0],
            [0, 0, 0, 0, 0, 1, 3, 3],
        ],
        np.float32,
    )
    np.testing.assert_allclose(w, expected / expected.sum(axis=1, keepdims=True), atol=1e-7)


def test_shrinking_antialiases() -> None:
    # Stripes of period 2 are above the output's Nyquist frequency after shrinking by 3: they
    # must come out as their mean, not as a false pattern. Plain linear interpolation aliases.
    n_in, n_out = 300, 100
    stripes = (np.arange(n_in) % 2).astype(np.float32)
    out = resize_weights(n_in, n_out) @ stripes
    assert np.abs(out[1:-1] - 0.5).max() < 0.1
    centres = (np.arange(n_out) + 0.5) * 3 - 0.5
    aliased = np.interp(centres, np.arange(n_in), stripes)
    assert np.abs(aliased - 0.5).max() == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("n_in", "n_out", "tolerance"),
    [
        (50, 100, 1e-5),
        (100, 50, 1e-5),
        (90, 30, 1e-5),
        (90, 37, 0.03),
        (37, 90, 1e-5),
        (64, 77, 1e-5),
    ],
)
def test_resize_weights_rows_centred_on_the_mapped_pixel(
    n_in: int, n_out: int, tolerance: float
) -> None:
    # Away from the edges each row's centre of mass is the input position of that output pixel
    # (pixel centres at integers): the same mapping as Geometry.to_input. Exact for enlarging
    # and for integer shrink factors; for a fractional one (90 -> 37: a triangle 2.43 px wide
    # sampled at integers) the samples are not symmetric about the centre: measured 0.019 px.
    w = resize_weights(n_in, n_out).astype(np.float64)
    mapped = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    support = max(1.0, n_in / n_out)
    inner = (mapped - support >= 0) & (mapped + support <= n_in - 1)
    assert inner.sum() > n_out // 2
    np.testing.assert_allclose((w @ np.arange(n_in))[inner], mapped[inner], atol=tolerance)


# --- Geometry ---------------------------------------------------------------------------------


def test_geometry_for_diameter() -> None:
    g = Geometry.for_diameter(100, 150, 12.0)
    assert g.scale == CANONICAL_DIAMETER / 12.0 == 2.0
    assert g.resized == (200, 300)
    assert g.padded == (208, 304)
    g = Geometry.for_diameter(384, 512, 24.0)
    assert g.resized == (384, 512)
    assert g.padded == (384, 512)
    g = Geometry.for_diameter(1024, 1024, 64.0)
    assert g.resized == (384, 384)
    g = Geometry.for_diameter(20, 20, 1000.0)  # never less than one pixel
    assert g.resized == (1, 1)
    assert g.padded == (16, 16)


@pytest.mark.parametrize("diameter", [0.0, -5.0, float("nan")])
def test_geometry_rejects_bad_diameters(diameter: float) -> None:
    with pytest.raises(ValueError, match="cell diameter must be positive, got"):
        Geometry.for_diameter(64, 64, diameter)


@pytest.mark.parametrize("diameter", [7.0, 12.0, 17.3, 24.0, 30.0, 48.0, 64.0])
@pytest.mark.parametrize(("h", "w"), [(64, 64), (100, 150), (333, 517)])
def test_padded_is_the_next_multiple_of_16(h: int, w: int, diameter: float) -> None:
    g = Geometry.for_diameter(h, w, diameter)
    (rh, rw), (ph, pw) = g.resized, g.padded
    assert (rh, rw) == (round(h * g.scale), round(w * g.scale))
    for r, p in ((rh, ph), (rw, pw)):
        assert p % PAD_MULTIPLE == 0
        assert r <= p < r + PAD_MULTIPLE


@pytest.mark.parametrize("diameter", [9.0, 17.3, 24.0, 41.0])
def test_to_model_and_to_input_are_inverse(diameter: float) -> None:
    g = Geometry.for_diameter(333, 517, diameter)
    rng = np.random.default_rng(2)
    y, x = rng.uniform(-0.5, 332.5, 200), rng.uniform(-0.5, 516.5, 200)
    my, mx = g.to_model(y, x)
    assert my.dtype == mx.dtype == np.float32
    by, bx = g.to_input(my, mx)
    np.testing.assert_allclose(by, y, atol=1e-3)  # float32 model coordinates
    np.testing.assert_allclose(bx, x, atol=1e-3)
    # Model -> input -> model, from exact model pixels.
    h, w = g.resized
    my2, mx2 = rng.uniform(0, h - 1, 50), rng.uniform(0, w - 1, 50)
    ry, rx = g.to_model(*g.to_input(my2, mx2))
    np.testing.assert_allclose(ry, my2, atol=1e-3)
    np.testing.assert_allclose(rx, mx2, atol=1e-3)


def test_image_edges_map_to_image_edges() -> None:
    # Pixel centres at integers: the outer edges of the image are at -0.5 and size - 0.5 in both.
    g = Geometry.for_diameter(100, 150, 9.0)
    h, w = g.resized
    my, mx = g.to_model([-0.5, 99.5], [-0.5, 149.5])
    np.testing.assert_allclose(my, [-0.5, h - 0.5], atol=1e-4)
    np.testing.assert_allclose(mx, [-0.5, w - 0.5], atol=1e-4)
    # The centre of the image stays the centre.
    cy, cx = g.to_model(49.5, 74.5)
    assert float(cy) == pytest.approx((h - 1) / 2, abs=1e-4)
    assert float(cx) == pytest.approx((w - 1) / 2, abs=1e-4)


@pytest.mark.parametrize(("diameter", "expected"), [(12.0, (20.5, 26.5)), (48.0, (4.75, 6.25))])
def test_single_bright_pixel_lands_where_to_model_says(
    diameter: float, expected: tuple[float, float]
) -> None:
    # One bright input pixel at (10, 13): x2 it spreads over model pixels 20-21 / 26-27 equally;
    # /2 it lands 3/4 in model pixel 5 and 1/4 in 4 along y (centre 4.75), along x 3/4 in 6 and
    # 1/4 in 7 (6.25). Either way, the centre of mass is to_model's answer.
    frame = np.zeros((48, 64), np.float32)
    frame[10, 13] = 1.0
    g = Geometry.for_diameter(48, 64, diameter)
    out = Preprocessor(g)(frame)
    my, mx = g.to_model(10, 13)
    assert (float(my), float(mx)) == pytest.approx(expected, abs=1e-5)
    cy, cx = centroid(out)
    assert (cy, cx) == pytest.approx(expected, abs=1e-4)
    peak = np.unravel_index(np.argmax(out), out.shape)
    assert abs(peak[0] - expected[0]) <= 0.5
    assert abs(peak[1] - expected[1]) <= 0.5


@pytest.mark.parametrize("diameter", [8.0, 12.0, 17.0, 24.0, 33.0, 40.0, 60.0])
def test_gaussian_blob_centre_maps_to_the_model_peak(diameter: float) -> None:
    # A Gaussian blob (sigma 0.2 diameters) at an off-grid input position comes out of the
    # preprocessor with its peak (located as the blob's centre of mass, which for a symmetric
    # blob is the peak, to sub-pixel precision) where to_model puts it, to a hundredth of
    # a model pixel: a half-pixel convention error would be off by 0.5 |scale - 1| model px
    # (0.1 to 1 here). (The brightest pixel is no sharper test: enlarging is piecewise linear,
    # so its maximum sits on the input pixel nearest the blob centre.)
    h, w = 120, 150
    y0, x0 = 53.3, 81.7
    frame = (100 + 900 * gaussian((h, w), y0, x0, 0.2 * diameter)).astype(np.uint16)
    g = Geometry.for_diameter(h, w, diameter)
    out = Preprocessor(g)(frame)
    my, mx = g.to_model(y0, x0)
    rh, rw = g.resized
    cy, cx = centroid(np.clip(out[:rh, :rw], 0, None))
    assert cy == pytest.approx(float(my), abs=0.01)  # measured: at most 0.002
    assert cx == pytest.approx(float(mx), abs=0.01)


# --- Preprocessor -----------------------------------------------------------------------------


def test_preprocessor_shape_padding_and_content() -> None:
    g = Geometry.for_diameter(100, 90, 20.0)  # scale 1.2 -> 120 x 108 -> 128 x 112
    assert (g.resized, g.padded) == ((120, 108), (128, 112))
    rng = np.random.default_rng(3)
    frame = (rng.random((100, 90)) * 4000 + 500).astype(np.uint16)
    out = Preprocessor(g)(frame)
    assert out.shape == (128, 112)
    assert out.dtype == np.float32
    assert (out[120:] == 0).all()
    assert (out[:, 108:] == 0).all()
    expected = resize_weights(100, 120) @ normalise(frame) @ resize_weights(90, 108).T
    np.testing.assert_allclose(out[:120, :108], expected, atol=1e-5)
    assert (out[:120, :108] != 0).mean() > 0.95  # the content fills the resized part


@pytest.mark.parametrize(("n_in", "n_out"), [(1024, 384), (90, 108), (37, 16)])
def test_columns_resize_as_the_rows_of_the_transpose(n_in: int, n_out: int) -> None:
    """The column pass reads the image as it lies, and gives the row pass's floats on the
    transpose to the bit."""
    band = _Band(resize_weights(n_in, n_out))
    image = np.random.default_rng(n_in).random((53, n_in), dtype=np.float32)
    np.testing.assert_array_equal(band.along_columns(image), band.along_rows(image.T).T)


def test_preprocessor_identity_geometry_only_normalises() -> None:
    g = Geometry.for_diameter(64, 80, CANONICAL_DIAMETER)
    frame = np.random.default_rng(4).normal(50, 5, (64, 80))
    out = Preprocessor(g)(frame)
    assert out.shape == (64, 80)
    np.testing.assert_allclose(out, normalise(frame), atol=1e-6)


def test_preprocessor_rejects_frames_of_another_shape() -> None:
    prep = Preprocessor(Geometry.for_diameter(100, 90, 20.0))
    for shape in ((90, 100), (100, 91), (1, 100, 90)):
        message = f"frame of shape {shape} does not match the sequence's (100, 90)"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            prep(np.zeros(shape, np.float32))


# --- estimate_cell_size ------------------------------------------------------------------------
# A rough estimate, and a biased one. Measured over seeds 0-19 on frame 0 (estimate / simulated
# diameter; the simulator's diameter is that of a grown cell, so the truth is a little smaller):
#   "small" (14 px, density 0.15, 128 x 128):         1.09 - 2.25, median 1.38
#   "hard" (18 px, density 0.35, 256 x 256):          0.44 - 1.08, median 0.72
#   sparse (30 px, density 0.05, 512 x 512):          1.09 - 1.25, median 1.17
#   binned (40 px, density 0.05, 1280 x 1088 -> /2):  1.24 - 1.41, median 1.27
#   sparse 10 / 20 / 40 px (field scaled with them): 1.31-1.62 / 1.14-1.35 / 1.04-1.20
# Small nuclei come out too large (the noise-based threshold takes in the blur halo, ~2-3 px of
# radius), dense crowds too small (the frame's median and MAD are no longer the background's).
# The bounds below hold the measured ranges for the seeds tested with a small margin, so that
# the estimator getting worse fails here.
DIAMETER_CASES: dict[str, tuple[str, dict[str, Any], float, float, float, int]] = {
    # name: (preset, overrides, diameter, lowest, highest ratio, seeds)
    "small": ("small", {}, 14.0, 1.0, 2.35, 5),
    "hard": ("hard", {"height": 256, "width": 256}, 18.0, 0.5, 1.0, 5),
    "sparse": (
        "small",
        {"density": 0.05, "diameter": 30.0, "height": 512, "width": 512},
        30.0,
        1.0,
        1.35,
        5,
    ),
    "binned": (
        "small",
        {"density": 0.05, "diameter": 40.0, "height": 1280, "width": 1088},
        40.0,
        1.1,
        1.5,
        2,
    ),
}


@pytest.mark.parametrize("case", list(DIAMETER_CASES))
def test_estimate_diameter_on_simulated_frames(case: str) -> None:
    preset, overrides, diameter, lowest, highest, seeds = DIAMETER_CASES[case]
    ratios = [
        estimate_cell_size(simulate(preset, seed=s, n_frames=1, **overrides).frames[0]).diameter
        / diameter
        for s in range(seeds)
    ]
    assert all(lowest <= r <= highest for r in ratios), ratios


def test_estimate_diameter_follows_the_cell_size() -> None:
    # The same sparse scene at three scales: the estimate must grow with the cells (the
    # relative error shrinks from ~+45% at 10 px to ~+10% at 40 px, see above).
    estimates = []
    for diameter in (10.0, 20.0, 40.0):
        size = round(512 * diameter / 30 / 16) * 16
        seq = simulate(
            "small", seed=0, n_frames=1, density=0.05, diameter=diameter, height=size, width=size
        )
        estimates.append(estimate_cell_size(seq.frames[0]).diameter)
        assert 0.95 < estimates[-1] / diameter < 1.7
    assert estimates[0] * 1.5 < estimates[1] < estimates[2] / 1.5


def test_estimate_diameter_of_noisy_disks() -> None:
    # Five disks of diameter 20 with Gaussian noise (contrast / noise = 10): measured 25.0.
    yy, xx = np.mgrid[:128, :128]
    frame = np.zeros((128, 128), np.float32)
    for cy, cx in ((30, 30), (30, 90), (90, 30), (90, 90), (60, 60)):
        frame[(yy - cy) ** 2 + (xx - cx) ** 2 < 10**2] = 100
    noisy = frame + np.random.default_rng(0).normal(0, 10, frame.shape).astype(np.float32)
    assert 20 <= estimate_cell_size(noisy).diameter <= 28


def five_disks() -> Array:
    """Five disks of diameter 24 (value 100) on a 160 x 160 field of zeros."""
    yy, xx = np.mgrid[:160, :160]
    frame = np.zeros((160, 160), np.float32)
    for cy, cx in ((30, 30), (30, 120), (120, 30), (120, 120), (75, 75)):
        frame[(yy - cy) ** 2 + (xx - cx) ** 2 < 12**2] = 100
    return frame


def test_estimate_diameter_ignores_specks() -> None:
    # Five disks of diameter 24 and twelve 5 x 5 specks: the specks outnumber the nuclei, and
    # would be the median object were they not dropped (under a fifth of the large objects).
    frame = five_disks()
    noise = np.random.default_rng(0).normal(0, 10, frame.shape).astype(np.float32)
    clean = estimate_cell_size(frame + noise).diameter
    specks = (
        (10, 70),
        (55, 15),
        (55, 140),
        (95, 10),
        (100, 75),
        (150, 70),
        (75, 40),
        (75, 110),
        (10, 150),
        (150, 150),
        (150, 10),
        (40, 75),
    )
    for cy, cx in specks:
        frame[cy - 2 : cy + 3, cx - 2 : cx + 3] = 100
    assert estimate_cell_size(frame + noise).diameter == pytest.approx(clean, rel=0.05)
    assert 24 <= clean <= 32  # measured 28.8


def _disks(disks: list[tuple[int, int, float]], seed: int) -> Array:
    """Disks (centre y, x, diameter; value 100) on a 200 x 200 field with noise of deviation 10."""
    yy, xx = np.mgrid[:200, :200]
    frame = np.zeros((200, 200), np.float32)
    for cy, cx, diameter in disks:
        frame[(yy - cy) ** 2 + (xx - cx) ** 2 < (diameter / 2) ** 2] = 100
    return frame + np.random.default_rng(seed).normal(0, 10, frame.shape).astype(np.float32)


def test_stack_cell_size_weighs_every_cell_of_a_sparse_stack() -> None:
    # Three cells a frame: two small and one large in two frames, three large in the third.
    # Each frame's median would make the stack's cells small (two frames of three); over all
    # the cells, each frame weighing alike, more than half are large.
    mixed = [_disks([(50, 50, 20), (150, 150, 20), (50, 150, 44)], seed) for seed in (0, 1)]
    large = _disks([(50, 50, 44), (150, 150, 44), (50, 150, 44)], 2)
    assert all(estimate_cell_size(frame).diameter < 30 for frame in mixed)
    size = estimate_stack_cell_size(FrameStack([mixed[0], large, mixed[1]]))
    assert size.diameter == pytest.approx(estimate_cell_size(large).diameter, rel=0.05)
    assert size.diameter > 40


@pytest.mark.parametrize(
    "frame",
    [np.zeros((64, 64), np.uint8), np.random.default_rng(5).normal(0, 1, (256, 256))],
    ids=["blank", "noise"],
)
def test_estimate_cell_size_without_objects(frame: Array) -> None:
    with pytest.raises(
        ValueError,
        match=r"no cell-like object brighter than the background found .*: pass diameter=",
    ):
        estimate_cell_size(frame)


# --- polarity ----------------------------------------------------------------------------------


def test_dark_frames_are_normalised_as_their_negative() -> None:
    frame = np.random.default_rng(4).integers(0, 4096, (61, 83)).astype(np.uint16)
    negative = -frame.astype(np.float32)
    assert np.array_equal(normalise(frame, "dark"), normalise(negative))
    assert not np.array_equal(normalise(frame, "dark"), normalise(frame))
    geometry = Geometry.for_diameter(61, 83, 9.0)
    dark = Preprocessor(geometry, polarity="dark")(frame)
    assert np.array_equal(dark, Preprocessor(geometry)(negative))


def test_check_polarity_names_the_choices() -> None:
    assert check_polarity("dark") == "dark"
    with pytest.raises(
        ValueError, match=r'^polarity must be "bright" .* or "dark" .*, got .auto.$'
    ):
        check_polarity("auto")


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("gowt1", "bright"),
        ("simplus", "bright"),
        ("hard", "bright"),
        ("small", "bright"),
        ("cytoplasm", "bright"),
        ("confluent", "bright"),
        ("phase_bacteria", "dark"),
        ("phase_cells", "dark"),
        ("brightfield", "dark"),
    ],
)
def test_estimate_polarity_on_every_preset(preset: str, expected: str) -> None:
    # Two seeds' first, middle and last frames (a colony grows from 2 rods to about 20; the
    # mammalian cells in phase contrast are larger than the local background's window).
    for seed in (0, 1):
        seq = simulate(preset, seed=seed, n_frames=12)
        assert estimate_stack_polarity(FrameStack(seq.frames)) == expected, seed
        assert seq.config.polarity == expected


def _ringed_disks(inside: float, ring: float, radius: int = 10, outer: int = 14) -> Array:
    """Six disks of `radius` on a grey field of noise, each ringed out to `outer`: phase
    contrast (dark inside, bright ring) or its reverse (a bright cell with a dark halo)."""
    yy, xx = np.mgrid[:200, :200]
    frame = np.full((200, 200), 100.0, np.float32)
    for cy, cx in ((40, 40), (40, 140), (100, 90), (160, 40), (160, 150), (100, 170)):
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        frame[(r2 >= radius**2) & (r2 < outer**2)] = ring
        frame[r2 < radius**2] = inside
    return frame + np.random.default_rng(1).normal(0, 4, frame.shape).astype(np.float32)


def test_estimate_polarity_finds_cells_inside_their_halos() -> None:
    # Both signs stand out by about as many pixels; the side the rings enclose is the cells.
    assert estimate_polarity(_ringed_disks(inside=40, ring=160)) == "dark"
    assert estimate_polarity(_ringed_disks(inside=160, ring=40)) == "bright"
    # Small cells in wide halos: the halos have over four times the cells' pixels.
    assert estimate_polarity(_ringed_disks(inside=40, ring=160, radius=7, outer=17)) == "dark"
    assert estimate_polarity(_ringed_disks(inside=160, ring=40, radius=7, outer=17)) == "bright"
    # Bright nuclei, each with a nucleolus darker than the background: a small hole, no halo.
    assert estimate_polarity(_ringed_disks(inside=60, ring=160, radius=4, outer=14)) == "bright"


def test_estimate_polarity_of_one_sided_frames() -> None:
    frame = simulate("small", seed=2, n_frames=1).frames[0]
    assert estimate_polarity(frame) == "bright"
    assert estimate_polarity(np.invert(frame)) == "dark"  # an absorbing stain: no halo
    assert estimate_polarity(np.zeros((64, 64), np.uint8)) == "bright"  # nothing: the default


def test_estimate_cell_size_of_rods() -> None:
    # Rods in phase contrast, 17.4 px wide as drawn, at the preset's scale (44 px): the first
    # frame (2-4 rods) and the 12th, where they touch in small clusters. Measured over seeds
    # 0-4, frame 0: width 14.0-15.2, diameter 44.0-47.9 (the half-maximum mask is narrower than
    # the drawn rod; ROD_DIAMETER_PER_WIDTH maps it back to the preset's scale).
    for seed in range(3):
        seq = simulate("phase_bacteria", seed=seed, n_frames=12)
        for t in (0, 11):
            size = estimate_cell_size(seq.frames[t], "dark")
            assert 0.95 * 44 <= size.diameter <= 1.1 * 44, (seed, t, size)
            assert 13 <= size.width <= 16, (seed, t, size)
            assert size.length >= 5 * size.width, (seed, t, size)


def test_estimate_cell_size_of_rods_ignores_dark_background_without_halo() -> None:
    # Two rods ringed by their halos on a field whose darker half is as dark as they are (a
    # real colony's first frames look so): the dark half is no cell, and the rods' width sets
    # the scale.
    yy, xx = np.mgrid[:400, :400]
    frame = np.where(xx < 150, 30.0, 110.0).astype(np.float32)
    for cy in (250, 275):
        along = np.clip(xx, 220, 300)
        distance = np.hypot(yy - cy, xx - along)
        frame[(distance >= 8) & (distance < 16)] = 230.0  # the halo
        frame[distance < 8] = 20.0
    frame += np.random.default_rng(3).normal(0, 4, frame.shape).astype(np.float32)
    size = estimate_cell_size(frame, "dark")
    assert 12 <= size.width <= 17, size
    assert size.diameter == pytest.approx(44 / 14 * size.width)


def test_phase_contrast_cells_that_are_not_rods_are_measured_by_area() -> None:
    # Mammalian cells in phase contrast (preset 60 px): irregular, their widths vary, so they
    # are no rods; measured over seeds 0-2, first frame: 80.6 / 70.5 / 79.0.
    for seed in range(3):
        frame = simulate("phase_cells", seed=seed, n_frames=1).frames[0]
        assert 50 <= estimate_cell_size(frame, "dark").diameter <= 100, seed


def test_estimate_cell_size_of_disks_is_round() -> None:
    frame = five_disks()
    frame += np.random.default_rng(0).normal(0, 10, frame.shape).astype(np.float32)
    size = estimate_cell_size(frame)
    assert size.length == pytest.approx(size.width, rel=0.15)
    assert size.diameter == pytest.approx(size.width, rel=0.15)


def test_estimate_cell_size_without_dark_objects_says_what_to_pass() -> None:
    frame = simulate("small", seed=2, n_frames=1).frames[0]
    with pytest.raises(ValueError, match=r"no cell-like object darker .*: pass diameter=") as err:
        estimate_cell_size(np.zeros_like(frame), "dark")
    assert "polarity" not in str(err.value)
