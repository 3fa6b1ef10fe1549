"""What became of each true division of a CTC sequence: called on its frame, early, late, or
missed, and for a missed one why: the daughters seen as one object, or as two tracks left unlinked.

    PYTHONPATH=python_stub .venv/bin/python training/measure_divisions.py \
        ../shared/data/Fluo-N2DH-SIM+/02 [--frames 120:150] [--models DIR] [--rows]

Tracks the frames with the kernel backend and the lineage step, as `track()` does (the
shared sequence's diameter and polarity). A true division is born at frame b, the first of
its daughters, whose marker centroids are the points compared (model pixels). Of the
result's divisions whose daughters' midpoint lies within a nucleus (CANONICAL_DIAMETER) of
theirs and within REACH frames, the nearest in time gives its timing. Where there is none,
the daughters at b are looked up among the result's points (the nearest within half a
nucleus): one track over both is "one object" (the detector did not part them: their
spacing says how near they were); two tracks are "two tracks" (the sister head's strongest
pair over their midpoint from b - 2 to b + 2 says how sure it was, against
`sister_threshold`); a daughter with no point near is "not found". Prints the count of each
with the medians of the daughters' spacing and, for the missed, of the head's strongest
pair; with `--rows` one line per division.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from cellpoint.engine.infer import OnnxCap, run_kernel
from cellpoint.engine.lineage import global_lineage
from cellpoint.engine.preprocess import CANONICAL_DIAMETER, Geometry
from cellpoint.engine.raw import RawParams, RawResult
from cellpoint.eval.heldout import REAL_SEQUENCES
from cellpoint.io.ctc import read_ctc, tracks_from_labels
from cellpoint.io.frames import FrameStack
from cellpoint.io.tables import divisions_from_lineage

Array = npt.NDArray[Any]
REACH = 3  # frames either side of the birth in which a result's division counts as this one's
EVIDENCE_FRAMES = range(-2, 3)  # frames around the birth the sister head's pairs are read at


def true_divisions(
    lineage: pd.DataFrame, markers: Array, geometry: Geometry, first: int, end: int
) -> pd.DataFrame:
    """Each division born in frames [first, end) with both daughters' markers at birth: its
    birth frame b and the daughters' centroids there (model px)."""
    centres = tracks_from_labels(markers[first:end])
    centres["t"] += first
    at = centres.set_index(["track_id", "t"])
    rows = []
    columns = ["t", "daughter_a", "daughter_b"]
    for b, a, c in divisions_from_lineage(lineage)[columns].to_numpy().tolist():
        keys = [(a, b), (c, b)]
        if not first < b < end or not all(k in at.index for k in keys):
            continue
        (ya, xa), (yb, xb) = (geometry.to_model(*at.loc[k, ["y", "x"]]) for k in keys)
        rows.append({"b": b, "xa": xa, "ya": ya, "xb": xb, "yb": yb})
    return pd.DataFrame(rows, columns=["b", "xa", "ya", "xb", "yb"])


def result_divisions(raw: RawResult) -> pd.DataFrame:
    """The result's divisions: the daughters' first frame and their midpoint then (model px)."""
    tracks = pd.DataFrame(raw.tracks).set_index(["track_id", "t"])
    columns = (raw.divisions[k].tolist() for k in ("t", "daughter_a", "daughter_b"))
    rows = []
    for t, a, b in zip(*columns, strict=True):
        (xa, ya), (xb, yb) = (tracks.loc[(d, t), ["x", "y"]].to_numpy() for d in (a, b))
        rows.append({"t": t, "x": (xa + xb) / 2, "y": (ya + yb) / 2})
    return pd.DataFrame(rows, columns=["t", "x", "y"])


def what_became(
    truth: pd.Series, found: pd.DataFrame, raw: RawResult, params: RawParams
) -> dict[str, Any]:
    """The class of one true division (the module's docstring) and what it was judged by."""
    b = int(truth["b"])
    mx, my = (truth["xa"] + truth["xb"]) / 2, (truth["ya"] + truth["yb"]) / 2
    spacing = float(np.hypot(truth["xa"] - truth["xb"], truth["ya"] - truth["yb"]))
    row: dict[str, Any] = {"b": b, "spacing": spacing}
    near = found[
        (np.hypot(found["x"] - mx, found["y"] - my) < CANONICAL_DIAMETER)
        & ((found["t"] - b).abs() <= REACH)
    ]
    if len(near):
        shift = int(near["t"].iloc[np.argmin((near["t"] - b).abs().to_numpy())]) - b
        late = "early" if shift < 0 else "late"
        row["class"] = "on time" if shift == 0 else f"{abs(shift)} {late}"
        return row
    ids = np.asarray(raw.tracks["track_id"])
    here = np.asarray(raw.tracks["t"]) == b
    xs, ys = np.asarray(raw.tracks["x"])[here], np.asarray(raw.tracks["y"])[here]
    nearest = []
    for x, y in ((truth["xa"], truth["ya"]), (truth["xb"], truth["yb"])):
        distance = np.hypot(xs - x, ys - y)
        k = int(np.argmin(distance)) if len(distance) else -1
        close = k >= 0 and distance[k] < CANONICAL_DIAMETER / 2
        nearest.append(int(ids[here][k]) if close else 0)
    if 0 in nearest:
        row["class"] = "missed: not found"
    elif nearest[0] == nearest[1]:
        row["class"] = "missed: one object"
    else:
        row["class"] = "missed: two tracks"
    pairs = pd.DataFrame(raw.sisters)
    pairs = pairs[(pairs["t"] - b).isin(list(EVIDENCE_FRAMES))]
    over = np.hypot((pairs["xa"] + pairs["xb"]) / 2 - mx, (pairs["ya"] + pairs["yb"]) / 2 - my)
    over_them = pairs["score"][over < params.min_separation]
    row["head"] = float(over_them.max()) if len(over_them) else 0.0
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sequence", type=Path, help="a shared CTC sequence folder")
    parser.add_argument("--frames", default=None, help="first:end, default all")
    parser.add_argument("--models", type=Path, help="a model folder (default: shipped)")
    parser.add_argument("--rows", action="store_true", help="one line per division")
    args = parser.parse_args(argv)
    name = f"{args.sequence.parent.name}/{args.sequence.name}"
    if name not in REAL_SEQUENCES:
        raise SystemExit(f"{name}: not a shared sequence ({', '.join(REAL_SEQUENCES)})")
    spec = REAL_SEQUENCES[name]
    seq = read_ctc(args.sequence)
    if seq.frames is None or seq.markers is None or seq.lineage is None:
        raise SystemExit(f"{args.sequence}: frames or tracking ground truth missing")
    n = seq.frames.shape[0]
    first, end = (int(v) for v in args.frames.split(":")) if args.frames else (0, n)
    frames = np.asarray(seq.frames[first:end])
    model = OnnxCap(args.models) if args.models else OnnxCap()
    params = RawParams()
    run = run_kernel(FrameStack(frames), spec.diameter, params, model, polarity=spec.polarity)
    raw = global_lineage(run.raw, params)
    truth = true_divisions(seq.lineage, seq.markers, run.geometry, first, end)
    truth["b"] -= first  # the tracked frames' own numbering
    found = result_divisions(raw)
    rows = pd.DataFrame([what_became(d, found, raw, params) for _, d in truth.iterrows()])
    rows["b"] += first
    print(f"{name} frames {first}-{end - 1}: {len(truth)} true divisions, {len(found)} called")
    for kind, count in sorted(Counter(rows["class"]).items(), key=lambda kv: -kv[1]):
        these = rows[rows["class"] == kind]
        spacing = these["spacing"].median()
        line = f"  {kind:20} {count:3d}  daughters' spacing at birth {spacing:5.1f} model px"
        if kind.startswith("missed"):
            line += f", the head's strongest pair {these['head'].median():.2f}"
        print(line + " (medians)")
    if args.rows:
        print(rows.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
