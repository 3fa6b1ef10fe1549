"""The division judge: whether a sister pair RAW found is a division, from what the pair's
mother did in the frames before it.

Beyond the paper. The sister head (cap/sisters.py) sees two frames; on fast, dense fields most
of its pairs are two neighbours, not sisters (held-out "hard" seeds: precision 0.3 at recall
0.3). A mother, though, changes before she divides: in the simulator she rounds up and
brightens for a few frames, in Fluo-N2DH-SIM+ she brightens and dims again. RAW follows her,
so her brightness at her own points over the last HISTORY frames is at hand, wherever she
moved. The judge is a small ensemble of regression trees (gradient boosting, trained by
`python -m cellpoint.cap.judge`) over the pair's sister score and geometry and that history;
it ships as JSON beside the ONNX graphs and both hosts evaluate it (src/engine/judge.ts).

Brightness is the mean of the preprocessed model frame (normalised, resized: bit-identical in
both hosts) over a box of side 2 BOX_RADIUS + 1 around the point's nearest pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

BOX_RADIUS = 3  # model px: a 7 x 7 box, inside a newborn daughter (about 17 model px across)
HISTORY = 6  # frames of the mother's past the judge reads (the simulator's mitosis takes 3)
CANDIDATE_SCORE = 0.1  # sister pairs from this peak value up are judged
# The judge's inputs, in this order (model px, normalised intensity):
FEATURES = (
    "score",  # the sister head's peak value
    "half",  # half the sisters' distance
    "gap",  # from the mother's point at t - 1 to the sisters' midpoint
    "alive",  # 1 if the mother's track went on into frame t (to a sister or between), else 0
    "span",  # how many of her last HISTORY frames the mother was followed in
    "ref",  # her brightness 4 to 6 frames back (median), or at her first point if she is younger
    "d1",  # her brightness at t - 1, t - 2, t - 3, less ref (0 where not followed)
    "d2",
    "d3",
    "dmin",  # the dimmer and the brighter sister at t, less ref
    "dmax",
)


def box_mean(frame: FloatArray, x: float, y: float) -> float:
    """Mean of `frame` [H, W] over the box around the pixel nearest (x, y), cut at the edges
    (float64 sum, row by row, as src/engine/judge.ts adds them)."""
    h, w = frame.shape
    ix = min(w - 1, max(0, math.floor(x + 0.5)))
    iy = min(h - 1, max(0, math.floor(y + 0.5)))
    x0, x1 = max(0, ix - BOX_RADIUS), min(w, ix + BOX_RADIUS + 1)
    y0, y1 = max(0, iy - BOX_RADIUS), min(h, iy + BOX_RADIUS + 1)
    total = 0.0
    for row in frame[y0:y1, x0:x1].tolist():
        for value in row:
            total += float(value)
    pixels: int = (x1 - x0) * (y1 - y0)
    return total / pixels


def pair_features(
    score: float,
    half: float,
    gap: float,
    alive: bool,
    history: Sequence[float],
    sisters: tuple[float, float],
) -> list[float]:
    """FEATURES of one candidate: `history` is the mother's brightness at t - 1, t - 2, ...
    for as many consecutive frames back as she was followed (1 to HISTORY), `sisters` the
    sisters' brightness at t."""
    if not 1 <= len(history) <= HISTORY:
        raise ValueError(f"history needs 1 to {HISTORY} values, got {len(history)}")
    old = sorted(history[HISTORY - 3 :]) if len(history) > HISTORY - 3 else [history[-1]]
    middle = len(old) // 2
    ref = old[middle] if len(old) % 2 else (old[middle - 1] + old[middle]) / 2
    recent = [history[k] - ref if k < len(history) else 0.0 for k in range(3)]
    low, high = sorted(sisters)
    return [
        score,
        half,
        gap,
        float(alive),
        float(len(history)),
        ref,
        *recent,
        low - ref,
        high - ref,
    ]


@dataclass(frozen=True)
class PairCandidate:
    """What RAW asks the judge about: sisters first seen at t and the track it would split."""

    t: int
    pair: tuple[float, float, float, float, float]  # xa, ya, xb, yb, score (model px)
    mother: tuple[float, float]  # her point at t - 1 (model px)
    features: list[float]  # FEATURES


@dataclass(frozen=True)
class TreeJudge:
    """A gradient-boosted tree ensemble over FEATURES: the log-odds that a pair is a division.
    Each tree is [feature, threshold, left, right, value] rows (feature -1 marks a leaf); a row
    goes left where its float32 feature is at most the threshold, as in scikit-learn, which
    trained it. Its sum is compared with `cut`, the log-odds of `threshold`, written out so
    that both hosts decide with additions alone (no exp or log to round differently)."""

    baseline: float
    learning_rate: float
    trees: tuple[tuple[tuple[int, float, int, int, float], ...], ...]
    threshold: float  # the probability above which RAW splits the mother

    @property
    def cut(self) -> float:
        return math.log(self.threshold / (1 - self.threshold))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeJudge:
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"the judge reads {data['features']}, this cellpoint {FEATURES}")
        trees = tuple(
            tuple((int(f), float(th), int(lt), int(rt), float(v)) for f, th, lt, rt, v in tree)
            for tree in data["trees"]
        )
        judge = cls(float(data["baseline"]), float(data["learning_rate"]), trees,
                    float(data["threshold"]))  # fmt: skip
        if judge.cut != data["cut"]:
            raise ValueError("the judge's cut is not the log-odds of its threshold")
        return judge

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(FEATURES),
            "baseline": self.baseline,
            "learning_rate": self.learning_rate,
            "threshold": self.threshold,
            "cut": self.cut,
            "trees": [[list(row) for row in tree] for tree in self.trees],
        }

    def log_odds(self, features: Sequence[float]) -> float:
        x = np.asarray(features, np.float32).tolist()  # scikit-learn's trees compare float32
        total = self.baseline
        for tree in self.trees:
            node = 0
            while tree[node][0] >= 0:
                feature, threshold, left, right, _ = tree[node]
                node = left if x[feature] <= threshold else right
            total += self.learning_rate * tree[node][4]
        return total

    def probability(self, features: Sequence[float]) -> float:
        z = self.log_odds(features)
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def __call__(self, candidate: PairCandidate) -> bool:
        return self.log_odds(candidate.features) > self.cut
