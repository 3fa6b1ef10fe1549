"""`track_many`: many stacks tracked on a Dask cluster, each written as it finishes.

One task per stack, run by `track_stack` in a worker: it opens its input there (a path never
ships pixels through the scheduler), tracks it with the kernel backend and writes its folder
`OUT/<name>/` whole or not at all (written under a hidden name, then renamed). So a worker that
dies loses only the stack it was on, which the scheduler runs again elsewhere, and a second run
over the same OUT skips every stack whose folder is there. The driver keeps
`OUT/manifest.json`: every stack's state (done, failed with its error, or not yet run), rewritten
atomically as each one ends.

Each stack's folder holds its tables (`tracks.parquet`, `lineage.parquet`, `divisions.parquet`
and `cellpoint.json`, what `TrackingResult.read` reads), `stack.json` (what was tracked, how,
and what came out), and the formats asked for: `csv/`, `ctc/` (masks and res_track.txt),
`result.geff`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.infer import check_lineage
from ..engine.raw import RawParams
from .inputs import StackSource, name_stacks, open_stack

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

MANIFEST = "manifest.json"
STACK_RECORD = "stack.json"
FORMATS = ("parquet", "csv", "ctc", "geff")
# What `track()` options a batch passes on: RAW's parameters, the diameter, the lineage step and
# the tiling of large frames.
TRACK_OPTIONS = ("diameter", "lineage", "tile", *RawParams.__dataclass_fields__)
PROGRESS_TOPIC = "cellpoint-progress"
_PARTIAL = ".partial-"  # a stack's folder while it is written
_PROGRESS_EVERY_S = 1.0


@dataclass
class StackReport:
    """One stack of a batch: `status` done (this run or an earlier one: `skipped`), failed
    (`error` says why) or pending (not run: the batch was interrupted)."""

    name: str
    input: str
    status: str = "pending"
    error: str | None = None
    frames: int | None = None
    tracks: int | None = None
    divisions: int | None = None
    seconds: float | None = None
    outputs: list[str] = field(default_factory=list)
    skipped: bool = False


@dataclass
class BatchReport:
    """What `track_many` did: a report per stack, in input order."""

    out: Path
    stacks: list[StackReport]

    @property
    def failed(self) -> list[StackReport]:
        return [s for s in self.stacks if s.status == "failed"]

    @property
    def ok(self) -> bool:
        """Whether every stack is done."""
        return all(s.status == "done" for s in self.stacks)

    def table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([asdict(s) for s in self.stacks]).set_index("name")

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for s in self.stacks:
            counts[s.status] = counts.get(s.status, 0) + 1
        said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        lines = [f"BatchReport({len(self.stacks)} stacks in {self.out}: {said})"]
        lines += [f"  {s.name}: failed: {s.error}" for s in self.failed]
        return "\n".join(lines)


def track_many(
    inputs: Sequence[Any] | Mapping[str, Any],
    out: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("parquet",),
    client: Client | str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    progress: bool = True,
    **options: Any,
) -> BatchReport:
    """Tracks every stack of `inputs` on a Dask cluster and writes each under `out`.

    inputs: paths (CTC folders, TIFF stacks, zarr / OME-Zarr) or arrays, or a mapping from a
        name to one; see `cellpoint.batch.inputs`.
    out: the output folder; a stack already written there is skipped, so a rerun after an
        interruption or a failure does only what is left.
    formats: beside the Parquet tables, any of "csv", "ctc", "geff".
    client: a `distributed.Client`, or a scheduler's address ("tcp://host:8786"); None starts a
        local cluster of `workers` processes (default: one per core, at most one per stack),
        closed at the end.
    threads: onnxruntime threads per stack; None: the cores over the local cluster's workers,
        or every core of its machine on a given cluster.
    progress: bars over stacks and frames (in a notebook, widgets; else the terminal).
    options: what `track()` takes: diameter, window, detection_threshold, ... , lineage, tile
        (frames larger than the model needs are tracked in tiles by default).

    A stack that fails (an unreadable file, a bad shape) is reported in the result and the
    manifest with its error, and the others go on. Interrupted (Ctrl+C), it writes the manifest
    of what is done, stops the cluster it started, and raises KeyboardInterrupt.
    """
    stacks = name_stacks(inputs)
    unknown = sorted(set(options) - set(TRACK_OPTIONS))
    if unknown:
        raise TypeError(f"track_many got unknown options {unknown}; it takes {TRACK_OPTIONS}")
    RawParams(**{k: v for k, v in options.items() if k in RawParams.__dataclass_fields__})
    check_lineage(options.get("lineage", "global"))
    bad = sorted(set(formats) - set(FORMATS))
    if bad:
        raise ValueError(f"unknown formats {bad}: choose from {FORMATS}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_partials(folder)
    reports = {s.name: StackReport(s.name, s.describe()) for s in stacks}
    todo = []
    for stack in stacks:
        record = folder / stack.name / STACK_RECORD
        if record.is_file():
            reports[stack.name] = StackReport(**{**json.loads(record.read_text()), "skipped": True})
        else:
            todo.append(stack)
    report = BatchReport(folder, list(reports.values()))
    _write_manifest(report, options, formats)
    if not todo:
        return report
    with ExitStack() as stack_of_resources:
        dask_client, started_here = _client(client, workers, len(todo))
        if started_here:
            stack_of_resources.callback(_close, dask_client)
            threads = threads or max(1, (os.cpu_count() or 1) // len(dask_client.nthreads()))
        bars = stack_of_resources.enter_context(_Progress(len(stacks), progress))
        bars.stacks_done(len(stacks) - len(todo))
        dask_client.subscribe_topic(PROGRESS_TOPIC, bars.heard)
        stack_of_resources.callback(dask_client.unsubscribe_topic, PROGRESS_TOPIC)
        futures = {
            dask_client.submit(
                track_stack,
                stack,
                str(folder),
                options,
                tuple(formats),
                threads,
                key=f"cellpoint-{stack.name}-{uuid.uuid4().hex[:8]}",
                pure=False,
            ): stack.name
            for stack in todo
        }
        from distributed import as_completed

        try:
            for future in as_completed(futures):
                name = futures[future]
                try:
                    reports[name] = StackReport(**future.result())
                except Exception as error:  # the stack failed; the others go on
                    reports[name].status = "failed"
                    reports[name].error = f"{type(error).__name__}: {error}"
                bars.stacks_done(1)
                report.stacks = list(reports.values())
                _write_manifest(report, options, formats)
        except KeyboardInterrupt:
            dask_client.cancel(list(futures))
            report.stacks = list(reports.values())
            _write_manifest(report, options, formats)
            raise
    return report


def track_stack(
    stack: StackSource,
    out: str,
    options: Mapping[str, Any],
    formats: Sequence[str],
    threads: int | None,
) -> dict[str, Any]:
    """Tracks one stack in this process and writes its folder under `out` whole; returns its
    `StackReport` as a dict. Runs in a Dask worker (`track_many`), or anywhere."""
    from ..api import track

    started = time.perf_counter()
    target = Path(out) / stack.name
    if (target / STACK_RECORD).is_file():  # another attempt of this stack got there first
        return {**json.loads((target / STACK_RECORD).read_text()), "skipped": True}
    known = {k: v for k, v in options.items() if k != "diameter"}
    diameter = options.get("diameter")
    with ExitStack() as context:
        if find_spec("dask") is not None:
            import dask

            # Frames are read here, one at a time: in a worker, dask would otherwise hand each
            # read to the cluster's scheduler, shipping its pixels back and forth.
            context.enter_context(dask.config.set(scheduler="synchronous"))
        opened = open_stack(stack.source, diameter)
        result = track(
            opened.frames,
            diameter=None if diameter is None else diameter / opened.factor,
            backend="kernel",
            threads=threads,
            progress=_worker_progress(stack.name, opened.shape[0]),
            **known,
        )
    result = opened.to_full_resolution(result)
    result.frames = None
    partial = Path(out) / f"{_PARTIAL}{stack.name}-{uuid.uuid4().hex[:8]}"
    try:
        outputs = _write(result, partial, formats)
        record = asdict(
            StackReport(
                name=stack.name,
                input=stack.describe(),
                status="done",
                frames=int(result.shape[0]) if result.shape else None,
                tracks=len(result.lineage),
                divisions=len(result.divisions),
                seconds=round(time.perf_counter() - started, 3),
                outputs=outputs,
            )
        )
        (partial / STACK_RECORD).write_text(json.dumps(record, indent=2))
        try:
            partial.rename(target)  # whole, or not at all
        except OSError:
            if not (target / STACK_RECORD).is_file():
                raise
            # another attempt of this stack finished first: keep its folder, drop this one
            return {**json.loads((target / STACK_RECORD).read_text()), "skipped": True}
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return record


def _write(result: Any, folder: Path, formats: Sequence[str]) -> list[str]:
    result.to_parquet(folder)
    outputs = ["tracks.parquet", "lineage.parquet", "divisions.parquet"]
    if "csv" in formats:
        result.to_csv(folder / "csv")
        outputs.append("csv/")
    if "ctc" in formats:
        result.to_ctc(folder / "ctc")
        outputs.append("ctc/")
    if "geff" in formats:
        result.to_geff(folder / "result.geff")
        outputs.append("result.geff")
    return outputs


def _worker_progress(name: str, total: int) -> Callable[[int, int], None]:
    """Frames done, sent to the driver through the scheduler's event log at most once a second
    (and at the end)."""
    last = [0.0]

    def report(done: int, cells: int) -> None:
        now = time.monotonic()
        if now - last[0] < _PROGRESS_EVERY_S and done < total:
            return
        last[0] = now
        try:
            from distributed import get_worker

            worker = get_worker()
        except (ImportError, ValueError):
            return  # not in a Dask worker: no one listens
        worker.log_event(PROGRESS_TOPIC, {"stack": name, "done": done, "total": total})

    return report


def _client(client: Client | str | None, workers: int | None, n_stacks: int) -> tuple[Any, bool]:
    """The client to run on, and whether this call started its cluster."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise ImportError(
            "track_many needs Dask distributed: pip install 'cellpoint[batch]'"
        ) from error
    if isinstance(client, Client):
        return client, False
    if isinstance(client, str):
        return Client(client), False
    n = workers or max(1, min(os.cpu_count() or 1, n_stacks))
    # One stack at a time per worker; a stack's failure is reported in the manifest, so the
    # workers' own error logs would only repeat it.
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )
    return Client(cluster), True


def _close(client: Any) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def _remove_partials(folder: Path) -> None:
    """Folders of stacks whose writing an earlier run did not finish."""
    for partial in folder.glob(f"{_PARTIAL}*"):
        shutil.rmtree(partial, ignore_errors=True)


def _write_manifest(
    report: BatchReport, options: Mapping[str, Any], formats: Sequence[str]
) -> None:
    manifest = {
        "stacks": [asdict(s) for s in report.stacks],
        "options": dict(options),
        "formats": ["parquet", *[f for f in formats if f != "parquet"]],
    }
    path = report.out / MANIFEST
    temporary = path.with_name(f".{MANIFEST}.{uuid.uuid4().hex[:8]}")
    temporary.write_text(json.dumps(manifest, indent=2))
    os.replace(temporary, path)


class _Progress:
    """Bars over stacks and frames: tqdm's, as widgets in a notebook, else in the terminal."""

    def __init__(self, n_stacks: int, show: bool) -> None:
        self.show = show
        self.frames_of: dict[str, tuple[int, int]] = {}
        if show:
            from tqdm.auto import tqdm

            self.stacks = tqdm(total=n_stacks, desc="stacks", unit="stack")
            self.frames = tqdm(total=0, desc="frames", unit="frame")

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self.frames.close()
            self.stacks.close()

    def stacks_done(self, n: int) -> None:
        if self.show:
            self.stacks.update(n)

    def heard(self, event: tuple[float, dict[str, Any]]) -> None:
        if not self.show:
            return
        message = event[1]
        before, _ = self.frames_of.get(message["stack"], (0, 0))
        if message["stack"] not in self.frames_of:
            self.frames.total += message["total"]
            self.frames.refresh()
        self.frames_of[message["stack"]] = (message["done"], message["total"])
        self.frames.update(message["done"] - before)
