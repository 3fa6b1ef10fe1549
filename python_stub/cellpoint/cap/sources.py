"""Where training windows come from: the simulator (endless, exact) and the real CTC
sequences in ../shared/data (a training time range and a held-out one)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..engine.preprocess import CANONICAL_DIAMETER
from ..eval.heldout import data_dir, real_sequences, training_frames
from ..eval.sim import PRESETS, simulate
from ..io.result import TrackingResult
from .data import Source

SIM_BASES = ("gowt1", "simplus", "hard", "small")


def real_training_sources() -> list[Source]:
    """The shared sequences present, limited to their training frames."""
    root = data_dir()
    if root is None:
        return []
    out = []
    for real in real_sequences(root):
        gt = TrackingResult.from_ctc(real.sequence)
        t_range = (0, training_frames(real.frames.shape[0]))
        out.append(
            Source(
                real.name,
                real.frames,
                gt.tracks,
                gt.lineage,
                real.spec.diameter,
                t_range,
                real.spec.polarity,
            )
        )
    return out


def sim_source(
    rng: np.random.Generator, crop: int, frames: int, bases: tuple[str, ...] = SIM_BASES
) -> Source:
    """A simulated sequence around one of the `bases` presets (a name twice is drawn twice as
    often), knobs jittered, sized to the crop.

    It is simulated directly near the model's scale (lengths in pixels rescaled), which costs
    a fraction of simulating a large field and then shrinking it.
    """
    base = PRESETS[str(rng.choice(bases))]
    diameter = CANONICAL_DIAMETER * float(np.exp(rng.uniform(-0.2, 0.2)))
    shrink = diameter / base.diameter
    side = int(np.ceil(crop * 1.3))
    density = min(0.5, base.density * float(np.exp(rng.uniform(-0.5, 0.7))))
    if base.body == "rod":  # from a few founders to a packed colony, as a colony grows
        density = float(np.exp(rng.uniform(np.log(base.density), np.log(0.3))))
    else:  # daughters born as far apart as SIM+/02's: touching ones too (`birth_spacing_sigma`)
        base = dataclasses.replace(base, birth_spacing=1.15, birth_spacing_sigma=0.3)
    cfg = dataclasses.replace(
        base,
        n_frames=frames,
        height=side,
        width=side,
        diameter=diameter,
        blur=base.blur * shrink,
        drift=(base.drift[0] * shrink, base.drift[1] * shrink),
        jitter=base.jitter * shrink,
        density=density,
        speed=base.speed * float(np.exp(rng.uniform(-0.5, 0.8))),
        division_rate=min(0.9 / base.min_cycle, max(base.division_rate, 0.01) * 2),
        snr=base.snr * float(np.exp(rng.uniform(-0.4, 0.4))),
    )
    seed = int(rng.integers(0, 2**31 - 1))
    seq = simulate(cfg, seed=seed)
    return Source(f"sim:{seed}", seq.frames, seq.tracks, seq.lineage, diameter, None, base.polarity)
