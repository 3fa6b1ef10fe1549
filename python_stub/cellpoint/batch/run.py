"""`track_many`: many stacks tracked on a Dask cluster, each written as it finishes.

One task per stack, run by `track_stack` in a worker: it opens its input there (a path never
ships pixels through the scheduler), tracks it with the kernel backend and writes its folder
`OUT/<name>/` whole or not at all (written and flushed under a hidden name, then renamed). So a
worker that dies loses only the stack it was on, which the scheduler runs again elsewhere, and a
second run over the same OUT skips every stack whose folder is there, tracked with the same
options (it only adds the formats the first run did not write). One run at a time holds OUT
(`OUT/.cellpoint.lock`). The driver keeps `OUT/manifest.json`: every stack's state (done,
failed with its error, or pending: not run yet), rewritten atomically as each one ends.

Each stack's folder holds its tables (`tracks.parquet`, `lineage.parquet`, `divisions.parquet`
and `cellpoint.json`, what `TrackingResult.read` reads), `stack.json` (the input, the options
it was tracked with, what came out) and the formats asked for: `csv/`, `ctc/` (masks and
res_track.txt), `result.geff`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, fields
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.infer import check_lineage
from ..engine.preprocess import POLARITY_CHOICES
from ..engine.raw import RawParams
from .inputs import StackSource, name_stacks, open_stack

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

    from ..io.result import TrackingResult

MANIFEST = "manifest.json"
STACK_RECORD = "stack.json"
LOCK = ".cellpoint.lock"
FORMATS = ("parquet", "csv", "ctc", "geff")
# Where each format beside the Parquet tables goes in a stack's folder.
OUTPUT_OF = {"csv": "csv/", "ctc": "ctc/", "geff": "result.geff"}
# What `track()` options a batch passes on: RAW's parameters, the diameter, the lineage step and
# the tiling of large frames.
TRACK_OPTIONS = ("diameter", "polarity", "lineage", "tile", *RawParams.__dataclass_fields__)
_PARTIAL = ".partial-"  # a stack's folder while it is written
_PROGRESS_EVERY_S = 1.0


class BatchError(ValueError):
    """A batch that cannot start as asked: the message says what to change."""


@dataclass
class StackReport:
    """One stack of a batch: `status` done (in this run, or an earlier one: `skipped`),
    failed (`error` says why) or pending (not run: the batch was interrupted)."""

    name: str
    input: str
    status: str = "pending"
    error: str | None = None
    frames: int | None = None
    tracks: int | None = None
    divisions: int | None = None
    seconds: float | None = None
    outputs: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


def _read_record(folder: Path) -> StackReport | None:
    """The report a finished stack's folder holds, or None where there is none."""
    path = folder / STACK_RECORD
    if not path.is_file():
        return None
    known = {f.name for f in fields(StackReport)}
    record = {k: v for k, v in json.loads(path.read_text()).items() if k in known}
    return StackReport(**record)


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
    out: the output folder; a stack already written there with the same options is skipped,
        so a rerun after an interruption or a failure does only what is left.
    formats: beside the Parquet tables, any of "csv", "ctc", "geff".
    client: a `distributed.Client`, or a scheduler's address ("tcp://host:8786"); None starts a
        local cluster of `workers` processes (default: one per core, at most one per stack),
        closed at the end.
    threads: onnxruntime threads per stack; None: a machine's cores over the stacks it runs at
        once.
    progress: bars over stacks and frames (in a notebook, widgets; else the terminal).
    options: what `track()` takes: diameter, polarity, window, detection_threshold, ... ,
        lineage, tile
        (frames larger than the model needs are tracked in tiles by default).

    Raises BatchError (a ValueError) before any work where the batch cannot start as asked. A
    stack that fails (an unreadable file, a bad shape) is reported in the result and the
    manifest with its error, and the others go on. Interrupted (Ctrl+C), it writes the manifest
    of what is done, stops the cluster it started, and raises KeyboardInterrupt; on a given
    cluster, stacks already running finish and are written.
    """
    stacks = name_stacks(inputs)
    _check(options, formats, client, workers, threads)
    folder = Path(out).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    with _lock(folder):
        for partial in folder.glob(f"{_PARTIAL}*"):  # what a run cut short left half written
            shutil.rmtree(partial, ignore_errors=True)
        reports = {s.name: StackReport(s.name, s.describe(), options=dict(options)) for s in stacks}
        todo = [s for s in stacks if not _finished(folder / s.name, reports, options, formats)]
        report = BatchReport(folder, list(reports.values()))
        _write_manifest(report, options, formats)
        if todo:
            _run(
                todo, folder, reports, report, options, formats, client, workers, threads, progress
            )
    return report


def _check(
    options: Mapping[str, Any],
    formats: Sequence[str],
    client: Any,
    workers: int | None,
    threads: int | None,
) -> None:
    """What `track()` would refuse for every stack, refused once, before any work."""
    unknown = sorted(set(options) - set(TRACK_OPTIONS))
    if unknown:
        raise BatchError(f"unknown options {unknown}; track_many takes {', '.join(TRACK_OPTIONS)}")
    try:
        RawParams(**{k: v for k, v in options.items() if k in RawParams.__dataclass_fields__})
        check_lineage(options.get("lineage", "global"))
    except ValueError as error:
        raise BatchError(str(error)) from None
    diameter = options.get("diameter")
    if diameter is not None and not (isinstance(diameter, (int, float)) and diameter > 0):
        raise BatchError(f"diameter must be a positive number of pixels, got {diameter!r}")
    polarity = options.get("polarity", "auto")
    if polarity not in POLARITY_CHOICES:
        choices = ", ".join(f'"{c}"' for c in POLARITY_CHOICES)
        raise BatchError(f"polarity must be one of {choices}, got {polarity!r}")
    tile = options.get("tile")
    if tile is not None and not isinstance(tile, bool) and not (isinstance(tile, int) and tile > 0):
        raise BatchError(f"tile must be None, True, False or a side in pixels, got {tile!r}")
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise BatchError(f"{name} must be a whole number >= 1, got {value!r}")
    bad = sorted(set(formats) - set(FORMATS))
    if bad:
        raise BatchError(f"unknown formats {bad}: choose from {', '.join(FORMATS)}")
    if "geff" in formats and find_spec("geff") is None:
        raise BatchError("GEFF needs the geff package: pip install 'cellpoint[geff]'")
    if client is not None and workers is not None:
        raise BatchError("workers= starts a local cluster; a given cluster has its own workers")
    if client is not None and not isinstance(client, str):
        from distributed import Client

        if not isinstance(client, Client):
            raise BatchError(f"client must be a distributed.Client or an address, not {client!r}")


@contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """Holds `folder` for this run: a second run over it while this one lives is refused."""
    path = folder / LOCK
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    while True:
        try:
            with path.open("x") as file:
                json.dump(me, file)
            break
        except FileExistsError:
            try:
                holder = json.loads(path.read_text())
            except (OSError, ValueError):
                holder = {}
            if holder.get("host") == me["host"] and not _alive(int(holder.get("pid", 0))):
                path.unlink(missing_ok=True)  # its run ended without letting go
                continue
            raise BatchError(
                f"{folder} is in use by another run (process {holder.get('pid')} on "
                f"{holder.get('host')}); wait for it, or delete {path} if that run is gone"
            ) from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def _finished(
    folder: Path,
    reports: dict[str, StackReport],
    options: Mapping[str, Any],
    formats: Sequence[str],
) -> bool:
    """Whether the stack in `folder` is done: tracked there with these options (then any
    format it lacks is written from its tables). A folder it cannot use fails the stack."""
    name = folder.name
    if not folder.exists():
        return False
    record = _read_record(folder)
    if record is None:
        reports[name].status = "failed"
        reports[name].error = (
            f"{folder} exists but holds no finished stack ({STACK_RECORD}): delete it, or "
            "choose another output folder"
        )
        return True
    if record.options != json.loads(json.dumps(dict(options))):
        reports[name].status = "failed"
        reports[name].error = (
            f"{folder} was tracked with other options ({record.options}, now {dict(options)}): "
            "delete it to track again, or choose another output folder"
        )
        return True
    missing = [f for f in formats if f not in ("parquet", *_formats_of(record))]
    if missing:
        from ..io.result import TrackingResult

        record.outputs += _write_formats(TrackingResult.read(folder), folder, missing)
        _write_json(folder / STACK_RECORD, asdict(record))
    record.skipped = True
    reports[name] = record
    return True


def _formats_of(record: StackReport) -> list[str]:
    return [f for f, output in OUTPUT_OF.items() if output in record.outputs]


def _run(
    todo: list[StackSource],
    folder: Path,
    reports: dict[str, StackReport],
    report: BatchReport,
    options: Mapping[str, Any],
    formats: Sequence[str],
    client: Client | str | None,
    workers: int | None,
    threads: int | None,
    progress: bool,
) -> None:
    from distributed import as_completed

    with ExitStack() as resources:
        dask_client = _client(client, workers, len(todo), resources)
        threads_by_host = _threads_by_host(dask_client) if threads is None else {}
        topic = f"cellpoint-progress-{uuid.uuid4().hex[:8]}"  # this batch's, on a shared cluster
        bars = resources.enter_context(_Progress(len(report.stacks), progress))
        bars.stacks_done(len(report.stacks) - len(todo))
        dask_client.subscribe_topic(topic, bars.heard)
        resources.callback(dask_client.unsubscribe_topic, topic)
        futures = {
            dask_client.submit(
                track_stack,
                stack,
                str(folder),
                dict(options),
                tuple(formats),
                threads,
                threads_by_host,
                topic,
                key=f"cellpoint-{stack.name}-{uuid.uuid4().hex[:8]}",
                pure=False,
            ): stack.name
            for stack in todo
        }
        try:
            for future in as_completed(futures):
                name = futures[future]
                try:
                    reports[name] = StackReport(**future.result())
                except Exception as error:  # the stack failed; the others go on
                    reports[name].status = "failed"
                    reports[name].error = _why(error)
                bars.stacks_done(1)
                report.stacks = list(reports.values())
                _write_manifest(report, options, formats)
        except KeyboardInterrupt:
            dask_client.cancel(list(futures))
            for name in futures.values():  # finished, though not heard of yet
                record = _read_record(folder / name)
                if reports[name].status == "pending" and record is not None:
                    reports[name] = record
            report.stacks = list(reports.values())
            _write_manifest(report, options, formats)
            raise


def _why(error: BaseException) -> str:
    if type(error).__name__ == "KilledWorker":
        return (
            "the workers tracking it died again and again (out of memory?): run fewer workers, "
            "or track large frames in smaller tiles (tile=...)"
        )
    return f"{type(error).__name__}: {error}"


def track_stack(
    stack: StackSource,
    out: str,
    options: Mapping[str, Any],
    formats: Sequence[str],
    threads: int | None = None,
    threads_by_host: Mapping[str, int] | None = None,
    topic: str | None = None,
) -> dict[str, Any]:
    """Tracks one stack in this process and writes its folder under `out` whole; returns its
    `StackReport` as a dict. Runs in a Dask worker (`track_many`), or anywhere. `threads`
    None: `threads_by_host`'s figure for this machine, else onnxruntime's default."""
    from ..api import track

    started = time.perf_counter()
    target = Path(out) / stack.name
    done = _read_record(target)
    if done is not None:  # another attempt of this stack got there first
        return asdict(done) | {"skipped": True}
    if threads is None and threads_by_host:
        threads = threads_by_host.get(socket.gethostname())
    diameter = options.get("diameter")
    opened = open_stack(stack.source, diameter, options.get("polarity", "auto"))
    diameter = diameter if diameter is not None else opened.diameter
    result = track(
        opened.frames,
        diameter=None if diameter is None else diameter / opened.factor,
        polarity=opened.polarity or options.get("polarity", "auto"),
        backend="kernel",
        threads=threads,
        progress=_worker_progress(topic, stack.name, opened.shape[0]),
        **{k: v for k, v in options.items() if k not in ("diameter", "polarity")},
    )
    result = opened.to_full_resolution(result)
    partial = Path(out) / f"{_PARTIAL}{stack.name}-{uuid.uuid4().hex[:8]}"
    try:
        result.to_parquet(partial)
        outputs = ["tracks.parquet", "lineage.parquet", "divisions.parquet"]
        outputs += _write_formats(result, partial, [f for f in formats if f != "parquet"])
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
                options=dict(options),
            )
        )
        _write_json(partial / STACK_RECORD, record)
        _flush(partial)
        try:
            partial.rename(target)  # whole, or not at all
        except OSError:
            done = _read_record(target)
            if done is None:
                raise
            return asdict(done) | {"skipped": True}  # another attempt finished first
        _fsync(target.parent)  # the rename itself
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return record


def _write_formats(result: TrackingResult, folder: Path, formats: Sequence[str]) -> list[str]:
    writers = {"csv": result.to_csv, "ctc": result.to_ctc, "geff": result.to_geff}
    outputs = []
    for fmt, output in OUTPUT_OF.items():
        if fmt in formats:
            writers[fmt](folder / output.rstrip("/"))
            outputs.append(output)
    return outputs


def _write_json(path: Path, content: Any) -> None:
    path.write_text(json.dumps(content, indent=2))


def _flush(folder: Path) -> None:
    """Everything under `folder` (this stack's own, which nothing else writes) on disk, so that
    a stack's folder that survives a crash of its machine is whole."""
    for path in [*sorted(folder.rglob("*"), reverse=True), folder]:
        _fsync(path)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _worker_progress(topic: str | None, name: str, total: int) -> Callable[[int, int], None]:
    """Frames done, sent to the driver through the scheduler's event log at most once a second
    (and at the end)."""
    last = [0.0]

    def report(done: int, cells: int) -> None:
        now = time.monotonic()
        if topic is None or (now - last[0] < _PROGRESS_EVERY_S and done < total):
            return
        last[0] = now
        try:
            from distributed import get_worker

            worker = get_worker()
        except (ImportError, ValueError):
            return  # not in a Dask worker: no one listens
        worker.log_event(topic, {"stack": name, "done": done, "total": total})

    return report


def _client(
    client: Client | str | None, workers: int | None, n_stacks: int, resources: ExitStack
) -> Client:
    """The client to run on; one this call makes is closed (and its cluster) at the end."""
    try:
        from dask.system import CPU_COUNT
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise ImportError(
            "track_many needs Dask distributed: pip install 'cellpoint[batch]'"
        ) from error
    if isinstance(client, Client):
        return client
    if isinstance(client, str):
        made = Client(client)
        resources.callback(made.close)
        return made
    # One stack at a time per worker; a stack's failure is reported in the manifest, so the
    # workers' own error logs would only repeat it.
    cluster = LocalCluster(
        n_workers=workers or max(1, min(CPU_COUNT, n_stacks)),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )
    resources.callback(cluster.close)
    made = Client(cluster)
    resources.callback(made.close)
    return made


def _threads_by_host(client: Client) -> dict[str, int]:
    """onnxruntime threads per stack on each machine: its cores over the stacks its workers run
    at once."""
    from dask.system import CPU_COUNT

    cores: dict[str, tuple[str, int]] = client.run(lambda: (socket.gethostname(), CPU_COUNT))
    tasks: dict[str, int] = {}
    for address, info in client.scheduler_info()["workers"].items():
        host = cores[address][0]
        tasks[host] = tasks.get(host, 0) + int(info["nthreads"])
    return {host: max(1, n_cores // tasks[host]) for host, n_cores in set(cores.values())}


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
    _write_json(temporary, manifest)
    os.replace(temporary, path)


class _Progress:
    """Bars over stacks and frames (a running count: stacks report their length as they
    start): tqdm's, as widgets in a notebook, else in the terminal."""

    def __init__(self, n_stacks: int, show: bool) -> None:
        self.show = show
        self.done_of: dict[str, int] = {}
        if show:
            from tqdm.auto import tqdm

            self.stacks = tqdm(total=n_stacks, desc="stacks", unit="stack")
            self.frames = tqdm(desc="frames", unit="frame")

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
        message = event[1]
        before = self.done_of.get(message["stack"], 0)
        self.done_of[message["stack"]] = message["done"]
        if self.show:
            self.frames.update(message["done"] - before)
