"""Score a CTC tracking result against CTC ground truth and print the measures.

    python -m cellpoint.score RES_FOLDER GT_FOLDER [--division-tolerance N] [--points]

RES_FOLDER holds `mask000.tif ...` and `res_track.txt`; GT_FOLDER is `<seq>_GT`, `<seq>_GT/TRA`
or the sequence folder beside its `<seq>_GT`. The masks are matched to the markers the CTC's way
(`cellpoint.eval.metrics.evaluate_masks`); `--points` adds a column for the result's points
(`cellpoint.eval.metrics.evaluate`): the exact tables that `TrackingResult.to_ctc` writes beside the
masks, or else the centroids of the masks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .eval.metrics import evaluate, evaluate_ctc, format_reports, load_ground_truth
from .io.result import TrackingResult


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scorer; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m cellpoint.score",
        description="Score a CTC tracking result (masks and res_track.txt) against CTC ground "
        "truth: AOGM, TRA, DET, LNK, error counts, CT, TF, BC(0-2), CCA, division timing.",
    )
    parser.add_argument("result", help="CTC result folder: mask000.tif ... and res_track.txt")
    parser.add_argument("ground_truth", help="<seq>_GT, <seq>_GT/TRA or <seq> folder")
    parser.add_argument(
        "--division-tolerance",
        type=int,
        default=1,
        metavar="N",
        help="frames a division may be early or late and still match (default 1)",
    )
    parser.add_argument(
        "--points", action="store_true", help="also score the result's points (see above)"
    )
    args = parser.parse_args(argv)
    try:
        truth = load_ground_truth(args.ground_truth)
        reports = [evaluate_ctc(args.result, truth, division_tolerance=args.division_tolerance)]
        if args.points:
            result = TrackingResult.read(args.result)
            reports.append(evaluate(result, truth, division_tolerance=args.division_tolerance))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(format_reports(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
