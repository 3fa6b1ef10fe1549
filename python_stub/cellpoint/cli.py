"""The command line: `cellpoint track`, `cellpoint score`, `cellpoint bench`.

    cellpoint track INPUT... --out DIR [--format ctc,geff] [--workers N | --address ADDR] ...
    cellpoint score RES_FOLDER GT_FOLDER [...]       (python -m cellpoint.score)
    cellpoint bench [...]                            (python -m cellpoint.bench)

`cellpoint track` is `track_many`: every INPUT (CTC folder, TIFF stack, zarr / OME-Zarr) is
tracked and written to DIR/<name>/ as it finishes; a second run over DIR does only what is left.
Exit status, for pipelines: 0 every stack is done; 1 some failed (the others are written, the
manifest says why); 2 the command itself is wrong (usage, an option out of range, DIR not
writable); 130 interrupted (what finished is written; run again to go on).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
    parser.add_argument("--window", type=int, help="RAW window length (frames)")
    for name in ("detection", "visibility", "division", "sister"):
        parser.add_argument(f"--{name}-threshold", type=float)
    parser.add_argument("--min-cycle", type=int, help="frames before a daughter can divide")
    parser.add_argument("--lineage", choices=("global", "greedy"), help="division timing")
    parser.add_argument(
        "--tile",
        type=int,
        help="track frames in tiles of at most this many "
        "pixels a side (default: tiles only frames larger than the model needs)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code == 0 else EXIT_USAGE
    from .batch.run import track_many

    options = {
        key: value
        for key, value in vars(args).items()
        if key in ("diameter", "window", "detection_threshold", "visibility_threshold",
                   "division_threshold", "sister_threshold", "min_cycle", "lineage", "tile")
        and value is not None
    }  # fmt: skip
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
    except KeyboardInterrupt:
        print(f"cellpoint: interrupted; what finished is in {args.out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError) as error:
        print(f"cellpoint: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(report)
    return EXIT_OK if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
