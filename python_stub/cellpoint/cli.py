"""The command line: `cellpoint track`, `cellpoint score`, `cellpoint bench`.

    cellpoint track INPUT... --out DIR [--format ctc,geff] [--workers N | --address ADDR] ...
    cellpoint score RES_FOLDER GT_FOLDER [...]       (python -m cellpoint.score)
    cellpoint bench [...]                            (python -m cellpoint.bench)

`cellpoint track` is `track_many`: every INPUT (CTC folder, TIFF stack, zarr / OME-Zarr) is
tracked and written to DIR/<name>/ as it finishes; a second run over DIR does only what is left.
Exit status, for pipelines: 0 every stack is done; 1 some failed (the others are written, the
manifest says why); 2 the command itself is wrong (usage, an option out of range, DIR in use
by another run, a missing extra); 3 the run itself broke (the cluster went away, the disk
filled: what finished is written); 130 interrupted by Ctrl+C (SIGINT), 143 stopped by SIGTERM
(a scheduler's time limit): what finished is written; run the same command again to go on.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BROKEN = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM


class _Terminated(KeyboardInterrupt):
    """SIGTERM, taken as Ctrl+C is: the run stops and keeps what finished."""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs a command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {"track": _track, "score": _score, "bench": _bench}
    if args and args[0] in commands:
        return commands[args[0]](args[1:])
    asked = bool(args) and args[0] in ("-h", "--help")
    print(__doc__.split("\n\n")[1], file=sys.stdout if asked else sys.stderr)
    return EXIT_OK if asked else EXIT_USAGE


def _score(argv: list[str]) -> int:
    from .score import main as score

    return score(argv)


def _bench(argv: list[str]) -> int:
    from .bench import main as bench

    bench(argv)
    return EXIT_OK


def _track(argv: list[str]) -> int:
    from .engine.preprocess import POLARITY_CHOICES

    parser = argparse.ArgumentParser(
        prog="cellpoint track",
        description="Track stacks of frames with the CAP network (the kernel backend) and write "
        "each stack's tables to OUT/<name>/.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="CTC sequence folder, TIFF stack, zarr array or OME-Zarr image",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--format",
        default="",
        help="also write: any of csv, ctc, geff "
        "(comma-separated); Parquet tables are always written",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: one a core)")
    where.add_argument("--address", help="a running Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--threads", type=int, help="onnxruntime threads per stack")
    parser.add_argument(
        "--diameter", type=float, help="cell diameter in pixels (default: estimated per stack)"
    )
    parser.add_argument(
        "--polarity",
        choices=POLARITY_CHOICES,
        help="cells brighter (fluorescence) or darker (phase contrast) than the background "
        "(default: told apart per stack)",
    )
    parser.add_argument("--window", type=int, help="RAW window length (frames)")
    for name in ("detection", "visibility", "division", "sister"):
        parser.add_argument(f"--{name}-threshold", type=float)
    parser.add_argument(
        "--min-separation",
        type=float,
        help="model px between cells (default: per stack, 12, half a cell, or 24 for cells "
        "stained whole)",
    )
    parser.add_argument("--min-cycle", type=int, help="frames before a daughter can divide")
    parser.add_argument("--lineage", choices=("global", "greedy"), help="division timing")
    tiling = parser.add_mutually_exclusive_group()
    tiling.add_argument(
        "--tile",
        type=int,
        help="track frames in tiles of at most this many pixels a side (default: tiles only "
        "frames larger than the model needs)",
    )
    tiling.add_argument("--no-tile", dest="tile", action="store_false", help="never tile")
    parser.set_defaults(tile=None)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code == 0 else EXIT_USAGE
    from .batch.inputs import InputError
    from .batch.run import TRACK_OPTIONS, BatchError, track_many

    options = {k: v for k, v in vars(args).items() if k in TRACK_OPTIONS and v is not None}

    def terminated(*_: Any) -> None:
        raise _Terminated

    signal.signal(signal.SIGTERM, terminated)
    try:
        report = track_many(
            args.inputs,
            args.out,
            formats=[f for f in args.format.split(",") if f],
            client=args.address,
            workers=args.workers,
            threads=args.threads,
            progress=not args.no_progress,
            **options,
        )
    except KeyboardInterrupt as stop:
        print(f"cellpoint: stopped; what finished is in {args.out}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(stop, _Terminated) else EXIT_INTERRUPTED
    except (BatchError, InputError, ImportError) as error:
        print(f"cellpoint: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:
        print(f"cellpoint: the run broke ({type(error).__name__}: {error}); what finished is "
              f"in {args.out}: run the same command again to go on", file=sys.stderr)  # fmt: skip
        return EXIT_BROKEN
    print(report)
    return EXIT_OK if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
