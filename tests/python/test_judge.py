"""The division judge (cellpoint.engine.judge) and its training (cellpoint.cap.judge): features as
documented, trees that decide as scikit-learn's do, labels that name true sisters and their
mother, and a trained judge that the kernel loads only when it matches the model card."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cellpoint.cap.judge import fit, kind, label, record
from cellpoint.engine.infer import MODELS_DIR, ModelError, OnnxCap, load_judge, model_card
from cellpoint.engine.judge import (
    BOX_RADIUS,
    FEATURES,
    HISTORY,
    PairCandidate,
    TreeJudge,
    box_mean,
    pair_features,
)
from cellpoint.engine.preprocess import Geometry
from cellpoint.engine.raw import RawParams
from cellpoint.eval.sim import simulate
from scripted import SCENE_JUDGE


def named(features: list[float]) -> dict[str, float]:
    return dict(zip(FEATURES, features, strict=True))


def test_box_mean_averages_the_box_around_the_nearest_pixel() -> None:
    frame = np.zeros((20, 30), np.float32)
    frame[7:14, 10:17] = 1.0  # the 7 x 7 box around (x, y) = (13, 10)
    assert box_mean(frame, 13.0, 10.0) == 1.0
    assert box_mean(frame, 13.4, 9.6) == 1.0  # nearest pixel (13, 10)
    assert box_mean(frame, 13.5, 10.0) == pytest.approx(6 / 7)  # x + 0.5 rounds up: (14, 10)
    side = 2 * BOX_RADIUS + 1
    assert box_mean(frame, 14.0, 10.0) == pytest.approx((side - 1) / side)
    # At a corner the box is cut to the frame: 4 x 4 pixels there.
    frame[:4, :4] = 2.0
    assert box_mean(frame, -5.0, 0.4) == 2.0


def test_pair_features_measure_the_mother_against_her_older_self() -> None:
    history = [0.7, 0.6, 0.5, 0.41, 0.45, 0.39]  # t - 1 back to t - 6
    f = named(pair_features(0.3, 7.0, 2.0, True, history, (0.65, 0.55)))
    assert f["ref"] == pytest.approx(0.41)  # median of t - 4 .. t - 6
    assert (f["d1"], f["d2"], f["d3"]) == pytest.approx((0.29, 0.19, 0.09))
    assert (f["dmin"], f["dmax"]) == pytest.approx((0.14, 0.24))  # sisters in either order
    assert (f["score"], f["half"], f["gap"], f["alive"], f["span"]) == (0.3, 7.0, 2.0, 1.0, 6.0)
    # Two old frames: their mean; none: her oldest point, and missing recent frames are 0.
    assert named(pair_features(0.3, 7.0, 2.0, False, history[:5], (0.5, 0.5)))["ref"] == (
        pytest.approx(0.43)
    )
    young = named(pair_features(0.3, 7.0, 2.0, False, [0.7, 0.5], (0.5, 0.5)))
    assert (young["ref"], young["d1"], young["d2"], young["d3"]) == pytest.approx((0.5, 0.2, 0, 0))
    assert young["span"] == 2.0
    assert young["alive"] == 0.0
    with pytest.raises(ValueError, match="history needs 1 to 6"):
        pair_features(0.3, 7.0, 2.0, False, [], (0.5, 0.5))
    with pytest.raises(ValueError, match="history needs 1 to 6"):
        pair_features(0.3, 7.0, 2.0, False, [0.5] * (HISTORY + 1), (0.5, 0.5))


def test_tree_judge_round_trips_and_decides_by_its_cut() -> None:
    data = SCENE_JUDGE.to_json()
    again = TreeJudge.from_json(json.loads(json.dumps(data)))
    assert again == SCENE_JUDGE
    assert again.cut == 0.0  # threshold 0.5
    bright = [0.9, 8, 1, 1, 6, 0.4, 0.3, 0.2, 0.1, 0.2, 0.2]
    dull = [*bright[:6], 0.0, *bright[7:]]
    assert again.log_odds(bright) == pytest.approx(-0.25 + 3.0 + 0.5)
    assert again.probability(bright) == pytest.approx(1 / (1 + math.exp(-3.25)))
    candidate = PairCandidate(10, (0.0, 0.0, 16.0, 0.0, 0.9), (8.0, 0.0), bright)
    assert again(candidate)
    assert not again(PairCandidate(10, candidate.pair, candidate.mother, dull))
    with pytest.raises(ValueError, match="the judge reads"):
        TreeJudge.from_json({**data, "features": list(reversed(FEATURES))})
    with pytest.raises(ValueError, match="cut"):
        TreeJudge.from_json({**data, "cut": 0.1})


def test_trees_compare_float32_features_as_scikit_learn_does() -> None:
    at = FEATURES.index("d1")
    features = [0.9, 8, 1, 1, 6, 0.4, 0.0, 0.2, 0.1, 0.2, 0.2]
    features[at] = 0.05  # float32(0.05) > 0.05: right of the stump, as scikit-learn goes
    assert float(np.float32(0.05)) > 0.05
    assert SCENE_JUDGE.log_odds(features) == pytest.approx(3.25)


def test_fit_reproduces_scikit_learn_and_picks_the_best_threshold() -> None:
    rng = np.random.default_rng(0)
    n = 600
    table = pd.DataFrame(rng.normal(0, 1, (n, len(FEATURES))), columns=list(FEATURES))
    table["division"] = (table["d1"] + 0.3 * rng.normal(0, 1, n)) > 1.0
    # Two kinds of sequence, one with a tenth of the candidates: they weigh alike.
    table["sequence"] = np.where(np.arange(n) < 540, "sim:hard seed 1", "Fluo-N2DH-SIM+/02")
    table["divisions"] = table.groupby("sequence")["division"].transform("sum")
    assert [kind(s) for s in ("sim:hard seed 1", "Fluo-N2DH-SIM+/02")] == [
        "hard",
        "Fluo-N2DH-SIM+/02",
    ]
    judge = fit(table)  # raises unless its trees give scikit-learn's probabilities
    assert 0.2 <= judge.threshold <= 0.8
    x = table[list(FEATURES)].to_numpy(np.float32).tolist()
    accepted = np.array([judge.log_odds(row) > judge.cut for row in x])
    right = table["division"].to_numpy()
    # A learnable rule is learnt: most accepted pairs are right and most right ones accepted.
    assert (accepted & right).sum() / accepted.sum() > 0.8
    assert (accepted & right).sum() / right.sum() > 0.8


def test_label_needs_the_true_sisters_and_their_mother() -> None:
    seq = simulate("small", seed=1)
    height, width = seq.frames.shape[1:]
    geometry = Geometry.for_diameter(height, width, seq.config.diameter)
    at = seq.tracks.set_index(["track_id", "t"])[["y", "x"]]
    t, mother, a, b = seq.divisions[["t", "parent_id", "daughter_a", "daughter_b"]].iloc[0]
    ya, xa = geometry.to_model(*at.loc[(a, t)].to_numpy())
    yb, xb = geometry.to_model(*at.loc[(b, t)].to_numpy())
    my, mx = geometry.to_model(*at.loc[(mother, t - 1)].to_numpy())
    pair = (float(xa), float(ya), float(xb), float(yb), 0.5)
    features = [0.0] * len(FEATURES)
    right = PairCandidate(int(t), pair, (float(mx), float(my)), features)
    wrong_mother = PairCandidate(int(t), pair, (float(mx) + 30, float(my)), features)
    wrong_frame = PairCandidate(int(t) + 1, pair, (float(mx), float(my)), features)
    assert label([right, wrong_mother, wrong_frame], seq, geometry).tolist() == [
        True,
        False,
        False,
    ]


def test_record_asks_about_the_pairs_raw_sees() -> None:
    seq = simulate("hard", seed=3, height=128, width=128, n_frames=12)
    candidates, geometry = record(OnnxCap(), seq.frames, seq.config.diameter, RawParams())
    assert geometry.scale == pytest.approx(24 / seq.config.diameter)
    assert candidates, "a dense field gives RAW sister pairs to judge"
    for c in candidates:
        f = named(c.features)
        assert 1 <= c.t < 12
        assert f["score"] == c.pair[4] > 0.1
        assert 1 <= f["span"] <= HISTORY


def test_a_card_whose_features_are_laid_out_otherwise_is_refused(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)
    card = model_card()
    del card["encoder"]["feature_layout"]
    (models / "cap-v1.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="channel-first, this cellpoint reads them channel-last"):
        OnnxCap(models)


def test_the_kernel_loads_the_judge_its_card_names(tmp_path: Path) -> None:
    card = model_card()
    if "judge" not in card:
        assert OnnxCap().judge is None
        return
    assert isinstance(OnnxCap().judge, TreeJudge)
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)
    path = models / card["judge"]["file"]
    data = json.loads(path.read_text())
    data["threshold"] = 0.9
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="does not match the model card"):
        load_judge(models, card)
    path.unlink()
    with pytest.raises(ModelError, match="is missing"):
        load_judge(models, card)
