"""Deterministic 2D+t microscopy time-lapse simulator with exact tracking ground truth.

Cells are one of three bodies (`SimConfig.body`). Nuclei are textured, irregular ellipses that move
by drift plus a persistent random walk, push each other apart, divide (the mother rounds up and
brightens, two daughters separate), die (shrink and fade) and enter or leave the field of view;
they live on a torus larger than the image by a margin, so that cells leave on one side while
others come in. Whole cells (cytoplasm) move and divide as nuclei do, with protrusions, brightest
where they are thickest. Rod-shaped bacteria grow in length and divide at their middle, pushing
each other into colonies (`_Colony`). Images are fluorescence (bright cells) or phase contrast
(dark cells in bright halos), with a background gradient and unevenness, blur, photobleaching and
Poisson-Gaussian noise. Ground truth follows the CTC ``man_track`` conventions.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ..io.tables import DIVISIONS_COLUMNS, empty_divisions, validate_tables
from .sim_rods import relax

if TYPE_CHECKING:
    from ..io.result import TrackingResult

FloatArray = npt.NDArray[np.float64]
Floats = npt.NDArray[np.floating[Any]]  # float32 in rendering
IntArray = npt.NDArray[np.int64]

__all__ = ["PRESETS", "SimConfig", "SimulatedSequence", "simulate"]


@dataclass(frozen=True)
class SimConfig:
    """All knobs. Lengths in pixels, times in frames, intensities in output units."""

    n_frames: int = 24
    """Number of frames T."""
    height: int = 128
    """Image height H (px)."""
    width: int = 128
    """Image width W (px)."""
    dtype: Literal["uint8", "uint16"] = "uint8"
    """Pixel type of the frames (values are rounded and clipped to its range)."""

    body: Literal["nucleus", "rod", "cytoplasm"] = "nucleus"
    """What a cell is. nucleus: a textured irregular ellipse that rounds up to divide. cytoplasm:
    a whole cell, shaped and moving as a nucleus, with `protrusions`, brightest at its middle and
    dim at its edges (as thick as it is bright). rod: a bacterium, a capsule of constant width that
    grows in length and divides at its middle into two rods end to end on its axis; rods push each
    other into colonies and neither round up, die nor wander in from outside (`_Colony`)."""

    density: float = 0.15
    """Fraction of the field covered by cells at the first frame (rods: by their colonies'
    founders, at least one)."""
    diameter: float = 14.0
    """Mean equivalent-circle diameter of a grown cell (px); of a rod of the mean aspect at
    division."""
    diameter_cv: float = 0.15
    """Coefficient of variation of the diameter between cells."""
    aspect: tuple[float, float] = (1.0, 1.4)
    """Range (min, max) of the major/minor axis ratio, drawn uniformly per cell; for rods, of
    the length at which a rod divides over its width (min >= 2)."""
    irregularity: float = 0.04
    """Amplitude of the boundary's 2nd-4th harmonics, as a fraction of the radius."""
    protrusions: float = 0.0
    """Mean number of thin tapering protrusions per cell (Poisson, at most _SPIKES), each
    reaching _SPIKE_LENGTH radii beyond the boundary; they retract as a mother rounds up."""

    speed: float = 0.15
    """Mean random-walk step per frame, in cell diameters."""
    persistence: float = 0.3
    """Correlation of a cell's random-walk velocity from one frame to the next, in [0, 1)."""
    drift: tuple[float, float] = (0.0, 0.0)
    """Displacement (dy, dx) shared by all cells, px per frame."""
    jitter: float = 0.0
    """Standard deviation (px, per axis) of a random displacement shared by all cells each
    frame: an unsteady stage."""
    rotation: float = 0.05
    """Standard deviation of the orientation change per frame (rad)."""
    contact: float = 0.9
    """Crowding: centres are pushed apart to at least ``contact * (r_i + r_j)``."""
    gap: float = 0.0
    """Rods: their segments are pushed apart to at least ``(contact + gap) * (r_i + r_j)``, so
    that pressed rods leave ``contact + gap - 1`` of their widths between them (above 1). In
    phase contrast that room is a seam lighter than the rods and darker than a colony's edge
    (`seam_halo`)."""
    seam_halo: float = 1.0
    """Phase contrast: the share of the halo that the gaps between pressed rods get, against
    a colony's edge (`_render`): 1 lights them as the edge is lit, 0 leaves them unlit."""

    division_rate: float = 0.02
    """Divisions per cell per frame (steady state); 0 disables divisions. Rods grow by
    ``2 ** division_rate`` per frame."""
    min_cycle: int = 8
    """Frames after its birth before a cell can enter mitosis; daughters grow for as long."""
    mitosis_frames: int = 3
    """Frames in which the mother rounds up and brightens before its daughters appear."""
    mitosis_brightening: float = 0.6
    """Relative brightness gain of a mother at the end of mitosis (daughters start as bright)."""
    anaphase_frames: int = 2
    """Last frames of mitosis in which the mother is seen as two lobes along the division
    axis, after a frame as a plate across it (`_ANAPHASE`, `_METAPHASE`). She is still one
    cell (one track, one marker over both lobes), as in the CTC's ground truth: her daughters'
    tracks begin the frame after. 0: she is seen whole to the end."""
    birth_spacing: float = 1.3
    """Distance between the daughters' centres in their first frame, in daughter diameters
    (the median where `birth_spacing_sigma` spreads it): from their first frame they are two
    objects, as in Fluo-N2DH-SIM+/02, where the least intensity between them is a median 0.09
    of the dimmer one's (`training/measure_lobes.py`; 0.31 at 1.1 daughter diameters, where the
    simulator's daughters touch)."""
    birth_spacing_sigma: float = 0.0
    """Spread of the daughters' spacing, drawn per division from a log-normal about
    `birth_spacing` with this sigma (at most 2 diameters); 0: every pair at `birth_spacing`.
    Fluo-N2DH-SIM+/02's births lie 0.79-1.68 daughter diameters apart (10th-90th percentile,
    median 1.15; 6 of 44 under 0.8, touching): about a log-normal of sigma 0.3. Daughters born
    closer than `contact` allows are pressed against each other (`_World._press`)."""
    death_rate: float = 0.0
    """Deaths per cell per frame."""
    death_frames: int = 4
    """Frames a dying cell takes to shrink and fade out (>= 2)."""

    modality: Literal["fluorescence", "phase"] = "fluorescence"
    """fluorescence: cells brighter than the background. phase: phase contrast, cells darker than
    the background, each in a bright `halo`."""
    halo: float = 0.0
    """Phase contrast: brightness of the halo, the cells' signal spread over `halo_width`
    where it exceeds their own (around each cell and in the gaps between cells, less in those
    between pressed rods: `seam_halo`), in units of that signal."""
    halo_width: float = 0.25
    """Standard deviation of the halo's spread, in cell diameters."""
    background: float = 10.0
    """Mean background level."""
    background_gradient: float = 0.3
    """Relative change of the background across the field, along a random direction."""
    background_texture: float = 0.0
    """Relative standard deviation of a smooth random unevenness of the background, of grain
    _BG_GRAIN diameters (uneven illumination, an agar pad), the same in every frame."""
    contrast: float = 60.0
    """Mean cell signal at the first frame: above the background in fluorescence, below it in
    phase contrast (before the halo)."""
    brightness_cv: float = 0.3
    """Coefficient of variation of the brightness between nuclei (log-normal)."""
    texture: float = 0.2
    """Relative amplitude (standard deviation) of the intra-nuclear texture."""
    texture_grain: float = 0.08
    """Grain size of the texture, as a fraction of the nucleus diameter."""
    spots: float = 1.5
    """Mean number of spots (nucleoli or chromatin foci) per nucleus."""
    spot_contrast: float = -0.5
    """Relative intensity of a spot: < 0 dark nucleoli, > 0 bright foci."""
    blur: float = 1.0
    """Standard deviation of the Gaussian point spread function (px)."""
    snr: float = 8.0
    """Contrast over the background noise standard deviation, at the first frame (CTC SNR)."""
    poisson_fraction: float = 0.5
    """Share of the background noise variance that is shot noise (the rest is read noise)."""
    bleach: float = 0.002
    """Photobleaching: nucleus signal decays as ``exp(-bleach * t)``."""

    marker_scale: float = 0.5
    """Tracking markers are the nucleus ellipse with semi-axes scaled by this factor."""

    def __post_init__(self) -> None:
        checks = {
            "n_frames >= 1": self.n_frames >= 1,
            "height, width >= 8": min(self.height, self.width) >= 8,
            "dtype is uint8 or uint16": self.dtype in ("uint8", "uint16"),
            "body is nucleus, rod or cytoplasm": self.body in ("nucleus", "rod", "cytoplasm"),
            "modality is fluorescence or phase": self.modality in ("fluorescence", "phase"),
            "0 <= density < 0.7": 0 <= self.density < 0.7,
            "diameter >= 2": self.diameter >= 2,
            "1 <= aspect[0] <= aspect[1]": 1 <= self.aspect[0] <= self.aspect[1],
            "aspect[0] >= 2 for rods": self.body != "rod" or self.aspect[0] >= 2,
            "0 <= persistence < 1": 0 <= self.persistence < 1,
            "0 < contact <= 1": 0 < self.contact <= 1,
            "gap only for rods": self.gap == 0 or self.body == "rod",
            "contact + gap > 1 where gap > 0": self.gap == 0 or self.contact + self.gap > 1,
            "0 <= seam_halo <= 1": 0 <= self.seam_halo <= 1,
            "division_rate * min_cycle < 1": self.division_rate * self.min_cycle < 1,
            "mitosis_frames >= 1": self.mitosis_frames >= 1,
            "0 <= anaphase_frames <= mitosis_frames": 0
            <= self.anaphase_frames
            <= self.mitosis_frames,
            "0 < birth_spacing <= 2": 0 < self.birth_spacing <= 2,
            "birth_spacing_sigma >= 0": self.birth_spacing_sigma >= 0,
            "death_frames >= 2": self.death_frames >= 2,
            "snr > 0": self.snr > 0,
            "0 <= poisson_fraction <= 1": 0 <= self.poisson_fraction <= 1,
            "0 < marker_scale <= 1": 0 < self.marker_scale <= 1,
            "halo_width > 0": self.halo_width > 0,
        }
        nonneg = ("diameter_cv", "irregularity", "protrusions", "speed", "jitter", "rotation",
                  "division_rate", "min_cycle", "death_rate", "gap", "halo", "background",
                  "background_texture", "contrast", "brightness_cv", "texture", "texture_grain",
                  "spots", "blur", "bleach")  # fmt: skip
        checks |= {f"{name} >= 0": getattr(self, name) >= 0 for name in nonneg}
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid SimConfig: {', '.join(failed)}")

    @property
    def polarity(self) -> Literal["bright", "dark"]:
        """How the cells stand out of the background: phase contrast renders them dark."""
        return "dark" if self.modality == "phase" else "bright"


PRESETS: dict[str, SimConfig] = {
    # Tiny, for tests and the demo: about 15 cells in view, a few divisions.
    "small": SimConfig(),
    # Fluo-N2DH-GOWT1: large dim nuclei of very unequal brightness with dark nucleoli, slow.
    "gowt1": SimConfig(
        n_frames=92,
        height=1024,
        width=1024,
        dtype="uint8",
        density=0.08,
        diameter=64.0,
        diameter_cv=0.15,
        aspect=(1.0, 1.35),
        irregularity=0.03,
        speed=0.055,
        persistence=0.2,
        rotation=0.03,
        division_rate=0.0005,
        min_cycle=20,
        mitosis_frames=3,
        mitosis_brightening=0.6,
        background=0.6,
        background_gradient=0.5,
        contrast=18.0,
        brightness_cv=1.0,
        texture=0.35,
        texture_grain=0.04,
        spots=1.5,
        spot_contrast=-0.6,
        blur=1.2,
        snr=9.0,
        poisson_fraction=0.5,
        bleach=0.0015,
    ),
    # Fluo-N2DH-SIM+: irregular HL60 nuclei with bright foci, many divisions, flat background.
    "simplus": SimConfig(
        n_frames=150,
        height=773,
        width=739,
        dtype="uint16",
        density=0.025,
        diameter=50.0,
        diameter_cv=0.12,
        aspect=(1.0, 1.5),
        irregularity=0.12,
        speed=0.08,
        persistence=0.3,
        rotation=0.08,
        division_rate=0.019,
        min_cycle=25,
        mitosis_frames=4,
        mitosis_brightening=1.0,
        background=94.0,
        background_gradient=0.0,
        contrast=10.0,
        brightness_cv=0.7,
        texture=0.5,
        texture_grain=0.08,
        spots=4.0,
        spot_contrast=1.5,
        blur=2.0,
        snr=2.9,
        poisson_fraction=0.2,
        bleach=0.001,
    ),
    # Dense, fast, often dividing and dying, drifting cells at low SNR.
    "hard": SimConfig(
        n_frames=48,
        height=384,
        width=384,
        dtype="uint16",
        density=0.35,
        diameter=18.0,
        diameter_cv=0.2,
        aspect=(1.0, 1.8),
        irregularity=0.08,
        speed=0.3,
        persistence=0.5,
        drift=(0.5, 1.0),
        rotation=0.1,
        division_rate=0.03,
        min_cycle=8,
        mitosis_frames=3,
        mitosis_brightening=0.5,
        death_rate=0.004,
        death_frames=4,
        background=100.0,
        background_gradient=0.4,
        contrast=40.0,
        brightness_cv=0.6,
        texture=0.25,
        texture_grain=0.1,
        spots=2.0,
        spot_contrast=0.6,
        blur=1.5,
        snr=3.0,
        poisson_fraction=0.5,
        bleach=0.004,
    ),
    # Ecoli-PhC-colony/01 (E. coli on agar, phase contrast): rods in growing colonies, dark in
    # bright halos on an uneven gray background, the stage jittering. Figures real / simulated
    # by training/measure_modality.py (seed 0; raw intensities, medians over frames; the real
    # frames are contrast-stretched one by one, their cells clipped to black):
    #   cells in frames 0, 15, 29: 2, 8, 32 / 2, 8, 33; divisions 30 / 31
    #   cycle (frames, median and range): 7.5, 5-12 / 7, 4-10
    #   step (px per frame, median and 90th percentile): 6.4, 15.7 / 6.6, 11.0
    #   rod length x width (whole-cell markers' moments, px): 82.6 x 17.4 / 80.0 x 17.5
    #   background level, unevenness at 16 px: 80.5, 0.17 / 82, 0.19
    #   noise standard deviation: 5.2 / 5.2
    #   cell interior minus background: -75 / -80 (scaled as the model sees it: -0.30 / -0.42)
    #   halo (1-6 px outside the cells) minus background, mean and 95th pct: 84, 174 / 113, 173;
    #   10-25 px outside: 48 / 23 (a narrower halo, 0.15 diameters, gave -16)
    #   neighbour gap (to the nearest other marker within 12 px, median): 2.8 / 2.8
    #   seam between touching cells minus background: -17 / -18 (lit as the colony's edge, with
    #   rods pressed without a gap: +123)
    "phase_bacteria": SimConfig(
        n_frames=30,
        height=1305,
        width=1009,
        dtype="uint8",
        body="rod",
        density=0.002,
        diameter=44.0,
        diameter_cv=0.05,
        aspect=(5.2, 8.4),
        irregularity=0.0,
        speed=0.04,
        persistence=0.0,
        jitter=5.0,
        rotation=0.02,
        contact=1.0,
        gap=0.15,
        division_rate=0.15,
        min_cycle=3,
        modality="phase",
        halo=2.6,
        halo_width=0.3,
        seam_halo=0.4,
        background=80.0,
        background_gradient=0.2,
        background_texture=0.2,
        contrast=220.0,
        brightness_cv=0.1,
        texture=0.1,
        texture_grain=0.1,
        spots=0.0,
        blur=1.5,
        snr=42.0,
        poisson_fraction=0.5,
        bleach=0.0,
        marker_scale=1.0,
    ),
    # Fluo-C2DL-MSC/02 (rat mesenchymal stem cells, cytoplasm GFP): few large, elongated,
    # irregular cells with long protrusions, brightest at their middle, dim, fast, at low SNR;
    # markers nearly whole cells, as in its ground truth. Figures real / simulated by
    # training/measure_modality.py (seed 0; with so few cells they vary from seed to seed):
    #   cells in frames 0, 24, 47: 5, 6, 3 / 6, 5, 4; no divisions
    #   step (px per frame, median and 90th percentile): 42, 104 / 46, 89
    #   cell at half contrast: diameter, elongation, solidity: 112, 4.1, 0.75 / 104, 3.4, 0.71
    #   marker length x width (moments, px): 210 x 58 / 175 x 55
    #   background level, unevenness at 16 px: 8704, 0.014 / 8800, 0.016
    #   noise standard deviation: 1610 / 1631
    #   cell interior minus background, over the noise (SNR): 6194, 4.4 / 7324, 4.1
    #   fringe (1-6 px outside the markers) minus background: 4472 / 4135
    "cytoplasm": SimConfig(
        n_frames=48,
        height=782,
        width=1200,
        dtype="uint16",
        body="cytoplasm",
        density=0.05,
        diameter=120.0,
        diameter_cv=0.3,
        aspect=(2.0, 4.5),
        irregularity=0.12,
        protrusions=2.5,
        speed=0.42,
        persistence=0.6,
        rotation=0.1,
        division_rate=0.0,
        background=8700.0,
        background_gradient=0.05,
        background_texture=0.02,
        contrast=8300.0,
        brightness_cv=0.8,
        texture=0.3,
        texture_grain=0.1,
        spots=1.0,
        spot_contrast=0.8,
        blur=2.0,
        snr=5.1,
        poisson_fraction=0.3,
        bleach=0.002,
        marker_scale=0.9,
    ),
    # Mammalian cells in phase contrast (the look of the CTC's PhC-C2DH-U373: spread,
    # irregular, slow cells, dark in bright halos on an even grey). No such sequence is in
    # ../shared/data to measure against: the figures are read off the CTC's published examples.
    "phase_cells": SimConfig(
        n_frames=40,
        height=520,
        width=696,
        dtype="uint8",
        body="cytoplasm",
        density=0.12,
        diameter=60.0,
        diameter_cv=0.25,
        aspect=(1.3, 3.0),
        irregularity=0.15,
        protrusions=1.0,
        speed=0.08,
        persistence=0.5,
        rotation=0.05,
        division_rate=0.01,
        modality="phase",
        halo=1.2,
        halo_width=0.1,
        background=120.0,
        background_gradient=0.1,
        background_texture=0.05,
        contrast=45.0,
        brightness_cv=0.2,
        texture=0.3,
        texture_grain=0.1,
        spots=0.0,
        blur=1.5,
        snr=8.0,
        poisson_fraction=0.3,
        bleach=0.0,
        marker_scale=0.9,
    ),
    # A confluent monolayer: whole cells (cytoplasm stained) touching on every side, slow,
    # dividing now and then.
    "confluent": SimConfig(
        n_frames=40,
        height=512,
        width=512,
        dtype="uint16",
        body="cytoplasm",
        density=0.6,
        diameter=40.0,
        diameter_cv=0.2,
        aspect=(1.0, 1.8),
        irregularity=0.1,
        speed=0.04,
        persistence=0.3,
        division_rate=0.02,
        background=500.0,
        background_gradient=0.1,
        contrast=1500.0,
        brightness_cv=0.4,
        texture=0.3,
        texture_grain=0.1,
        spots=0.5,
        spot_contrast=0.5,
        blur=1.5,
        snr=6.0,
        poisson_fraction=0.5,
        bleach=0.002,
        marker_scale=0.8,
    ),
}
# The phase_cells in brightfield: faint, textured bodies with a thin bright fringe, on an
# unevenly lit field (no shared sequence to measure against either).
PRESETS["brightfield"] = dataclasses.replace(
    PRESETS["phase_cells"],
    halo=0.3,
    halo_width=0.05,
    background=140.0,
    background_gradient=0.3,
    background_texture=0.08,
    contrast=18.0,
    brightness_cv=0.3,
    texture=0.5,
    texture_grain=0.08,
    blur=1.2,
    snr=4.0,
)


@dataclass(frozen=True, eq=False)
class SimulatedSequence:
    """A simulated sequence and its exact ground truth."""

    frames: npt.NDArray[Any] = field(repr=False)
    """Images (T, H, W) in the configured dtype."""
    markers: npt.NDArray[np.uint16] = field(repr=False)
    """Tracking markers (T, H, W): one blob inside each visible nucleus, label = track id."""
    tracks: pd.DataFrame = field(repr=False)
    """track_id, t, y, x (exact nucleus centre), visibility; sorted by (track_id, t)."""
    lineage: pd.DataFrame = field(repr=False)
    """track_id, start, end (inclusive), parent_id (0 = none): CTC man_track semantics."""
    divisions: pd.DataFrame = field(repr=False)
    """parent_id, t (first frame of the daughters), daughter_a, daughter_b, score, status."""
    track_info: pd.DataFrame = field(repr=False)
    """track_id, origin (initial | division | entered), fate (division | death | exit | end)."""
    config: SimConfig
    seed: int

    def to_result(self) -> TrackingResult:
        """The ground truth as a TrackingResult."""
        from ..io.result import TrackingResult

        return TrackingResult(
            self.tracks,
            self.lineage,
            self.divisions,
            shape=self.frames.shape,
            metadata={
                "source": "cellpoint.sim",
                "seed": self.seed,
                "diameter": self.config.diameter,
            },
        )

    def cell_snr(self) -> pd.DataFrame:
        """track_id, t, snr of every visible cell: the mean of its noise-free signal above the
        background inside its marker (negative for cells darker than it, in phase contrast),
        over the frame's noise standard deviation (contrast / snr), the CTC's SNR measured cell
        by cell.

        The signal comes from rendering the same seed twice more without noise (motion and
        imaging draw from separate streams), once without cells for the background.
        """
        quiet = {"snr": 1e9, "poisson_fraction": 0.0, "dtype": "uint16"}
        clean = simulate(self.config, self.seed, **quiet).frames.astype(np.float64)
        clean -= simulate(self.config, self.seed, contrast=1e-9, **quiet).frames
        noise_sd = self.config.contrast / self.config.snr
        rows = []
        for t, (signal, marker) in enumerate(zip(clean, self.markers, strict=True)):
            labels = np.unique(marker[marker > 0])
            means = np.asarray(ndi.mean(signal, marker, labels) if labels.size else [], float)
            rows.append(pd.DataFrame({"track_id": labels.astype(np.int64), "t": t,
                                      "snr": means / noise_sd}))  # fmt: skip
        return pd.concat(rows, ignore_index=True)

    def write_ctc(self, folder: str | os.PathLike[str], seq_name: str = "01") -> Path:
        """Write a CTC sequence with its tracking ground truth; return the sequence folder.

        Frames go to ``<folder>/<seq_name>/t000.tif ...``, markers to
        ``<folder>/<seq_name>_GT/TRA/man_track000.tif ...`` with ``man_track.txt``.
        """
        from ..io.ctc import write_res_track, write_stack

        sequence = Path(folder) / seq_name
        truth = Path(folder) / f"{seq_name}_GT" / "TRA"
        write_stack(self.frames, sequence, "t")
        write_stack(self.markers, truth, "man_track")
        write_res_track(self.lineage, truth / "man_track.txt")
        return sequence


def simulate(
    config: SimConfig | str = "small", seed: int = 0, **overrides: Any
) -> SimulatedSequence:
    """Simulate a sequence from a config or preset name, with fields overridden by keyword."""
    if isinstance(config, str):
        try:
            config = PRESETS[config]
        except KeyError:
            raise ValueError(f"unknown preset {config!r}; choose from {sorted(PRESETS)}") from None
    cfg = dataclasses.replace(config, **overrides)
    dyn_seq, look_seq, noise_seq = np.random.SeedSequence(seed).spawn(3)
    kind = _Colony if cfg.body == "rod" else _World
    world = kind(cfg, np.random.default_rng(dyn_seq), np.random.default_rng(look_seq))
    history = world.run()
    tracks, lineage, divisions, info, labels = _ground_truth(cfg, history)
    frames, markers = _render(cfg, history, labels, np.random.default_rng(noise_seq))
    return SimulatedSequence(frames, markers, tracks, lineage, divisions, info, cfg, seed)


# --- dynamics ---------------------------------------------------------------------------------

_TEX_GRID = 32
_TEX_EXTENT = 1.3  # the texture patch spans [-extent, extent] in units of the semi-axes
_ROUND_UP = 0.15  # a mother's radius shrinks by this fraction as it rounds up


@dataclass(frozen=True)
class _Stage:
    """A mother's look in one frame of her mitosis: her body's (or each of her two lobes')
    semi-axes along and across her daughters' axis, her lobes' centres either side of her middle
    (0: one body), all in her daughters' spacing at their birth, and her brightness over theirs."""

    along: float
    across: float
    reach: float
    gain: float


# Her last three frames as Fluo-N2DH-SIM+/02 shows them (`training/measure_lobes.py`, medians
# of its 44 divisions, the simulator's on simplus seeds 10008 and 11008 in brackets): in
# metaphase a plate across the axis, 2.3 (2.1) times as bright as her daughters will be; then two
# condensed lobes 0.71 (0.67) of the daughters' spacing apart, 1.9 (2.0) times as bright, a gap
# between them (dip 0.13, 0.01); in her last frame the lobes swell (0.56 across, 0.35 along;
# 0.54, 0.32) and dim (1.3, 1.3), closer to touching (dip 0.33, 0.21). The simulator's edges
# are sharper than SIM+'s, so its gaps read deeper. Sizes here are drawn semi-axes; gains are
# over her daughters' brightness at birth, before texture.
_METAPHASE = _Stage(along=0.17, across=0.43, reach=0.0, gain=2.45)
_ANAPHASE = (  # from her first anaphase frame to her last
    _Stage(along=0.18, across=0.34, reach=0.34, gain=2.05),
    _Stage(along=0.29, across=0.43, reach=0.34, gain=0.97),
)
_PARTING = (0.8, 1.05)  # range of a mother's lobes' reach over _ANAPHASE's: some touch
# Daughters born closer than `contact` lets two discs lie are flattened against each other
# along their axis and part over the next frames. Fluo-N2DH-SIM+/02's three closest births
# (0.36-0.41 cell diameters apart; elongation 1.5-2.5, major axis 58-88 degrees off the
# division axis) stay under 0.6 cell diameters apart for 3-6 frames, growing about 0.05 a frame.
_UNPRESS = 0.06  # per frame, to a pressed daughter's squeeze (extent along the axis / radius)
_MIN_SQUEEZE = 0.5  # the flattest a pressed daughter is drawn: elongation 4
_DEATH_SHRINK = 0.5  # a dying cell's radius shrinks by this fraction until it has faded out
_MAX_COVER = 0.6  # fraction of the field covered by nuclei at which divisions stop
_SPIKES = 6  # protrusions per cell at most
_SPIKE_LENGTH = (0.5, 2.5)  # range of a protrusion's reach beyond the boundary, in radii
_SPIKE_WIDTH = (0.06, 0.16)  # range of its angular width at the base (rad): thin and tapering


@dataclass
class _Snapshot:
    """Geometry and intensity of every live cell at one frame (world coordinates)."""

    uid: IntArray
    y: FloatArray
    x: FloatArray
    a: FloatArray  # semi-axis along `angle`, the major one but in metaphase; a rod's half length
    b: FloatArray  # semi-axis across it; for a rod, its radius
    angle: FloatArray  # a's direction, radians from the x axis towards y
    amp: FloatArray  # signal above background, before bleaching
    tex_gain: FloatArray
    irregular: FloatArray  # scale of the boundary harmonics and protrusions
    # A mother in anaphase is drawn as two lobes centred `split` px either side of (y, x) along
    # `angle`, of semi-axes a - split along it and b across it; (a, b, angle) is then the
    # ellipse around both, her marker.
    split: FloatArray


@dataclass
class _History:
    snapshots: list[_Snapshot]
    divisions: list[tuple[int, int, int, int]]  # (first daughter frame, mother, daughter, daughter)
    deaths: dict[int, int]  # uid -> last frame
    # Per division: (first daughter frame, mother, axis angle, daughters' offset from her, px,
    # how far her lobes part against _ANAPHASE's), from which her last frames are drawn
    # (`_part_mothers`).
    splits: list[tuple[int, int, float, float, float]] = field(default_factory=list)
    # Appearance by uid, fixed for a cell's life: texture patch (in semi-axis units), complex
    # amplitudes of the boundary's harmonics 2, 3, 4, and protrusions (reach beyond the boundary
    # in radii times the direction, complex; a cell without protrusions has none or zeros) with
    # their angular widths.
    textures: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros((0, _TEX_GRID, _TEX_GRID), np.float32)
    )
    harmonics: npt.NDArray[np.complex128] = field(default_factory=lambda: np.zeros((0, 3), "c16"))
    spikes: npt.NDArray[np.complex128] = field(default_factory=lambda: np.zeros((0, 0), "c16"))
    spike_widths: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))


class _Cells:
    """Live cells as arrays, stepped frame by frame; subclasses give their shapes and motion.

    Every cell has a uid, a position (y, x), a random-walk velocity and an axis angle;
    `_fields` names all of a subclass's per-cell arrays, which are kept or dropped together.
    """

    _fields: tuple[str, ...] = ()
    uid: IntArray
    pos: FloatArray
    vel: FloatArray
    angle: FloatArray

    def __init__(self, cfg: SimConfig, rng: np.random.Generator, look_rng: np.random.Generator):
        self.cfg, self.rng, self.look_rng = cfg, rng, look_rng
        self.step_sd = cfg.speed * cfg.diameter / math.sqrt(math.pi / 2)  # per axis, from mean step
        self.next_uid = 0
        self.textures: list[npt.NDArray[np.float32]] = []
        self.harmonics: list[npt.NDArray[np.complex128]] = []
        self.spikes: list[npt.NDArray[np.complex128]] = []
        self.spike_widths: list[FloatArray] = []

    def step(self, t: int, history: _History) -> None:
        """Advance from frame t - 1 to frame t."""
        raise NotImplementedError

    def snapshot(self) -> _Snapshot:
        raise NotImplementedError

    def run(self) -> _History:
        history = _History([self.snapshot()], [], {})
        for t in range(1, self.cfg.n_frames):
            self.step(t, history)
            history.snapshots.append(self.snapshot())
        _part_mothers(history, self.cfg)
        if self.textures:
            history.textures = np.stack(self.textures)
            history.harmonics = np.stack(self.harmonics)
            history.spikes = np.stack(self.spikes)
            history.spike_widths = np.stack(self.spike_widths)
        return history

    def _lognormal(self, cv: float, n: int) -> FloatArray:
        """n factors of mean 1 and coefficient of variation cv."""
        sigma = math.sqrt(math.log1p(cv**2))
        factors: FloatArray = np.exp(self.rng.normal(-(sigma**2) / 2, sigma, n))
        return factors

    def _new_looks(self, n: int) -> None:
        """Texture patches, boundary harmonics and protrusions for n new cells."""
        cfg, rng, g = self.cfg, self.look_rng, _TEX_GRID
        grain = 2 * cfg.texture_grain * (g - 1) / (2 * _TEX_EXTENT)  # in grid steps
        noise = ndi.gaussian_filter(rng.standard_normal((n, g, g)), (0, grain, grain), mode="wrap")
        noise *= cfg.texture / np.maximum(noise.std(axis=(1, 2), keepdims=True), 1e-9)
        grid = np.linspace(-_TEX_EXTENT, _TEX_EXTENT, g)
        for tex in noise:
            for _ in range(rng.poisson(cfg.spots)):
                cy, cx = rng.uniform(-0.55, 0.55, 2)
                s = rng.uniform(0.1, 0.22)
                d2 = (grid[:, None] - cy) ** 2 + (grid[None, :] - cx) ** 2
                tex += cfg.spot_contrast * rng.uniform(0.6, 1.2) * np.exp(-d2 / (2 * s * s))
        self.textures.extend(noise.astype(np.float32))
        phase = np.exp(1j * rng.uniform(0, 2 * np.pi, (n, 3)))
        self.harmonics.extend(rng.normal(0, cfg.irregularity, (n, 3)) * phase)
        spikes, widths = np.zeros((n, 0), "c16"), np.zeros((n, 0))
        if cfg.protrusions > 0:
            grown = np.arange(_SPIKES) < rng.poisson(cfg.protrusions, n)[:, None]
            reach = rng.uniform(*_SPIKE_LENGTH, (n, _SPIKES)) * grown
            spikes = reach * np.exp(1j * rng.uniform(0, 2 * np.pi, (n, _SPIKES)))
            widths = rng.uniform(*_SPIKE_WIDTH, (n, _SPIKES))
        self.spikes.extend(spikes)
        self.spike_widths.extend(widths)

    def _keep(self, keep: npt.NDArray[np.bool_]) -> None:
        for name in self._fields:
            setattr(self, name, getattr(self, name)[keep])

    def _append(self, **arrays: npt.NDArray[Any]) -> None:
        """Add cells, given all their `_fields`."""
        for name, value in arrays.items():
            setattr(self, name, np.concatenate([getattr(self, name), value]))
        self._new_looks(arrays["uid"].size)

    def _born(self, t: int, history: _History, mothers: IntArray) -> IntArray:
        """Uids of two daughters per mother (pairs in a row), recorded as first seen at frame t."""
        k = mothers.size
        new_uid = self.next_uid + np.arange(2 * k, dtype=np.int64)
        self.next_uid += 2 * k
        history.divisions.extend(
            (t, int(m), int(a), int(b))
            for m, a, b in zip(self.uid[mothers], *new_uid.reshape(k, 2).T, strict=True)
        )
        return new_uid

    def _move(self, motility: FloatArray | float) -> None:
        """One frame of persistent random walk (scaled by motility), drift, jitter and turning."""
        cfg, rng = self.cfg, self.rng
        rho = cfg.persistence
        kick = rng.normal(0, self.step_sd, (self.uid.size, 2))
        self.vel = rho * self.vel + math.sqrt(1 - rho**2) * kick
        self.pos += self.vel * motility + np.asarray(cfg.drift, float)
        if cfg.jitter > 0:
            self.pos += rng.normal(0, cfg.jitter, 2)
        self.angle += rng.normal(0, cfg.rotation, self.uid.size)

    def _inset(self) -> FloatArray:
        """Signed distance of each centre inside the image rectangle (negative outside)."""
        h, w = self.cfg.height - 1, self.cfg.width - 1
        y, x = self.pos[:, 0], self.pos[:, 1]
        inset: FloatArray = np.minimum(np.minimum(y, h - y), np.minimum(x, w - x))
        return inset

    def _clear(self, extent: FloatArray) -> FloatArray:
        """How far from the image border a cell of this extent divides: far enough that both
        daughters are seen just when the mother was, whatever the next step."""
        cfg = self.cfg
        clear: FloatArray = (
            extent
            + 3 * math.sqrt(2) * self.step_sd
            + math.hypot(*cfg.drift)
            + 3 * math.sqrt(2) * cfg.jitter
        )
        return clear


class _World(_Cells):
    """Nuclei or whole cells on a torus around the image."""

    _fields = ("uid", "pos", "vel", "r_adult", "r_birth", "age", "aspect", "angle", "bright",
               "mitosis", "dying", "newborn", "squeeze", "sister")  # fmt: skip

    def __init__(self, cfg: SimConfig, rng: np.random.Generator, look_rng: np.random.Generator):
        super().__init__(cfg, rng, look_rng)
        r_mean = cfg.diameter / 2
        extent = r_mean * (1 + 3 * cfg.diameter_cv) * math.sqrt(cfg.aspect[1])
        extent *= 1 + 3 * cfg.irregularity
        if cfg.protrusions > 0:
            extent *= 1 + _SPIKE_LENGTH[1]
        self.margin = math.ceil(1.5 * extent) + 10  # no imaging knob may change the motion
        self.size = np.array([cfg.height, cfg.width], float) + 2 * self.margin
        self.hazard = cfg.division_rate / (1 - cfg.division_rate * cfg.min_cycle)
        self.growth = max(cfg.min_cycle, 1)  # frames a daughter takes to grow to adult size
        cycle = 1 / cfg.division_rate if cfg.division_rate > 0 else 0.0

        n = round(cfg.density * self.size.prod() / (math.pi * r_mean**2))
        self.uid = np.arange(n, dtype=np.int64)
        self.next_uid = n
        self.pos = rng.uniform(0, 1, (n, 2)) * self.size - self.margin
        self.vel = rng.normal(0, self.step_sd, (n, 2))
        self.r_adult = self._draw_radius(n)
        self.r_birth = self.r_adult / math.sqrt(2)
        self.age = np.floor(rng.uniform(0, cycle, n)).astype(np.int64)
        if cfg.division_rate == 0:
            self.r_birth = self.r_adult.copy()
        self.aspect = rng.uniform(*cfg.aspect, n)
        self.angle = rng.uniform(0, np.pi, n)
        self.bright = self._lognormal(cfg.brightness_cv, n)
        self.mitosis = np.zeros(n, np.int64)  # frames into mitosis, 0 = interphase
        self.dying = np.zeros(n, np.int64)  # frames into dying, 0 = healthy
        self.newborn = np.zeros(n, bool)  # daughters glow for the first mitosis_frames frames
        self.squeeze = np.ones(n)  # extent along the axis across `angle` over the radius (_press)
        self.sister = np.full(n, -1, np.int64)  # uid of the sister a pressed daughter touches
        self._new_looks(n)
        for _ in range(10):
            self._separate()

    def _draw_radius(self, n: int) -> FloatArray:
        return self.cfg.diameter / 2 * self._lognormal(self.cfg.diameter_cv, n)

    def _grown_radius(self) -> FloatArray:
        """Equivalent radius from growth alone (daughters are born with half the area)."""
        grown = np.minimum(self.age / self.growth, 1.0)
        radius: FloatArray = self.r_birth + (self.r_adult - self.r_birth) * grown
        return radius

    def _radius(self) -> FloatArray:
        """Current equivalent radius: growth, rounding up in mitosis, shrinking while dying."""
        cfg = self.cfg
        rounding = 1 - _ROUND_UP * self.mitosis / cfg.mitosis_frames
        return self._grown_radius() * rounding * (1 - _DEATH_SHRINK * self.dying / cfg.death_frames)

    def _separate(self) -> None:
        """Push overlapping nuclei apart (half the overlap each, a few relaxation sweeps); a
        pressed pair of sisters only as far as their squeezed extents along their axis."""
        r = self._radius()
        if r.size < 2:
            return
        reach = self.cfg.contact * 2 * float(r.max())
        for _ in range(6):
            tree = cKDTree(self.pos + self.margin, boxsize=self.size)
            i, j = tree.query_pairs(reach, output_type="ndarray").T
            d = self.pos[i] - self.pos[j]
            d -= self.size * np.round(d / self.size)
            dist = np.sqrt((d**2).sum(1))
            pressed = self.squeeze[i] * r[i] + self.squeeze[j] * r[j]
            extent = np.where(self.sister[i] == self.uid[j], pressed, r[i] + r[j])
            overlap = np.maximum(self.cfg.contact * extent - dist, 0)
            if not overlap.any():
                break
            push = (0.5 * overlap / np.maximum(dist, 1e-9))[:, None] * d
            for axis in range(2):
                self.pos[:, axis] += np.bincount(i, push[:, axis], r.size)
                self.pos[:, axis] -= np.bincount(j, push[:, axis], r.size)
            self._wrap()

    def _wrap(self) -> None:
        """Back onto the torus [-margin, size - margin)."""
        wrapped = np.mod(self.pos + self.margin, self.size)
        wrapped[wrapped >= self.size] = 0  # np.mod can round up to the period
        self.pos = wrapped - self.margin

    def snapshot(self) -> _Snapshot:
        cfg = self.cfg
        r = self._radius()
        p_mit = self.mitosis / cfg.mitosis_frames
        aspect = 1 + (self.aspect - 1) * (1 - p_mit)
        glow = np.where(self.newborn, np.maximum(1 - self.age / cfg.mitosis_frames, 0), p_mit)
        fade = 1 - self.dying / cfg.death_frames
        return _Snapshot(
            uid=self.uid.copy(),
            y=self.pos[:, 0].copy(),
            x=self.pos[:, 1].copy(),
            a=r * np.sqrt(aspect) / self.squeeze,
            b=r / np.sqrt(aspect) * self.squeeze,
            angle=self.angle.copy(),
            amp=cfg.contrast * self.bright * (1 + cfg.mitosis_brightening * glow) * fade,
            tex_gain=1 + p_mit,
            irregular=1 - p_mit,
            split=np.zeros(self.uid.size),
        )

    def _divide(self, t: int, history: _History) -> None:
        """Replace mothers at the end of mitosis by two daughters (first seen at frame t)."""
        cfg, rng = self.cfg, self.rng
        r = self._radius()
        inset = self._inset()
        # Away from the image border only, so both daughters are seen just when the mother was.
        ready = (self.mitosis == cfg.mitosis_frames) & (np.abs(inset) >= self._clear(r))
        mothers = np.flatnonzero(ready)
        if mothers.size == 0:
            return
        k = mothers.size
        r_birth = np.repeat(self._grown_radius()[mothers] / math.sqrt(2), 2)
        axis = rng.uniform(0, np.pi, k)
        spacing = np.full(k, cfg.birth_spacing)
        if cfg.birth_spacing_sigma > 0:  # no draw at 0, so a fixed spacing keeps its sequences
            spacing = np.minimum(2.0, spacing * np.exp(rng.normal(0, cfg.birth_spacing_sigma, k)))
        offset = (spacing * r_birth[::2])[:, None] * np.stack([np.sin(axis), np.cos(axis)], 1)
        pos = np.stack([self.pos[mothers] + offset, self.pos[mothers] - offset], 1).reshape(-1, 2)
        new_uid = self._born(t, history, mothers)
        spread = np.hypot(offset[:, 0], offset[:, 1])
        history.splits.extend(
            zip(
                [t] * k,
                self.uid[mothers].tolist(),
                axis.tolist(),
                spread.tolist(),
                self.look_rng.uniform(*_PARTING, k).tolist(),
                strict=True,
            )
        )
        self._append(
            uid=new_uid,
            pos=pos,
            vel=np.repeat(self.vel[mothers], 2, axis=0),
            r_adult=np.repeat(self.r_adult[mothers], 2) * np.exp(rng.normal(0, 0.1, 2 * k)),
            r_birth=r_birth,
            aspect=rng.uniform(*cfg.aspect, 2 * k),
            angle=rng.uniform(0, np.pi, 2 * k),
            bright=np.repeat(self.bright[mothers], 2) * np.exp(rng.normal(0, 0.1, 2 * k)),
        )
        self._keep(~np.isin(np.arange(self.uid.size), mothers))
        self._press(new_uid, np.repeat(axis, 2), np.repeat(spacing, 2))

    def _press(self, uid: IntArray, axis: FloatArray, spacing: FloatArray) -> None:
        """Flatten the daughters (`uid`, sisters in a row) born closer than `contact` allows
        discs against each other: each one's extent along the division `axis` shrinks to what
        their `spacing` (daughter diameters) leaves her, her area kept, her long axis across
        it. `_separate` keeps the pair that close, and `step` lets them round up and part."""
        squeeze = np.clip(spacing / self.cfg.contact, _MIN_SQUEEZE, 1.0)
        pressed = squeeze < 1
        if not pressed.any():
            return
        at = np.flatnonzero(np.isin(self.uid, uid[pressed]))  # born last, in uid order
        self.squeeze[at] = squeeze[pressed]
        self.angle[at] = axis[pressed] + np.pi / 2
        self.sister[at] = uid[pressed].reshape(-1, 2)[:, ::-1].ravel()

    def _append(self, **arrays: npt.NDArray[Any]) -> None:
        """Add newborn cells, given all their `_fields` but those of their state."""
        n = arrays["uid"].size
        arrays |= {
            "age": np.zeros(n, np.int64),
            "mitosis": np.zeros(n, np.int64),
            "dying": np.zeros(n, np.int64),
            "newborn": np.ones(n, bool),
            "squeeze": np.ones(n),
            "sister": np.full(n, -1, np.int64),
        }
        super()._append(**arrays)

    def step(self, t: int, history: _History) -> None:
        """Advance from frame t - 1 to frame t."""
        cfg, rng = self.cfg, self.rng
        self.age += 1
        self.squeeze = np.minimum(self.squeeze + _UNPRESS, 1.0)
        self.sister[self.squeeze == 1] = -1
        self._divide(t, history)
        self.dying[self.dying > 0] += 1
        gone = self.dying >= cfg.death_frames
        history.deaths.update((int(u), t - 1) for u in self.uid[gone])
        self._keep(~gone)

        n = self.uid.size
        healthy = (self.mitosis == 0) & (self.dying == 0)
        self.mitosis[self.mitosis > 0] = np.minimum(self.mitosis[self.mitosis > 0] + 1,
                                                    cfg.mitosis_frames)  # fmt: skip
        u_div, u_die = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
        # Contact inhibition: fewer divisions as nuclei fill the field, so crowding stays solvable.
        covered = math.pi * float((self._radius() ** 2).sum()) / float(self.size.prod())
        hazard = self.hazard * max(0.0, 1 - (covered / _MAX_COVER) ** 3)
        start = healthy & (self.age >= cfg.min_cycle) & (u_div < hazard)
        self.mitosis[start] = 1
        self.dying[healthy & ~start & (u_die < cfg.death_rate)] = 1
        self.newborn &= self.age < cfg.mitosis_frames

        motility = np.where(self.dying > 0, 0.2, np.where(self.mitosis > 0, 0.5, 1.0))
        self._move(motility[:, None])
        self._wrap()
        self._separate()


class _Colony(_Cells):
    """Rod-shaped bacteria on the plane around the image, growing into colonies.

    A rod is a capsule of constant width whose length grows by ``2 ** division_rate`` per frame
    up to its division length (`aspect` times its width, drawn at birth); it then divides at its
    middle into two rods end to end on its axis, half as long, once the image border leaves both
    daughters seen just where she was (until then it stops growing). Rods push each other apart
    (`sim_rods.relax`); those pushed beyond a margin around the image are dropped: they never
    come back.
    """

    _fields = ("uid", "pos", "vel", "angle", "radius", "length", "target", "age", "bright")

    def __init__(self, cfg: SimConfig, rng: np.random.Generator, look_rng: np.random.Generator):
        super().__init__(cfg, rng, look_rng)
        width = _rod_width(cfg)
        longest = cfg.aspect[1] * width
        self.margin = longest + 10
        self.growth = 2.0**cfg.division_rate

        n = round(cfg.density * cfg.height * cfg.width / (math.pi * cfg.diameter**2 / 4))
        n = max(n, 1) if cfg.density > 0 else 0  # a colony needs a founder, however small the field
        self.uid = np.arange(n, dtype=np.int64)
        self.next_uid = n
        # Founders lie a rod's length inside the image (in a small one, in its middle half),
        # so that their colonies grow in view.
        span = np.array([cfg.height - 1, cfg.width - 1], float)
        inset = np.minimum(longest, span / 4)
        self.pos = inset + rng.uniform(0, 1, (n, 2)) * (span - 2 * inset)
        self.vel = rng.normal(0, self.step_sd, (n, 2))
        self.angle = rng.uniform(0, np.pi, n)
        self.radius = width / 2 * self._lognormal(cfg.diameter_cv, n)
        self.target = self._draw_target(self.radius)
        # Founders at a random point of their cycle, born at half their division length.
        self.length = self.target / 2 * 2.0 ** rng.uniform(0, 1, n)
        self.age = np.full(n, cfg.min_cycle, np.int64)
        self.bright = self._lognormal(cfg.brightness_cv, n)
        self._new_looks(n)
        self._relax()

    def _draw_target(self, radius: FloatArray) -> FloatArray:
        """Division lengths of rods of these radii."""
        target: FloatArray = 2 * radius * self.rng.uniform(*self.cfg.aspect, radius.size)
        return target

    def _relax(self) -> None:
        half = np.maximum(self.length / 2 - self.radius, 0)
        contact = self.cfg.contact + self.cfg.gap
        self.pos, self.angle = relax(self.pos, self.angle, half, self.radius, contact)

    def snapshot(self) -> _Snapshot:
        n = self.uid.size
        return _Snapshot(
            uid=self.uid.copy(),
            y=self.pos[:, 0].copy(),
            x=self.pos[:, 1].copy(),
            a=self.length / 2,
            b=self.radius.copy(),
            angle=self.angle.copy(),
            amp=self.cfg.contrast * self.bright,
            tex_gain=np.ones(n),
            irregular=np.ones(n),
            split=np.zeros(n),
        )

    def _divide(self, t: int, history: _History) -> None:
        """Replace rods grown to their division length by two daughters (first seen at t)."""
        cfg = self.cfg
        ready = (self.length >= self.target) & (self.age >= cfg.min_cycle)
        mothers = np.flatnonzero(ready & (np.abs(self._inset()) >= self._clear(self.length / 2)))
        if mothers.size == 0:
            return
        new_uid = self._born(t, history, mothers)
        angle, centre = self.angle[mothers], self.pos[mothers]
        quarter = (self.length[mothers] / 4)[:, None] * np.stack([np.sin(angle), np.cos(angle)], 1)
        radius = np.repeat(self.radius[mothers], 2)
        bright = np.repeat(self.bright[mothers], 2) * np.exp(self.rng.normal(0, 0.1, radius.size))
        self._append(
            uid=new_uid,
            pos=np.stack([centre + quarter, centre - quarter], 1).reshape(-1, 2),
            vel=np.repeat(self.vel[mothers], 2, axis=0),
            angle=np.repeat(angle, 2),
            radius=radius,
            length=np.repeat(self.length[mothers] / 2, 2),
            target=self._draw_target(radius),
            age=np.zeros(radius.size, np.int64),
            bright=bright,
        )
        self._keep(~np.isin(np.arange(self.uid.size), mothers))

    def step(self, t: int, history: _History) -> None:
        self.age += 1
        self._divide(t, history)
        # A rod that waits at the image border to divide stops growing.
        self.length = np.minimum(self.length * self.growth, np.maximum(self.target, self.length))
        self._move(1.0)
        self._relax()
        near = self._inset() > -self.margin
        if not near.all():
            self._keep(near)


def _rod_width(cfg: SimConfig) -> float:
    """The width at which a rod of the mean aspect has the configured diameter at division."""
    aspect = sum(cfg.aspect) / 2
    return cfg.diameter * math.sqrt(math.pi / 4 / (aspect - 1 + math.pi / 4))


def _part_mothers(history: _History, cfg: SimConfig) -> None:
    """Draw each mother's last `anaphase_frames` frames as two lobes along her daughters' axis
    (_ANAPHASE) and, where her mitosis is longer, the frame before them as a plate across it
    (_METAPHASE). Without anaphase frames she is drawn whole to the end."""
    if cfg.anaphase_frames == 0:
        return
    frames = range(1, cfg.anaphase_frames + 1)  # before her daughters' first
    stages = [(k, _ANAPHASE[max(len(_ANAPHASE) - k, 0)]) for k in frames]
    if cfg.mitosis_frames > cfg.anaphase_frames:
        stages.append((cfg.anaphase_frames + 1, _METAPHASE))
    for t, mother, axis, spread, parting in history.splits:
        spacing = 2 * spread
        last = history.snapshots[t - 1]
        brightness = float(last.amp[np.flatnonzero(last.uid == mother)[0]])  # her daughters'
        for k, stage in stages:
            if t - k < 0:
                break
            snap = history.snapshots[t - k]
            (i,) = np.flatnonzero(snap.uid == mother)
            split = parting * stage.reach * spacing
            snap.split[i], snap.angle[i] = split, axis
            snap.a[i], snap.b[i] = split + stage.along * spacing, stage.across * spacing
            snap.amp[i] = stage.gain * brightness


def _bodies(snap: _Snapshot) -> tuple[_Snapshot, IntArray]:
    """The snapshot with each parting mother as her two lobes, and each body's cell index."""
    cell = np.repeat(np.arange(snap.uid.size), np.where(snap.split > 0, 2, 1))
    side = np.zeros(cell.size)
    parting = snap.split[cell] > 0
    side[parting] = np.tile([1.0, -1.0], int(parting.sum()) // 2)
    shift = side * snap.split[cell]
    bodies = _Snapshot(
        uid=snap.uid[cell],
        y=snap.y[cell] + shift * np.sin(snap.angle[cell]),
        x=snap.x[cell] + shift * np.cos(snap.angle[cell]),
        a=np.where(parting, snap.a[cell] - snap.split[cell], snap.a[cell]),
        b=snap.b[cell],
        angle=snap.angle[cell],
        amp=snap.amp[cell],
        tex_gain=snap.tex_gain[cell],
        irregular=snap.irregular[cell],
        split=np.zeros(cell.size),
    )
    return bodies, cell


# --- ground truth -----------------------------------------------------------------------------


def _ground_truth(
    cfg: SimConfig, history: _History
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, list[IntArray]]:
    """Tracks, lineage, divisions, track info, and per snapshot row its track id (0 = unseen)."""
    snaps = history.snapshots
    counts = [s.uid.size for s in snaps]
    uid = np.concatenate([s.uid for s in snaps])
    t = np.repeat(np.arange(len(snaps), dtype=np.int64), counts)
    y = np.concatenate([s.y for s in snaps])
    x = np.concatenate([s.x for s in snaps])
    seen = np.flatnonzero((y >= 0) & (y <= cfg.height - 1) & (x >= 0) & (x <= cfg.width - 1))
    order = seen[np.lexsort((t[seen], uid[seen]))]  # seen rows by cell, then frame
    u, tt = uid[order], t[order]
    # A track is a run of consecutive frames in which one cell is seen.
    new = np.ones(u.size, bool)
    new[1:] = (u[1:] != u[:-1]) | (tt[1:] != tt[:-1] + 1)
    ends = np.ones(u.size, bool)
    ends[:-1] = new[1:]
    first, last = np.flatnonzero(new), np.flatnonzero(ends)
    number = np.empty(first.size, np.int64)  # tracks are numbered by first frame, then cell
    number[np.lexsort((u[first], tt[first]))] = np.arange(1, first.size + 1)
    track = number[np.cumsum(new) - 1]
    label = np.zeros(uid.size, np.int64)
    label[order] = track
    labels = np.split(label, np.cumsum(counts)[:-1])

    ids = np.arange(1, first.size + 1, dtype=np.int64)
    cell, start, end = (np.empty_like(ids) for _ in range(3))
    cell[number - 1], start[number - 1], end[number - 1] = u[first], tt[first], tt[last]
    ending = dict(zip(zip(cell.tolist(), end.tolist(), strict=True), ids.tolist(), strict=True))
    starting = dict(zip(zip(cell.tolist(), start.tolist(), strict=True), ids.tolist(), strict=True))
    parent = np.zeros_like(ids)
    rows = []
    for t_div, mother, *daughters in history.divisions:
        m = ending.get((mother, t_div - 1))
        a, b = (starting.get((d, t_div)) for d in daughters)
        if m is not None and a is not None and b is not None:
            parent[[a - 1, b - 1]] = m
            rows.append((m, t_div, min(a, b), max(a, b), 1.0, "accepted"))

    by_track = np.argsort(track, kind="stable")
    tracks = pd.DataFrame(
        {
            "track_id": track[by_track],
            "t": tt[by_track],
            "y": y[order][by_track],
            "x": x[order][by_track],
            "visibility": np.ones(track.size, np.float32),
        }
    )
    lineage = pd.DataFrame({"track_id": ids, "start": start, "end": end, "parent_id": parent})
    divisions = pd.DataFrame(rows, columns=list(DIVISIONS_COLUMNS)) if rows else empty_divisions()
    tracks, lineage, divisions = validate_tables(tracks, lineage, divisions)

    divided = {(mother, t_div - 1) for t_div, mother, *_ in history.divisions}
    died = set(history.deaths.items())
    fate = []
    for key in zip(cell.tolist(), end.tolist(), strict=True):
        if key in divided:
            fate.append("division")
        elif key in died:
            fate.append("death")
        else:
            fate.append("end" if key[1] == cfg.n_frames - 1 else "exit")
    origin = np.where(start == 0, "initial", np.where(parent > 0, "division", "entered"))
    info = pd.DataFrame({"track_id": ids, "origin": origin, "fate": fate})
    return tracks, lineage, divisions, info, labels


# --- rendering --------------------------------------------------------------------------------

_DOME = 0.85  # a whole cell's brightness falls by this share from its middle to its edge
_BG_GRAIN = 4.0  # grain of the background's unevenness, in cell diameters
_BULGE_DIRECTIONS = 256  # directions in which a cell's protrusions are sized up


def _render(
    cfg: SimConfig, history: _History, labels: list[IntArray], rng: np.random.Generator
) -> tuple[npt.NDArray[Any], npt.NDArray[np.uint16]]:
    """Draw cells, blur (phase contrast: darken and add halos), add the background and
    Poisson-Gaussian noise; draw the markers."""
    height, width = cfg.height, cfg.width
    dtype = np.dtype(cfg.dtype)
    top = float(np.iinfo(dtype).max)
    if max((int(lab.max(initial=0)) for lab in labels), default=0) > np.iinfo(np.uint16).max:
        raise ValueError("more than 65535 tracks: markers are uint16")
    frames = np.empty((cfg.n_frames, height, width), dtype)
    markers = np.zeros((cfg.n_frames, height, width), np.uint16)

    direction = rng.uniform(0, 2 * np.pi)
    yy = np.arange(height, dtype=np.float32)[:, None] - (height - 1) / 2
    xx = np.arange(width, dtype=np.float32)[None, :] - (width - 1) / 2
    ramp = (yy * math.sin(direction) + xx * math.cos(direction)) / math.hypot(height, width)
    background = (cfg.background * (1 + cfg.background_gradient * ramp)).astype(np.float32)
    if cfg.background_texture > 0:
        grain = _BG_GRAIN * cfg.diameter
        background *= 1 + cfg.background_texture * _smooth_noise(rng, height, width, grain)

    # The closing that finds the seams between pressed rods: it closes a gap up to size - 1 px
    # wide, soft edges included (0: the seams are lit as a colony's edge is).
    seam_closing = 0
    if cfg.gap > 0 and cfg.seam_halo < 1:
        room = (cfg.contact + cfg.gap - 1) * _rod_width(cfg)  # px between pressed rods
        seam_closing = math.ceil(room) + 2

    def lit(canvas: Floats) -> Floats:
        """What the halo spreads from: the cells, with the gaps between pressed rods filled
        by 1 - `seam_halo` of the cells' signal, so that those seams are lit less than a
        colony's edge (in the real colony a seam is lighter than the rods and darker than the
        background)."""
        if seam_closing == 0:
            return canvas
        closed = ndi.grey_closing(canvas, size=(seam_closing, seam_closing))
        filled: Floats = canvas + (1 - cfg.seam_halo) * (closed - canvas)
        return filled

    noise_var = (cfg.contrast / cfg.snr) ** 2
    gain = cfg.poisson_fraction * noise_var / cfg.background if cfg.background > 0 else 0.0
    read_sd = math.sqrt(noise_var - gain * cfg.background)

    for t, cells in enumerate(history.snapshots):
        snap, _ = _bodies(cells)
        outline = _Outline(
            history.harmonics[snap.uid] * snap.irregular[:, None],
            history.spikes[snap.uid] * snap.irregular[:, None],
            history.spike_widths[snap.uid],
        )
        reach = np.maximum(snap.a, snap.b) * (1 + outline.bulge()) + 2  # beyond it, dark
        near = np.flatnonzero(
            (snap.y > -reach)
            & (snap.y < height - 1 + reach)
            & (snap.x > -reach)
            & (snap.x < width - 1 + reach)
        )
        pad = 2 * math.ceil(reach.max(initial=0)) + 2
        canvas = np.zeros((height + 2 * pad, width + 2 * pad), np.float32)
        if near.size:
            amp = snap.amp[near] * math.exp(-cfg.bleach * t)
            _draw_cells(canvas, pad, snap, near, amp, outline[near], history.textures, cfg.body)
        image = canvas[pad : pad + height, pad : pad + width]
        if cfg.blur > 0:
            image = ndi.gaussian_filter(image, cfg.blur, mode="nearest")
        if cfg.modality == "phase":
            filled = lit(canvas)
            spread = ndi.gaussian_filter(filled, cfg.halo_width * cfg.diameter) - filled
            halo = np.maximum(spread[pad : pad + height, pad : pad + width], 0)
            image = cfg.halo * halo - image
        image = image + background
        if gain > 0:
            image = (rng.poisson(np.maximum(image, 0) / gain) * gain).astype(np.float32)
        if read_sd > 0:
            image += read_sd * rng.standard_normal(image.shape, dtype=np.float32)
        frames[t] = np.clip(np.rint(image), 0, top)
        seen = np.flatnonzero(labels[t])
        if seen.size:
            _draw_markers(markers[t], cells, seen, labels[t][seen], cfg.marker_scale, cfg.body)
    return frames, markers


def _smooth_noise(rng: np.random.Generator, height: int, width: int, grain: float) -> Floats:
    """A smooth random field of mean 0 and standard deviation 1 over the image: white noise on
    a grid of step `grain` px, interpolated (cubic)."""
    step = max(grain, 1.0)
    coarse = rng.standard_normal((math.ceil(height / step) + 4, math.ceil(width / step) + 4))
    fine = ndi.zoom(coarse, step, order=3, mode="reflect", grid_mode=True)
    skip = 2 * round(step)  # the border, where the interpolation bends
    field: Floats = fine[skip : skip + height, skip : skip + width].astype(np.float32)
    field -= field.mean()
    field /= max(float(field.std()), 1e-9)
    return field


@dataclass
class _Outline:
    """Boundaries of some cells: complex amplitudes of their harmonics 2, 3, 4 (n x 3),
    protrusions (n x slots: reach in radii times direction) and their angular widths."""

    harm: npt.NDArray[np.complex128]
    spikes: npt.NDArray[np.complex128]
    widths: FloatArray

    def __getitem__(self, idx: IntArray) -> _Outline:
        return _Outline(self.harm[idx], self.spikes[idx], self.widths[idx])

    def bulge(self) -> FloatArray:
        """How far each boundary can reach beyond the unit circle: its harmonics at most, and
        its protrusions at their furthest (read off _BULGE_DIRECTIONS directions, since two
        may overlap)."""
        bulge: FloatArray = np.abs(self.harm).sum(1)
        if self.spikes.shape[1]:
            around = np.exp(2j * np.pi * np.arange(_BULGE_DIRECTIONS) / _BULGE_DIRECTIONS)
            reach = self._spiked(self.spikes[:, None], self.widths[:, None], around[:, None])
            bulge = bulge + reach.max(1)
        return bulge

    def edge(self, k: IntArray, w: Floats) -> Floats:
        """Radius of the boundary of cell k in each pixel's direction w = e^(i theta)."""
        w2 = w * w
        h = self.harm.astype(np.complex64)[k]
        edge: Floats = 1 + (h[:, 0] * w2 + h[:, 1] * w2 * w + h[:, 2] * w2 * w2).real
        if self.spikes.shape[1]:
            spikes, widths = self.spikes.astype(np.complex64)[k], self.widths.astype(np.float32)[k]
            edge = edge + self._spiked(spikes, widths, w[:, None])
        return edge

    @staticmethod
    def _spiked(spikes: npt.NDArray[Any], widths: npt.NDArray[Any], w: npt.NDArray[Any]) -> Floats:
        """How far protrusions (last axis) reach beyond the unit circle in directions w: each a
        von Mises bump of its angular width about its direction, summed."""
        reach = np.abs(spikes)
        towards = (w * spikes.conj()).real / np.maximum(reach, 1e-6)  # cos of the angle between
        out: Floats = (reach * np.exp((towards - 1) / widths**2)).sum(-1)
        return out


def _local_coords(
    y: FloatArray, x: FloatArray, a: FloatArray, b: FloatArray, angle: FloatArray, half: int
) -> tuple[IntArray, IntArray, Floats, Floats, Floats, Floats]:
    """Pixel windows of side 2 * half + 1 around each centre.

    Returns the windows' top-left pixels, the pixel offsets from the centres (dy: n x S x 1,
    dx: n x 1 x S) and the pixels' coordinates along the ellipses' axes in semi-axis units (u, v).
    """
    off = np.arange(-half, half + 1, dtype=np.float32)
    iy, ix = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    dy = ((iy - y).astype(np.float32)[:, None] + off)[:, :, None]
    dx = ((ix - x).astype(np.float32)[:, None] + off)[:, None, :]
    cos = np.cos(angle).astype(np.float32)[:, None, None]
    sin = np.sin(angle).astype(np.float32)[:, None, None]
    u = (dx * cos + dy * sin) / a.astype(np.float32)[:, None, None]
    v = (dy * cos - dx * sin) / b.astype(np.float32)[:, None, None]
    return iy - half, ix - half, dy, dx, u, v


def _radius2(u: Floats, v: Floats, a: FloatArray, b: FloatArray, body: str) -> Floats:
    """Squared distance of pixels from their cell's centre in units of its boundary, from their
    coordinates (u, v) along its axes in semi-axis units: an ellipse or, for rods, a capsule (a
    segment of half length a - b swept by a disc of radius b)."""
    if body != "rod":
        r2: Floats = u * u + v * v
        return r2
    a32, b32 = (s.astype(np.float32)[:, None, None] for s in (a, b))
    along = np.maximum(np.abs(u) * a32 - (a32 - b32), 0) / b32
    r2 = along * along + v * v
    return r2


def _draw_cells(
    canvas: npt.NDArray[np.float32],
    pad: int,
    snap: _Snapshot,
    idx: IntArray,
    amp: FloatArray,
    outline: _Outline,
    textures: npt.NDArray[np.float32],
    body: str,
) -> None:
    """Draw the cells idx of a snapshot, whose `outline` is given, into a canvas padded by pad
    pixels on every side."""
    a, b = snap.a[idx], snap.b[idx]
    bulge = outline.bulge()
    half = math.ceil(float((np.maximum(a, b) * (1 + bulge)).max())) + 2
    top, left, _, _, u, v = _local_coords(snap.y[idx], snap.x[idx], a, b, snap.angle[idx], half)
    rho = np.sqrt(_radius2(u, v, a, b, body))
    scale = b if body == "rod" else np.sqrt(a * b)  # px per unit of rho at the boundary
    # Shade only the pixels that can be lit: most of each window is dark.
    k, i, j = np.nonzero(rho < (1 + bulge + 0.5 / scale).astype(np.float32)[:, None, None])
    u, v, rho = u[k, i, j], v[k, i, j], rho[k, i, j]
    w = (u + 1j * v) / np.maximum(rho, 1e-6)  # e^(i theta)
    edge = outline.edge(k, w)
    inside = np.clip((edge - rho) * scale.astype(np.float32)[k] + 0.5, 0, 1)  # one-pixel soft edge
    tex = _sample(textures, snap.uid[idx][k], u, v)
    gain = snap.tex_gain[idx].astype(np.float32)[k]
    side = 2 * half + 1
    value = np.zeros((idx.size, side, side), np.float32)
    lit = amp.astype(np.float32)[k] * inside * np.maximum(1 + gain * tex, 0)
    if body == "cytoplasm":  # as bright as it is thick: a dome of mean 1 over an ellipse
        lit *= np.maximum(1 - _DOME * rho / edge, 0) / (1 - 2 * _DOME / 3)
    value[k, i, j] = lit
    for n, (y0, x0) in enumerate(zip((top + pad).tolist(), (left + pad).tolist(), strict=True)):
        window = canvas[y0 : y0 + side, x0 : x0 + side]
        np.maximum(window, value[n], out=window)


def _sample(patches: npt.NDArray[np.float32], cell: IntArray, u: Floats, v: Floats) -> Floats:
    """Bilinear lookup in the texture patch of each pixel's cell at normalised coordinates."""
    _, g, _ = patches.shape
    scale = (g - 1) / (2 * _TEX_EXTENT)
    gu = np.clip((u + _TEX_EXTENT) * scale, 0, g - 1.001)
    gv = np.clip((v + _TEX_EXTENT) * scale, 0, g - 1.001)
    i, j = gv.astype(np.intp), gu.astype(np.intp)
    fv, fu = gv - i, gu - j
    flat = patches.reshape(-1)
    at = cell * (g * g) + i * g + j
    upper = flat[at] * (1 - fu) + flat[at + 1] * fu
    lower = flat[at + g] * (1 - fu) + flat[at + g + 1] * fu
    result: Floats = upper * (1 - fv) + lower * fv
    return result


def _draw_markers(
    frame: npt.NDArray[np.uint16],
    snap: _Snapshot,
    idx: IntArray,
    labels: IntArray,
    scale: float,
    body: str,
) -> None:
    """Shrunk cell ellipses (rods: capsules), without protrusions, cut symmetrically at the
    border so that their centroids stay put."""
    height, width = frame.shape
    y, x = snap.y[idx], snap.x[idx]
    a, b = snap.a[idx] * scale, snap.b[idx] * scale
    extent = np.maximum(a, b)
    half = math.ceil(float(extent.max())) + 1
    top, left, dy, dx, u, v = _local_coords(y, x, a, b, snap.angle[idx], half)
    ry = (np.minimum(np.minimum(extent + 1, y), height - 1 - y) + 1e-6).astype(np.float32)
    rx = (np.minimum(np.minimum(extent + 1, x), width - 1 - x) + 1e-6).astype(np.float32)
    blob = (
        (_radius2(u, v, a, b, body) <= 1)
        & (np.abs(dy) <= ry[:, None, None])
        & (np.abs(dx) <= rx[:, None, None])
    )
    # The pixel nearest to the centre always belongs to the marker, however small the nucleus.
    blob[np.arange(idx.size), np.abs(dy[:, :, 0]).argmin(1), np.abs(dx[:, 0, :]).argmin(1)] = True
    pad = 2 * half + 2
    padded = np.zeros((height + 2 * pad, width + 2 * pad), np.uint16)
    side = 2 * half + 1
    for k, (y0, x0, label) in enumerate(
        zip((top + pad).tolist(), (left + pad).tolist(), labels.tolist(), strict=True)
    ):
        window = padded[y0 : y0 + side, x0 : x0 + side]
        window[blob[k] & (window == 0)] = label
    frame[:] = padded[pad : pad + height, pad : pad + width]
