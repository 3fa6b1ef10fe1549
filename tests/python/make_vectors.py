"""Writes the shared test vectors (tests/vectors/*.json) that hold the Python and TypeScript
hosts of RAW inference and preprocessing to the same answers.

    PYTHONPATH=python_stub .venv/bin/python tests/python/make_vectors.py

Each RAW vector is one run of `cellpoint.engine.raw.raw_inference` against a scripted, deterministic
"network" (`scripted.Oracle`, which knows the ground truth): its heatmaps have a Gaussian peak
at every living cell's true centre (stride 4, quantised to multiples of 1/256 so that both hosts
read bit-identical float32 maps), and its window tracker answers each query with the true future of
the cell nearest to the query at the window's first frame: visible while that cell lives, its
daughters in the two daughter slots after it divides, nothing after it dies or leaves. The
vector records the inputs RAW saw (every heatmap, every tracker call with its queries and
outputs) and what RAW made of them (tables, window log, progress). The TypeScript test
replays the recorded tracker outputs, but only where the call it gets matches the record.

Scenes: hand-made ones (one event each, window hand-over, T < window, frames without cells, a
lost cell found again by the heatmap, daughter slots lit beside a visible cell, thresholds, cells
that come and go at two lengths, where RAW holds as many tracks at either) and
two simulated sequences (`cellpoint.eval.sim`: the "small" preset, and a 96 x 96 crop of the "hard"
preset with divisions, a death and cells entering), whose pixels serve as model pixels.

The model vector (model.json) runs the shipped network end to end (`cellpoint.engine.infer`,
onnxruntime on the CPU): a crop of a simulated sequence in, the encoder's outputs for its first
frame, the first tracker call, and the final tables in input pixels out. Its floats come from
a real network, so hosts (and CPUs) agree within a tolerance, not to the bit; it is rewritten
with every new model and names the model files' hashes it was made with.

Also: `find_peaks` on small maps (plateaus, ties, borders, thresholds, non-finite values) and
preprocessing (percentile normalisation, resize weights, geometry, padded model input).

Format: arrays are objects {"dtype", "shape", "zlib"}: the base64 of the zlib-deflated
little-endian bytes (exact floats, NaN included; compact). Objects are written expanded and
short lists inline, which is how prettier formats JSON, so that `prettier --check .` leaves
them alone.
"""

from __future__ import annotations

import base64
import json
import math
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cellpoint.engine.judge import (
    BOX_RADIUS,
    CANDIDATE_SCORE,
    FEATURES,
    HISTORY,
    TreeJudge,
    box_mean,
    pair_features,
)
from cellpoint.engine.preprocess import (
    Geometry,
    Polarity,
    Preprocessor,
    normalise,
    resize_weights,
)
from cellpoint.engine.raw import RawParams, RawResult, find_peaks, raw_inference
from scripted import (
    HEAT_SCALE,
    SCENE_JUDGE,
    Cell,
    Oracle,
    divide,
    gaussian_map,
    grid,
    moving,
    turnover,
)

Array = npt.NDArray[Any]
FloatArray = npt.NDArray[np.float32]
Json = dict[str, Any]

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
FORMAT = 1
VIS_JITTER = 0.04  # the oracle's own visibilities vary from 0.87 to 0.95

# --- array encoding ---------------------------------------------------------------------------

DTYPES = {
    "uint8": "<u1",
    "uint16": "<u2",
    "int32": "<i4",
    "float32": "<f4",
    "float64": "<f8",
}


def enc(values: npt.ArrayLike, dtype: str) -> Json:
    """An array as {"dtype", "shape", "zlib": base64 of the deflated little-endian bytes}."""
    a = np.asarray(values)
    cast = a.astype(DTYPES[dtype])
    if dtype not in ("float32", "float64") and not np.array_equal(cast, a):
        raise ValueError(f"values do not fit {dtype}")
    return {
        "dtype": dtype,
        "shape": list(cast.shape),
        "zlib": base64.b64encode(zlib.compress(np.ascontiguousarray(cast).tobytes(), 9)).decode(),
    }


def dec(obj: Json) -> Array:
    """The inverse of `enc`."""
    dtype = np.dtype(DTYPES[obj["dtype"]])
    raw = zlib.decompress(base64.b64decode(obj["zlib"]))
    a: Array = np.frombuffer(raw, dtype).reshape(obj["shape"]).astype(dtype.newbyteorder("="))
    return a


def dumps(value: Any, indent: int = 0) -> str:
    """JSON as prettier writes it: objects expanded, lists of scalars on one line (every such
    list here is short), lists of objects one item per line."""
    pad = " " * indent
    inner = " " * (indent + 2)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(isinstance(v, dict) for v in value):
            items = [inner + dumps(v, indent + 2) for v in value]
            return "[\n" + ",\n".join(items) + "\n" + pad + "]"
        line = "[" + ", ".join(dumps(v) for v in value) + "]"
        if len(line) + indent > 80:
            raise ValueError(f"list too long to write inline: {line[:60]}...")
        return line
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("non-finite float outside an encoded array")
    return json.dumps(value)


# --- scenes -----------------------------------------------------------------------------------


@dataclass
class Scene:
    """A scripted sequence: ground-truth cells, the oracle's settings and RAW's parameters."""

    name: str
    description: str
    cells: list[Cell]
    n_frames: int
    map_shape: tuple[int, int]
    params: RawParams
    sigma: float = 1.2  # heatmap Gaussian, map px
    lose: set[tuple[int, int]] = field(default_factory=set)  # (cid, t) the tracker misses
    phantom: set[tuple[int, int]] = field(default_factory=set)  # (cid, t): see Oracle.phantom
    stray: set[tuple[int, int]] = field(default_factory=set)  # (cid, t): see Oracle.stray
    jitter: float = 0.0  # amplitude of the tracker's (deterministic) error, model px
    sisters: bool = False  # whether RAW gets the oracle's sister maps
    follow: set[int] = field(default_factory=set)  # see Oracle.follow
    blind: set[int] = field(default_factory=set)  # see Oracle.blind
    unseen: set[int] = field(default_factory=set)  # see Oracle.unseen
    judge: TreeJudge | None = None  # with the oracle's model frames (sisters too)
    dull: set[int] = field(default_factory=set)  # see Oracle.dull
    # The ground truth's division frames (the daughters' first), where RAW must call every
    # division on its frame (the CTC's convention: the mother's last frame is the one before).
    on_time: list[int] | None = None


def params_json(p: RawParams) -> Json:
    return {
        "window": p.window,
        "detection_threshold": p.detection_threshold,
        "visibility_threshold": p.visibility_threshold,
        "division_threshold": p.division_threshold,
        "sister_threshold": p.sister_threshold,
        "min_separation": p.min_separation,
        "min_cycle": p.min_cycle,
    }


def columns_json(tracks: Any, lineage: Any, divisions: Any) -> Json:
    """The three tables' columns (mappings or DataFrames of the result tables' columns), encoded."""
    return {
        "tracks": {
            "track_id": enc(tracks["track_id"], "int32"),
            "t": enc(tracks["t"], "int32"),
            "x": enc(tracks["x"], "float64"),
            "y": enc(tracks["y"], "float64"),
            "visibility": enc(tracks["visibility"], "float32"),
        },
        "lineage": {k: enc(lineage[k], "int32") for k in ("track_id", "start", "end", "parent_id")},
        "divisions": {
            "parent_id": enc(divisions["parent_id"], "int32"),
            "t": enc(divisions["t"], "int32"),
            "daughter_a": enc(divisions["daughter_a"], "int32"),
            "daughter_b": enc(divisions["daughter_b"], "int32"),
            "score": enc(divisions["score"], "float64"),
        },
    }


def tables_json(result: RawResult) -> Json:
    return {
        **columns_json(result.tracks, result.lineage, result.divisions),
        "sisters": {
            name: enc(column, "int32" if name == "t" else "float32")
            for name, column in result.sisters.items()
        },
        "windows": enc(np.array(result.windows, np.int64).reshape(-1, 3), "int32"),
    }


def run_scene(scene: Scene) -> Json:
    oracle = Oracle(
        scene.cells,
        scene.map_shape,
        sigma=scene.sigma,
        lose=scene.lose,
        phantom=scene.phantom,
        stray=scene.stray,
        follow=scene.follow,
        blind=scene.blind,
        unseen=scene.unseen,
        dull=scene.dull,
        jitter=scene.jitter,
        vis_jitter=VIS_JITTER,
        quantise=True,
    )
    progress: list[tuple[int, int]] = []
    result = raw_inference(
        scene.n_frames,
        oracle.heatmap,
        oracle.track_window,
        scene.params,
        lambda done, cells: progress.append((done, cells)),
        oracle.sister_map if scene.sisters else None,
        oracle.model_frame if scene.judge else None,
        scene.judge,
    )
    assert oracle.reads == list(range(scene.n_frames)), "RAW reads each heatmap once, in order"
    q = np.stack([oracle.levels(t) for t in range(scene.n_frames)])
    sisters = None
    if scene.sisters:
        reads = list(oracle.sister_reads)
        assert reads == sorted(set(reads)), "RAW reads each sister map once, in order"
        maps = np.stack([oracle.sister_map(t) for t in reads]).reshape(-1, 3, *scene.map_shape)
        sisters = {"frames": enc(np.array(reads), "int32"), "maps": enc(maps, "float32")}
    judge = None
    if scene.judge:
        read = sorted(set(oracle.frame_reads))
        levels = np.stack([oracle.frame_levels(t) for t in read]) if read else np.zeros((0, 1, 1))
        judge = {
            "judge": json.dumps(scene.judge.to_json()),  # judge.json's text
            "frames": enc(np.array(read, np.int64), "int32"),
            "shape": [dim * 4 for dim in scene.map_shape],
            "scale": 1 / HEAT_SCALE,
            "q": enc(levels, "uint8"),
        }
    return {
        "name": scene.name,
        "description": scene.description,
        "n_frames": scene.n_frames,
        "params": params_json(scene.params),
        "heatmaps": {"scale": 1 / HEAT_SCALE, "q": enc(q, "uint8")},
        "sister_maps": sisters,
        "judge": judge,
        "divisions_on_time": scene.on_time,
        "calls": [
            {
                "first": first,
                "length": length,
                "queries": enc(queries, "float32"),
                "points": enc(points, "float32"),
                "visibility": enc(vis, "float32"),
            }
            for (first, length, queries), (points, vis) in zip(
                oracle.calls, oracle.answers, strict=True
            )
        ],
        "expected": {
            **tables_json(result),
            "progress": enc(np.array(progress, np.int64).reshape(-1, 2), "int32"),
            "peak_held_tracks": result.peak_held_tracks,
        },
    }


# --- hand-made scenes -------------------------------------------------------------------------

MAP = (16, 20)  # heatmap (h, w): model frames of 64 x 80 px
TURNOVER_MAP = (24, 32)  # the smallest map scripted.turnover's cells fit


def hand_scenes() -> list[Scene]:
    p = RawParams
    scenes: list[Scene] = []

    def add(name: str, description: str, cells: list[Cell], n: int, params: RawParams) -> Scene:
        scene = Scene(name, description, cells, n, MAP, params)
        scenes.append(scene)
        return scene

    add(
        "enter_after_empty",
        "no cell in frames 0-4; one enters at 5: frames are skipped until then",
        [moving(1, 5, 19, grid(6), grid(5), vx=1.0)],
        20,
        p(window=8),
    )
    mother = moving(1, 0, 9, grid(5), grid(5), vx=1.0, vy=0.5)
    add(
        "division",
        "1 divides at 10 into 2 and 3; 4 lives throughout: the window restarts at 10",
        [mother, *divide(mother, 10, (2, 3), (29, 29)), moving(4, 0, 29, grid(15), grid(11))],
        30,
        p(),
    )
    add(
        "new_cells_wait",
        "3 enters at 1 and 4 at 3, 3 moving: they go on on the heatmap until the window has been "
        "read for NEW_CELL_HOLD frames, then join one window",
        [
            moving(1, 0, 19, grid(5), grid(5), vx=0.5),
            moving(2, 0, 19, grid(15), grid(11)),
            moving(3, 1, 19, grid(30), grid(20), vx=0.8, vy=-0.6),
            moving(4, 3, 19, grid(45), grid(30)),
        ],
        20,
        p(),
    )
    add(
        "death",
        "1 disappears after 14: its track ends, the window does not restart",
        [moving(1, 0, 14, grid(4), grid(4), vx=1.0), moving(2, 0, 29, grid(15), grid(11), vy=-0.3)],
        30,
        p(),
    )
    add(
        "handover",
        "two cells, 50 frames, window 24: windows hand over at their last frame",
        [
            moving(1, 0, 49, grid(3), grid(3), vx=0.5, vy=0.3),
            moving(2, 0, 49, grid(16), grid(12), vx=-0.5, vy=-0.2),
        ],
        50,
        p(),
    )
    add(
        "short_sequence",
        "T = 5 < window = 8: one window of 5 frames",
        [moving(1, 0, 4, grid(8), grid(8), vx=1.2), moving(2, 0, 4, grid(14), grid(3), vy=1.0)],
        5,
        p(window=8),
    )
    add(
        "window_of_two",
        "window = 2: every call is two frames",
        [moving(1, 0, 6, grid(8), grid(8), vx=1.2)],
        7,
        p(window=2),
    )
    scene = add(
        "lost_and_found",
        "the tracker misses 1 at 12: its track ends at 11 and the heatmap starts a new one",
        [moving(1, 0, 29, grid(5), grid(5), vx=1.0), moving(2, 0, 29, grid(15), grid(11))],
        30,
        p(),
    )
    scene.lose = {(1, 12)}
    mother = moving(1, 0, 18, grid(5), grid(6), vx=0.5)
    add(
        "event_on_last_frame",
        "a division and an entry at the last frame: one-frame tracks, no window after it",
        [mother, *divide(mother, 19, (2, 3), (19, 19)), moving(4, 19, 19, grid(16), grid(12))],
        20,
        p(window=8),
    )
    still = moving(1, 0, 19, grid(8), grid(8))
    x1, y1 = still.at(0)
    add(
        "duplicate",
        "2 comes onto 1 and stays on it: at t=6 they are nearer than half of min_separation, "
        "so track 2, the younger, ends at 5",
        [still, Cell(2, 0, [(x1 + max(0.0, 14.0 - 1.5 * t), y1) for t in range(20)])],
        20,
        p(),
    )
    mother = moving(1, 0, 9, grid(8), grid(8))
    mx, my = mother.at(9)
    add(
        "sisters_close",
        "1 divides at 10 into 2 and 3, which stay 4 px apart: sisters are not one cell twice",
        [
            mother,
            Cell(2, 10, [(mx - 2.0, my)] * 10, parent=1),
            Cell(3, 10, [(mx + 2.0, my)] * 10, parent=1),
        ],
        20,
        p(),
    )
    scene = add(
        "phantom_daughters",
        "the tracker lights 1's daughter slots at 8 and 9 while 1 stays visible: no division",
        [moving(1, 0, 19, grid(6), grid(6), vx=1.0), moving(2, 0, 19, grid(15), grid(11))],
        20,
        p(),
    )
    scene.phantom = {(1, 8), (1, 9)}
    scene = add(
        "stray_daughters",
        "the tracker loses 1 at 8 and lights slots on it and 16 px right: no division, 1 restarts",
        [moving(1, 0, 19, grid(6), grid(6), vx=1.0), moving(2, 0, 19, grid(15), grid(11))],
        20,
        p(),
    )
    scene.stray = {(1, 8)}
    add("nothing", "no cell at all: no tracker call, empty tables", [], 6, p())
    add(
        "all_die",
        "every cell dies: the rest of the sequence is empty",
        [moving(1, 0, 4, grid(4), grid(4)), moving(2, 0, 6, grid(14), grid(10))],
        20,
        p(window=8),
    )
    resident = moving(1, 0, 19, grid(6), grid(6))
    x, y = resident.at(8)
    near = Cell(2, 8, [(x + 10.0, y)] * 12, height=0.95)
    far = Cell(3, 10, [(x + 14.0, y + 16.0)] * 10)
    for name, sep in (("near_entry_ignored", 12.0), ("near_entry_kept", 8.0)):
        scene = add(
            name,
            f"a cell enters 10 px from a living one; min_separation = {sep}",
            [resident, near, far],
            20,
            p(min_separation=sep),
        )
        scene.sigma = 0.8
    x, y = grid(9), grid(7)
    resident = Cell(1, 0, [(x, y)] * 20)
    ignored = Cell(2, 5, [(x - 11.6, y + 0.4)] * 15, height=0.95)
    kept = Cell(3, 10, [(x + 12.6, y - 0.3)] * 10, height=0.95)
    scene = add(
        "entry_near_min_separation",
        "cells enter 11.6 px (ignored) and 12.6 px (a new cell) from a living one",
        [resident, ignored, kept],
        20,
        p(),
    )
    scene.sigma = 0.8
    a = moving(1, 0, 15, grid(2), grid(12), vx=0.3)
    a.vis = {4: 0.1000001, 6: 0.1}  # float32(0.1) is not above the float32 threshold
    b = moving(2, 0, 9, grid(6), grid(4))
    b.kid_vis = (0.3, 0.9)  # not a division: float32(0.3) is not above float32(0.3)
    c = moving(3, 0, 9, grid(15), grid(9))
    c.kid_vis = (0.3000001, 0.31)  # a division
    add(
        "float32_thresholds",
        "thresholds 0.1 and 0.3 compared in float32: visibilities equal to them are not above",
        [a, b, *divide(b, 10, (4, 5), (15, 15)), c, *divide(c, 10, (6, 7), (15, 15))],
        16,
        p(visibility_threshold=0.1, division_threshold=0.3),
    )
    mother = moving(1, 0, 9, grid(6), grid(6))
    add(
        "division_below_threshold",
        "daughter slots read 0.8 and 0.7 under a division threshold of 0.75: no division",
        [mother, *divide(mother, 10, (2, 3), (19, 19))],
        20,
        p(division_threshold=0.75),
    )
    add(
        "visibility_threshold",
        "own visibility under the threshold: one-frame tracks restarted from the heatmap",
        [moving(1, 0, 9, grid(6), grid(6), vx=0.4)],
        10,
        p(visibility_threshold=0.96),
    )

    def division_scene(name: str, description: str, threshold: float) -> Scene:
        """1 divides at 10 into 2 and 3 beside a bystander 4, with sister maps."""
        mother = moving(1, 0, 9, grid(6), grid(6), vx=0.6)
        cells = [
            mother,
            *divide(mother, 10, (2, 3), (19, 19)),
            moving(4, 0, 19, grid(16), grid(11)),
        ]
        scene = add(name, description, cells, 20, p(sister_threshold=threshold))
        scene.sisters = True
        return scene

    for name, description, follow, blind, unseen, threshold in (
        (
            "sister_split",
            "the tracker follows 1 into its daughter 2 at 10; the sister map splits 1 there",
            {1},
            set(),
            set(),
            0.5,
        ),
        (
            "sister_revive",
            "the tracker loses 1 at its division at 10; the sister map makes it a division",
            set(),
            {1},
            set(),
            0.5,
        ),
        (
            "sister_seen",
            "the tracker divides 1 at 10 itself: the sister map's pair adds no second division",
            set(),
            set(),
            set(),
            0.5,
        ),
        (
            "sister_unconfirmed",
            "the tracker divides 1 at 10, but the sister map shows no pair there: no division",
            set(),
            set(),
            {1},
            0.5,
        ),
        (
            "sister_below_threshold",
            "the tracker follows 1 into 2; the sister peak (0.9) is under the threshold 0.95",
            {1},
            set(),
            set(),
            0.95,
        ),
    ):
        scene = division_scene(name, description, threshold)
        scene.follow, scene.blind, scene.unseen = follow, blind, unseen
    for name, description, dull, threshold in (
        (
            "judge_split",
            "the tracker follows 1 into 2; the sister peak (0.9) is under the threshold 0.95, "
            "but 1 brightened before dividing: the judge splits her",
            set(),
            0.95,
        ),
        (
            "judge_dull",
            "the tracker follows 1 into 2; the sister peak (0.9) passes the threshold 0.4, "
            "but 1 did not brighten: the judge keeps her whole",
            {1},
            0.4,
        ),
    ):
        scene = division_scene(name, description, threshold)
        scene.follow, scene.judge, scene.dull = {1}, SCENE_JUDGE, dull
    c1 = moving(1, 0, 9, grid(5), grid(5), vx=1.0, vy=0.8)
    c2, c3 = divide(c1, 10, (2, 3), (39, 59), spread=9.0)
    c5 = moving(5, 30, 59, grid(17), grid(12), vx=-0.3, vy=-0.1)
    c6, c7 = divide(c2, 40, (6, 7), (59, 59), spread=7.0)
    add(
        "lineage",
        "60 frames, window 16: divisions at 10 and 40, a death after 17, an entry at 30",
        [
            c1,
            c2,
            c3,
            moving(4, 0, 17, grid(16), grid(3), vy=0.2),
            c5,
            c6,
            c7,
            moving(8, 0, 59, grid(10), grid(12), vx=0.05, vy=-0.1),
        ],
        60,
        p(window=16),
    )
    first = moving(1, 0, 9, grid(6), grid(6), vx=0.6)
    daughter, sister = divide(first, 10, (2, 3), (12, 19), spread=9.0)
    young = [first, daughter, sister, *divide(daughter, 13, (4, 5), (19, 19), spread=7.0)]
    for name, description, cycle, follow in (
        (
            "young_daughter",
            "2, born at 10, divides at 13 (min_cycle 5): no division, her daughters start anew",
            5,
            set(),
        ),
        ("young_daughter_min_cycle_3", "2 divides at 13 with min_cycle 3: a division", 3, set()),
        (
            "young_daughter_sisters",
            "the tracker follows 2 into her daughter 4 at 13; the sister map does not split her "
            "(min_cycle 5)",
            5,
            {2},
        ),
    ):
        scene = add(name, description, young, 20, p(sister_threshold=0.5, min_cycle=cycle))
        scene.sisters, scene.follow = True, follow
    for n in (30, 120):
        scene = add(
            f"turnover_{n}",
            f"{n} frames of cells that come and go, about 6 in view (scripted.turnover): RAW "
            "holds as many tracks at any length",
            turnover(n),
            n,
            p(window=8),
        )
        scene.map_shape = TURNOVER_MAP
    return scenes


# --- simulated scenes -------------------------------------------------------------------------


def sim_scene(
    name: str, description: str, preset: str, seed: int, params: RawParams, **overrides: Any
) -> Scene:
    """Ground truth of a simulated sequence; its pixels serve as model pixels."""
    from cellpoint.eval.sim import simulate

    seq = simulate(preset, seed=seed, **overrides)
    t, h, w = seq.frames.shape
    fates = set(seq.track_info["fate"]) | set(seq.track_info["origin"])
    parents = dict(zip(seq.lineage["track_id"], seq.lineage["parent_id"], strict=True))
    cells = []
    for _, rows in seq.tracks.groupby("track_id", sort=True):
        ts = rows["t"].to_numpy()
        assert (np.diff(ts) == 1).all()
        path = list(zip(rows["x"].tolist(), rows["y"].tolist(), strict=True))
        cid = int(rows["track_id"].iloc[0])
        height = 0.6 + 0.35 * ((cid * 0.6180339887) % 1.0)  # peaks of 0.6 to 0.95
        cells.append(Cell(cid, int(ts[0]), path, int(parents[cid]), round(height, 3)))
    scene = Scene(name, description, cells, t, (h // 4, w // 4), params, sigma=1.0, jitter=0.3)
    scene.description += f" ({len(cells)} cells; {', '.join(sorted(fates))})"
    return scene


def sim_scenes() -> list[Scene]:
    hard_sisters = sim_scene(
        "sim_hard_sisters",
        "cellpoint.sim 'hard' preset, seed 3, cropped to 128 x 128 px, 24 frames, window 6; the "
        "tracker follows the first daughter of every other mother and loses the rest: the "
        "sister maps find the divisions",
        "hard",
        3,
        RawParams(window=6),
        height=128,
        width=128,
        n_frames=24,
    )
    mothers = sorted({c.parent for c in hard_sisters.cells if c.parent})
    hard_sisters.sisters = True
    hard_sisters.follow = set(mothers[::2])
    hard_sisters.blind = set(mothers[1::2])
    hard_judge = sim_scene(
        "sim_hard_judge",
        "as sim_hard_sisters, with model frames and a judge: every third mother does not "
        "brighten before she divides, and the judge keeps her whole",
        "hard",
        3,
        RawParams(window=6),
        height=128,
        width=128,
        n_frames=24,
    )
    hard_judge.sisters, hard_judge.judge = True, SCENE_JUDGE
    hard_judge.follow, hard_judge.blind = hard_sisters.follow, hard_sisters.blind
    hard_judge.dull = set(mothers[::3])
    perfect = [
        sim_scene(
            "sim_small",
            "cellpoint.sim 'small' preset, seed 5, 128 x 128 px, 24 frames, window 8",
            "small",
            5,
            RawParams(window=8, min_separation=10.0),
        ),
        sim_scene(
            "sim_hard_crop",
            "cellpoint.sim 'hard' preset, seed 3, cropped to 96 x 96 px, 24 frames, window 6",
            "hard",
            3,
            RawParams(window=6),
            height=96,
            width=96,
            n_frames=24,
        ),
    ]
    for scene in perfect:  # a network that sees every division calls each on its frame
        births = {cell.parent: cell.start for cell in scene.cells if cell.parent}
        scene.on_time = sorted(births.values())  # one frame per division, repeats kept
    return [*perfect, hard_sisters, hard_judge]


# --- the division judge's parts --------------------------------------------------------------


def judge_vector() -> Json:
    """box_mean, pair_features and a tree judge's log-odds on recorded inputs."""
    rng = np.random.default_rng(7)
    frame = rng.uniform(-0.2, 1.3, (9, 11)).astype(np.float32)  # any float32, not quantised
    points = [(5.0, 4.0), (4.5, 3.5), (4.49, 3.51), (0.2, 0.0), (-3.0, 12.0), (10.6, 8.4)]
    histories = [[0.5], [0.52, 0.5], [0.6, 0.55, 0.5], [0.7, 0.6, 0.5, 0.41],
                 [0.7, 0.6, 0.5, 0.41, 0.45], [0.7, 0.6, 0.5, 0.41, 0.45, 0.39]]  # fmt: skip
    features = [
        pair_features(0.3 + 0.1 * k, 6.0 + k, 2.5, k % 2 == 0, h, (0.62, 0.55 + 0.02 * k))
        for k, h in enumerate(histories)
    ]
    # Features on both sides of the judge's thresholds, and at them in float32.
    samples = rng.uniform(-0.2, 1.0, (24, len(FEATURES)))
    samples[:4, FEATURES.index("d1")] = np.array([0.05, np.float32(0.05), 0.0500001, 0.0499999])
    samples[4:8, FEATURES.index("score")] = np.array([0.15, np.float32(0.15), 0.15000001, 0.1499])
    return {
        "format": FORMAT,
        "description": "box_mean, pair_features and TreeJudge.log_odds (cellpoint.judge)",
        "constants": {
            "BOX_RADIUS": BOX_RADIUS,
            "HISTORY": HISTORY,
            "CANDIDATE_SCORE": CANDIDATE_SCORE,
            "FEATURES": " ".join(FEATURES),
        },
        "frame": enc(frame, "float32"),
        "boxes": [{"x": x, "y": y, "mean": box_mean(frame, x, y)} for x, y in points],
        "pairs": [
            {
                "score": 0.3 + 0.1 * k,
                "half": 6.0 + k,
                "gap": 2.5,
                "alive": k % 2 == 0,
                "history": enc(np.array(h), "float64"),
                "sisters": enc(np.array([0.62, 0.55 + 0.02 * k]), "float64"),
                "features": enc(np.array(f), "float64"),
            }
            for k, (h, f) in enumerate(zip(histories, features, strict=True))
        ],
        "judge": json.dumps(SCENE_JUDGE.to_json()),
        "samples": enc(samples, "float64"),
        "log_odds": enc(np.array([SCENE_JUDGE.log_odds(s) for s in samples.tolist()]), "float64"),
    }


# --- find_peaks -------------------------------------------------------------------------------


def peak_cases() -> list[Json]:
    cases: list[tuple[str, Array, float, float]] = []
    single = np.zeros((12, 14), np.float32)
    single[5, 7] = 0.8
    cases.append(("single_pixel", single, 0.5, 1.0))
    cases.append(("empty", np.zeros((8, 8), np.float32), 0.5, 12.0))
    cases.append(("below_threshold", np.full((8, 8), 0.4, np.float32), 0.5, 12.0))
    for name, region in (
        ("plateau_2x2", (slice(4, 6), slice(6, 8))),
        ("plateau_row", (slice(3, 4), slice(2, 7))),
        ("plateau_column", (slice(2, 7), slice(5, 6))),
        ("plateau_3x3", (slice(2, 5), slice(2, 5))),
    ):
        heat = np.zeros((12, 12), np.float32)
        heat[region] = 0.9
        cases.append((name, heat, 0.5, 1.0))
    diagonal = np.zeros((12, 12), np.float32)
    diagonal[4, 6] = diagonal[5, 5] = 0.9
    cases.append(("diagonal_pair", diagonal, 0.5, 1.0))
    strict = np.zeros((16, 16), np.float32)
    strict[3, 3] = 0.5
    strict[10, 10] = 0.5001
    for thr in (0.5, 0.4999, 0.6):
        cases.append((f"threshold_{thr}", strict, thr, 1.0))
    pair = np.zeros((16, 16), np.float32)
    pair[8, 5] = 0.7
    pair[8, 7] = 0.9
    for sep in (12.0, 8.0, 7.9, 8.1):
        cases.append((f"separation_{sep}", pair, 0.5, sep))
    tie = pair.copy()
    tie[8, 5] = 0.9
    cases.append(("equal_heights", tie, 0.5, 12.0))
    chain = np.zeros((8, 32), np.float32)
    chain[4, 4], chain[4, 7], chain[4, 10] = 0.9, 0.8, 0.85
    cases.append(("chain", chain, 0.5, 13.0))
    border = [(0.0, 0.0), (19.0, 0.0), (0.0, 15.0), (19.0, 15.0), (9.3, 0.0), (0.0, 7.6)]
    border_map = gaussian_map((16, 20), [(x, y, 1.0) for x, y in border], 1.0)
    cases.append(("border", border_map, 0.5, 4.0))
    offsets = [(3.3, 3.8, 0.9), (10.6, 4.2, 0.7), (16.1, 11.5, 0.95), (6.5, 12.5, 0.6)]
    for sigma in (0.8, 1.5):
        cases.append((f"subpixel_sigma_{sigma}", gaussian_map((16, 20), offsets, sigma), 0.5, 4.0))
    odd = gaussian_map((16, 20), offsets, 1.0)
    odd[0, :3] = -np.inf
    odd[4, 10] = -np.inf  # left of the second peak: the parabola uses the centre instead
    odd[12, 2] = np.nan
    odd[11, 16] = np.nan  # next to the third peak: it is no peak
    cases.append(("non_finite", odd, 0.5, 4.0))
    rng = np.random.default_rng(7)
    for i in range(4):
        # Few levels: plateaus and ties everywhere.
        levels = rng.integers(0, 6, (14, 18)).astype(np.float32) / np.float32(5)
        cases.append((f"random_levels_{i}", levels, 0.3, [1.0, 4.0, 9.0, 13.0][i]))
    noisy = (rng.random((24, 30)) ** 3).astype(np.float32)
    cases.append(("random_noise", noisy, 0.5, 6.0))
    out = []
    for name, heat, thr, sep in cases:
        peaks = find_peaks(heat, thr, sep)
        out.append(
            {
                "name": name,
                "threshold": thr,
                "min_separation": sep,
                "heatmap": enc(heat, "float32"),
                "expected": enc(peaks, "float32"),
            }
        )
    return out


# --- preprocessing ----------------------------------------------------------------------------


def skewed_frame(height: int, width: int) -> Array:
    """A deterministic uint16 frame both hosts can compute: skewed pseudo-random values."""
    i = np.arange(height * width, dtype=np.int64)
    u = (i * 40503) % 65521
    return ((u * u) // 65521 + (i % 7) * 3).reshape(height, width).astype(np.uint16)


def sample_frame() -> Array:
    """A small uint16 frame: background gradient, three blobs, a hot pixel, some noise."""
    h, w = 21, 34
    yy, xx = np.mgrid[:h, :w]
    rng = np.random.default_rng(11)
    img = 300.0 + 4.0 * xx + 2.0 * yy
    for cy, cx, s, a in (
        (6.0, 8.0, 2.5, 2500.0),
        (14.0, 20.0, 3.5, 1800.0),
        (4.0, 29.0, 2.0, 900.0),
    ):
        img += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    img += rng.normal(0, 25.0, (h, w))
    img[18, 3] = 60000.0
    frame: Array = np.clip(np.rint(img), 0, 65535).astype(np.uint16)
    return frame


def preprocess_vector() -> Json:
    weights = [
        {"n_in": n_in, "n_out": n_out, "expected": enc(resize_weights(n_in, n_out), "float32")}
        for n_in, n_out in ((10, 4), (7, 15), (5, 5), (13, 6), (1, 3), (3, 1), (9, 2), (24, 50))
    ]
    geometries = []
    rng = np.random.default_rng(3)
    for h, w, d in (
        (21, 34, 16.0),
        (21, 34, 40.0),
        (100, 60, 48.0),  # 100 * 0.5 = 50: exact
        (5, 15, 48.0),  # 2.5 and 7.5: Python rounds half to even (2, 8)
        (1024, 1024, 64.0),
        (773, 739, 50.0),
        (512, 500, 7.0),
        (3, 3, 1000.0),  # resized to at least 1 x 1
    ):
        g = Geometry.for_diameter(h, w, d)
        y = np.concatenate([[0.0, h - 1.0, -0.5, h - 0.5], rng.uniform(-1, h, 6)])
        x = np.concatenate([[0.0, w - 1.0, -0.5, w - 0.5], rng.uniform(-1, w, 6)])
        my, mx = g.to_model(y, x)
        iy, ix = g.to_input(my, mx)
        geometries.append(
            {
                "height": h,
                "width": w,
                "diameter": d,
                "scale": g.scale,
                "resized": list(g.resized),
                "padded": list(g.padded),
                "input_y": enc(y, "float64"),
                "input_x": enc(x, "float64"),
                "model_y": enc(my, "float32"),
                "model_x": enc(mx, "float32"),
                "back_y": enc(iy, "float64"),
                "back_x": enc(ix, "float64"),
            }
        )
    frame = sample_frame()
    frames = []
    cases: tuple[tuple[float, Polarity], ...] = (
        (16.0, "bright"),
        (40.0, "bright"),
        (13.0, "bright"),
        (16.0, "dark"),
    )
    for diameter, polarity in cases:
        g = Geometry.for_diameter(frame.shape[0], frame.shape[1], diameter)
        frames.append(
            {
                "diameter": diameter,
                "polarity": polarity,
                "resized": list(g.resized),
                "padded": list(g.padded),
                "expected": enc(Preprocessor(g, polarity=polarity)(frame), "float32"),
            }
        )
    big_shapes = ((256, 256), (257, 255), (257, 256), (400, 401), (1000, 700))
    big = []
    for h, w in big_shapes:
        img = skewed_frame(h, w)
        out = normalise(img).reshape(-1)
        idx = np.linspace(0, h * w - 1, 50).astype(np.int64)
        big.append(
            {
                "height": h,
                "width": w,
                "indices": enc(idx, "int32"),
                "expected": enc(out[idx], "float32"),
            }
        )
    as_float = (frame.astype(np.float32) * np.float32(0.37) - 50).astype(np.float32)
    return {
        "format": FORMAT,
        "description": "preprocessing: resize weights, geometry, normalised and padded frames",
        "frame": enc(frame, "uint16"),
        "normalised": enc(normalise(frame), "float32"),
        "normalised_dark": enc(normalise(frame, "dark"), "float32"),
        "frame_float": enc(as_float, "float32"),
        "normalised_float": enc(normalise(as_float), "float32"),
        "normalised_float_dark": enc(normalise(as_float, "dark"), "float32"),
        "frame_uint8": enc((frame // 256).astype(np.uint8), "uint8"),
        "normalised_uint8": enc(normalise((frame // 256).astype(np.uint8)), "float32"),
        "frames": frames,
        "skewed_frames": big,
        "weights": weights,
        "geometries": geometries,
    }


# --- the shipped model, end to end ---------------------------------------------------------

MODEL_VECTOR = "model.json"
FEATURE_ROWS = 2


class RecordingCap:
    """The shipped ONNX model, keeping what the vector needs of its first calls."""

    def __init__(self) -> None:
        from cellpoint.engine.infer import OnnxCap

        self.model = OnnxCap(threads=1)
        self.card = self.model.card
        self.has_sisters = self.model.has_sisters
        self.judge = self.model.judge
        self.encoded: list[tuple[FloatArray, FloatArray]] = []
        self.first_call: Json | None = None
        self.first_sisters: FloatArray | None = None

    def encode(self, frame: FloatArray) -> tuple[FloatArray, FloatArray]:
        feats, heat = self.model.encode(frame)
        if not self.encoded:
            self.encoded.append((feats, heat))
        return feats, heat

    def track(self, features: FloatArray, queries: FloatArray) -> tuple[FloatArray, FloatArray]:
        points, vis = self.model.track(features, queries)
        if self.first_call is None:
            self.first_call = {
                "frames": features.shape[0],
                "queries": enc(queries, "float32"),
                "points": enc(points, "float32"),
                "visibility": enc(vis, "float32"),
            }
        return points, vis

    def sisters(self, previous: FloatArray, current: FloatArray) -> FloatArray:
        out = self.model.sisters(previous, current)
        if self.first_sisters is None:
            self.first_sisters = out  # frames 0 and 1: RAW's first sister map
        return out


def model_vector() -> Json:
    """The shipped model on 8 frames of a simulated sequence, cropped to 96 x 96; of the first
    frame's features, the first FEATURE_ROWS rows of the map (all of them make the file large).
    The crop is one where the division judge keeps a mother whole that the sister score alone
    (above `sister_threshold`) would split, with a wide margin (its log-odds 2 under the cut),
    so the tables show that both hosts ask it."""
    from cellpoint.engine.infer import track_kernel
    from cellpoint.eval.sim import simulate
    from cellpoint.io.frames import FrameStack

    seq = simulate("small", seed=424720)
    frames = np.ascontiguousarray(seq.frames[2:10, 32:, 32:])
    diameter = seq.config.diameter
    params = RawParams(window=5)
    model = RecordingCap()
    result = track_kernel(FrameStack(frames), diameter, params, model=model)
    threshold = np.float32(params.sister_threshold)
    unjudged = track_kernel(
        FrameStack(frames), diameter, params, model, judge=lambda c: bool(c.pair[4] > threshold)
    )
    assert len(unjudged.divisions) > len(result.divisions), "the crop no longer tests the judge"
    assert len(result.divisions) > 0, "the crop's tables hold no division for the hosts to share"
    feats, heat = model.encoded[0]
    return {
        "format": FORMAT,
        "description": "the shipped CAP model end to end (onnxruntime, CPU) on a simulated crop",
        "model": model.card["name"],
        "sha256": {name: info["sha256"] for name, info in model.card["files"].items()},
        "judge_sha256": model.card["judge"]["sha256"],
        "divisions_without_judge": len(unjudged.divisions),
        "frames": enc(frames, "uint16"),
        "diameter": diameter,
        "params": params_json(params),
        "encoder": {
            "features": enc(feats[:FEATURE_ROWS], "float32"),  # channel-last [rows, w, C]
            "heatmap": enc(heat, "float32"),
        },
        "first_window": model.first_call,
        "first_sisters": None
        if model.first_sisters is None
        else enc(model.first_sisters, "float32"),
        "tables": {
            **columns_json(result.tracks, result.lineage, result.divisions),
            "windows": result.metadata["windows"],
        },
    }


# --- all --------------------------------------------------------------------------------------


def build_all() -> dict[str, Json]:
    """File name -> vector; nothing is written."""
    small, hard, hard_sisters, hard_judge = sim_scenes()
    hand = hand_scenes()
    return {
        "raw-scenes.json": {
            "format": FORMAT,
            "description": "RAW inference on hand-made scenes, one behaviour each",
            "cases": [
                run_scene(s) for s in hand if not s.sisters and not s.name.startswith("turnover")
            ],
        },
        "raw-turnover.json": {
            "format": FORMAT,
            "description": "RAW inference on cells that come and go, at two lengths",
            "cases": [run_scene(s) for s in hand if s.name.startswith("turnover")],
        },
        "raw-sisters.json": {
            "format": FORMAT,
            "description": "RAW inference with the sister head's maps: divisions it finds",
            "cases": [
                run_scene(s)
                for s in (*(s for s in hand if s.sisters and not s.judge), hard_sisters)
            ],
        },
        "raw-judge.json": {
            "format": FORMAT,
            "description": "RAW inference with a division judge: the sister pairs it splits",
            "cases": [run_scene(s) for s in (*(s for s in hand if s.judge), hard_judge)],
        },
        "raw-sim-small.json": {
            "format": FORMAT,
            "description": "RAW inference on a simulated sequence",
            "cases": [run_scene(small)],
        },
        "raw-sim-hard.json": {
            "format": FORMAT,
            "description": "RAW inference on a crop of a hard simulated sequence",
            "cases": [run_scene(hard)],
        },
        "peaks.json": {
            "format": FORMAT,
            "description": "find_peaks: heatmap, threshold, min_separation -> [K, 3] (x, y, score)",
            "cases": peak_cases(),
        },
        "preprocess.json": preprocess_vector(),
        "judge.json": judge_vector(),
    }


def main() -> None:
    VECTORS.mkdir(exist_ok=True)
    for name, vector in [*build_all().items(), (MODEL_VECTOR, model_vector())]:
        text = dumps(vector) + "\n"
        (VECTORS / name).write_text(text)
        print(f"{name}: {len(text) / 1024:.1f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
