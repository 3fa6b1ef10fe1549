"""The lineage step: which cells divided and when, decided over the whole sequence.

RAW reads the network forward in time and calls a division at the first frame its evidence
passes a threshold: the tracker's daughter slots light up as a nucleus elongates, and on real
mitoses that is frames before the nucleus parts (the CTC's convention: a mother's last frame
is the last in which she is one object; her daughters begin in the next). RAW cannot take the
call back once it has made it. This step can, for it sees every frame.

The sister head (cap/sisters.py) is trained on exactly that convention: its map of frames
t - 1 and t peaks where two sisters are born at t. RAW keeps every pair the head named
(`RawResult.sisters`). For each division this step weighs its daughters' birth at RAW's
frame and at each of the TIMING_REACH frames after it: the evidence for a birth at frame u is
the strongest pair of frame u whose midpoint lies where the daughters' midpoint lies at u
(within DUPLICATE_FRACTION of `min_separation`, as RAW's confirmation).

The head names a pair twice around many mitoses: when the mother's chromatin parts into two
lobes, frames before the birth, and at the birth (on SIM+/02, with the joint-cpu model, the
strongest pair lies on the birth frame in 26 of 39 divisions and on the lobes, 2 frames early,
in 13; the frame between scores near 0). The lobes come first, so the birth is the latest frame
whose evidence is STRONG_FRACTION of the division's strongest or more. A division moves there;
until then the mother goes on at her daughters' midpoint (one object, the two halves of which
RAW was already following) and the daughters begin there. A division with no pair over its
daughters in any of these frames stays where RAW called it.

The choices are not independent: a daughter may divide again no sooner than `min_cycle`
frames after her birth, so moving a mother's division later can forbid her daughter's. The
choices are solved together, exactly, as a small integer program (one option per division;
no pair of options that breaks `min_cycle`) with HiGHS (`scipy.optimize.milp`): as many
divisions as can be at a strong frame, each at its latest.

Before the timing, the step adopts the daughters RAW missed (`adopt_orphans`). RAW splits a
mother on the sister head's word only where its judge takes the pair at the frame the pair is
named; where the judge turns it down, or where RAW was already following the two halves as a
cell and a new one, the daughter left over begins with no mother: an orphan, beside her
sister. Cells rarely come into being beside another: apart from
the frame's edge, where the head names no pairs, an orphan is most often a daughter. Seeing
the whole sequence, this step knows that the orphan lived on, and takes her as a daughter where
the head named a pair over her and her sister, at her first frame or in the TIMING_REACH frames
after, at ADOPTION_FRACTION of `sister_threshold` or more. That bar is lower than the one RAW
splits mothers by without a judge, for here a cell that begins beside another and lives on is
evidence of its own: RAW's split weighs a pair at one frame, anywhere. On SIM+/02's held-out
frames the seam model's head names the daughters RAW left orphans at a median 0.33.

The step runs in the kernel on RAW's tables from either backend (to_result), so both backends'
results are decided by the same code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from .raw import DUPLICATE_FRACTION, RawParams, RawResult

ScalarT = TypeVar("ScalarT", bound=np.generic)

# Frames after RAW's call to which a division may move.
TIMING_REACH = 3
# A frame is strong evidence of the birth at this fraction of the division's strongest pair or
# more (bench, shipped model, BC(1) at 0.5 / 0.7 / the strongest frame alone: SIM+/02 whole
# 0.47 / 0.42 / 0.42, hard 10002 0.12 / 0.08 / 0.07, gowt1 10003 0.5 / 0.5 / 0).
STRONG_FRACTION = 0.5
# A strong frame's worth grows by this much per frame moved, so that the latest one wins.
LATER = 1e-6
# An orphan is a daughter where the head names her and her sister at this fraction of
# `sister_threshold` or more (seam model, kernel backend, RAW's runs held fixed; adopting at
# 1.0 / 0.75 / 0.5: 19 nuclei sequences, pooled BC(1) 0.695 / 0.715 / 0.708, mean TRA 0.9216 /
# 0.9207 / 0.9202; hard 10002 and 11002, BC(1) 0.127 / 0.131 / 0.134 with 161 / 184 / 258 false
# divisions; at 0.75 the E. coli colony and MSC/02 adopt no more false ones, simulated
# phase_bacteria 10004 one).
ADOPTION_FRACTION = 0.75
# An orphan's sister is the nearest cell at her first frame within this many `min_separation`:
# daughters are born about a nucleus apart (min_separation is half a nucleus).
ORPHAN_REACH = 2.0


@dataclass(frozen=True)
class _Option:
    division: int  # row in RAW's divisions table
    shift: int  # frames after RAW's call
    strong: bool  # the sister evidence for a birth then is strong (STRONG_FRACTION)


class _Points:
    """Each track's rows in RAW's tracks table (by track, then time), by track id."""

    def __init__(self, raw: RawResult) -> None:
        ids = np.asarray(raw.tracks["track_id"])
        self.first_row = dict(
            zip(*np.unique(ids, return_index=True), strict=True)  # rows come in id order
        )
        tracks = raw.lineage["track_id"].tolist()
        self.start, self.end, self.parent = (
            dict(zip(tracks, raw.lineage[column].tolist(), strict=True))
            for column in ("start", "end", "parent_id")
        )
        self.x = np.asarray(raw.tracks["x"], np.float64)
        self.y = np.asarray(raw.tracks["y"], np.float64)

    def row(self, track: int, t: int) -> int:
        """The row of the track's point at frame t."""
        return int(self.first_row[track] + t - self.start[track])

    def at(self, track: int, t: int) -> tuple[float, float]:
        row = self.row(track, t)
        return float(self.x[row]), float(self.y[row])


def global_lineage(raw: RawResult, params: RawParams) -> RawResult:
    """RAW's tables with the daughters it missed adopted, then every division timed (see the
    module's docstring)."""
    return time_divisions(adopt_orphans(raw, params), params)


class _Evidence:
    """The sister head's pairs, by frame: how strongly it names two tracks sisters born at a
    frame (its strongest pair there whose midpoint lies within `radius` of theirs; 0: none)."""

    def __init__(self, sisters: dict[str, npt.NDArray[np.generic]], radius: float) -> None:
        by_frame = np.argsort(np.asarray(sisters["t"]), kind="stable")  # each frame's together
        self.frame_of = np.asarray(sisters["t"])[by_frame]

        def column(name: str) -> npt.NDArray[np.float64]:
            return np.asarray(sisters[name], np.float64)[by_frame]

        self.mid_x = (column("xa") + column("xb")) / 2
        self.mid_y = (column("ya") + column("yb")) / 2
        self.score = column("score")
        self.radius_squared = radius * radius

    def at(self, points: _Points, a: int, b: int, t: int) -> float:
        (xa, ya), (xb, yb) = points.at(a, t), points.at(b, t)
        first, end = np.searchsorted(self.frame_of, (t, t + 1))
        near = (self.mid_x[first:end] - (xa + xb) / 2) ** 2 + (
            self.mid_y[first:end] - (ya + yb) / 2
        ) ** 2 < self.radius_squared
        return float(self.score[first:end][near].max()) if near.any() else 0.0

    def after(self, points: _Points, a: int, b: int, t: int) -> list[float]:
        """The evidence for a birth of a and b at t and at each of the TIMING_REACH frames
        after, while both are there."""
        last = min(points.end[a], points.end[b], t + TIMING_REACH)
        return [self.at(points, a, b, u) for u in range(t, last + 1)]


def time_divisions(raw: RawResult, params: RawParams) -> RawResult:
    """RAW's tables with every division moved to its birth frame by the sister evidence (see the
    module's docstring); RAW's tables as they are without divisions or sister pairs."""
    divisions = raw.divisions
    if len(divisions["parent_id"]) == 0 or len(raw.sisters["t"]) == 0:
        return raw
    points = _Points(raw)
    evidence = _Evidence(raw.sisters, params.min_separation * DUPLICATE_FRACTION)
    options = list(_options(raw, points, evidence))
    chosen = _solve(options, _conflicts(raw, options, params.min_cycle), len(divisions["t"]))
    if not any(chosen):
        return raw
    return _moved(raw, points, chosen)


def _options(raw: RawResult, points: _Points, sisters: _Evidence) -> Iterator[_Option]:
    """Each division's possible birth frames, with whether the sister evidence for each is
    strong: RAW's frame, and where any pair lies over the daughters, the later ones while both
    daughters are still there to begin."""
    d = raw.divisions
    for row, (t, a, b) in enumerate(
        zip(d["t"].tolist(), d["daughter_a"].tolist(), d["daughter_b"].tolist(), strict=True)
    ):
        evidence = sisters.after(points, a, b, t)
        strongest = max(evidence)
        if strongest == 0:
            yield _Option(row, 0, False)
            continue
        for shift, value in enumerate(evidence):
            yield _Option(row, shift, value >= STRONG_FRACTION * strongest)


def _conflicts(raw: RawResult, options: list[_Option], min_cycle: int) -> list[tuple[int, int]]:
    """Pairs of options that cannot both hold: a daughter dividing within `min_cycle` frames
    of her (moved) birth."""
    d = raw.divisions
    born = {}  # daughter -> the row of the division that made her
    for row, (a, b) in enumerate(
        zip(d["daughter_a"].tolist(), d["daughter_b"].tolist(), strict=True)
    ):
        born[a] = born[b] = row
    by_row: dict[int, list[int]] = {}
    for k, option in enumerate(options):
        by_row.setdefault(option.division, []).append(k)
    pairs = []
    for row, (parent, t) in enumerate(zip(d["parent_id"].tolist(), d["t"].tolist(), strict=True)):
        if parent not in born:
            continue
        mother_row = born[parent]
        mother_t = int(d["t"][mother_row])
        for i in by_row[mother_row]:
            for j in by_row[row]:
                birth = mother_t + options[i].shift
                if t + options[j].shift - birth < min_cycle:
                    pairs.append((i, j))
    return pairs


def _solve(options: list[_Option], conflicts: list[tuple[int, int]], n_divisions: int) -> list[int]:
    """The shift of each division: as many at a strong frame as the conflicts allow, each at
    its latest."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    n = len(options)
    cost = np.array([-(1 + LATER * o.shift) if o.strong else 0.0 for o in options])
    rows = [o.division for o in options] + [
        n_divisions + k for k, _ in enumerate(conflicts) for _ in range(2)
    ]
    cols = list(range(n)) + [i for pair in conflicts for i in pair]
    matrix = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_divisions + len(conflicts), n))
    lower = np.r_[np.ones(n_divisions), np.zeros(len(conflicts))]
    upper = np.ones(n_divisions + len(conflicts))
    solution = milp(
        cost,
        constraints=LinearConstraint(matrix.tocsr(), lower, upper),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
    )
    if not solution.success:  # RAW's own calls always satisfy the constraints
        raise RuntimeError(f"the division timing found no solution: {solution.message}")
    shifts = [0] * n_divisions
    for option, x in zip(options, solution.x, strict=True):
        if x > 0.5:
            shifts[option.division] = option.shift
    return shifts


def _moved(raw: RawResult, points: _Points, shifts: list[int]) -> RawResult:
    """RAW's tables with division `row` moved `shifts[row]` frames later: the mother goes on
    at her daughters' midpoint until the frame before, the daughters begin then."""
    tracks = {k: np.asarray(v) for k, v in raw.tracks.items()}
    lineage = {k: np.array(v) for k, v in raw.lineage.items()}
    divisions = {k: np.array(v) for k, v in raw.divisions.items()}
    keep = np.ones(len(tracks["t"]), bool)
    added: dict[str, list[float]] = {k: [] for k in tracks}
    index = {tid: i for i, tid in enumerate(lineage["track_id"].tolist())}
    for row, shift in enumerate(shifts):
        if not shift:
            continue
        t = int(divisions["t"][row])
        mother = int(divisions["parent_id"][row])
        a, b = int(divisions["daughter_a"][row]), int(divisions["daughter_b"][row])
        for u in range(t, t + shift):
            (xa, ya), (xb, yb) = points.at(a, u), points.at(b, u)
            va = tracks["visibility"][points.row(a, u)]
            vb = tracks["visibility"][points.row(b, u)]
            for name, value in (("track_id", mother), ("t", u), ("x", (xa + xb) / 2),
                                ("y", (ya + yb) / 2), ("visibility", min(va, vb))):  # fmt: skip
                added[name].append(value)
        for daughter in (a, b):
            first = points.first_row[daughter]
            keep[first : first + shift] = False
            lineage["start"][index[daughter]] += shift
        lineage["end"][index[mother]] += shift
        divisions["t"][row] += shift
    columns = {
        k: np.concatenate([v[keep], np.asarray(added[k], v.dtype)]) for k, v in tracks.items()
    }
    order = np.lexsort((columns["t"], columns["track_id"]))
    return replace(
        raw,
        tracks={k: v[order] for k, v in columns.items()},
        lineage=lineage,
        divisions=divisions,
    )


@dataclass(frozen=True)
class _Adoption:
    mother: int
    orphan: int
    sister: int  # the mother herself where she goes on as the orphan's sister
    t: int  # the orphan's first frame
    score: float  # the sister head's strongest pair over the two then or soon after

    @property
    def mother_goes_on(self) -> bool:
        return self.sister == self.mother


def adopt_orphans(raw: RawResult, params: RawParams) -> RawResult:
    """RAW's tables with each orphan the sister head names a daughter (see the module's
    docstring) given her mother; RAW's tables as they are where there is none."""
    if len(raw.sisters["t"]) == 0:
        return raw
    points = _Points(raw)
    evidence = _Evidence(raw.sisters, params.min_separation * DUPLICATE_FRACTION)
    adoptions = _adoptions(raw, points, evidence, params)
    return _adopted(raw, points, adoptions) if adoptions else raw


def _adoptions(
    raw: RawResult, points: _Points, evidence: _Evidence, params: RawParams
) -> list[_Adoption]:
    """Each orphan's mother where the sister evidence names her a daughter, strongest first,
    every track in one adoption at most. Her sister is the nearest cell at her first frame,
    within ORPHAN_REACH: an older one is her mother going on; another orphan beginning then
    makes the mother the nearest cell that ended the frame before. A mother RAW divides
    already is left as she is, and `min_cycle` holds for the mother and the daughters."""
    ids = np.asarray(raw.tracks["track_id"])
    ts = np.asarray(raw.tracks["t"])
    by_frame = np.argsort(ts, kind="stable")
    frame_of = ts[by_frame]
    divides = dict(
        zip(raw.divisions["parent_id"].tolist(), raw.divisions["t"].tolist(), strict=True)
    )
    reach_squared = (ORPHAN_REACH * params.min_separation) ** 2

    def nearest(t: int, x: float, y: float, other_than: int = 0, ended: bool = False) -> int | None:
        """The track nearest (x, y) at frame t within the reach, other than `other_than`; with
        `ended`, of those whose last frame t is."""
        first, end = np.searchsorted(frame_of, (t, t + 1))
        rows = by_frame[first:end]
        distance = (points.x[rows] - x) ** 2 + (points.y[rows] - y) ** 2
        best, closest = None, reach_squared
        for track, d in zip(ids[rows].tolist(), distance.tolist(), strict=True):
            if d < closest and track != other_than and (not ended or points.end[track] == t):
                best, closest = track, d
        return best

    def may_divide(track: int, t: int) -> bool:
        """The track may end at t - 1 as a mother: she has no daughters yet, and was born by
        division min_cycle frames or more before."""
        return track not in divides and (
            not points.parent[track] or t - points.start[track] >= params.min_cycle
        )

    def may_be_born(track: int, t: int) -> bool:
        return track not in divides or divides[track] - t >= params.min_cycle

    found = []
    for orphan, t in points.start.items():
        if t == 0 or points.parent[orphan] or not may_be_born(orphan, t):
            continue
        x, y = points.at(orphan, t)
        sister = nearest(t, x, y, other_than=orphan)
        if sister is None:
            continue
        if points.start[sister] < t:
            mother: int | None = sister
        elif points.start[sister] == t and not points.parent[sister] and may_be_born(sister, t):
            (xs, ys) = points.at(sister, t)
            mother = nearest(t - 1, (x + xs) / 2, (y + ys) / 2, ended=True)
        else:
            continue
        if mother is None or not may_divide(mother, t):
            continue
        score = max(evidence.after(points, orphan, sister, t))
        if score >= ADOPTION_FRACTION * params.sister_threshold:
            found.append(_Adoption(mother, orphan, sister, t, score))
    chosen: list[_Adoption] = []
    used: set[int] = set()
    for adoption in sorted(found, key=lambda a: -a.score):
        tracks = {adoption.mother, adoption.orphan, adoption.sister}
        if tracks.isdisjoint(used):
            chosen.append(adoption)
            used |= tracks
    return chosen


def _adopted(raw: RawResult, points: _Points, adoptions: list[_Adoption]) -> RawResult:
    """RAW's tables with each adoption made a division at the orphan's first frame: a mother
    who went on ends the frame before, her points from then on a new track, the orphan's
    sister."""
    track_ids = np.array(raw.tracks["track_id"])
    lineage = {k: np.array(v) for k, v in raw.lineage.items()}
    index = {tid: i for i, tid in enumerate(lineage["track_id"].tolist())}
    next_id = int(lineage["track_id"].max()) + 1
    new_tracks: list[tuple[int, int, int, int]] = []
    divisions: list[tuple[int, int, int, int, float]] = []
    for adoption in adoptions:
        mother, t = adoption.mother, adoption.t
        sister = adoption.sister
        if adoption.mother_goes_on:
            sister, next_id = next_id, next_id + 1
            track_ids[points.row(mother, t) : points.row(mother, points.end[mother]) + 1] = sister
            new_tracks.append((sister, t, points.end[mother], mother))
            lineage["end"][index[mother]] = t - 1
        else:
            lineage["parent_id"][index[sister]] = mother
        lineage["parent_id"][index[adoption.orphan]] = mother
        divisions.append((mother, t, sister, adoption.orphan, adoption.score))
    lineage = _appended(lineage, ("track_id", "start", "end", "parent_id"), new_tracks)
    by_id = np.argsort(lineage["track_id"], kind="stable")
    tracks = {**raw.tracks, "track_id": track_ids}
    order = np.lexsort((tracks["t"], track_ids))
    columns = ("parent_id", "t", "daughter_a", "daughter_b", "score")
    joined = _appended(raw.divisions, columns, divisions)
    by_time = np.argsort(joined["t"], kind="stable")
    return replace(
        raw,
        tracks={k: np.asarray(v)[order] for k, v in tracks.items()},
        lineage={k: v[by_id] for k, v in lineage.items()},
        divisions={k: v[by_time] for k, v in joined.items()},
    )


def _appended(
    table: dict[str, npt.NDArray[ScalarT]],
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
) -> dict[str, npt.NDArray[ScalarT]]:
    """The table with `rows` (values in the order of `columns`) after its own."""
    return {
        name: np.concatenate(
            [np.asarray(table[name]), np.array([row[i] for row in rows], table[name].dtype)]
        )
        for i, name in enumerate(columns)
    }
