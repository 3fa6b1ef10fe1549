"""Trains the division judge (cellpoint/engine/judge.py) on the pairs RAW asks it about.

    python -m cellpoint.cap.judge --out runs/judge
    python -m cellpoint.cap.judge --out runs/judge2 --candidates runs/judge/candidates.parquet

Runs the model (the shipped one, or `--model DIR`) with RAW over training sequences (simulator
seeds no validation uses, and the training frames of the shared CTC sequences), records every
sister pair RAW would judge with its features, labels it against the ground truth, and fits
scikit-learn's gradient boosting. While recording, RAW splits as it would without a judge
(pairs above `sister_threshold`), so the candidates are those of the tracks the model makes;
with `--with-judge`, as the model's shipped judge says (a second round: the pairs of the tracks
a judged RAW makes).

A pair is a division when its midpoint lies within SISTER_MATCH_RADIUS of true sisters born
in that frame and the track it would split was their mother at t - 1 (within half a nucleus
diameter of her). Writes `judge.json` (the trees) and `candidates.parquet` (every candidate
with its features, label and sequence, for the figures in training/README.md); `--candidates`
fits again on a run's candidates without recording them anew; `--install` puts the judge
into the package's models/ folder and names it, with its hash, in the model card.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..engine.infer import MODEL_NAME, MODELS_DIR, CapModel, OnnxCap, track_kernel
from ..engine.judge import FEATURES, PairCandidate, TreeJudge
from ..engine.preprocess import CANONICAL_DIAMETER, Geometry, Polarity
from ..engine.raw import PairJudge, RawParams
from ..eval.heldout import data_dir, real_sequences, training_frames
from ..eval.sim import simulate
from ..io.frames import FrameStack
from ..io.result import TrackingResult
from .divisions import SISTER_MATCH_RADIUS, Truth
from .export import sha256

# Training seeds: outside every held-out range (eval/heldout.py: 10001 + k * 1000 and up).
TRAIN_SEEDS = {"hard": range(1, 7), "small": range(1, 13), "simplus": range(1, 3)}
JUDGE_FILE = "judge.json"
TREES = 150
DEPTH = 3
LEARNING_RATE = 0.1


def training_sequences() -> Iterator[tuple[str, npt.NDArray[Any], Truth, float, Polarity]]:
    """(name, frames, ground truth, cell diameter, polarity) of each sequence the judge learns
    from."""
    for preset, seeds in TRAIN_SEEDS.items():
        for seed in seeds:
            seq = simulate(preset, seed=seed)
            cfg = seq.config
            yield f"sim:{preset} seed {seed}", seq.frames, seq, cfg.diameter, cfg.polarity
    root = data_dir()
    if root is None:
        print("no shared CTC data (../shared/data): training on the simulator alone")
        return
    for real in real_sequences(root):
        end = training_frames(real.frames.shape[0])
        truth = TrackingResult.from_ctc(real.sequence)
        tracks = truth.tracks[truth.tracks["t"] < end]
        divisions = truth.divisions[truth.divisions["t"] < end]
        cut = _Cut(tracks, divisions)
        yield real.name, np.asarray(real.frames[:end]), cut, real.spec.diameter, real.spec.polarity


class _Cut:
    """Ground truth cut to a sequence's training frames."""

    def __init__(self, tracks: pd.DataFrame, divisions: pd.DataFrame) -> None:
        self.tracks, self.divisions = tracks, divisions


def record(
    model: CapModel,
    frames: npt.NDArray[Any],
    diameter: float,
    params: RawParams,
    decide: PairJudge | None = None,
    polarity: Polarity = "bright",
) -> tuple[list[PairCandidate], Geometry]:
    """Every candidate RAW judges on one sequence, splitting where `decide` says (by default,
    as without a judge: where the score passes `sister_threshold`)."""
    candidates: list[PairCandidate] = []
    threshold = np.float32(params.sister_threshold)

    def recorder(candidate: PairCandidate) -> bool:
        candidates.append(candidate)
        return decide(candidate) if decide else bool(candidate.pair[4] > threshold)

    track_kernel(FrameStack(frames), diameter, params, model, judge=recorder, polarity=polarity)
    height, width = frames.shape[1:]
    return candidates, Geometry.for_diameter(height, width, diameter)


def label(
    candidates: list[PairCandidate], truth: Truth, geometry: Geometry
) -> npt.NDArray[np.bool_]:
    """Whether each candidate names true sisters and their mother (see the module's doc)."""
    at = truth.tracks.set_index(["track_id", "t"])[["y", "x"]]
    births: dict[int, list[tuple[float, float, float, float]]] = {}
    for t, mother, a, b in truth.divisions[
        ["t", "parent_id", "daughter_a", "daughter_b"]
    ].to_numpy():
        if (mother, t - 1) not in at.index:
            continue
        (ya, xa), (yb, xb) = at.loc[(a, t)].to_numpy(), at.loc[(b, t)].to_numpy()
        sy, sx = geometry.to_model((ya + yb) / 2, (xa + xb) / 2)
        py, px = geometry.to_model(*at.loc[(mother, t - 1)].to_numpy())
        births.setdefault(int(t), []).append((float(sx), float(sy), float(px), float(py)))
    out = np.zeros(len(candidates), bool)
    for i, c in enumerate(candidates):
        xa, ya, xb, yb, _ = c.pair
        mx, my = (xa + xb) / 2, (ya + yb) / 2
        out[i] = any(
            np.hypot(mx - tx, my - ty) <= SISTER_MATCH_RADIUS
            and np.hypot(c.mother[0] - px, c.mother[1] - py) <= CANONICAL_DIAMETER / 2
            for tx, ty, px, py in births.get(c.t, [])
        )
    return out


def kind(sequence: str) -> str:
    """What a sequence is an instance of: its simulator preset, or the real sequence itself."""
    match = re.match(r"sim:(\w+) seed", sequence)
    return match.group(1) if match else sequence


def fit(table: pd.DataFrame) -> TreeJudge:
    """Gradient boosting on the candidates, each kind of sequence (`kind`) weighing as much as
    any other however many candidates it has (the dense preset has a hundred times the real
    sequences'), and the threshold that maximises the mean over kinds of the F1 of the pairs
    it accepts (against each kind's true divisions, the `divisions` column: its sequence's)."""
    from sklearn.ensemble import GradientBoostingClassifier

    x = table[list(FEATURES)].to_numpy(np.float32)
    y = table["division"].to_numpy()
    kinds = table["sequence"].map(kind)
    weight = 1.0 / kinds.map(kinds.value_counts()).to_numpy()
    gbm = GradientBoostingClassifier(
        n_estimators=TREES, max_depth=DEPTH, learning_rate=LEARNING_RATE, subsample=0.8,
        random_state=0,
    )  # fmt: skip
    gbm.fit(x, y, sample_weight=weight / weight.mean())
    trees = []
    for (estimator,) in gbm.estimators_:
        tree = estimator.tree_
        trees.append(
            tuple(
                (int(f), float(th), int(lt), int(rt), float(v))
                for f, th, lt, rt, v in zip(
                    np.where(tree.children_left < 0, -1, tree.feature).tolist(),
                    tree.threshold.tolist(),
                    tree.children_left.tolist(),
                    tree.children_right.tolist(),
                    tree.value[:, 0, 0].tolist(),
                    strict=True,
                )
            )
        )
    prior = float(np.average(y, weights=weight))  # scikit-learn starts from the weighted prior
    judge = TreeJudge(math.log(prior / (1 - prior)), LEARNING_RATE, tuple(trees), 0.5)
    p = np.array([judge.probability(row) for row in x.tolist()])
    if not np.allclose(p, gbm.predict_proba(x)[:, 1], atol=1e-6):
        raise RuntimeError("the exported trees do not reproduce scikit-learn's probabilities")
    divisions = table.groupby("sequence")["divisions"].first().groupby(kind).sum()

    def mean_f1(threshold: float) -> float:
        accepted = p > threshold
        return float(
            np.mean(
                [_f1(accepted[kinds == k], y[kinds == k], int(n)) for k, n in divisions.items()]
            )
        )

    best = max(np.arange(0.2, 0.81, 0.05), key=mean_f1)
    return TreeJudge(judge.baseline, judge.learning_rate, judge.trees, round(float(best), 2))


def _f1(accepted: npt.NDArray[np.bool_], right: npt.NDArray[np.bool_], divisions: int) -> float:
    tp = int((accepted & right).sum())
    return 2 * tp / (int(accepted.sum()) + divisions) if tp else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--model", type=Path, help="folder of a model card and its graphs (default: shipped)"
    )
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: all)")
    parser.add_argument("--candidates", type=Path, help="a run's candidates.parquet to fit on")
    parser.add_argument("--install", action="store_true", help="ship it (models/, model card)")
    parser.add_argument(
        "--with-judge", action="store_true",
        help="record with the model's own judge splitting (a second round: the pairs of the "
        "tracks a judged RAW makes)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.candidates:
        everything = pd.read_parquet(args.candidates)
    else:
        everything = record_all(args.model, args.threads, args.with_judge)
    judge = fit(everything)
    divisions = int(everything.groupby("sequence")["divisions"].first().sum())
    args.out.mkdir(parents=True, exist_ok=True)
    everything.to_parquet(args.out / "candidates.parquet")
    (args.out / "judge.json").write_text(json.dumps(judge.to_json(), separators=(",", ":")))
    if args.install:
        install(args.out / "judge.json")
    rows = everything[list(FEATURES)].to_numpy(np.float32).tolist()
    accepted = np.array([judge.log_odds(row) > judge.cut for row in rows])
    tp = int((accepted & everything["division"].to_numpy()).sum())
    print(
        f"judge: {len(judge.trees)} trees, threshold {judge.threshold}; on its training pairs "
        f"{int(accepted.sum())} accepted, {tp} right, of {divisions} divisions"
    )


def install(path: Path, models_dir: Path = MODELS_DIR) -> None:
    """Copies a trained judge into `models_dir` and names it in the model card there."""
    target = models_dir / JUDGE_FILE
    shutil.copyfile(path, target)
    card_path = models_dir / f"{MODEL_NAME}.json"
    card = json.loads(card_path.read_text())
    judge = TreeJudge.from_json(json.loads(target.read_text()))
    card["judge"] = {
        "file": JUDGE_FILE,
        "sha256": sha256(target),
        "bytes": target.stat().st_size,
        "trees": len(judge.trees),
        "threshold": judge.threshold,
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")


def record_all(model_dir: Path | None, threads: int, with_judge: bool = False) -> pd.DataFrame:
    """The candidates of every training sequence with their features, label (`division`),
    sequence and its number of true divisions (`divisions`)."""
    model = OnnxCap(model_dir, threads=threads) if model_dir else OnnxCap(threads=threads)
    params = RawParams()
    decide = model.judge if with_judge else None
    if with_judge and decide is None:
        raise SystemExit(f"--with-judge: the model {model.card['name']} has no division judge")
    tables = []
    for name, frames, truth, diameter, polarity in training_sequences():
        start = time.perf_counter()
        candidates, geometry = record(model, frames, diameter, params, decide, polarity)
        right = label(candidates, truth, geometry)
        table = pd.DataFrame([c.features for c in candidates], columns=list(FEATURES))
        table["division"], table["sequence"] = right, name
        table["divisions"] = len(truth.divisions)
        tables.append(table)
        print(
            f"{name}: {len(truth.divisions)} divisions, {len(candidates)} candidates, "
            f"{int(right.sum())} right ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    return pd.concat(tables, ignore_index=True)


if __name__ == "__main__":
    main()
