"""Frame preprocessing shared by training and inference (the browser engine mirrors it).

Every frame is normalised on its own (so bleaching and streaming need no look-ahead), then
resized so that nuclei have the model's canonical diameter, then padded to a multiple of 16
(the encoder's coarsest stride). Coordinates map between input and model pixels with
pixel centres at integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def normalise(frame: npt.NDArray[np.generic]) -> FloatArray:
    """Maps a frame's 1st percentile to 0 and its 99.8th to 1 (values outside kept).

    Percentiles are read off a sorted regular subsample without interpolation, so that the
    browser computes bit-identical bounds.
    """
    flat = np.asarray(frame, dtype=np.float32).reshape(-1)
    step = max(1, math.ceil(flat.size / MAX_SAMPLES))
    lo, scale = normalisation(flat[::step])
    out: FloatArray = ((np.asarray(frame, dtype=np.float32) - lo) * scale).astype(np.float32)
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


class Preprocessor:
    """Normalises, resizes and pads frames of one geometry; the resize bands are built once.
    With `normalised`, frames come normalised already (tiles of a larger frame, normalised
    over the whole frame: tiling.py) and are only resized and padded."""

    def __init__(self, geometry: Geometry, normalised: bool = False) -> None:
        self.geometry = geometry
        self.normalised = normalised
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
        image = np.asarray(frame, np.float32) if self.normalised else normalise(frame)
        small = self._cols.along_rows(self._rows.along_rows(image).T).T
        out = np.zeros(self.geometry.padded, np.float32)
        out[: small.shape[0], : small.shape[1]] = small
        return out


def estimate_diameter(frame: npt.NDArray[np.generic]) -> float:
    """Typical nucleus diameter (input pixels): the median equivalent-circle diameter of the
    objects standing out of the smoothed background by 4 noise deviations (median and MAD of
    the frame, which is mostly background), ignoring specks under a fifth of the typical large
    object. Blob detectors lock onto the texture inside nuclei; a
    noise-based threshold sees dim nuclei whole; the median shrugs off the few that touch."""
    from scipy import ndimage

    img = normalise(frame)
    factor = max(1, int(np.ceil(max(img.shape) / 1024)))  # bin very large frames
    if factor > 1:
        h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
        img = img[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    smooth = ndimage.gaussian_filter(img, 2.0)
    background = float(np.median(smooth))
    noise = 1.4826 * float(np.median(np.abs(smooth - background)))
    mask = ndimage.binary_opening(smooth > background + 4 * max(noise, 1e-6), iterations=2)
    labels, _ = ndimage.label(mask)
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas >= 20]
    if len(areas) == 0:
        raise ValueError("no nucleus-like object found to estimate the diameter: pass diameter=")
    areas = areas[areas >= 0.2 * np.percentile(areas, 90)]
    return float(2 * np.sqrt(np.median(areas) / np.pi) * factor)


def estimate_stack_diameter(frames: FrameStack) -> float:
    """`estimate_diameter`'s median over a stack's first, middle and last frames."""
    picks = sorted({0, len(frames) // 2, len(frames) - 1})
    return float(np.median([estimate_diameter(frames[t]) for t in picks]))
