"""The CAP network's parts: sizes the browser can carry, sampling that matches PyTorch's
reference, training targets that follow the lineage, and an ONNX export that keeps T and N
dynamic."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cellpoint.cap import train
from cellpoint.cap.data import Source, Window, make_window, sample_start
from cellpoint.cap.detection import found_cells
from cellpoint.cap.divisions import (
    OUTCOMES,
    division_outcomes,
    head_at_births,
    score_sister_maps,
    sister_maps,
    true_midpoints,
)
from cellpoint.cap.divisions import main as divisions_main
from cellpoint.cap.encoder import Encoder
from cellpoint.cap.export import export, load_encoder, load_sisters
from cellpoint.cap.losses import focal_loss, heatmap_target, tracker_loss
from cellpoint.cap.sisters import SisterHead, sister_pairs, sister_target
from cellpoint.cap.sources import sim_source
from cellpoint.cap.tracker import Tracker, TrackerConfig, correlation, pyramid
from cellpoint.cap.validate import validation_sets
from cellpoint.engine.infer import OnnxCap
from cellpoint.engine.preprocess import CANONICAL_DIAMETER, Geometry
from cellpoint.engine.raw import find_sisters
from cellpoint.eval.heldout import HELD_OUT_SEEDS, held_out_seeds
from cellpoint.eval.sim import PRESETS, simulate
from cellpoint.io.frames import FrameStack
from torch.nn import functional as fn
from tracked import tracked

torch.manual_seed(0)


def _conv_macs(model: torch.nn.Module, *inputs: torch.Tensor) -> int:
    macs = 0

    def hook(mod: torch.nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal macs
        assert isinstance(mod, torch.nn.Conv2d)
        k = mod.kernel_size[0] * mod.kernel_size[1]
        macs += out.numel() * mod.in_channels // mod.groups * k

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)
    ]
    with torch.no_grad():
        model(*inputs)
    for h in handles:
        h.remove()
    return macs


def test_encoder_fits_the_browser_budget() -> None:
    encoder = Encoder().eval()
    macs = _conv_macs(encoder, torch.zeros(1, 1, 384, 512))
    assert macs < 0.6e9  # the budget per 384 x 512 frame
    feats, heat = encoder(torch.zeros(2, 1, 64, 96))
    assert feats.shape == (2, 64, 16, 24)
    assert heat.shape == (2, 1, 16, 24)
    assert float(heat.min()) >= 0
    assert float(heat.max()) <= 1


def test_whole_model_is_under_20_mb_of_float32() -> None:
    params = sum(p.numel() for m in (Encoder(), Tracker(), SisterHead()) for p in m.parameters())
    assert params * 4 < 20e6


def test_sister_head_costs_half_the_encoder() -> None:
    head = SisterHead().eval()
    h, w = 384 // 4, 512 // 4
    feats = torch.zeros(1, 64, h, w)
    macs = _conv_macs(head, feats, feats)
    # Per 384 x 512 frame: 0.22 GMAC, beside the encoder's 0.41 (its budget: 0.6).
    assert macs < 0.6 * _conv_macs(Encoder().eval(), torch.zeros(1, 1, 384, 512))
    out = head(feats, feats)
    assert out.shape == (1, 3, h, w)
    assert float(out[:, 0].min()) >= 0
    assert float(out[:, 0].max()) <= 1


def test_pyramid_is_average_pooling_channel_last() -> None:
    # 40 x 44 map pixels: the third halving meets an odd width (11) and drops its last column.
    features = torch.randn(2, 40, 44, 8)
    maps = pyramid(features, levels=4)
    pooled = features.permute(0, 3, 1, 2)
    for level, fmap in enumerate(maps):
        assert torch.allclose(fmap, pooled.permute(0, 2, 3, 1), atol=1e-6), level
        pooled = fn.avg_pool2d(pooled, 2, 2)
    assert [tuple(m.shape[1:3]) for m in maps] == [(40, 44), (20, 22), (10, 11), (5, 5)]


def test_correlation_equals_bilinear_sampling_then_dot_products() -> None:
    frames, tracks, channels, radius = 3, 5, 8, 3
    maps = pyramid(torch.randn(frames, 32, 40, channels), levels=4)
    feats = torch.randn(frames, tracks, channels)
    points = torch.rand(frames, tracks, 3, 2) * torch.tensor([159.0, 127.0])
    got = correlation(maps, feats, points, radius)
    expected = []
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    for level, channel_last in enumerate(maps):
        fmap = channel_last.permute(0, 3, 1, 2)
        h, w = fmap.shape[-2:]
        xy = (points + 0.5) / (4 * 2**level) - 0.5
        gx = (xy[..., 0, None, None] + offsets.view(1, -1)).expand(-1, -1, -1, 7, 7)
        gy = (xy[..., 1, None, None] + offsets.view(-1, 1)).expand(-1, -1, -1, 7, 7)
        grid = torch.stack([2 * gx / (w - 1) - 1, 2 * gy / (h - 1) - 1], -1).reshape(
            frames, -1, 1, 2
        )
        sampled = fn.grid_sample(fmap, grid, align_corners=True, padding_mode="border")
        sampled = sampled.reshape(frames, channels, tracks, 3, 7, 7).permute(0, 2, 3, 4, 5, 1)
        dots = (sampled * feats[:, :, None, None, None, :]).sum(-1)
        expected.append(dots.reshape(frames, tracks, 3, -1))
    reference = torch.cat(expected, -1).reshape(frames, tracks, -1)
    assert torch.allclose(got, reference, atol=1e-4)


def test_tracker_output_shapes_for_any_window_and_track_count() -> None:
    tracker = Tracker(TrackerConfig(blocks=1, iterations=2)).eval()
    for frames, tracks in ((2, 1), (7, 4)):
        queries = torch.cat([torch.zeros(1, tracks, 1), torch.rand(1, tracks, 2) * 60], -1)
        with torch.no_grad():
            points, vis = tracker(torch.randn(1, frames, 16, 16, 64), queries)
        assert points.shape == (1, frames, tracks, 3, 2)
        assert vis.shape == (1, frames, tracks, 3)


def _division_source() -> Source:
    seq = simulate("small", seed=4, division_rate=0.05, n_frames=30)
    assert len(seq.divisions) > 0
    return Source("sim", seq.frames, seq.tracks, seq.lineage, seq.config.diameter)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_simulator_preset_makes_training_windows_at_the_models_scale(preset: str) -> None:
    source = sim_source(np.random.default_rng(3), crop=64, frames=6, bases=(preset,))
    assert source.frames.shape == (6, 84, 84)
    assert source.diameter == pytest.approx(CANONICAL_DIAMETER, rel=0.25)
    assert set(source.lineage["track_id"]) == set(source.tracks["track_id"])


def test_aeg_places_windows_around_divisions() -> None:
    source = _division_source()
    rng = np.random.default_rng(0)
    length = 12
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("cellpoint.cap.data.AEG_PROBABILITY", 1.0)
        starts = [sample_start(source, length, rng) for _ in range(50)]
    for start in starts:
        inside = (source.anchors >= start + 3) & (source.anchors <= start + length - 4)
        assert inside.any(), f"window at {start} holds no whole division ({source.anchors})"


def _window_with_daughters(length: int, seed: int, after: int = 0) -> Window:
    """An AEG window of the division source with daughter slots lit after frame `after`."""
    source = _division_source()
    rng = np.random.default_rng(seed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("cellpoint.cap.data.AEG_PROBABILITY", 1.0)
        while True:
            window = make_window(source, length, 256, rng, augment=False)
            if window is not None and bool((window.visible[after:, :, 1] > 0).any()):
                return window


def test_window_targets_follow_cells_and_daughters() -> None:
    window = _window_with_daughters(12, seed=1)
    t, n, _ = window.visible.shape
    # Queries sit on their cell in the first frame, which is visible there.
    assert torch.equal(window.queries[:, 1:], window.points[0, :, 0])
    assert bool((window.visible[0, :, 0] == 1).all())
    # A cell and its daughters are never visible together; daughters appear together.
    mother = window.visible[:, :, 0] > 0
    daughters = window.visible[:, :, 1:] > 0
    assert not bool((mother & daughters.any(-1)).any())
    first_seen = daughters.any(-1).float().argmax(0)
    for k in range(n):
        if daughters[:, k].any():
            tk = int(first_seen[k])
            assert bool(daughters[tk, k].all()), "both daughter slots start in the same frame"
            # and the mother was visible the frame before
            assert bool(mother[tk - 1, k])
    # Every visible target is a true cell centre of that frame.
    for frame in range(t):
        centres = window.centres[frame]
        pts = window.points[frame][window.visible[frame] > 0]
        if len(pts):
            # Exact differences: cdist's matrix-product shortcut loses ~0.1 px here.
            d = (pts[:, None, :] - centres[None, :, :]).norm(dim=-1).min(1).values
            assert float(d.max()) < 1e-3


def test_sister_pairs_are_the_daughters_at_their_first_frame() -> None:
    window = _window_with_daughters(8, seed=2, after=1)
    pairs = sister_pairs(window)
    assert len(pairs) == window.frames.shape[0] - 1  # one entry per frame t >= 1
    both = (window.visible[:, :, 1] > 0) & (window.visible[:, :, 2] > 0)
    for t in range(1, both.shape[0]):
        born = both[t] & ~both[t - 1]
        assert len(pairs[t - 1]) == int(born.sum())
        for (xa, ya, xb, yb), k in zip(
            pairs[t - 1].tolist(), torch.nonzero(born)[:, 0], strict=True
        ):
            assert (xa, ya) == tuple(window.points[t, k, 1].tolist())
            assert (xb, yb) == tuple(window.points[t, k, 2].tolist())
    assert sum(len(p) for p in pairs) > 0


def test_sister_target_decodes_back_to_the_pair() -> None:
    # The training target (midpoint heatmap, doubled-angle axis) read as RAW reads the head's
    # map gives the pair back, whichever sister is named first and whatever the axis' angle.
    h, w = 24, 32
    pairs = torch.tensor(
        [[20.0, 30.0, 34.0, 26.0], [90.0, 50.0, 80.0, 64.0], [60.0, 80.0, 60.0, 66.0]]
    )
    heat, axis, weight = sister_target(pairs, h, w)
    assert float(weight.sum()) == len(pairs)
    sister_map = torch.cat([heat[None], axis]).numpy()
    found = find_sisters(sister_map, 0.5, 12.0)
    assert len(found) == len(pairs)
    for pair in pairs.numpy():
        mid = (pair[:2] + pair[2:]) / 2
        row = found[np.argmin(np.hypot(*(((found[:, :2] + found[:, 2:4]) / 2) - mid).T))]
        # The midpoint is the heatmap peak's (sub-pixel, within a map pixel's quarter); the
        # axis is exact.
        assert np.hypot(*(((row[:2] + row[2:4]) / 2) - mid)) < 1.0
        ends = {tuple(np.round(row[:2] - (row[:2] + row[2:4]) / 2, 3)),
                tuple(np.round(row[2:4] - (row[:2] + row[2:4]) / 2, 3))}  # fmt: skip
        half = (pair[2:] - pair[:2]) / 2
        assert ends == {tuple(np.round(half, 3)), tuple(np.round(-half, 3))}


def test_every_cell_has_one_positive_heatmap_pixel_wherever_its_centre_falls() -> None:
    # Centres at arbitrary sub-pixel places (input pixels; the map is at stride 4).
    centres = torch.tensor([[10.3, 7.9], [30.0, 30.0], [45.6, 21.2], [62.9, 62.9]])
    target = heatmap_target(centres, 16, 16)
    assert int(target.eq(1.0).sum()) == 4
    # A heatmap that is 1 on those pixels and 0 elsewhere costs almost nothing; one that
    # misses a cell costs more than one that lights an extra pixel far from every cell.
    perfect = target.eq(1.0).float()
    missed = perfect.clone()
    missed[target.eq(1.0).nonzero()[0].unbind()] = 0
    extra = perfect.clone()
    extra[0, 15] = 1

    def loss(heat: torch.Tensor) -> float:
        return focal_loss(heat[None], target[None]).item()

    assert loss(perfect) < 1e-3
    assert loss(missed) > loss(extra)


def test_detection_check_counts_one_peak_per_cell_within_the_radius() -> None:
    centres = np.array([[5, 5], [20.5, 31.5], [31, 11]])
    # Two peaks on cell 3 find it once; the peak 6 px from cell 9 is too far at radius 5.
    peaks = np.array([[5.5, 5.0], [4.0, 6.0], [21.0, 30.0], [31.0, 17.0]])
    assert found_cells(centres, peaks, 5.0).tolist() == [True, True, False]
    assert found_cells(centres, peaks, 7.0).tolist() == [True, True, True]
    assert found_cells(centres, np.zeros((0, 2)), 5.0).tolist() == [False, False, False]


def test_validation_can_score_several_held_out_seeds_per_preset() -> None:
    assert held_out_seeds("small", 3) == [10_001, 11_001, 12_001]
    assert held_out_seeds("hard", 1) == [HELD_OUT_SEEDS["hard"]]
    with pytest.raises(ValueError, match="at least one seed"):
        held_out_seeds("small", 0)
    first, second = itertools.islice(validation_sets(sim_seeds=2), 2)
    assert (first[0], second[0]) == ("sim:small seed 10001", "sim:small seed 11001")
    assert not np.array_equal(first[1], second[1])


def test_tracker_loss_does_not_care_which_slot_holds_which_daughter() -> None:
    target = torch.rand(4, 2, 3, 2) * 50
    weight = torch.ones(4, 2, 3)
    visible = torch.tensor([1.0, 0.0, 0.0]).repeat(4, 2, 1)
    visible[2:, :, 0], visible[2:, :, 1:] = 0, 1
    pred = target + torch.randn_like(target)
    vis = torch.rand(4, 2, 3)
    swap = [0, 2, 1]
    a = tracker_loss([pred], vis, target, weight, visible)
    b = tracker_loss([pred[:, :, swap]], vis[:, :, swap], target, weight, visible)
    assert torch.allclose(a[0], b[0])
    assert torch.allclose(a[1], b[1])
    worse = tracker_loss([pred + 5], vis, target, weight, visible)
    assert worse[0].item() > a[0].item()


def test_daughter_weight_makes_a_missed_division_cost_more() -> None:
    target = torch.zeros(4, 3, 3, 2)
    weight = torch.ones(4, 3, 3)
    visible = torch.tensor([1.0, 0.0, 0.0]).repeat(4, 3, 1)
    visible[2:, 0, 0], visible[2:, 0, 1:] = 0, 1  # query 0 divides at frame 2
    missed = visible.clone()
    missed[:, :, 1:] = 0.05  # the network sees no division at all
    right = visible.clamp(0.05, 0.95)
    plain = tracker_loss([target], missed, target, weight, visible)[1]
    weighted = tracker_loss([target], missed, target, weight, visible, daughter_weight=10)[1]
    assert weighted.item() > 2 * plain.item()
    # Weighing changes nothing where the prediction is right, or where nothing divides.
    calm = torch.tensor([1.0, 0.0, 0.0]).repeat(4, 3, 1)
    for vis, truth in ((right, visible), (calm.clamp(0.05, 0.95), calm)):
        a = tracker_loss([target], vis, target, weight, truth)[1]
        b = tracker_loss([target], vis, target, weight, truth, daughter_weight=10)[1]
        assert abs(a.item() - b.item()) < 1e-6


def test_worker_processes_make_different_valid_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELLPOINT_DATA", str(tmp_path))  # simulated windows only
    args = argparse.Namespace(workers=2, seed=3, refresh=4)
    stream = train.windows(args, np.random.default_rng(0), length=4, crop=64, real_share=0.0)
    got = [next(stream) for _ in range(4)]
    for w in got:
        assert w.frames.shape[:2] == (4, 1)
        assert all(side % 16 == 0 for side in w.frames.shape[2:])  # padded as inference pads
        assert w.points.shape[:2] == (4, w.queries.shape[0])
    # Each worker draws from its own seed: no two windows are the same.
    firsts = {w.frames[0].numpy().tobytes() for w in got}
    assert len(firsts) == len(got)


def test_sister_stage_trains_and_saves_a_head_that_loads_by_its_own_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELLPOINT_DATA", str(tmp_path / "none"))  # simulated windows only
    encoder = tmp_path / "encoder.pt"
    torch.save({"model": Encoder().state_dict()}, encoder)
    out = tmp_path / "run"
    argv = ["sisters", "--out", str(out), "--encoder", str(encoder), "--crop", "64",
            "--batch", "1", "--head-width", "16", "--head-blocks", "2", "--log-every", "1",
            "--real-share", "0", "--refresh", "1"]  # fmt: skip
    train.main([*argv, "--steps", "3"])
    head = load_sisters(out / "last.pt")
    assert head.config == {"width": 16, "blocks": 2}
    assert len(head.context) == 2
    assert (out / "log.csv").read_text().count("\n") == 4  # header and one row per step
    with pytest.raises(SystemExit, match="--steps 3"):  # a run resumes only on its schedule
        train.main([*argv, "--steps", "4"])


def test_joint_stage_moves_the_encoder_from_its_anchor_and_saves_loadable_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELLPOINT_DATA", str(tmp_path / "none"))  # simulated windows only
    torch.manual_seed(0)
    start = Encoder()
    encoder = tmp_path / "encoder.pt"
    torch.save({"model": start.state_dict()}, encoder)
    out = tmp_path / "run"
    train.main(["joint", "--out", str(out), "--encoder", str(encoder), "--crop", "64",
                "--batch", "1", "--head-width", "16", "--head-blocks", "2", "--log-every", "1",
                "--real-share", "0", "--refresh", "1", "--steps", "3", "--lr", "1e-2"])  # fmt: skip
    log = pd.read_csv(out / "log.csv")
    assert list(log["step"]) == [1, 2, 3]
    assert log["anchor"].iloc[0] == 0.0  # the first step starts at the anchor itself
    assert log["anchor"].iloc[-1] > 0.0
    moved = load_encoder(out / "encoder.pt").state_dict()
    assert any(not torch.equal(moved[k], v) for k, v in start.state_dict().items())
    assert load_sisters(out / "sisters.pt").config == {"width": 16, "blocks": 2}


def test_joint_stage_holds_the_features_near_the_anchor_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --anchor, the distance of the very first step is to that encoder, not to the
    starting one."""
    monkeypatch.setenv("CELLPOINT_DATA", str(tmp_path / "none"))
    torch.manual_seed(0)
    paths = {}
    for name in ("start", "anchor"):
        paths[name] = tmp_path / f"{name}.pt"
        torch.save({"model": Encoder().state_dict()}, paths[name])
    out = tmp_path / "run"
    train.main(["joint", "--out", str(out), "--encoder", str(paths["start"]),
                "--anchor", str(paths["anchor"]), "--crop", "64", "--batch", "1",
                "--head-width", "16", "--head-blocks", "2", "--log-every", "1",
                "--real-share", "0", "--refresh", "1", "--steps", "3"])  # fmt: skip
    assert pd.read_csv(out / "log.csv")["anchor"].iloc[0] > 0.0


def test_onnx_export_matches_pytorch_on_new_shapes(tmp_path: Path) -> None:
    errors = export(
        Encoder().eval(),
        Tracker(TrackerConfig(blocks=1, iterations=2)).eval(),
        tmp_path,
        SisterHead().eval(),
    )
    assert (tmp_path / "encoder.onnx").stat().st_size > 0
    assert set(errors) == {"encoder", "tracker", "sisters"}
    assert all(error < 1e-3 for error in errors.values())


def test_division_outcomes_say_when_a_division_was_called_or_why_it_was_missed() -> None:
    # Mother 1 at (10, 10) in frames 0-1, daughters 2 and 3 either side of her from frame 2,
    # 12 px (two cell diameters of 6) apart at birth.
    mother = {0: (10.0, 10.0), 1: (10.0, 10.0)}
    a, b = {2: (10.0, 4.0), 3: (10.0, 3.0)}, {2: (10.0, 16.0), 3: (10.0, 17.0)}
    truth = tracked({1: mother, 2: a, 3: b}, {2: 1, 3: 1})
    early_a, early_b = {1: (10.0, 5.0), **a}, {1: (10.0, 15.0), **b}
    results = {
        ("on time", 0): tracked({7: mother, 8: a, 9: b}, {8: 7, 9: 7}),
        ("early", -1): tracked({7: {0: mother[0]}, 8: early_a, 9: early_b}, {8: 7, 9: 7}),
        ("late", 1): tracked(
            {7: {**mother, 2: (10.0, 10.0)}, 8: {3: a[3]}, 9: {3: b[3]}}, {8: 7, 9: 7}
        ),
        ("not split", None): tracked({7: {**mother, **a}, 9: b}, {}),
        ("unlinked", None): tracked({7: mother, 8: a, 9: b}, {}),
        ("not found", None): tracked({7: mother, 8: a, 9: {3: b[3]}}, {}),
    }
    for (outcome, shift), result in results.items():
        table = division_outcomes(result, truth, diameter=6.0)
        assert table["outcome"].tolist() == [outcome], outcome
        assert table["shift"].tolist() == [pd.NA if shift is None else shift], outcome
        assert table[["t", "parent_id", "daughter_a", "daughter_b"]].values.tolist() == [
            [2, 1, 2, 3]
        ]
        assert table["spacing"].tolist() == [pytest.approx(2.0)]
    # A division 4 frames late is beyond REACH, so not this one; at the birth no point is near.
    far = tracked(
        {7: {0: mother[0]}, 5: {5: (10.0, 10.0)}, 8: {6: a[3]}, 9: {6: b[3]}}, {8: 5, 9: 5}
    )
    assert division_outcomes(far, truth, diameter=6.0)["outcome"].tolist() == ["not found"]
    # Daughters born touching, 4 px apart: one point between them takes both.
    touching = tracked({1: mother, 2: {2: (10.0, 8.0)}, 3: {2: (10.0, 12.0)}}, {2: 1, 3: 1})
    one = tracked({7: {**mother, 2: (10.0, 10.0)}}, {})
    table = division_outcomes(one, touching, diameter=6.0)
    assert table["outcome"].tolist() == ["one object"]
    assert table["spacing"].tolist() == [pytest.approx(4 / 6)]
    assert set(OUTCOMES) == {outcome for outcome, _ in results} | {"one object"}


def test_the_head_at_a_birth_is_its_strongest_pair_over_it_two_frames_either_side() -> None:
    truth = tracked(
        {1: {0: (20.0, 30.0), 1: (20.0, 30.0)}, 2: {2: (20.0, 24.0)}, 3: {2: (20.0, 36.0)}},
        {2: 1, 3: 1},
    )
    geometry = Geometry(50, 50, 2.0)  # the midpoint is model (x, y) = (60.5, 40.5)
    maps = np.zeros((5, 3, 25, 25), np.float32)  # frames 0-1 ... 4-5
    assert head_at_births(maps, truth, geometry) == [0.0]
    maps[3, 0, 10, 15] = 0.6  # frames 3-4: two frames after the birth, over the midpoint
    maps[4, 0, 10, 15] = 0.9  # frames 4-5: three frames after
    maps[1, 0, 20, 3] = 0.8  # at the birth, far from it
    assert head_at_births(maps, truth, geometry) == [pytest.approx(0.6)]


def test_sister_maps_are_scored_at_the_true_midpoints_in_the_sisters_first_frame() -> None:
    # Daughters 2 and 3 of mother 1 are first seen at frame 2, either side of (y, x) = (20, 30)
    # input px; at 2 model px per input px their midpoint is model (x, y) = (60.5, 40.5).
    truth = tracked(
        {1: {0: (20.0, 30.0), 1: (20.0, 30.0)}, 2: {2: (20.0, 24.0)}, 3: {2: (20.0, 36.0)}},
        {2: 1, 3: 1},
    )
    midpoints = true_midpoints(truth, Geometry(50, 50, 2.0))
    assert list(midpoints) == [2]
    np.testing.assert_allclose(midpoints[2], [[60.5, 40.5]])
    maps = np.zeros((2, 3, 25, 25), np.float32)  # frames 0-1 and 1-2
    maps[1, 0, 10, 15] = 0.8  # map pixel centre (61.5, 41.5): the pair, 1.4 px off
    maps[1, 0, 20, 3] = 0.45  # frame 2, far from it
    maps[0, 0, 5, 5] = 0.35  # frame 1, no sisters there
    table, median = score_sister_maps(maps, midpoints, thresholds=(0.3, 0.4, 0.5, 0.9))
    assert table[["pairs", "found"]].values.tolist() == [[3, 1], [2, 1], [1, 1], [0, 0]]
    np.testing.assert_allclose(table["precision"][:3], [1 / 3, 1 / 2, 1])
    assert np.isnan(table["precision"][3])
    assert table["recall"].tolist() == [1, 1, 1, 0]
    assert median == pytest.approx(0.8)
    # The same peak a frame early finds nothing.
    early = np.zeros_like(maps)
    early[0, 0, 10, 15] = 0.8
    table, median = score_sister_maps(early, midpoints, thresholds=(0.3,))
    assert table[["pairs", "found"]].values.tolist() == [[1, 0]]
    assert median == 0


def test_sister_head_alone_runs_on_a_held_out_sequence(capsys: pytest.CaptureFixture[str]) -> None:
    seq = simulate("small", seed=held_out_seeds("small", 1)[0], n_frames=6)
    height, width = seq.frames.shape[1:]
    geometry = Geometry.for_diameter(height, width, seq.config.diameter)
    maps = sister_maps(OnnxCap(), FrameStack(seq.frames), geometry)
    assert maps.shape == (5, 3, geometry.padded[0] // 4, geometry.padded[1] // 4)
    assert ((maps[:, 0] >= 0) & (maps[:, 0] <= 1)).all()
    divisions_main(["--preset", "small", "--seed", "10001", "--sister-head"])
    out = capsys.readouterr().out
    assert "median sister-map peak at the true midpoints" in out
    assert "threshold  pairs  found  precision  recall" in out


def test_divisions_of_a_ctc_sequence_are_sorted_from_its_ground_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = simulate("small", seed=held_out_seeds("small", 1)[0], n_frames=14)
    folder = seq.write_ctc(tmp_path, "01")
    with pytest.raises(SystemExit, match="pass --diameter"):
        divisions_main(["--sequence", str(folder)])
    diameter = str(seq.config.diameter)
    divisions_main(
        ["--sequence", str(folder), "--diameter", diameter, "--frames", "2:14", "--rows"]
    )
    out = capsys.readouterr().out
    # The daughters born in frames 3-13: those born at 2 have no mother in the frames.
    born = seq.divisions[(seq.divisions["t"] > 2)]
    assert out.splitlines()[0] == f"{tmp_path.name}/01 frames 2-13: {len(born)} divisions"
    assert len(born) > 0
    assert "TRA " in out
    rows = out[out.index("parent_id") :].splitlines()[1:]
    assert sorted(int(row.split()[0]) for row in rows) == sorted(born["t"].tolist())
    assert all(row.split()[4] in {o.split()[0] for o in OUTCOMES} for row in rows)
