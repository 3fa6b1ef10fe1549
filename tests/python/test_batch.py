"""track_many on a real Dask cluster of two worker processes, its inputs, and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cellpoint as cp
import cloudpickle
import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr
from cellpoint.batch import run as batch_run
from cellpoint.batch.inputs import InputError, name_stacks, open_stack
from cellpoint.batch.run import LOCK, MANIFEST, STACK_RECORD, BatchError, track_stack
from cellpoint.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from cellpoint.engine import preprocess
from cellpoint.eval.sim import simulate

distributed = pytest.importorskip("distributed")

# The arrays below travel to the workers by value: the workers cannot import this module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

N_FRAMES = 6
DIAMETER = 14.0


def frames(seed: int) -> np.ndarray:
    return simulate("small", seed=seed, n_frames=N_FRAMES).frames


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three TIFF stacks, a CTC folder and a file that is no TIFF."""
    folder = tmp_path_factory.mktemp("inputs")
    paths = {}
    for i in range(3):
        paths[f"tiff{i}"] = folder / f"tiff{i}.tif"
        tifffile.imwrite(paths[f"tiff{i}"], frames(40 + i))
    paths["ctc"] = simulate("small", seed=43, n_frames=N_FRAMES).write_ctc(folder / "ctc")
    paths["bad"] = folder / "bad.tif"
    paths["bad"].write_bytes(b"not a tiff at all")
    return paths


def read_tables(folder: Path) -> cp.TrackingResult:
    return cp.TrackingResult.read(folder)


def assert_same(a: cp.TrackingResult, b: cp.TrackingResult) -> None:
    # onnxruntime on other thread counts may differ in the last bits of a float
    pd.testing.assert_frame_equal(a.tracks, b.tracks, check_exact=False, rtol=0, atol=1e-3)
    pd.testing.assert_frame_equal(a.lineage, b.lineage)
    pd.testing.assert_frame_equal(a.divisions, b.divisions, check_exact=False, atol=1e-4)


def test_track_many_equals_track_stack_by_stack(
    client: Any, stacks: dict[str, Path], tmp_path: Path
) -> None:
    inputs = [stacks["tiff0"], stacks["tiff1"], stacks["ctc"]]
    report = cp.track_many(
        inputs, tmp_path, client=client, diameter=DIAMETER, formats=["geff"], progress=False
    )
    assert report.ok, report
    assert [s.name for s in report.stacks] == ["tiff0", "tiff1", "ctc-01"]
    for stack, source in zip(report.stacks, inputs, strict=True):
        alone = cp.track(
            tifffile.imread(source) if source.suffix else cp.read_ctc(source).frames,
            diameter=DIAMETER,
            backend="kernel",
            progress=False,
        )
        written = read_tables(tmp_path / stack.name)
        assert_same(written, alone)
        assert_same(cp.TrackingResult.read(tmp_path / stack.name / "result.geff"), alone)
        assert (stack.frames, stack.tracks) == (N_FRAMES, len(alone.lineage))
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert [s["status"] for s in manifest["stacks"]] == ["done"] * 3
    assert manifest["formats"] == ["parquet", "geff"]


def test_a_bad_input_is_reported_and_the_others_finish(
    client: Any, stacks: dict[str, Path], tmp_path: Path
) -> None:
    report = cp.track_many(
        [stacks["tiff0"], stacks["bad"], tmp_path / "missing.tif", stacks["tiff1"]],
        tmp_path / "out",
        client=client,
        diameter=DIAMETER,
        progress=False,
    )
    assert not report.ok
    by_name = {s.name: s for s in report.stacks}
    assert by_name["tiff0"].status == by_name["tiff1"].status == "done"
    assert by_name["bad"].status == "failed"
    assert "bad.tif: cannot be read" in str(by_name["bad"].error)
    assert "missing.tif: no such file or folder" in str(by_name["missing"].error)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MANIFEST, "tiff0", "tiff1"]
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert {s["name"]: s["status"] for s in manifest["stacks"]} == {
        "tiff0": "done",
        "bad": "failed",
        "missing": "failed",
        "tiff1": "done",
    }


class KillsItsWorkerOnce:
    """Frames whose first read kills the process reading them, once (a marker file says it
    happened): a worker lost to the kernel's OOM killer or a node going down."""

    def __init__(self, data: np.ndarray, marker: Path) -> None:
        self.data, self.marker = data, marker
        self.shape, self.dtype = data.shape, data.dtype

    def __getitem__(self, index: Any) -> np.ndarray:
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)
        frame: np.ndarray = self.data[index]
        return frame


def test_a_stack_whose_worker_dies_is_run_again_and_written_once(
    client: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    data = frames(44)
    report = cp.track_many(
        {"dies": KillsItsWorkerOnce(data, marker), "lives": frames(45)},
        tmp_path / "out",
        client=client,
        diameter=DIAMETER,
        progress=False,
    )
    assert marker.exists(), "the worker was never killed"
    assert report.ok, report
    assert_same(
        read_tables(tmp_path / "out" / "dies"),
        cp.track(data, diameter=DIAMETER, backend="kernel", progress=False),
    )
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert left == sorted([MANIFEST, "dies", "lives"])  # no partial folder, nothing twice
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the dead one


def test_a_rerun_skips_what_is_written_and_clears_what_was_cut_short(
    client: Any, stacks: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = cp.track_many([stacks["tiff0"]], out, client=client, diameter=DIAMETER, progress=False)
    assert first.ok
    written = (out / "tiff0" / "tracks.parquet").stat().st_mtime_ns
    # What an interrupted run leaves: a stack's folder half written under its hidden name.
    (out / ".partial-tiff1-0123abcd").mkdir()
    (out / ".partial-tiff1-0123abcd" / "tracks.parquet").write_bytes(b"cut short")
    again = cp.track_many(
        [stacks["tiff0"], stacks["tiff1"]], out, client=client, diameter=DIAMETER, progress=False
    )
    assert again.ok
    assert [(s.name, s.skipped) for s in again.stacks] == [("tiff0", True), ("tiff1", False)]
    assert (out / "tiff0" / "tracks.parquet").stat().st_mtime_ns == written
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "tiff0", "tiff1"]


def test_track_stack_keeps_the_folder_another_attempt_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (source,) = name_stacks({"one": frames(46)})
    first = track_stack(source, str(tmp_path), {"diameter": DIAMETER}, (), 1)
    mtime = (tmp_path / "one" / STACK_RECORD).stat().st_mtime_ns
    second = track_stack(source, str(tmp_path), {"diameter": DIAMETER}, (), 1)
    assert second == {**first, "skipped": True}
    assert (tmp_path / "one" / STACK_RECORD).stat().st_mtime_ns == mtime
    # Another attempt finishes while this one writes: its folder stays, this one's goes.
    (other,) = name_stacks({"two": frames(47)})
    flush = batch_run._flush

    def finished_meanwhile(folder: Path) -> None:
        if folder.name.startswith(".partial-two"):
            (tmp_path / "two").mkdir()
            record = {"name": "two", "input": "x", "status": "done"}
            (tmp_path / "two" / STACK_RECORD).write_text(json.dumps(record))
        flush(folder)

    monkeypatch.setattr(batch_run, "_flush", finished_meanwhile)
    kept = track_stack(other, str(tmp_path), {"diameter": DIAMETER}, (), 1)
    assert (kept["input"], kept["skipped"]) == ("x", True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [STACK_RECORD]


def test_a_rerun_keeps_what_it_cannot_use_apart_and_adds_missing_formats(
    client: Any, stacks: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    inputs = [stacks["tiff0"], stacks["tiff1"]]
    assert cp.track_many(inputs, out, client=client, diameter=DIAMETER, progress=False).ok
    written = (out / "tiff0" / "tracks.parquet").stat().st_mtime_ns
    # Another format: written from the tables, without tracking again.
    again = cp.track_many(inputs, out, client=client, diameter=DIAMETER, formats=["csv"],
                          progress=False)  # fmt: skip
    assert again.ok
    assert (out / "tiff0" / "csv" / "tracks.csv").is_file()
    assert (out / "tiff0" / "tracks.parquet").stat().st_mtime_ns == written
    assert "csv/" in json.loads((out / "tiff0" / STACK_RECORD).read_text())["outputs"]
    # Other options: refused, stack by stack, rather than mixing results.
    other = cp.track_many(inputs, out, client=client, diameter=DIAMETER, window=8,
                          progress=False)  # fmt: skip
    assert [s.status for s in other.stacks] == ["failed", "failed"]
    assert "was tracked with other options" in str(other.stacks[0].error)
    # A folder that is no finished stack is left alone and named.
    (out / "tiff2").mkdir()
    stray = cp.track_many([stacks["tiff2"]], out, client=client, diameter=DIAMETER,
                          progress=False)  # fmt: skip
    assert "holds no finished stack" in str(stray.stacks[0].error)


def test_one_run_at_a_time_holds_an_output_folder(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text(json.dumps({"host": os.uname().nodename, "pid": os.getpid()}))
    with pytest.raises(BatchError, match="in use by another run"):
        cp.track_many({"one": frames(1)}, tmp_path, diameter=DIAMETER, progress=False)
    # A lock its run left behind when it died is taken over.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    (tmp_path / LOCK).write_text(json.dumps({"host": os.uname().nodename, "pid": int(dead.stdout)}))
    (tmp_path / "one").mkdir()  # fails the stack before any cluster starts
    report = cp.track_many({"one": frames(1)}, tmp_path, diameter=DIAMETER, progress=False)
    assert "holds no finished stack" in str(report.stacks[0].error)
    assert not (tmp_path / LOCK).exists()


def test_progress_counts_stacks_and_frames(
    client: Any, stacks: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cp.track_many([stacks["tiff0"]], tmp_path, client=client, diameter=DIAMETER)
    err = capsys.readouterr().err
    assert "stacks: 100%" in err
    assert f"frames: {N_FRAMES}" in err


def test_bad_options_fail_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match=r"unknown options \['windw'\]"):
        cp.track_many([frames(1)], tmp_path, windw=3)
    with pytest.raises(BatchError, match="detection_threshold must be in"):
        cp.track_many([frames(1)], tmp_path, detection_threshold=3)
    with pytest.raises(BatchError, match=r"unknown formats \['tiff'\]"):
        cp.track_many([frames(1)], tmp_path, formats=["tiff"])
    refused: list[dict[str, Any]] = [
        {"workers": 0},
        {"threads": 0},
        {"tile": -5},
        {"diameter": 0},
        {"polarity": "inverted"},
    ]
    for bad in refused:
        with pytest.raises(BatchError, match="must be"):
            cp.track_many([frames(1)], tmp_path, **bad)
    with pytest.raises(BatchError, match="a given cluster has its own workers"):
        cp.track_many([frames(1)], tmp_path, client="tcp://127.0.0.1:1", workers=2)
    with pytest.raises(InputError, match="no stacks to track"):
        cp.track_many([], tmp_path)
    assert not (tmp_path / MANIFEST).exists()


# --- inputs ---------------------------------------------------------------------------------


def test_stacks_are_named_for_folders_and_uniquely(tmp_path: Path) -> None:
    ctc = simulate("small", seed=1, n_frames=3).write_ctc(tmp_path / "GOWT1")
    (tmp_path / "a b.tif").write_bytes(b"")
    named = name_stacks([ctc, tmp_path / "a b.tif", np.zeros((2, 16, 16)), tmp_path / "a b.tif"])
    assert [s.name for s in named] == ["GOWT1-01", "a-b", "stack-002", "a-b-2"]
    assert [s.name for s in name_stacks({"well A1/pos 2": 0})] == ["well-A1-pos-2"]


def write_ome_zarr(path: Path, data: np.ndarray, axes: str = "tyx") -> None:
    """An OME-Zarr (NGFF 0.4) image of two levels, the second binned 2 x 2 (its pixel centres
    half a full-resolution pixel in: the translation)."""
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    half = data.reshape(*data.shape[:-2], data.shape[-2] // 2, 2, data.shape[-1] // 2, 2)
    levels = [data, half.mean(axis=(-3, -1)).astype(data.dtype)]
    for i, level in enumerate(levels):
        root.create_array(str(i), data=level, chunks=(1, *level.shape[1:]))
    spatial = [2.0**i for i in range(2)]
    root.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": a, "type": "time" if a == "t" else "space"} for a in axes],
            "datasets": [
                {
                    "path": str(i),
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [1.0] * (len(axes) - 2) + [s, s]},
                        {
                            "type": "translation",
                            "translation": [0.0] * (len(axes) - 2) + [(s - 1) / 2] * 2,
                        },
                    ],
                }
                for i, s in enumerate(spatial)
            ],
        }
    ]


def test_an_ome_zarr_is_tracked_on_the_level_the_model_needs(tmp_path: Path) -> None:
    seq = simulate("small", seed=5, n_frames=N_FRAMES, height=128, width=128)
    write_ome_zarr(tmp_path / "image.zarr", seq.frames)
    # Cells of 60 px are 30 px on the binned level, still above the model's 24: that level.
    big = open_stack(tmp_path / "image.zarr", diameter=60.0)
    assert (big.level, big.factor, big.shape) == ("1", 2.0, (N_FRAMES, 128, 128))
    # Binned pixel v covers full-resolution pixels 2v and 2v + 1: its centre is 2v + 0.5.
    assert big.to_full == ((2.0, 0.5), (2.0, 0.5))
    assert big.frames.shape == (N_FRAMES, 64, 64)
    # Cells of the simulator's size would shrink below it there: the full level.
    small = open_stack(tmp_path / "image.zarr", diameter=seq.config.diameter)
    assert (small.level, small.factor) == ("0", 1.0)
    np.testing.assert_array_equal(np.asarray(small.frames[2]), seq.frames[2])
    # Without a diameter, it is estimated (on a level small enough to read quickly) and kept.
    guessed = open_stack(tmp_path / "image.zarr")
    assert guessed.level == "0"
    assert guessed.diameter == pytest.approx(seq.config.diameter, rel=0.35)
    assert guessed.polarity == "bright"
    assert big.polarity is None  # nothing was estimated: tracking tells it
    # Tracked on the binned level, points come back in full-resolution pixels.
    binned = cp.track(big.frames, diameter=seq.config.diameter / 2, backend="kernel",
                      progress=False)  # fmt: skip
    full = big.to_full_resolution(binned)
    assert full.shape == (N_FRAMES, 128, 128)
    assert full.metadata["level"] == "1"
    expected = np.clip(binned.tracks["x"] * 2 + 0.5, 0, 127)
    np.testing.assert_allclose(full.tracks["x"], expected)
    report = cp.evaluate(full, seq)
    assert report.tra > 0.8, report


def test_an_ome_zarr_is_told_dark_once_and_tracked_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The polarity told apart on the small level, with the diameter, is what the stack is
    tracked with: its frames are not read for it again."""
    seq = simulate("small", seed=5, n_frames=N_FRAMES, height=128, width=128)
    write_ome_zarr(tmp_path / "dark.zarr", seq.frames.max() - seq.frames)
    told: list[str] = []
    tell = preprocess.estimate_stack_polarity

    def counted(frames: Any) -> Any:
        told.append(tell(frames))
        return told[-1]

    monkeypatch.setattr(preprocess, "estimate_stack_polarity", counted)
    (source,) = name_stacks([tmp_path / "dark.zarr"])
    report = track_stack(source, str(tmp_path / "out"), {}, (), 1)
    assert report["status"] == "done", report
    assert told == ["dark"]


def test_an_ome_zarr_with_channels_or_planes_says_what_to_do(tmp_path: Path) -> None:
    data = np.zeros((3, 2, 32, 32), np.uint8)
    write_ome_zarr(tmp_path / "two-channels.zarr", data, axes="tcyx")
    with pytest.raises(InputError, match=r"2 entries on axis 'c'.*tracks 2D\+t"):
        open_stack(tmp_path / "two-channels.zarr", diameter=10.0)
    write_ome_zarr(tmp_path / "one-channel.zarr", data[:, :1], axes="tcyx")
    assert open_stack(tmp_path / "one-channel.zarr", diameter=10.0).frames.shape == (3, 32, 32)
    write_ome_zarr(tmp_path / "planes.zarr", data, axes="tzyx")
    with pytest.raises(InputError, match=r"z-stack"):
        open_stack(tmp_path / "planes.zarr", diameter=10.0)


def test_inputs_that_cannot_be_opened_name_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nothing\.tif: no such file or folder"):
        open_stack(tmp_path / "nothing.tif")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"notes\.txt: cannot read \.txt"):
        open_stack(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: neither a CTC sequence folder"):
        open_stack(tmp_path / "empty")
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w").create_array("raw", shape=(2, 16, 16),
                                                                         dtype="u1")  # fmt: skip
    with pytest.raises(InputError, match=r"without OME-Zarr multiscales metadata.*\(raw\)"):
        open_stack(tmp_path / "plain.zarr")
    tifffile.imwrite(tmp_path / "one.tif", np.zeros((32, 32), np.uint8))
    with pytest.raises(InputError, match=r"one\.tif: .*at least 2"):
        open_stack(tmp_path / "one.tif")
    assert open_stack(zarr.open_group(str(tmp_path / "plain.zarr"))["raw"]).shape == (2, 16, 16)


# --- the command line -----------------------------------------------------------------------


def test_the_command_line_says_how_it_went_in_its_exit_status(
    stacks: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == EXIT_USAGE
    assert main(["--help"]) == EXIT_OK
    assert "cellpoint track INPUT" in capsys.readouterr().out
    assert main(["track", str(stacks["tiff0"])]) == EXIT_USAGE  # no --out
    assert main(["track", str(stacks["tiff0"]), "--out", str(tmp_path), "--window", "1"]) == (
        EXIT_USAGE
    )
    assert "window must be" in capsys.readouterr().err
    assert main(["track", str(stacks["tiff0"]), "--out", str(tmp_path),
                 "--min-separation", "0"]) == EXIT_USAGE  # fmt: skip
    assert "min_separation must be positive" in capsys.readouterr().err
    common = ["--out", str(tmp_path / "out"), "--diameter", str(DIAMETER), "--no-progress"]
    good = [str(stacks["tiff0"]), str(stacks["ctc"])]
    status = main(["track", *good, str(stacks["bad"]), *common, "--workers", "2",
                   "--format", "ctc"])  # fmt: skip
    assert status == EXIT_FAILED
    assert "bad: failed: InputError" in capsys.readouterr().out
    assert (tmp_path / "out" / "ctc-01" / "ctc" / "res_track.txt").is_file()
    assert main(["track", *good, *common, "--workers", "1"]) == EXIT_OK


def test_an_interrupted_command_line_run_goes_on_where_it_stopped(tmp_path: Path) -> None:
    inputs = []
    for i in range(6):
        inputs.append(str(tmp_path / f"s{i}.tif"))
        tifffile.imwrite(inputs[-1], frames(50 + i))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cellpoint.cli", "track", *inputs, "--out", str(out),
               "--diameter", str(DIAMETER), "--workers", "1", "--no-progress"]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120

    def done() -> list[str]:
        if not (out / MANIFEST).is_file():
            return []
        manifest = json.loads((out / MANIFEST).read_text())
        return [s["name"] for s in manifest["stacks"] if s["status"] == "done"]

    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == EXIT_INTERRUPTED, err
    finished = done()
    assert 1 <= len(finished) < 6, finished
    kept = {name: (out / name / "tracks.parquet").stat().st_mtime_ns for name in finished}
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == EXIT_OK, again.stderr
    assert len(done()) == 6
    for name, mtime in kept.items():
        assert (out / name / "tracks.parquet").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, *[f"s{i}" for i in range(6)]])
