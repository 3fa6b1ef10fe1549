"""cellpoint.engine.lineage: divisions found and timed over the whole sequence by the sister
evidence.

RAW's tables are written by hand here: a mother, her daughters from RAW's call on (or a cell
that begins beside her with no mother), and the sister pairs the head named frame by frame.
The step must move a division to the latest frame whose pair over the daughters is at least
STRONG_FRACTION of their strongest, keep the CTC's convention (the daughters begin the frame
after the mother's last), respect `min_cycle` across generations, jointly, and give a mother
to an orphan the head names a daughter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from cellpoint.engine.infer import to_result
from cellpoint.engine.lineage import (
    ADOPTION_FRACTION,
    ORPHAN_REACH,
    STRONG_FRACTION,
    TIMING_REACH,
    adopt_orphans,
    global_lineage,
    time_divisions,
)
from cellpoint.engine.preprocess import Geometry
from cellpoint.engine.raw import RawParams, RawResult
from cellpoint.io.frames import FrameStack

# min_separation 12: evidence counts within 6 px; a sister threshold float32 holds exactly
PARAMS = RawParams(min_cycle=5, sister_threshold=0.375)
NAMED = PARAMS.sister_threshold  # a pair this strong names two cells sisters
ADOPTING = ADOPTION_FRACTION * NAMED  # a pair this strong names an orphan and her sister


@dataclass
class Tables:
    """RAW's tables, written track by track."""

    tracks: list[tuple[int, int, float, float]] = field(default_factory=list)
    lineage: list[tuple[int, int, int, int]] = field(default_factory=list)
    divisions: list[tuple[int, int, int, int, float]] = field(default_factory=list)
    sisters: list[tuple[int, float, float, float, float, float]] = field(default_factory=list)

    def track(
        self, track_id: int, start: int, end: int, parent: int, x: float, dx: float = 0
    ) -> None:
        """A track at (x + dx * (t - start), 50 + track_id) from `start` to `end`."""
        self.lineage.append((track_id, start, end, parent))
        for t in range(start, end + 1):
            self.tracks.append((track_id, t, x + dx * (t - start), 50.0 + track_id))

    def divide(self, parent: int, a: int, b: int, t: int) -> None:
        self.divisions.append((parent, t, a, b, 0.75))

    def split(self, track_id: int, t: int, a: tuple[int, float], b: tuple[int, float]) -> None:
        """Track `track_id` ends at t - 1; daughters (id, x) `a` and `b` go on to its end."""
        row = next(i for i, entry in enumerate(self.lineage) if entry[0] == track_id)
        _, start, end, parent = self.lineage[row]
        self.lineage[row] = (track_id, start, t - 1, parent)
        self.tracks = [r for r in self.tracks if r[0] != track_id or r[1] < t]
        for daughter, x in (a, b):
            self.track(daughter, t, end, track_id, x)
        self.divide(track_id, a[0], b[0], t)

    def pair_over(self, a: int, b: int, t: int, score: float, off: float = 0.0) -> None:
        """A sister pair at frame t whose midpoint is the daughters' there, `off` px aside."""
        (xa, ya), (xb, yb) = self.at(a, t), self.at(b, t)
        self.sisters.append((t, xa + off, ya, xb + off, yb, score))

    def at(self, track_id: int, t: int) -> tuple[float, float]:
        return next((x, y) for k, u, x, y in self.tracks if k == track_id and u == t)

    def raw(self) -> RawResult:
        tracks = sorted(self.tracks)
        sisters = np.array(self.sisters, np.float64).reshape(-1, 6)
        return RawResult(
            tracks={
                "track_id": np.array([r[0] for r in tracks], np.int64),
                "t": np.array([r[1] for r in tracks], np.int64),
                "x": np.array([r[2] for r in tracks]),
                "y": np.array([r[3] for r in tracks]),
                "visibility": np.linspace(0.6, 0.9, len(tracks)).astype(np.float32),
            },
            lineage={
                k: np.array([r[i] for r in sorted(self.lineage)], np.int64)
                for i, k in enumerate(("track_id", "start", "end", "parent_id"))
            },
            divisions={
                k: np.array(
                    [r[i] for r in self.divisions], np.float64 if k == "score" else np.int64
                )
                for i, k in enumerate(("parent_id", "t", "daughter_a", "daughter_b", "score"))
            },
            sisters={
                "t": sisters[:, 0].astype(np.int64),
                **{
                    k: sisters[:, i + 1].astype(np.float32)
                    for i, k in enumerate(("xa", "ya", "xb", "yb", "score"))
                },
            },
            windows=[],
        )


def one_division(called: int = 5, end: int = 14) -> Tables:
    """Mother 1 over frames 0 .. called - 1; daughters 2 and 3, 8 px apart, from `called`."""
    tables = Tables()
    tables.track(1, 0, called - 1, 0, 100.0, dx=1.0)
    tables.track(2, called, end, 1, 96.0)
    tables.track(3, called, end, 1, 104.0)
    tables.divide(1, 2, 3, called)
    return tables


def rows(table: dict[str, np.ndarray], *columns: str) -> list[tuple[int, ...]]:
    return list(zip(*(table[k].tolist() for k in columns), strict=True))


def lineage_of(raw: RawResult) -> dict[int, tuple[int, int, int]]:
    lineage = rows(raw.lineage, "track_id", "start", "end", "parent_id")
    return {k: (start, end, parent) for k, start, end, parent in lineage}


def check_consistent(raw: RawResult) -> None:
    """Every track's rows cover start .. end once, in order; daughters begin the frame after
    their mother's last; each division row says so."""
    lineage = lineage_of(raw)
    ids, ts = raw.tracks["track_id"], raw.tracks["t"]
    assert np.all(np.diff(ids) >= 0)
    for k, (start, end, parent) in lineage.items():
        assert ts[ids == k].tolist() == list(range(start, end + 1))
        if parent:
            assert start == lineage[parent][1] + 1
    for parent, t, a, b in rows(raw.divisions, "parent_id", "t", "daughter_a", "daughter_b"):
        assert lineage[a][0] == lineage[b][0] == t == lineage[parent][1] + 1


def test_a_division_moves_to_the_latest_frame_of_a_strong_sister_pair() -> None:
    tables = one_division(called=5)
    tables.pair_over(2, 3, 5, 0.4)  # what RAW called on: the nucleus elongating
    tables.pair_over(2, 3, 7, 0.9)  # the birth
    raw = tables.raw()
    timed = time_divisions(raw, PARAMS)
    check_consistent(timed)
    assert lineage_of(timed) == {1: (0, 6, 0), 2: (7, 14, 1), 3: (7, 14, 1)}
    assert timed.divisions["t"].tolist() == [7]
    assert timed.divisions["score"].tolist() == [0.75]  # RAW's score stays
    # Until then the mother is one object where her daughters' two halves were: their midpoint.
    mother = timed.tracks["track_id"] == 1
    assert timed.tracks["x"][mother][-2:].tolist() == [100.0, 100.0]
    assert timed.tracks["y"][mother][-2:].tolist() == [51.0 + 1.5, 51.0 + 1.5]
    assert len(timed.tracks["t"]) == len(raw.tracks["t"]) - 2  # two points became one, twice
    assert timed.sisters is raw.sisters


def test_a_later_pair_moves_a_division_only_if_strong() -> None:
    """The lobes first, then the birth: a later pair at least STRONG_FRACTION of the strongest
    wins, a weaker one does not."""
    weak = one_division(called=5)
    weak.pair_over(2, 3, 5, 0.8)
    weak.pair_over(2, 3, 6, 0.8 * STRONG_FRACTION - 0.01)
    assert lineage_of(time_divisions(weak.raw(), PARAMS))[2] == (5, 14, 1)
    strong = one_division(called=5)
    strong.pair_over(2, 3, 5, 0.8)
    strong.pair_over(2, 3, 6, 0.8 * STRONG_FRACTION + 0.01)
    strong.pair_over(2, 3, 7, 0.1)
    assert time_divisions(strong.raw(), PARAMS).divisions["t"].tolist() == [6]


def test_a_division_without_pairs_over_its_daughters_stays() -> None:
    tables = one_division(called=5)
    tables.pair_over(2, 3, 6, 0.9, off=40.0)  # sisters elsewhere
    raw = tables.raw()
    assert time_divisions(raw, PARAMS) is raw


def test_only_pairs_over_the_daughters_and_within_reach_count() -> None:
    aside = one_division(called=5)
    aside.pair_over(2, 3, 5, 0.3)
    aside.pair_over(2, 3, 6, 0.9, off=7.0)  # another cell's sisters, 7 px away
    assert time_divisions(aside.raw(), PARAMS).divisions["t"].tolist() == [5]
    near = one_division(called=5)
    near.pair_over(2, 3, 5, 0.3)
    near.pair_over(2, 3, 6, 0.9, off=5.0)
    assert time_divisions(near.raw(), PARAMS).divisions["t"].tolist() == [6]
    far = one_division(called=5)
    far.pair_over(2, 3, 5, 0.3)
    far.pair_over(2, 3, 5 + TIMING_REACH + 1, 0.9)
    assert time_divisions(far.raw(), PARAMS).divisions["t"].tolist() == [5]


def test_a_division_moves_no_later_than_its_daughters_last_frame() -> None:
    tables = one_division(called=5, end=6)  # daughter tracks end at 6
    tables.pair_over(2, 3, 5, 0.3)
    tables.pair_over(2, 3, 6, 0.9)
    timed = time_divisions(tables.raw(), PARAMS)
    check_consistent(timed)
    assert lineage_of(timed) == {1: (0, 5, 0), 2: (6, 6, 1), 3: (6, 6, 1)}


def two_generations(mother: tuple[float, float], daughter: tuple[float, float]) -> RawResult:
    """One division called at 5 whose daughter 2 divides at 10 (min_cycle 5 allows no less),
    with sister evidence (at RAW's frame, 2 frames later) for each."""
    tables = one_division(called=5, end=9)
    tables.track(4, 10, 16, 2, 90.0)
    tables.track(5, 10, 16, 2, 99.0)
    tables.divide(2, 4, 5, 10)
    for (a, b, t), scores in (((2, 3, 5), mother), ((4, 5, 10), daughter)):
        tables.pair_over(a, b, t, scores[0])
        tables.pair_over(a, b, t + 2, scores[1])
    return tables.raw()


def test_generations_are_timed_together_under_min_cycle() -> None:
    """Alone, the mother's division would move 2 frames later; that leaves her daughter 3
    frames before her own division, under min_cycle 5, whose evidence is strongest where RAW
    called it. The best lineage keeps both."""
    timed = time_divisions(two_generations(mother=(0.5, 0.9), daughter=(0.8, 0.1)), PARAMS)
    assert sorted(timed.divisions["t"].tolist()) == [5, 10]
    # With her daughter's evidence later as well, both move.
    timed = time_divisions(two_generations(mother=(0.5, 0.9), daughter=(0.3, 0.8)), PARAMS)
    check_consistent(timed)
    assert sorted(timed.divisions["t"].tolist()) == [7, 12]
    assert lineage_of(timed)[2] == (7, 11, 1)


def test_tables_without_sister_pairs_are_raws() -> None:
    raw = one_division().raw()
    assert time_divisions(raw, PARAMS) is raw


def test_to_result_times_divisions_unless_greedy() -> None:
    tables = one_division(called=5)
    tables.pair_over(2, 3, 5, 0.4)
    tables.pair_over(2, 3, 7, 0.9)
    frames = FrameStack(np.zeros((15, 200, 200), np.uint8))
    geometry = Geometry.for_diameter(200, 200, 24.0)  # model pixels are input pixels
    tables.track(4, 12, 14, 0, 120.0)  # an orphan beside daughter 3 (16 px), named her sister
    tables.pair_over(3, 4, 12, NAMED)
    timed = to_result(tables.raw(), geometry, frames, {}, PARAMS)
    assert timed.divisions["t"].tolist() == [7, 12]
    assert timed.metadata["lineage"] == "global"
    greedy = to_result(tables.raw(), geometry, frames, {}, PARAMS, "greedy")
    assert greedy.divisions["t"].tolist() == [5]
    assert greedy.metadata["lineage"] == "greedy"
    with pytest.raises(ValueError, match="lineage must be one of 'global', 'greedy'"):
        to_result(tables.raw(), geometry, frames, {}, PARAMS, "best")  # type: ignore[arg-type]


def beside_a_cell(orphan_x: float = 110.0, mother_parent: int = 0) -> Tables:
    """Cell 1 over frames 0-14 at x 100; orphan 2, with no mother, from frame 6 at `orphan_x`."""
    tables = Tables()
    tables.track(1, 0, 14, mother_parent, 100.0)
    tables.track(2, 6, 14, 0, orphan_x)
    return tables


def test_an_orphan_named_a_daughter_splits_the_cell_beside_her() -> None:
    """The cell beside her is her mother until the frame before; from then on, a new track
    (her sister) goes on where the mother was."""
    tables = beside_a_cell()
    tables.pair_over(1, 2, 6, ADOPTING)  # too weak for RAW to split a mother by
    raw = tables.raw()
    adopted = adopt_orphans(raw, PARAMS)
    check_consistent(adopted)
    assert lineage_of(adopted) == {1: (0, 5, 0), 2: (6, 14, 1), 3: (6, 14, 1)}
    assert rows(adopted.divisions, "parent_id", "t", "daughter_a", "daughter_b") == [(1, 6, 3, 2)]
    assert adopted.divisions["score"].tolist() == [pytest.approx(ADOPTING)]
    sister = adopted.tracks["track_id"] == 3
    assert adopted.tracks["x"][sister].tolist() == [100.0] * 9  # the mother's points, renamed
    assert len(adopted.tracks["t"]) == len(raw.tracks["t"])
    assert adopted.sisters is raw.sisters


def test_two_orphans_named_sisters_are_the_daughters_of_the_cell_that_ended() -> None:
    tables = Tables()
    tables.track(1, 0, 5, 0, 100.0)
    tables.track(2, 6, 14, 0, 94.0)
    tables.track(3, 6, 14, 0, 106.0)
    tables.track(4, 0, 14, 0, 160.0)  # a cell further off
    tables.pair_over(2, 3, 8, NAMED + 0.1)  # named two frames after they began
    adopted = adopt_orphans(tables.raw(), PARAMS)
    check_consistent(adopted)
    assert lineage_of(adopted) == {1: (0, 5, 0), 2: (6, 14, 1), 3: (6, 14, 1), 4: (0, 14, 0)}
    # The lineage step goes on to time the division where the sisters were named.
    assert global_lineage(tables.raw(), PARAMS).divisions["t"].tolist() == [8]


def test_orphans_stay_orphans_unless_named_near_a_cell_that_may_divide() -> None:
    weak = beside_a_cell()
    weak.pair_over(1, 2, 6, ADOPTING - 0.01)
    elsewhere = beside_a_cell()
    elsewhere.pair_over(1, 2, 6, 0.9, off=7.0)  # over another pair of cells
    late = beside_a_cell()
    late.pair_over(1, 2, 6 + TIMING_REACH + 1, 0.9)
    far = beside_a_cell(orphan_x=100.0 + ORPHAN_REACH * PARAMS.min_separation + 1)
    far.pair_over(1, 2, 6, 0.9)
    for tables in (weak, elsewhere, late, far):
        raw = tables.raw()
        assert adopt_orphans(raw, PARAMS) is raw


def test_an_orphan_is_adopted_only_where_min_cycle_allows() -> None:
    """Cell 1 was born at frame 1; orphan 2 begins beside her at 6."""
    tables = Tables()
    tables.track(9, 0, 0, 0, 100.0)
    tables.track(1, 1, 14, 9, 100.0)
    tables.track(8, 1, 3, 9, 130.0)
    tables.divide(9, 1, 8, 1)
    tables.track(2, 6, 14, 0, 110.0)
    tables.pair_over(1, 2, 6, 0.9)
    raw = tables.raw()
    assert lineage_of(adopt_orphans(raw, PARAMS))[2] == (6, 14, 1)  # 5 frames: min_cycle 5
    assert adopt_orphans(raw, RawParams(min_cycle=6)) is raw
    # A cell RAW divides already, and an orphan who divides sooner than min_cycle, stay.
    divided = beside_a_cell()
    divided.pair_over(1, 2, 6, 0.9)
    divided.split(1, 12, (3, 95.0), (4, 105.0))
    raw = divided.raw()
    assert adopt_orphans(raw, PARAMS) is raw
    early = beside_a_cell()
    early.pair_over(1, 2, 6, 0.9)
    early.split(2, 10, (5, 108.0), (6, 118.0))
    raw = early.raw()
    assert adopt_orphans(raw, PARAMS) is raw
    assert lineage_of(adopt_orphans(raw, RawParams(min_cycle=4)))[2] == (6, 9, 1)


def test_a_cell_divides_once_for_the_strongest_named_orphan() -> None:
    tables = beside_a_cell()
    tables.track(3, 6, 14, 0, 90.0)
    tables.pair_over(1, 2, 6, 0.5)
    tables.pair_over(1, 3, 6, 0.7)
    adopted = adopt_orphans(tables.raw(), PARAMS)
    check_consistent(adopted)
    assert rows(adopted.divisions, "parent_id", "daughter_b") == [(1, 3)]
    assert lineage_of(adopted)[2] == (6, 14, 0)
