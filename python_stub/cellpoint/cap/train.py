"""Train the CAP network in two stages, as the paper does (its supplementary, C.1):

    python -m cellpoint.cap.train encoder --out runs/encoder --steps 3000
    python -m cellpoint.cap.train tracker --out runs/tracker --encoder runs/encoder/last.pt
    python -m cellpoint.cap.train sisters --out runs/sisters --encoder runs/encoder/last.pt
    python -m cellpoint.cap.train joint --out runs/joint --encoder runs/encoder/last.pt \
        --init-sisters runs/sisters/last.pt

Stage 1 trains the encoder on single frames (cell-centre heatmap, plus a matching loss that
makes a cell's features find it again in the next frames). Stage 2 freezes it and trains the
tracker on T_s-frame windows with AEG sampling. The sister head (sisters.py) trains beside
the tracker on the same frozen features; the joint stage then fine-tunes the encoder and the
sister head together, its features held near the encoder it started from or the one
`--anchor` names (`--anchor-weight`), so that a tracker trained on them still reads them.
Each run writes `last.pt` every `--checkpoint-every` steps and resumes from it when started
again with the same `--out`; `log.csv` holds the losses. A CUDA GPU is used when present.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..eval.sim import PRESETS
from .data import Source, Window, make_window
from .encoder import Encoder
from .export import load_sisters
from .losses import focal_loss, heatmap_target, matching_loss, tracker_loss
from .sisters import AXIS_WEIGHT, BLOCKS, WIDTH, SisterHead, sister_loss, sister_pairs
from .sources import SIM_BASES, real_training_sources, sim_source
from .tracker import Tracker

SISTER_WINDOW = 6  # frames per sister-head training window
POOL_SIZE = 6  # simulated sequences kept at once; one is replaced every REFRESH windows
REFRESH = 4


def window_stream(
    rng: np.random.Generator,
    length: int,
    crop: int,
    real_share: float,
    max_tracks: int | None = None,
    sim_presets: tuple[str, ...] = SIM_BASES,
    refresh: int = REFRESH,
) -> Iterator[Window]:
    """Endless training windows: a share from the real sequences, the rest simulated."""
    real = real_training_sources()
    if not real:
        print("no shared CTC data found: training on simulated data only")
    pool: list[Source] = [sim_source(rng, crop, length + 8, sim_presets) for _ in range(POOL_SIZE)]
    step = 0
    while True:
        step += 1
        if step % refresh == 0:
            pool[int(rng.integers(len(pool)))] = sim_source(rng, crop, length + 8, sim_presets)
        use_real = real and rng.random() < real_share
        source = (
            real[int(rng.integers(len(real)))] if use_real else pool[int(rng.integers(len(pool)))]
        )
        window = make_window(source, length, crop, rng, max_tracks=max_tracks)
        if window is not None:
            yield window


class _Windows(torch.utils.data.IterableDataset[Window]):
    """`window_stream` in DataLoader workers, each with its own seed: simulating and cutting
    windows costs more CPU than a GPU step, so a GPU run needs several producers."""

    def __init__(self, seed: int, **stream: Any) -> None:
        self.seed, self.stream = seed, stream

    def __iter__(self) -> Iterator[Window]:
        info = torch.utils.data.get_worker_info()
        worker = 0 if info is None else info.id
        return window_stream(np.random.default_rng([self.seed, worker]), **self.stream)


def windows(args: argparse.Namespace, rng: np.random.Generator, **stream: Any) -> Iterator[Window]:
    """Training windows, made here or, with --workers, in that many worker processes."""
    stream["refresh"] = args.refresh
    if not args.workers:
        return window_stream(rng, **stream)
    loader = torch.utils.data.DataLoader(
        _Windows(args.seed, **stream), batch_size=None, num_workers=args.workers, prefetch_factor=4
    )
    return iter(loader)


class Run:
    """A resumable training run: model, optimiser, schedule, step and log in one folder."""

    def __init__(
        self, out: Path, model: torch.nn.Module, lr: float, steps: int, init: Path | None = None
    ) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5, eps=1e-8)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt,
            max_lr=lr,
            total_steps=steps,
            pct_start=max(0.05, 2 / steps),  # at least two warm-up steps
            cycle_momentum=False,
            anneal_strategy="linear",
        )
        self.step = 0
        self.steps = steps
        self.started = time.time()
        ckpt = out / "last.pt"
        if init is not None and not ckpt.exists():
            # A new schedule from earlier weights (a finished run cannot be resumed).
            model.load_state_dict(torch.load(init, map_location="cpu", weights_only=False)["model"])
            print(f"initialised from {init}")
        if ckpt.exists():
            state = torch.load(ckpt, map_location="cpu", weights_only=False)
            if state["scheduler"]["total_steps"] != steps:
                raise SystemExit(
                    f"{ckpt} belongs to a run of {state['scheduler']['total_steps']} steps; "
                    f"resume it with --steps {state['scheduler']['total_steps']} or use a new --out"
                )
            model.load_state_dict(state["model"])
            # Committed checkpoints (training/) leave out the optimizer's moments to stay small;
            # Adam then re-estimates them within a few steps.
            if "optimizer" in state:
                self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            self.step = int(state["step"])
            print(f"resumed {ckpt} at step {self.step}")

    @property
    def lr(self) -> float:
        """The learning rate of the next update."""
        return float(self.opt.param_groups[0]["lr"])

    def update(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.sched.step()
        self.step += 1

    def log(self, row: dict[str, Any]) -> None:
        path = self.out / "log.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def end_step(
        self,
        args: argparse.Namespace,
        losses: dict[str, torch.Tensor],
        lr: float,
        extra: dict[str, Any],
        **info: Any,
    ) -> None:
        """After an update: logs the losses, learning rate and `info` every --log-every steps
        (reading the losses only then: on a GPU that waits for the step), saves the run with
        `extra` every --checkpoint-every and at the last step."""
        if self.step % args.log_every == 0:
            row = {"step": self.step, **{k: v.item() for k, v in losses.items()}, "lr": lr,
                   **info, "seconds": round(time.time() - self.started, 1)}  # fmt: skip
            self.log(row)
            print(row, flush=True)
        if self.step % args.checkpoint_every == 0 or self.step == self.steps:
            self.save(extra)

    def save(self, extra: dict[str, Any]) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "step": self.step,
            **extra,
        }
        save_whole(state, self.out / "last.pt")


def save_whole(state: dict[str, Any], path: Path) -> None:
    """torch.save through a temporary file: never a half-written checkpoint."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train_encoder(args: argparse.Namespace, device: torch.device) -> None:
    rng = np.random.default_rng(args.seed)
    model = Encoder().to(device)
    run = Run(args.out, model, args.lr or 2e-3, args.steps, args.init)
    stream = windows(
        args,
        rng,
        length=4,
        crop=args.crop,
        real_share=args.real_share,
        sim_presets=tuple(args.sim_presets.split(",")),
    )
    while run.step < run.steps:
        model.train()
        losses = []
        for _ in range(args.batch):
            w = next(stream)
            feats, heat = model(w.frames.to(device))
            h, wd = heat.shape[-2:]
            target = torch.stack([heatmap_target(c, h, wd) for c in w.centres]).to(device)
            l_heat = focal_loss(heat[:, 0], target)
            k = int(rng.integers(1, w.frames.shape[0]))
            both = (w.visible[0, :, 0] > 0) & (w.visible[k, :, 0] > 0)
            l_match = matching_loss(
                feats[0], feats[k], w.points[0, both, 0].to(device), w.points[k, both, 0].to(device)
            )
            losses.append((l_heat, l_match))
        l_heat = torch.stack([a for a, _ in losses]).mean()
        l_match = torch.stack([b for _, b in losses]).mean()
        lr = run.lr
        run.update(l_heat + args.match_weight * l_match)
        run.end_step(args, {"heatmap": l_heat, "match": l_match}, lr, {"kind": "encoder"})


def train_tracker(args: argparse.Namespace, device: torch.device) -> None:
    rng = np.random.default_rng(args.seed)
    encoder = frozen_encoder(args.encoder, device)
    model = Tracker().to(device)
    run = Run(args.out, model, args.lr or 5e-4, args.steps, args.init)
    stream = windows(
        args,
        rng,
        length=args.window,
        crop=args.crop,
        real_share=args.real_share,
        max_tracks=args.max_tracks,
        sim_presets=tuple(args.sim_presets.split(",")),
    )
    while run.step < run.steps:
        model.train()
        w = next(stream)
        with torch.no_grad():
            feats, _ = encoder(w.frames.to(device))
        history, vis = model(
            feats.permute(0, 2, 3, 1)[None], w.queries[None].to(device), return_all=True
        )
        l_loc, l_vis = tracker_loss(
            [p[0] for p in history],
            vis[0],
            w.points.to(device),
            w.point_mask.to(device),
            w.visible.to(device),
            daughter_weight=args.daughter_weight,
        )
        lr = run.lr
        run.update(l_loc + args.vis_weight * l_vis)
        extra = {"kind": "tracker", "config": model.config.__dict__}
        losses = {"location": l_loc, "visibility": l_vis}
        run.end_step(args, losses, lr, extra, tracks=w.queries.shape[0])
        if args.validate_every and (run.step % args.validate_every == 0 or run.step == run.steps):
            from .validate import validate

            table = validate(encoder, model).assign(step=run.step)
            path = args.out / "validation.csv"
            table.to_csv(path, mode="a", header=not path.exists(), index=False)
            print(table.to_string(index=False), flush=True)


def sister_windows(args: argparse.Namespace, rng: np.random.Generator) -> Iterator[Window]:
    """Short windows: every cell alive at the first frame is a query, so the daughter slots
    name every division; AEG sampling puts most windows around one."""
    return windows(
        args,
        rng,
        length=SISTER_WINDOW,
        crop=args.crop,
        real_share=args.real_share,
        sim_presets=tuple(args.sim_presets.split(",")),
    )


def train_sisters(args: argparse.Namespace, device: torch.device) -> None:
    rng = np.random.default_rng(args.seed)
    encoder = frozen_encoder(args.encoder, device)
    model = SisterHead(width=args.head_width, blocks=args.head_blocks).to(device)
    run = Run(args.out, model, args.lr or 2e-3, args.steps, args.init)
    stream = sister_windows(args, rng)
    while run.step < run.steps:
        model.train()
        losses, n_pairs = [], 0
        for _ in range(args.batch):  # windows differ in size (scale augmentation)
            w = next(stream)
            with torch.no_grad():
                feats, _ = encoder(w.frames.to(device))
            pairs = sister_pairs(w)
            n_pairs += sum(len(p) for p in pairs)
            losses.append(sister_loss(model(feats[:-1], feats[1:]), pairs))
        l_heat = torch.stack([a for a, _ in losses]).mean()
        l_axis = torch.stack([b for _, b in losses]).mean()
        lr = run.lr
        run.update(l_heat + AXIS_WEIGHT * l_axis)
        logged = {"heatmap": l_heat, "axis": l_axis}
        run.end_step(args, logged, lr, {"kind": "sisters", "config": model.config}, pairs=n_pairs)


class EncoderWithSisters(torch.nn.Module):
    """The encoder and the sister head as one model, for the joint stage."""

    def __init__(self, encoder: Encoder, head: SisterHead) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head


def train_joint(args: argparse.Namespace, device: torch.device) -> None:
    """Fine-tune the encoder and the sister head together on short windows: heatmap, matching
    and sister losses, plus the features' squared distance to the anchor encoder's (--anchor,
    by default the starting one; relative to their energy) times --anchor-weight. The frozen
    sister head could only read what the encoder had learnt for detection and matching; the
    anchor keeps the features near those the tracker learnt on (training/README.md)."""
    rng = np.random.default_rng(args.seed)
    start = frozen_encoder(args.encoder, device)
    reference = frozen_encoder(args.anchor, device) if args.anchor else start
    encoder = Encoder()
    encoder.load_state_dict(start.state_dict())
    head = (
        load_sisters(args.init_sisters)
        if args.init_sisters is not None
        else SisterHead(width=args.head_width, blocks=args.head_blocks)
    )
    model = EncoderWithSisters(encoder, head).to(device)
    run = Run(args.out, model, args.lr or 5e-4, args.steps, args.init)
    stream = sister_windows(args, rng)
    while run.step < run.steps:
        model.train()
        names = ("heatmap", "match", "sisters", "axis", "anchor")
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in names}
        for _ in range(args.batch):  # windows differ in size (scale augmentation)
            w = next(stream)
            frames = w.frames.to(device)
            feats, heat = model.encoder(frames)
            with torch.no_grad():
                ref, _ = reference(frames)
            h, wd = heat.shape[-2:]
            target = torch.stack([heatmap_target(c, h, wd) for c in w.centres]).to(device)
            parts["heatmap"].append(focal_loss(heat[:, 0], target))
            k = int(rng.integers(1, w.frames.shape[0]))
            both = (w.visible[0, :, 0] > 0) & (w.visible[k, :, 0] > 0)
            points = w.points[:, both, 0].to(device)
            parts["match"].append(matching_loss(feats[0], feats[k], points[0], points[k]))
            l_sis, l_axis = sister_loss(model.head(feats[:-1], feats[1:]), sister_pairs(w))
            parts["sisters"].append(l_sis)
            parts["axis"].append(l_axis)
            parts["anchor"].append((feats - ref).pow(2).mean() / ref.pow(2).mean().clamp(min=1e-8))
        losses = {k: torch.stack(v).mean() for k, v in parts.items()}
        total = (
            losses["heatmap"]
            + args.match_weight * losses["match"]
            + losses["sisters"]
            + AXIS_WEIGHT * losses["axis"]
            + args.anchor_weight * losses["anchor"]
        )
        lr = run.lr
        run.update(total)
        run.end_step(args, losses, lr, {"kind": "joint"})
        if run.step % args.checkpoint_every == 0 or run.step == run.steps:
            # The parts as the encoder and sisters stages save them, for the tracker and export.
            step = run.step
            save_whole(
                {"model": encoder.state_dict(), "kind": "encoder", "step": step},
                args.out / "encoder.pt",
            )
            save_whole(
                {
                    "model": head.state_dict(),
                    "kind": "sisters",
                    "config": head.config,
                    "step": step,
                },
                args.out / "sisters.pt",
            )


def frozen_encoder(path: Path, device: torch.device) -> Encoder:
    encoder = Encoder()
    encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
    encoder.to(device).eval().requires_grad_(False)
    return encoder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=["encoder", "tracker", "sisters", "joint"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument(
        "--batch", type=int, default=2, help="windows per step, encoder and sisters"
    )
    parser.add_argument("--crop", type=int, default=256, help="model pixels")
    parser.add_argument("--window", type=int, default=24, help="T_s, tracker stage")
    parser.add_argument("--real-share", type=float, default=0.5)
    parser.add_argument(
        "--sim-presets", default=",".join(SIM_BASES),
        help="simulator presets drawn from (comma-separated; repeat one to draw it more often; "
        "the default is the shipped model's nuclei; add phase_bacteria,cytoplasm for others)",
    )  # fmt: skip
    parser.add_argument("--match-weight", type=float, default=0.5)
    parser.add_argument("--vis-weight", type=float, default=1.0)
    parser.add_argument(
        "--daughter-weight", type=float, default=1.0,
        help="weight of visible daughter slots in the visibility loss, tracker",
    )  # fmt: skip
    parser.add_argument("--encoder", type=Path, help="encoder checkpoint, tracker and sisters")
    parser.add_argument("--head-width", type=int, default=WIDTH, help="channels, sisters")
    parser.add_argument("--head-blocks", type=int, default=BLOCKS, help="separable blocks, sisters")
    parser.add_argument("--max-tracks", type=int, default=32, help="queries per window, tracker")
    parser.add_argument(
        "--validate-every", type=int, default=500, help="steps between validation runs (0: none)"
    )
    parser.add_argument("--init", type=Path, help="start a new run from this checkpoint's weights")
    parser.add_argument("--init-sisters", type=Path, help="sister head to start from, joint")
    parser.add_argument(
        "--anchor-weight", type=float, default=0.3,
        help="weight of the features' distance to the anchor encoder's, joint",
    )  # fmt: skip
    parser.add_argument(
        "--anchor", type=Path,
        help="encoder whose features the joint stage holds near (default: --encoder); the "
        "tracker's encoder keeps the features near those the tracker learnt on",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    parser.add_argument(
        "--refresh", type=int, default=REFRESH,
        help=f"windows cut between replacing one of the {POOL_SIZE} pooled simulated sequences "
        "(simulating costs most of a window: more reuse feeds a data-bound GPU faster)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=0, help="processes making windows (0: the training one)"
    )
    args = parser.parse_args(argv)
    if args.steps < 3:
        parser.error("--steps: the one-cycle schedule needs at least 3 steps")
    unknown = set(args.sim_presets.split(",")) - set(PRESETS)
    if unknown:
        parser.error(f"--sim-presets: unknown {sorted(unknown)}; choose from {list(PRESETS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    if args.stage == "encoder":
        train_encoder(args, device)
        return
    if args.encoder is None:
        parser.error(f"the {args.stage} stage needs --encoder")
    stages = {"tracker": train_tracker, "sisters": train_sisters, "joint": train_joint}
    stages[args.stage](args, device)


if __name__ == "__main__":
    main()
