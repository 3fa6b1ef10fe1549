"""Frame preprocessing shared by training and inference (the browser engine mirrors it).

Every frame is normalised on its own (so bleaching and streaming need no look-ahead), then
resized so that cells have the model's canonical diameter, then padded to a multiple of 16
(the encoder's coarsest stride). Coordinates map between input and model pixels with
pixel centres at integers. The network sees cells bright on a dark background: frames of dark
cells on a bright one (phase contrast, brightfield; polarity "dark") are negated before they
are normalised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from ..io.frames import FrameStack

CANONICAL_DIAMETER = 24.0  # nucleus diameter, in model pixels, the network is trained for
PAD_MULTIPLE = 16
FEATURE_STRIDE = 4  # model pixels per feature-map pixel (the encoder's output stride)
LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.8
MAX_SAMPLES = 65536  # pixels sampled (on a regular stride) to estimate the percentiles

FloatArray = npt.NDArray[np.float32]
Polarity = Literal["bright", "dark"]
POLARITIES: tuple[Polarity, ...] = ("bright", "dark")
POLARITY_CHOICES = ("auto", *POLARITIES)  # what track() takes: "auto" tells them apart


def check_polarity(polarity: object) -> Polarity:
    """`polarity` if it is one, else a ValueError that says what it can be."""
    if polarity not in POLARITIES:
        raise ValueError(
            f'polarity must be "bright" (cells brighter than the background: fluorescence) or '
            f'"dark" (darker: phase contrast, brightfield), got {polarity!r}'
        )
    return polarity


def normalise(frame: npt.NDArray[np.generic], polarity: Polarity = "bright") -> FloatArray:
    """Maps a frame's 1st percentile to 0 and its 99.8th to 1 (values outside kept); a frame
    of dark cells is negated first (as float32), so that its cells come out bright.

    Percentiles are read off a sorted regular subsample without interpolation, so that the
    browser computes bit-identical bounds.
    """
    image = np.asarray(frame, dtype=np.float32)
    if polarity == "dark":
        image = -image
    flat = image.reshape(-1)
    step = max(1, math.ceil(flat.size / MAX_SAMPLES))
    lo, scale = normalisation(flat[::step])
    out: FloatArray = ((image - lo) * scale).astype(np.float32)
    return out


def normalisation(sample: npt.NDArray[np.float32]) -> tuple[np.float32, np.float32]:
    """(lo, scale) of `normalise`'s map x -> (x - lo) * scale, from a sample of a frame's
    pixels (float32, any order)."""
    ordered = np.sort(sample.reshape(-1))
    last = ordered.size - 1
    lo = ordered[int(LOW_PERCENTILE / 100 * last)]
    hi = ordered[int(HIGH_PERCENTILE / 100 * last)]
    scale = np.float32(1.0) / max(hi - lo, np.float32(1e-6))
    return lo, scale


def resize_weights(n_in: int, n_out: int) -> FloatArray:
    """[n_out, n_in] linear-interpolation weights, widened to a triangle of the output pixel's
    footprint when shrinking (antialiasing), rows summing to 1."""
    scale = n_out / n_in
    support = max(1.0, 1.0 / scale)
    centres = (np.arange(n_out, dtype=np.float64) + 0.5) / scale - 0.5
    src = np.arange(n_in, dtype=np.float64)
    w = np.clip(1.0 - np.abs(src[None, :] - centres[:, None]) / support, 0.0, None)
    weights: FloatArray = (w / w.sum(axis=1, keepdims=True)).astype(np.float32)
    return weights


@dataclass(frozen=True)
class Geometry:
    """How input frames of (height, width) map onto the model's padded input."""

    height: int
    width: int
    scale: float  # model pixels per input pixel

    @staticmethod
    def for_diameter(height: int, width: int, diameter: float) -> Geometry:
        if not diameter > 0:
            raise ValueError(f"cell diameter must be positive, got {diameter}")
        return Geometry(height, width, CANONICAL_DIAMETER / diameter)

    @property
    def resized(self) -> tuple[int, int]:
        return (max(1, round(self.height * self.scale)), max(1, round(self.width * self.scale)))

    @property
    def padded(self) -> tuple[int, int]:
        h, w = self.resized
        return (_round_up(h, PAD_MULTIPLE), _round_up(w, PAD_MULTIPLE))

    def to_model(self, y: npt.ArrayLike, x: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Input-pixel (y, x) -> model-pixel (y, x)."""
        h, w = self.resized
        yy = (np.asarray(y, np.float64) + 0.5) * (h / self.height) - 0.5
        xx = (np.asarray(x, np.float64) + 0.5) * (w / self.width) - 0.5
        return yy.astype(np.float32), xx.astype(np.float32)

    def to_input(
        self, y: npt.ArrayLike, x: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Model-pixel (y, x) -> input-pixel (y, x)."""
        h, w = self.resized
        yy = (np.asarray(y, np.float64) + 0.5) * (self.height / h) - 0.5
        xx = (np.asarray(x, np.float64) + 0.5) * (self.width / w) - 0.5
        return yy, xx


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


class _Band:
    """The non-zero band of a resize matrix: output i = sum_j weights[i, j] * input[start_i + j].

    Applying only the band costs a few taps per pixel instead of a dense product over the
    whole input axis (a 1024 px axis has at most ~7 non-zero weights per row).
    """

    def __init__(self, weights: FloatArray) -> None:
        nonzero = weights != 0
        first = nonzero.argmax(axis=1)
        last = weights.shape[1] - 1 - nonzero[:, ::-1].argmax(axis=1)
        self.taps = int((last - first).max()) + 1
        self.index = np.minimum(first[:, None] + np.arange(self.taps), weights.shape[1] - 1)
        self.weights = np.take_along_axis(weights, self.index, axis=1)
        self.weights[first[:, None] + np.arange(self.taps) > last[:, None]] = 0

    def along_rows(self, image: FloatArray) -> FloatArray:
        out = np.zeros((self.index.shape[0], image.shape[1]), np.float32)
        for j in range(self.taps):
            out += self.weights[:, j, None] * image[self.index[:, j]]
        return out

    def along_columns(self, image: FloatArray) -> FloatArray:
        """The band applied across each row: `along_rows` of the transpose, transposed, to the
        bit, but taking the columns from the image as it lies (a 1024-pixel frame's columns
        in a quarter of the time: the transpose's rows are strided)."""
        out = np.zeros((image.shape[0], self.index.shape[0]), np.float32)
        for j in range(self.taps):
            out += self.weights[:, j] * np.take(image, self.index[:, j], axis=1)
        return out


class Preprocessor:
    """Normalises (`normalise`, for frames of `polarity`), resizes and pads frames of one
    geometry; the resize bands are built once. With `normalised`, frames come normalised
    already (tiles of a larger frame, normalised over the whole frame: tiling.py) and are only
    resized and padded."""

    def __init__(
        self, geometry: Geometry, normalised: bool = False, polarity: Polarity = "bright"
    ) -> None:
        self.geometry = geometry
        self.normalised = normalised
        self.polarity = check_polarity(polarity)
        h, w = geometry.resized
        self._rows = _Band(resize_weights(geometry.height, h))
        self._cols = _Band(resize_weights(geometry.width, w))

    def __call__(self, frame: npt.NDArray[np.generic]) -> FloatArray:
        """(H, W) frame -> (H', W') float32 model input."""
        if frame.shape != (self.geometry.height, self.geometry.width):
            raise ValueError(
                f"frame of shape {frame.shape} does not match the sequence's "
                f"{(self.geometry.height, self.geometry.width)}"
            )
        image = (
            np.asarray(frame, np.float32) if self.normalised else normalise(frame, self.polarity)
        )
        small = self._cols.along_columns(self._rows.along_rows(image))
        out = np.zeros(self.geometry.padded, np.float32)
        out[: small.shape[0], : small.shape[1]] = small
        return out


MIN_OBJECT_PIXELS = 20  # smaller objects are noise, to the size estimate
POLARITY_RATIO = 0.25  # one side's objects under this share of the other's: not cells,
RINGED = 0.5  # unless at least this share of them lies inside the other's rings (halos)
RINGED_FLOOR = 0.1  # and they have this share of the other's pixels (not nucleoli in nuclei)
# Rods in phase contrast (_rod_size). They are measured at up to 2048 px a side: the light
# lines between touching rods are a few pixels wide. An object is a cell where at least half
# its outline lies within HALO_REACH px of the halo.
ROD_SIDE = 2048
HALO_REACH = 6.0
ROD_FILL = 0.6  # share of the objects their half-maximum cores fill, at least, for rods
ROD_ELONGATION = 3.0  # a typical object's area over its width squared, at least, for rods
# The phase_bacteria preset's diameter (44 px, the model's scale for it) over its rods' width
# as _rod_size measures it (14.0 px; the half-maximum mask is narrower than the drawn rod).
ROD_DIAMETER_PER_WIDTH = 44.0 / 14.0


@dataclass(frozen=True)
class CellSize:
    """A typical cell, input pixels: `diameter`, its equivalent-circle diameter (the model's
    scale: `Geometry.for_diameter`); `length` and `width`, the axes of the ellipse of its
    second moments (a rod's length and width; a round cell's are near `diameter`)."""

    diameter: float
    length: float
    width: float

    AXES: ClassVar[tuple[str, ...]] = ("diameter", "length", "width")

    def describe(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.AXES}


def _binned(img: FloatArray, side: int = 1024) -> tuple[FloatArray, int]:
    """A frame binned to at most ~`side` px a side, and the binning factor."""
    factor = max(1, int(np.ceil(max(img.shape) / side)))
    if factor > 1:
        h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
        img = img[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    return img, factor


def _local_residual(img: FloatArray, sigma: float = 2.0) -> tuple[FloatArray, float]:
    """A frame smoothed by a Gaussian of `sigma` px minus its slowly varying background, and
    the residual's noise deviation (MAD). Phase contrast lights its field unevenly; a global
    background would take the shading for cells. The background is the median over ~120 px of
    8 px blocks' means, estimated twice: the second time without the pixels the first residual
    put beyond 4 noise deviations (a block mostly covered by them takes its nearest clear
    block's mean), so that cells larger than the window do not drag it along."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(img, sigma)
    block = 8
    h, w = (-(-n // block) * block for n in img.shape)
    padded = np.pad(smooth, ((0, h - img.shape[0]), (0, w - img.shape[1])), "edge")

    def blocks(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        means: npt.NDArray[np.float64] = a.reshape(h // block, block, w // block, block).mean(
            axis=(1, 3), dtype=np.float64
        )
        return means

    def residual_from(coarse: npt.NDArray[np.float64]) -> tuple[FloatArray, float]:
        background = ndimage.median_filter(coarse, size=15, mode="reflect")
        full = np.repeat(np.repeat(background, block, axis=0), block, axis=1)
        residual = (padded - full).astype(np.float32)
        noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
        return residual, max(noise, 1e-6)

    residual, noise = residual_from(blocks(padded))
    clear = (np.abs(residual) <= 4 * noise).astype(np.float32)
    share = blocks(clear)
    means = blocks(padded * clear) / np.maximum(share, 1e-6)
    covered = share < 0.5
    if covered.any() and not covered.all():
        nearest = ndimage.distance_transform_edt(
            covered, return_distances=False, return_indices=True
        )
        means = means[tuple(nearest)]
    residual, noise = residual_from(means)
    return residual[: img.shape[0], : img.shape[1]], noise


def estimate_polarity(frame: npt.NDArray[np.generic]) -> Polarity:
    """Whether a frame's cells are brighter ("bright") or darker ("dark") than its background.

    Objects stand out of the local background by 4 noise deviations on either side. Where one
    side has under POLARITY_RATIO of the other's pixels, the larger side is the cells
    (fluorescence: bright; absorbing stains: dark), unless that side lies inside the other's
    rings (RINGED) and is not tiny (RINGED_FLOOR): a few rods in wide halos cover a fifth of
    the halos' pixels, where dark nucleoli inside nuclei cover less. Otherwise it is phase
    contrast, where a halo of the other sign rings every cell: the cells are the side that
    lies inside the other's rings. A frame with no object at all says "bright". Frames are
    binned less than for sizes: halos are thin."""
    from scipy import ndimage

    residual, noise = _local_residual(_binned(normalise(frame), 4096)[0])
    bright = ndimage.binary_opening(residual > 4 * noise, iterations=2)
    dark = ndimage.binary_opening(residual < -4 * noise, iterations=2)
    n_bright, n_dark = int(bright.sum()), int(dark.sum())
    dark_inside = (ndimage.binary_fill_holes(bright) & dark).sum() / max(n_dark, 1)
    bright_inside = (ndimage.binary_fill_holes(dark) & bright).sum() / max(n_bright, 1)
    if _outnumbered(n_dark, n_bright, dark_inside):
        return "bright"
    if _outnumbered(n_bright, n_dark, bright_inside):
        return "dark"
    return "dark" if dark_inside > bright_inside else "bright"


def _outnumbered(n_few: int, n_many: int, few_inside: float) -> bool:
    """Whether a side of n_few pixels, few_inside of them inside the other side's rings, is
    not the cells beside the other's n_many (estimate_polarity's first rule)."""
    ringed = few_inside >= RINGED and n_few >= RINGED_FLOOR * n_many
    return n_few <= POLARITY_RATIO * n_many and not ringed


def estimate_cell_size(frame: npt.NDArray[np.generic], polarity: Polarity = "bright") -> CellSize:
    """A frame's typical cell: `estimate_stack_cell_size` of that one frame."""
    return _typical_cell([frame], check_polarity(polarity))


def _typical_cell(frames: Sequence[npt.NDArray[np.generic]], polarity: Polarity) -> CellSize:
    """The typical cell (`CellSize`) of some frames. Where most are of dark rods (bacteria in
    phase contrast), their `_rod_size`s' median. Otherwise the median over the objects of all
    the frames together, each frame weighing alike (a sparse field has too few cells a frame
    for a median of its own), of the objects standing out of the smoothed background by 4
    noise deviations, ignoring specks under a fifth of the typical large object. Bright cells
    are measured against each frame's median and MAD (a frame of fluorescence is mostly
    background); dark ones against the local background (`_local_residual`). Blob detectors
    lock onto the texture inside nuclei; a noise-based threshold sees dim nuclei whole; the
    median shrugs off the few that touch."""
    images = [normalise(frame, polarity) for frame in frames]
    if polarity == "dark":
        rods = [size for image in images if (size := _rod_size(image)) is not None]
        if 2 * len(rods) > len(images):
            return CellSize(
                *(float(np.median([getattr(r, k) for r in rods])) for k in CellSize.AXES)
            )
    measured = [_objects(image, polarity) for image in images]
    areas, lengths, widths = (np.concatenate(column) for column in zip(*measured, strict=True))
    weights = np.concatenate([np.full(len(m[0]), 1 / max(1, len(m[0]))) for m in measured])
    if len(areas) == 0:
        look = "brighter" if polarity == "bright" else "darker"
        raise ValueError(
            f"no cell-like object {look} than the background found to estimate the cell size: "
            f"pass diameter= (a typical cell's diameter in pixels)"
            + (
                ', or polarity="dark" for dark cells on a bright background'
                if polarity == "bright"
                else ""
            )
        )
    large = areas >= 0.2 * np.percentile(areas, 90)
    area, length, width = (
        _weighted_median(v[large], weights[large]) for v in (areas, lengths, widths)
    )
    return CellSize(float(2 * np.sqrt(area / np.pi)), length, width)


def _weighted_median(values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]) -> float:
    """The value below which half the weight lies (the lower one at a tie)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def _objects(
    image: FloatArray, polarity: Polarity
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Area, length and width (`_axes`), input pixels, of each object of a normalised frame
    that stands out of its background (`_typical_cell`) and is no smaller than
    MIN_OBJECT_PIXELS."""
    from scipy import ndimage

    img, factor = _binned(image)
    if polarity == "bright":
        smooth = ndimage.gaussian_filter(img, 2.0)
        background = float(np.median(smooth))
        noise = 1.4826 * float(np.median(np.abs(smooth - background)))
        above = smooth > background + 4 * max(noise, 1e-6)
    else:
        residual, noise = _local_residual(img)
        above = residual > 4 * noise
    labels, _ = ndimage.label(ndimage.binary_opening(above, iterations=2))
    areas = np.bincount(labels.ravel())
    keep = np.flatnonzero(areas >= MIN_OBJECT_PIXELS)
    keep = keep[keep > 0]
    lengths, widths = _axes(labels, keep)
    return areas[keep].astype(np.float64) * factor**2, lengths * factor, widths * factor


def _rod_size(image: FloatArray) -> CellSize | None:
    """The typical cell of a normalised frame of dark cells (negated: cells bright) if its
    cells are rods, else None.

    Touching rods merge into clusters whose area says nothing of one rod's, but every part of
    a cluster keeps a rod's width. The objects 4 noise deviations out of the local background
    are kept where the halo rings them (phase contrast's dark background texture has no halo).
    Rods are uniformly dark: their cores, each object cut at half its own peak (which also
    parts touching rods, whose contact lines are lighter), fill most of them (ROD_FILL; cells
    darkest at their middle fill a third). The width is twice the distance transform along the
    cores' ridges, and the objects are long for it (ROD_ELONGATION). The diameter (the model's
    scale) is ROD_DIAMETER_PER_WIDTH times the width; the length is that of a rod of this width
    and diameter's area."""
    from scipy import ndimage

    img, factor = _binned(image, ROD_SIDE)
    residual, noise = _local_residual(img, sigma=1.0)
    objects, n = ndimage.label(ndimage.binary_opening(residual > 4 * noise))
    if n == 0:
        return None
    index = np.arange(1, n + 1)
    near_halo = ndimage.distance_transform_edt(residual >= -4 * noise) <= HALO_REACH
    outline = (objects > 0) & ~ndimage.binary_erosion(objects > 0)
    ringed = np.asarray(ndimage.mean(near_halo, objects * outline, index)) >= 0.5
    areas = np.bincount(objects.ravel(), minlength=n + 1)[1:]
    keep = index[ringed & (areas >= MIN_OBJECT_PIXELS)]
    if len(keep) == 0:
        return None
    keep = keep[areas[keep - 1] >= 0.2 * np.percentile(areas[keep - 1], 90)]
    kept = np.isin(objects, keep)
    peaks = np.zeros(n + 1, np.float32)
    peaks[1:] = ndimage.maximum(residual, objects, index)
    cores = ndimage.binary_opening(kept & (residual > 0.5 * peaks[objects]))
    if cores.sum() < ROD_FILL * kept.sum():
        return None
    depth = ndimage.distance_transform_edt(cores)
    ridge = (depth == ndimage.maximum_filter(depth, 3)) & (depth >= 1)
    width = 2 * float(np.median(depth[ridge]))
    if np.median(areas[keep - 1]) < ROD_ELONGATION * width**2:
        return None
    width *= factor
    diameter = ROD_DIAMETER_PER_WIDTH * width
    return CellSize(float(diameter), float(np.pi * diameter**2 / (4 * width)), float(width))


def _axes(
    labels: npt.NDArray[np.int32], keep: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Major and minor axis (4 standard deviations) of each labelled object of `keep`."""
    from scipy import ndimage

    if len(keep) == 0:
        return np.zeros(0), np.zeros(0)
    yy, xx = np.indices(labels.shape, dtype=np.float64)
    moments = [ndimage.mean(v, labels, keep) for v in (yy, xx, yy * yy, xx * xx, yy * xx)]
    my, mx, myy, mxx, mxy = (np.asarray(m, np.float64) for m in moments)
    vy, vx, cov = myy - my * my, mxx - mx * mx, mxy - my * mx
    spread = np.sqrt(((vy - vx) / 2) ** 2 + cov**2)
    major = 4 * np.sqrt(np.maximum((vy + vx) / 2 + spread, 0))
    minor = 4 * np.sqrt(np.maximum((vy + vx) / 2 - spread, 0))
    return major, minor


def sample_frames(frames: FrameStack) -> list[int]:
    """The frames a stack's look is estimated from: its first, middle and last."""
    return sorted({0, len(frames) // 2, len(frames) - 1})


def estimate_stack_polarity(frames: FrameStack) -> Polarity:
    """`estimate_polarity` of most of the `sample_frames`."""
    votes = [estimate_polarity(frames[t]) for t in sample_frames(frames)]
    return "dark" if 2 * votes.count("dark") > len(votes) else "bright"


def estimate_look(
    frames: FrameStack, polarity: str, diameter: float | None
) -> tuple[Polarity, float, CellSize | None]:
    """`track()`'s look of a stack: its polarity (`polarity`, or "auto": told apart by
    `estimate_stack_polarity`), its cell diameter (`diameter`, or None: the estimate's) and its
    typical cell as measured (`estimate_stack_cell_size`; None where a diameter is given and
    no cell-like object is found); the `sample_frames` are read once for all."""
    known = None if polarity == "auto" else check_polarity(polarity)  # before any reading
    samples = FrameStack([frames[t] for t in sample_frames(frames)])
    look = known if known is not None else estimate_stack_polarity(samples)
    if diameter is None:
        size = estimate_stack_cell_size(samples, look)
        return look, size.diameter, size
    try:
        return look, diameter, estimate_stack_cell_size(samples, look)
    except ValueError:  # nothing to measure: the given diameter is enough to track
        return look, diameter, None


def estimate_stack_cell_size(frames: FrameStack, polarity: Polarity = "bright") -> CellSize:
    """The typical cell of the `sample_frames` (`_typical_cell`)."""
    return _typical_cell([frames[t] for t in sample_frames(frames)], check_polarity(polarity))
