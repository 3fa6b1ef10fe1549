"""Cell Tracking Challenge files, on small CTC folders written by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandas.testing as pdt
import pytest
import tifffile
from cellpoint.io.ctc import (
    default_radius,
    read_ctc,
    read_res_track,
    read_stack,
    tracks_from_markers,
    tracks_from_masks,
    write_masks,
    write_res_track,
)
from cellpoint.io.tables import TableError

Array = npt.NDArray[Any]
SHAPE = (4, 32, 40)
# track id: (first frame, last frame, parent id, marker centre (y, x))
TRUTH = {
    1: (0, 1, 0, (10, 10)),
    2: (2, 3, 1, (8, 20)),
    3: (2, 3, 1, (20, 20)),
    4: (0, 3, 0, (25, 33)),
}
MAN_TRACK = "1 0 1 0\n2 2 3 1\n3 2 3 1\n4 0 3 0\n"


def disk(shape: tuple[int, int], y: float, x: float, radius: float) -> Array:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.asarray((yy - y) ** 2 + (xx - x) ** 2 <= radius**2)


def ctc_folder(root: Path, truth: bool = True) -> tuple[Array, Array]:
    """Write `root/01` (frames) and, if `truth`, `root/01_GT/TRA`; return frames and markers."""
    frames = np.random.default_rng(0).integers(0, 4000, SHAPE, dtype=np.uint16)
    markers = np.zeros(SHAPE, np.uint16)
    for track_id, (start, end, _, (y, x)) in TRUTH.items():
        markers[start : end + 1, disk(SHAPE[1:], y, x, 3)] = track_id
    (root / "01").mkdir(parents=True)
    for t, frame in enumerate(frames):
        tifffile.imwrite(root / "01" / f"t{t:03d}.tif", frame, compression="lzw")
    if truth:
        tra = root / "01_GT" / "TRA"
        tra.mkdir(parents=True)
        for t, marker in enumerate(markers):
            tifffile.imwrite(tra / f"man_track{t:03d}.tif", marker, compression="lzw")
        (tra / "man_track.txt").write_text(MAN_TRACK)
    return frames, markers


def truth_lineage() -> pd.DataFrame:
    rows = [(i, start, end, parent) for i, (start, end, parent, _) in TRUTH.items()]
    return pd.DataFrame(rows, columns=["track_id", "start", "end", "parent_id"])


@pytest.mark.parametrize("where", ["01", "01_GT", "01_GT/TRA"])
def test_read_ctc_from_the_sequence_or_its_ground_truth(tmp_path: Path, where: str) -> None:
    frames, markers = ctc_folder(tmp_path)
    sequence = read_ctc(tmp_path / where)
    assert sequence.frames is not None
    assert sequence.markers is not None
    assert sequence.lineage is not None
    assert sequence.frames.dtype == np.uint16
    np.testing.assert_array_equal(sequence.frames, frames)
    np.testing.assert_array_equal(sequence.markers, markers)
    pdt.assert_frame_equal(sequence.lineage, truth_lineage())
    assert "4 frames of 32 x 40 uint16; ground truth: 4 tracks" in repr(sequence)


def test_read_ctc_without_ground_truth(tmp_path: Path) -> None:
    frames, _ = ctc_folder(tmp_path, truth=False)
    sequence = read_ctc(str(tmp_path / "01"))
    assert sequence.frames is not None
    np.testing.assert_array_equal(sequence.frames, frames)
    assert sequence.markers is None
    assert sequence.lineage is None


def test_read_ctc_ground_truth_without_its_sequence(tmp_path: Path) -> None:
    _, markers = ctc_folder(tmp_path)
    for file in (tmp_path / "01").iterdir():
        file.unlink()
    (tmp_path / "01").rmdir()
    sequence = read_ctc(tmp_path / "01_GT" / "TRA")
    assert sequence.frames is None
    assert sequence.markers is not None
    np.testing.assert_array_equal(sequence.markers, markers)


def test_frames_are_ordered_by_number(tmp_path: Path) -> None:
    for t in (10, 2, 0, 11, 1, 3, 9, 4, 8, 5, 7, 6):  # four digits, written out of order
        tifffile.imwrite(tmp_path / f"t{t:04d}.tif", np.full((3, 5), t, np.uint8))
    frames = read_ctc(tmp_path).frames
    assert frames is not None
    assert frames.shape == (12, 3, 5)
    assert frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[:, 0, 0], np.arange(12))


def test_read_ctc_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no CTC folder at .*nowhere"):
        read_ctc(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no frames t000.tif ... in .*empty"):
        read_ctc(tmp_path / "empty")

    ctc_folder(tmp_path)
    sequence = tmp_path / "01"
    (sequence / "t002.tif").unlink()
    with pytest.raises(ValueError, match=r"must be numbered 0..2 without gaps; missing number 2"):
        read_ctc(sequence)
    tifffile.imwrite(sequence / "t002.tif", np.zeros((32, 41), np.uint16))
    with pytest.raises(ValueError, match=r"frames differ; t000.tif is \(32, 40\) uint16, "):
        read_ctc(sequence)
    tifffile.imwrite(sequence / "t002.tif", np.zeros((32, 40), np.uint8))
    with pytest.raises(ValueError, match=r"t002.tif is \(32, 40\) uint8"):
        read_ctc(sequence)
    tifffile.imwrite(sequence / "t002.tif", np.zeros((2, 32, 40), np.uint16))
    with pytest.raises(ValueError, match=r"t002.tif: expected a 2-D image, got shape"):
        read_ctc(sequence)


def test_read_ctc_checks_the_ground_truth(tmp_path: Path) -> None:
    ctc_folder(tmp_path)
    tra = tmp_path / "01_GT" / "TRA"
    (tra / "man_track.txt").write_text("1 0 1 0\n2 2 3\n")
    with pytest.raises(ValueError, match=r"man_track.txt, line 2: expected four whole numbers"):
        read_ctc(tmp_path / "01")
    (tra / "man_track.txt").write_text("1 0 1 0\n2 2 x 1\n")
    with pytest.raises(ValueError, match=r"line 2: expected four whole numbers 'L B E P'"):
        read_ctc(tmp_path / "01")
    (tra / "man_track.txt").write_text("1 3 1 0\n")
    with pytest.raises(TableError, match=r"man_track.txt: lineage: end must be >= start"):
        read_ctc(tmp_path / "01")
    (tra / "man_track.txt").write_text(MAN_TRACK)
    (tra / "man_track003.tif").unlink()
    with pytest.raises(ValueError, match=r"markers of shape \(3, 32, 40\).*shape \(4, 32, 40\)"):
        read_ctc(tmp_path / "01")


def test_tracks_from_markers(tmp_path: Path) -> None:
    _, markers = ctc_folder(tmp_path)
    tracks = tracks_from_markers(markers, truth_lineage())
    expected = pd.DataFrame(
        [
            (i, t, float(y), float(x), 1.0)
            for i, (start, end, _, (y, x)) in TRUTH.items()
            for t in range(start, end + 1)
        ],
        columns=["track_id", "t", "y", "x", "visibility"],
    ).astype({"visibility": np.float32})
    pdt.assert_frame_equal(tracks, expected)
    short = truth_lineage().assign(end=[1, 3, 3, 2])
    with pytest.raises(TableError, match=r"track 4 has start=0, end=2 but points at t=0..3"):
        tracks_from_markers(markers, short)


def test_res_track_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "res_track.txt"
    write_res_track(truth_lineage().iloc[::-1], path)
    assert path.read_text() == MAN_TRACK
    pdt.assert_frame_equal(read_res_track(path), truth_lineage())
    path.write_text("\n  1 0 1 0  \n\n2 2 3 1\r\n3 2 3 1\n4 0 3 0")
    pdt.assert_frame_equal(read_res_track(path), truth_lineage())
    with pytest.raises(FileNotFoundError, match=r"no track file"):
        read_res_track(tmp_path / "absent.txt")


def grid_points(n_frames: int, spacing: float, seed: int = 1) -> pd.DataFrame:
    """A grid of points `spacing` apart with sub-pixel jitter, one track per grid node."""
    rng = np.random.default_rng(seed)
    rows = []
    for track_id, (gy, gx) in enumerate(np.ndindex(3, 4), start=1):
        for t in range(n_frames):
            y, x = 8 + spacing * gy + rng.uniform(-2, 2), 8 + spacing * gx + rng.uniform(-2, 2)
            rows.append((track_id, t, y, x, 0.5))
    tracks = pd.DataFrame(rows, columns=["track_id", "t", "y", "x", "visibility"])
    return tracks.astype({"visibility": np.float32})


def test_masks_give_back_the_points(tmp_path: Path) -> None:
    tracks = grid_points(3, spacing=14)
    write_masks(tracks, (3, 48, 64), tmp_path, radius=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mask000.tif",
        "mask001.tif",
        "mask002.tif",
    ]
    masks = read_stack(tmp_path, "mask")
    assert masks.dtype == np.uint16
    back = tracks_from_masks(tmp_path)
    pdt.assert_frame_equal(back[["track_id", "t"]], tracks[["track_id", "t"]])
    assert (back["visibility"] == 1).all()
    error = np.hypot(back["y"] - tracks["y"], back["x"] - tracks["x"])
    assert error.max() < 0.5
    # the disks have the radius asked for: about pi r^2 pixels each
    assert np.bincount(masks[0].ravel())[1:].min() >= 45
    assert np.bincount(masks[0].ravel())[1:].max() <= 55


def test_a_point_at_the_border_keeps_its_pixel(tmp_path: Path) -> None:
    tracks = pd.DataFrame(
        {
            "track_id": [1, 2, 3],
            "t": [0, 0, 0],
            "y": [0.0, 19.4, -0.7],
            "x": [0.0, 29.6, 15.0],
            "visibility": np.ones(3, np.float32),
        }
    )
    write_masks(tracks, (1, 20, 30), tmp_path, radius=3)
    mask = read_stack(tmp_path, "mask")[0]
    assert mask[0, 0] == 1
    assert mask[19, 29] == 2
    assert mask[0, 15] == 3  # past the edge: the nearest pixel inside
    back = tracks_from_masks(tmp_path)
    assert list(back["track_id"]) == [1, 2, 3]
    assert back["y"][0] > 0  # a clipped disk's centroid moves inwards, the label stays


def test_close_points_each_keep_their_label(tmp_path: Path) -> None:
    # 6 is nearer than 5 to the pixel under 5, (10, 10); 5 keeps it all the same.
    y = np.array([10.45, 10.0, 13.0])
    x = np.array([10.45, 9.45, 10.2])
    tracks = pd.DataFrame(
        {
            "track_id": [5, 6, 7],
            "t": [0, 0, 0],
            "y": y,
            "x": x,
            "visibility": np.ones(3, np.float32),
        }
    )
    write_masks(tracks, (1, 24, 24), tmp_path, radius=5)
    mask = read_stack(tmp_path, "mask")[0]
    assert [mask[10, 10], mask[10, 9], mask[13, 10]] == [5, 6, 7]
    # Elsewhere each pixel goes to the nearest point within the radius.
    yy, xx = np.mgrid[:24, :24]
    distance = np.hypot(yy[..., None] - y, xx[..., None] - x)
    nearest = np.where(distance.min(axis=-1) <= 5, np.array([5, 6, 7])[distance.argmin(-1)], 0)
    centres = np.zeros_like(mask, bool)
    centres[[10, 10, 13], [10, 9, 10]] = True
    np.testing.assert_array_equal(mask[~centres], nearest[~centres])


def test_points_on_one_pixel_both_stay(tmp_path: Path) -> None:
    tracks = pd.DataFrame(
        {
            "track_id": [1, 2, 3],
            "t": [0, 0, 0],
            "y": [6.0, 6.0, 6.1],
            "x": [6.0, 6.0, 5.9],
            "visibility": np.ones(3, np.float32),
        }
    )
    write_masks(tracks, (1, 12, 12), tmp_path, radius=2)
    mask = read_stack(tmp_path, "mask")[0]
    assert mask[6, 6] == 1
    assert set(np.unique(mask)) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match=r"track 2 sits on the pixel of another track"):
        write_masks(tracks, (1, 12, 12), tmp_path, radius=0)


def test_mask_names_and_stale_masks(tmp_path: Path) -> None:
    one = pd.DataFrame(
        {"track_id": [3], "t": [1000], "y": [1.0], "x": [2.0], "visibility": [1.0]}
    ).astype({"visibility": np.float32})
    write_masks(one, (1001, 4, 4), tmp_path, radius=1)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[0] == "mask0000.tif"
    assert names[-1] == "mask1000.tif"
    assert len(names) == 1001
    write_masks(one.assign(t=1), (2, 4, 4), tmp_path, radius=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask000.tif", "mask001.tif"]
    assert read_stack(tmp_path, "mask")[1, 1, 2] == 3


def test_write_masks_errors(tmp_path: Path) -> None:
    tracks = grid_points(2, spacing=10)
    with pytest.raises(ValueError, match=r"tracks reach t=1, beyond the 1 frames"):
        write_masks(tracks, (1, 40, 52), tmp_path)
    with pytest.raises(ValueError, match=r"track_id 70000 exceeds 65535"):
        write_masks(tracks.assign(track_id=tracks["track_id"] + 69988), (2, 40, 52), tmp_path)
    with pytest.raises(ValueError, match=r"radius must be >= 0"):
        write_masks(tracks, (2, 40, 52), tmp_path, radius=-1)


def test_default_radius_follows_the_spacing() -> None:
    tracks = grid_points(4, spacing=20)
    assert 7 < default_radius(tracks) < 10
    assert default_radius(grid_points(4, spacing=60)) > 25
    assert default_radius(tracks[tracks["track_id"] == 1]) == 2.0
    assert default_radius(grid_points(1, spacing=2)) == 2.0
