"""A copy of the shared sequences' training frames small enough to travel to the GPU machine
(64 MiB with the working tree), as zlib TIFFs (its Python has no imagecodecs for LZW).

    python training/device/reduce_data.py .gpu/data 0.5   # then CELLPOINT_DATA=.gpu/data there

Frames [0, cut) of each sequence and its ground truth cut to them, cut being the sequence's
training frames (times the given share for SIM+/02, whose uint16 frames are the larger). The
copy's own held-out 20% goes unused there, so training reads 80% of what is copied.
"""

import sys
from pathlib import Path

import tifffile
from cellpoint.eval.heldout import data_dir, real_sequences, training_frames

out, share = Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
root = data_dir()
if root is None:
    raise SystemExit("no shared data: set CELLPOINT_DATA or put it at ../shared/data")
for seq in real_sequences(root):
    cut = int(training_frames(seq.frames.shape[0]) * (share if "SIM+" in seq.name else 1.0))
    frames_dir = out / seq.name
    truth_dir = frames_dir.parent / f"{frames_dir.name}_GT" / "TRA"
    frames_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    zlib = {"compression": "zlib", "compressionargs": {"level": 9}}
    for t in range(cut):
        tifffile.imwrite(frames_dir / f"t{t:03d}.tif", seq.frames[t], **zlib)
        tifffile.imwrite(truth_dir / f"man_track{t:03d}.tif", seq.markers[t], **zlib)
    kept = seq.lineage[seq.lineage["start"] < cut]
    with (truth_dir / "man_track.txt").open("w") as f:
        for row in kept.itertuples():
            f.write(f"{row.track_id} {row.start} {min(row.end, cut - 1)} {row.parent_id}\n")
    print(f"{seq.name}: frames 0-{cut - 1}")
