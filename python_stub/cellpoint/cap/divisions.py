"""Where a model's divisions go wrong: each true division of a simulated held-out sequence,
sorted by what the result holds at it.

    python -m cellpoint.cap.divisions --preset hard --seed 10002

Division F1 says how many divisions a model gets; this says why it misses the others, which is
what decides whether to work on detection, the tracker, the sister head or RAW. Each true cell
is matched, frame by frame, to the nearest result point within half a nucleus diameter (one
point per cell, optimal assignment, as `cellpoint.cap.detection` matches peaks). A division
whose mother is followed at t - 1 and whose daughters are followed at t is then:

- right: both daughters' tracks are children of the mother's track;
- not split: the mother's track goes on as one of the daughters;
- other mother: the daughters' tracks are sisters, children of some other track;
- unrelated daughters: anything else (new tracks, or a track from elsewhere taking a daughter).

Otherwise it is "mother untracked" or "daughter untracked". The CTC's division F1 counts a
division one frame off as found; this count does not, so its "right" can be a little lower.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from ..frames import FrameStack
from ..infer import CapModel, OnnxCap, track_kernel
from ..metrics import evaluate
from ..raw import RawParams
from ..result import TrackingResult
from ..sim import PRESETS, simulate
from .detection import match_points

OUTCOMES = (
    "right",
    "not split",
    "other mother",
    "unrelated daughters",
    "mother untracked",
    "daughter untracked",
)


class Truth(Protocol):
    """True tables: a simulated sequence, or a TrackingResult taken as ground truth."""

    @property
    def tracks(self) -> pd.DataFrame: ...

    @property
    def divisions(self) -> pd.DataFrame: ...


def follow(truth: pd.DataFrame, result: pd.DataFrame, radius: float) -> dict[tuple[int, int], int]:
    """(true track, t) -> the result track whose point there is matched to that cell."""
    matched: dict[tuple[int, int], int] = {}
    result_t = result["t"].to_numpy()
    for t in np.unique(truth["t"].to_numpy()):
        cells, points = truth[truth["t"] == t], result[result_t == t]
        rows, cols = match_points(
            cells[["y", "x"]].to_numpy(), points[["y", "x"]].to_numpy(), radius
        )
        cell_ids = cells["track_id"].to_numpy()[rows]
        point_ids = points["track_id"].to_numpy()[cols]
        for cell, point in zip(cell_ids.tolist(), point_ids.tolist(), strict=True):
            matched[(cell, int(t))] = point
    return matched


def division_outcomes(result: TrackingResult, truth: Truth, radius: float) -> pd.DataFrame:
    """One row per true division: t (the daughters' first frame), parent_id, daughter_a,
    daughter_b and its outcome (one of OUTCOMES)."""
    matched = follow(truth.tracks, result.tracks, radius)
    parent_of = result.lineage.set_index("track_id")["parent_id"].to_dict()
    rows = []
    columns = ["t", "parent_id", "daughter_a", "daughter_b"]
    for t, parent, daughter_a, daughter_b in truth.divisions[columns].to_numpy().tolist():
        mother = matched.get((parent, t - 1))
        a, b = matched.get((daughter_a, t)), matched.get((daughter_b, t))
        if mother is None:
            outcome = "mother untracked"
        elif a is None or b is None:
            outcome = "daughter untracked"
        elif parent_of[a] == mother and parent_of[b] == mother:
            outcome = "right"
        elif mother in (a, b):
            outcome = "not split"
        elif parent_of[a] == parent_of[b] != 0:
            outcome = "other mother"
        else:
            outcome = "unrelated daughters"
        rows.append((t, parent, daughter_a, daughter_b, outcome))
    return pd.DataFrame(rows, columns=[*columns, "outcome"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="hard", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=10_002, help="a held-out seed")
    parser.add_argument(
        "--model", type=Path, help="folder of a model card and its graphs (default: shipped)"
    )
    parser.add_argument("--sister-threshold", type=float, default=RawParams.sister_threshold)
    args = parser.parse_args(argv)
    sequence = simulate(args.preset, seed=args.seed)
    model: CapModel = OnnxCap(args.model) if args.model else OnnxCap()
    params = RawParams(sister_threshold=args.sister_threshold)
    result = track_kernel(FrameStack(sequence.frames), sequence.config.diameter, params, model)
    outcomes = division_outcomes(result, sequence, sequence.config.diameter / 2)
    counts = outcomes["outcome"].value_counts().reindex(OUTCOMES, fill_value=0)
    report = evaluate(result, sequence)
    print(f"{args.preset} seed {args.seed}: {len(outcomes)} divisions")
    print(counts.to_string())
    print(
        f"TRA {report.tra:.3f}, division F1 {report.division_f1:.3f} "
        f"(precision {report.division_precision:.3f}, recall {report.division_recall:.3f})"
    )


if __name__ == "__main__":
    main()
