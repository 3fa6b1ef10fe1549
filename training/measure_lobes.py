"""How a mother looks in her last frames and her daughters in their first, for a CTC sequence
with tracking ground truth and for a simulated one: the figures `_METAPHASE`, `_ANAPHASE` and
`SimConfig.birth_spacing` in `cellpoint/eval/sim.py` are tuned to.

    PYTHONPATH=python_stub .venv/bin/python training/measure_lobes.py \
        ../shared/data/Fluo-N2DH-SIM+/02 simplus [--seeds 10008 11008] [--set KEY=VALUE ...]

For each division whose daughters both begin at frame b, the image at frames b - 3 to b - 1
(the mother's last three, one object in the CTC's ground truth) and b (the daughters' first) is
smoothed by one model pixel (the preset's diameter over the model's 24), its background (the
median of the pixels outside every marker) taken off, and read along the daughters' axis at b
through the mother's marker centre (at b: the daughters' midpoint), 0.6 of the daughters'
spacing each way. The brightest points on either side of the centre (beyond 0.1 of the
spacing) are the lobes. Printed per frame, medians (the dip's quartiles too):
- dip: the least intensity between the lobes over the dimmer one: 1 for one blob, near 0 for
  two objects apart;
- apart: the lobes' distance; width across: each lobe's width at half its height across the
  axis; along: twice its half width at half height outward along the axis; all over the
  daughters' spacing;
- height: the profile's highest point over the same at b.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from cellpoint.engine.preprocess import CANONICAL_DIAMETER
from cellpoint.eval.sim import PRESETS, simulate
from cellpoint.io.ctc import read_ctc, tracks_from_labels
from measure_modality import parse_override
from scipy import ndimage as ndi

Array = npt.NDArray[Any]
REACH = 0.6  # how far the profile runs each way from the centre, in daughters' spacings
STEPS = 121  # samples along a profile
CORE = 0.1  # the centre's half-width in which no lobe is looked for, in spacings
LAGS = (-3, -2, -1, 0)  # frames relative to the daughters' first


def sample(image: Array, point: Array, direction: Array, spacing: float) -> Array:
    """The image along `direction` through `point`, REACH of the spacing each way (STEPS)."""
    u = np.linspace(-REACH, REACH, STEPS) * spacing
    along: Array = ndi.map_coordinates(
        image, [point[0] + u * direction[0], point[1] + u * direction[1]], order=1, mode="nearest"
    )
    return along


def reach_above_half(profile: Array, start: int, step: int) -> int:
    """Samples from `start` on, one way, while the profile stays above half its value there."""
    run = profile[start::step] if step > 0 else profile[start::-1]
    return int(np.argmax(np.append(run < profile[start] / 2, True)))


def lobes(image: Array, centre: Array, axis: Array, spacing: float) -> dict[str, float]:
    """The dip, apart, width (across), along and height of the module's docstring, read along
    `axis` through `centre`; empty where a lobe is no brighter than the background."""
    per_step = 2 * REACH / (STEPS - 1)  # spacings
    u = np.linspace(-REACH, REACH, STEPS)
    profile = sample(image, centre, axis, spacing)
    left, right = np.flatnonzero(u < -CORE), np.flatnonzero(u > CORE)
    a, b = left[np.argmax(profile[left])], right[np.argmax(profile[right])]
    low = min(profile[a], profile[b])
    if low <= 0:
        return {}
    across = np.array([-axis[1], axis[0]])
    widths = []
    for k in (a, b):
        sideways = sample(image, centre + u[k] * spacing * axis, across, spacing)
        middle = STEPS // 2
        inside = reach_above_half(sideways, middle, 1) + reach_above_half(sideways, middle, -1)
        widths.append(inside * per_step)
    # Along the axis twice the outer half width: inwards the other lobe is in the way.
    outer = (reach_above_half(profile, a, -1) + reach_above_half(profile, b, 1)) / 2
    return {"dip": float(profile[a : b + 1].min() / low), "apart": float(u[b] - u[a]),
            "width": float(np.mean(widths)), "along": 2 * outer * per_step,
            "height": float(profile.max())}  # fmt: skip


def measure(frames: Array, markers: Array, lineage: pd.DataFrame, diameter: float) -> pd.DataFrame:
    sigma = diameter / CANONICAL_DIAMETER
    columns = (tracks_from_labels(markers)[c].tolist() for c in ("track_id", "t", "y", "x"))
    # (track, frame) -> its marker's centroid (y, x)
    points = {(k, t): np.array((y, x)) for k, t, y, x in zip(*columns, strict=True)}

    # Divisions go by birth frame, so the frames they read are smoothed once each.
    @functools.lru_cache(maxsize=len(LAGS))
    def smoothed(t: int) -> Array:
        image: Array = ndi.gaussian_filter(frames[t].astype(np.float64), sigma)
        above: Array = image - np.median(image[markers[t] == 0])  # the background taken off
        return above

    daughters = lineage[lineage.parent_id > 0].sort_values(["start", "parent_id"])
    rows = []
    for mother in daughters.parent_id.drop_duplicates().tolist():
        pair = daughters[daughters.parent_id == mother]
        if len(pair) != 2 or pair.start.nunique() != 1:
            continue
        b = int(pair.start.iloc[0])
        if b + min(LAGS) < 0 or b >= len(frames):
            continue
        d1, d2 = (points.get((k, b)) for k in pair.track_id.tolist())
        if d1 is None or d2 is None:
            continue
        spacing = float(np.hypot(*(d2 - d1)))
        axis = (d2 - d1) / spacing
        for lag in LAGS:
            centre = (d1 + d2) / 2 if lag == 0 else points.get((mother, b + lag))
            if centre is None:
                continue
            rows.append({"mother": mother, "lag": lag}
                        | lobes(smoothed(b + lag), centre, axis, spacing))  # fmt: skip
    return pd.DataFrame(rows)


def summary(name: str, table: pd.DataFrame) -> None:
    divisions = table.mother.nunique() if len(table) else 0
    print(f"{name}: {divisions} divisions")
    at_birth = table[table.lag == 0].set_index("mother").height
    table = table.assign(height=table.height / table.mother.map(at_birth))
    for lag, rows in table.groupby("lag"):
        q1, q2, q3 = np.nanpercentile(rows.dip, [25, 50, 75])
        print(f"  frame b{lag:+d}: dip {q2:.2f} ({q1:.2f}-{q3:.2f}), "
              f"apart {np.nanmedian(rows.apart):.2f}, width across {np.nanmedian(rows.width):.2f}"
              f" along {np.nanmedian(rows.along):.2f} (in the daughters' spacing), "
              f"height {np.nanmedian(rows.height):.2f} of the daughters'")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("real", type=Path, help="CTC sequence folder with its _GT/TRA")
    parser.add_argument("preset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[10008])
    parser.add_argument("--set", nargs="*", default=[], type=parse_override,
                        help="SimConfig fields, KEY=VALUE")  # fmt: skip
    args = parser.parse_args()
    diameter = PRESETS[args.preset].diameter
    overrides = dict(args.set)
    seq = read_ctc(args.real)
    if seq.frames is None or seq.markers is None or seq.lineage is None:
        raise SystemExit(f"{args.real}: frames or tracking ground truth missing")
    summary(str(args.real), measure(np.asarray(seq.frames), seq.markers, seq.lineage, diameter))
    tables = []
    for k, seed in enumerate(args.seeds):
        sim = simulate(args.preset, seed, **overrides)
        table = measure(sim.frames, sim.markers, sim.lineage, diameter)
        tables.append(table.assign(mother=table.mother + k * (int(sim.lineage.track_id.max()) + 1)))
    summary(f"{args.preset} seeds {args.seeds}", pd.concat(tables, ignore_index=True))


if __name__ == "__main__":
    main()
