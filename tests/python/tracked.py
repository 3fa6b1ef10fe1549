"""Small hand-made results for tests: a track per key, a point per frame."""

from __future__ import annotations

import pandas as pd
from cellpoint.io.result import TrackingResult
from cellpoint.io.tables import divisions_from_lineage, lineage_from_tracks

# track id -> frame -> (y, x)
Centres = dict[int, dict[int, tuple[float, float]]]


def tracked(
    centres: Centres, parents: dict[int, int], shape: tuple[int, int, int] | None = None
) -> TrackingResult:
    """A result with a point at every centre, track k the child of parents.get(k, 0)."""
    rows = [(k, t, y, x, 1.0) for k, track in centres.items() for t, (y, x) in track.items()]
    tracks = pd.DataFrame(rows, columns=["track_id", "t", "y", "x", "visibility"])
    tracks = tracks.sort_values(["track_id", "t"], ignore_index=True)
    lineage = lineage_from_tracks(tracks, parents)
    return TrackingResult(tracks, lineage, divisions_from_lineage(lineage), shape=shape)
