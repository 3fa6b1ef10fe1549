"""Mechanics of rod-shaped cells: capsules (a segment swept by a disc) that push each other
apart where they overlap, moving and turning as rigid rods.

Positions are (y, x) rows; a rod's angle is its axis direction, radians from the x axis
towards y, as in the simulator.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree

FloatArray = npt.NDArray[np.float64]

__all__ = ["contact_points", "relax"]

_TINY = 1e-9
_PARALLEL = 0.01  # sin^2 of the angle below which segments count as parallel (6 degrees)
_TOLERANCE = 0.02  # done when no overlap exceeds this share of a radius
# A sweep moves a rod by at most this share of its radius and turns it by at most _MAX_TURN
# (rad): the solve is linear in the moves, so large ones would swing rods through each other.
_MAX_MOVE = 0.5
_MAX_TURN = 0.05
# Contacts yield a little (compliance, relative to their stiffness), which keeps the solve well
# posed where a rod is squeezed from several sides.
_COMPLIANCE = 0.01


def contact_points(
    a0: FloatArray, a1: FloatArray, b0: FloatArray, b1: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Row by row, the parameters s, t in [0, 1] of the points a0 + s (a1 - a0) and
    b0 + t (b1 - b0) at which two segments are taken to touch: their closest points (Ericson,
    Real-Time Collision Detection, 5.1.9), but for segments within _PARALLEL of parallel the
    middle of the stretch where they face each other, so that rods lying side by side push
    each other straight apart rather than turn about an end. A segment may be a point."""
    d1, d2, r = a1 - a0, b1 - b0, a0 - b0
    a, e = (d1 * d1).sum(1), (d2 * d2).sum(1)
    b, c, f = (d1 * d2).sum(1), (d1 * r).sum(1), (d2 * r).sum(1)
    denom = a * e - b * b
    parallel = denom <= _PARALLEL * np.maximum(a * e, _TINY)
    # The parameters of b's ends projected on a: the stretch of a facing b.
    ends = np.stack([-c, b - c], 1) / np.maximum(a, _TINY)[:, None]
    middle = np.clip(ends, 0, 1).mean(1)
    s = np.where(parallel, middle, np.clip((b * f - c * e) / np.where(parallel, 1.0, denom), 0, 1))
    t = (b * s + f) / np.maximum(e, _TINY)
    # Where t leaves [0, 1], clamp it and take s closest to that end of the other segment.
    s = np.where(t < 0, np.clip(-c / np.maximum(a, _TINY), 0, 1), s)
    s = np.where(t > 1, np.clip((b - c) / np.maximum(a, _TINY), 0, 1), s)
    t = np.clip(t, 0, 1)
    s = np.where(e <= _TINY, np.clip(-c / np.maximum(a, _TINY), 0, 1), s)
    s = np.where(a <= _TINY, 0.0, s)
    t = np.where(e <= _TINY, 0.0, t)
    return s, t


def _cross(r: FloatArray, n: FloatArray) -> FloatArray:
    """r_x n_y - r_y n_x of (y, x) rows: how far turning r by one radian (from x towards y)
    moves its tip along n."""
    out: FloatArray = r[:, 1] * n[:, 0] - r[:, 0] * n[:, 1]
    return out


def relax(
    pos: FloatArray,
    angle: FloatArray,
    half: FloatArray,
    radius: FloatArray,
    contact: float,
    sweeps: int = 100,
) -> tuple[FloatArray, FloatArray]:
    """Rods pushed apart until their segments lie at least ``contact * (r_i + r_j)`` apart.

    `half` is each segment's half length (0 for a disc). Each sweep finds the overlapping pairs
    and undoes their overlaps all at once, to first order: the least moves and turns, weighted
    by the rods' mobility (mass ~ length, moment of inertia ~ mass length^2 / 12: long rods move
    and turn less), that open every contact along the normal between its closest points, from
    one sparse linear solve over the whole crowd, so that a push travels across a colony in one
    sweep. Contacts only push. Returns new positions and angles.
    """
    pos, angle = pos.copy(), angle.copy()
    n = pos.shape[0]
    if n < 2:
        return pos, angle
    extent = half + radius
    mass = 2 * extent
    inverse = np.concatenate([1 / mass, 1 / mass, 12 / (mass * (2 * extent) ** 2)])  # y, x, angle
    # Centres nearer than the sum of these may hold segments nearer than the contact distance
    # (rods end to end too, where contact > 1 asks for a gap).
    reach = half + contact * radius
    for _ in range(sweeps):
        i, j = cKDTree(pos).query_pairs(2 * float(reach.max()), output_type="ndarray").T
        near = np.hypot(*(pos[i] - pos[j]).T) < reach[i] + reach[j]
        i, j = i[near], j[near]
        axis = np.stack([np.sin(angle), np.cos(angle)], 1)
        tip = half[:, None] * axis
        s, t = contact_points(pos[i] - tip[i], pos[i] + tip[i], pos[j] - tip[j], pos[j] + tip[j])
        arm_i, arm_j = (2 * s - 1)[:, None] * tip[i], (2 * t - 1)[:, None] * tip[j]
        gap = pos[i] + arm_i - pos[j] - arm_j
        dist = np.hypot(gap[:, 0], gap[:, 1])
        overlap = contact * (radius[i] + radius[j]) - dist
        if not (overlap > _TOLERANCE * radius[i]).any():
            break
        hit = overlap > 0
        i, j, arm_i, arm_j, gap, dist, overlap = (
            v[hit] for v in (i, j, arm_i, arm_j, gap, dist, overlap)
        )
        # Coincident axes: push across rod i.
        across = np.stack([axis[i, 1], -axis[i, 0]], 1)
        normal = np.where(dist[:, None] > _TINY, gap / np.maximum(dist, _TINY)[:, None], across)
        # The Jacobian of the contacts' openings (rows) in the rods' y, x and angle (columns).
        k = np.arange(i.size)
        rows = np.tile(k, 6)
        cols = np.concatenate([i, n + i, 2 * n + i, j, n + j, 2 * n + j])
        vals = np.concatenate(
            [normal[:, 0], normal[:, 1], _cross(arm_i, normal),
             -normal[:, 0], -normal[:, 1], -_cross(arm_j, normal)]
        )  # fmt: skip
        jac = sparse.csr_matrix((vals, (rows, cols)), shape=(i.size, 3 * n))
        weighted = jac.multiply(inverse[None, :]).tocsr()
        system = (weighted @ jac.T).tocsc()
        system += sparse.identity(i.size, format="csc") * (_COMPLIANCE * system.diagonal().mean())
        push = np.maximum(spsolve(system, overlap), 0)
        move = weighted.T @ push
        shift = np.stack([move[:n], move[n : 2 * n]], 1)
        length = np.maximum(np.hypot(shift[:, 0], shift[:, 1]), _TINY)
        pos += shift * np.minimum(1, _MAX_MOVE * radius / length)[:, None]
        angle += np.clip(move[2 * n :], -_MAX_TURN, _MAX_TURN)
    return pos, angle
