"""Export trained checkpoints to the ONNX graphs and write the model card.

    python -m cellpoint.cap.export --encoder runs/encoder/last.pt --tracker runs/tracker/last.pt \
        --sisters runs/sisters/last.pt

The encoder and tracker graphs are CAP's two (docs/architecture.md); the sister head (sisters.py) is
a third, small graph over the features of two consecutive frames. Between the graphs, features are
channel-last ([h, w, C] a frame, FEATURE_LAYOUT): the tracker gathers a point's features as one row,
and the hosts never copy a window into another layout. The PyTorch encoder and sister head stay
channel-first (convolutions); their graphs turn the layout at their edge.

Each exported graph is run with onnxruntime on random inputs and held to PyTorch's answers
before anything is written into the package's models/ folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine.infer import FEATURE_LAYOUT, MODEL_NAME, MODELS_DIR
from ..engine.preprocess import (
    CANONICAL_DIAMETER,
    FEATURE_STRIDE,
    HIGH_PERCENTILE,
    LOW_PERCENTILE,
    PAD_MULTIPLE,
)
from .encoder import FEATURE_DIM, Encoder
from .sisters import SisterHead
from .tracker import Tracker, TrackerConfig

OPSET = 17


def load_encoder(path: Path) -> Encoder:
    model = Encoder()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
    return model.eval()


def load_tracker(path: Path) -> Tracker:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = Tracker(TrackerConfig(**state.get("config", {})))
    model.load_state_dict(state["model"])
    return model.eval()


def load_sisters(path: Path) -> SisterHead:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = SisterHead(**state.get("config", {}))
    model.load_state_dict(state["model"])
    return model.eval()


class ChannelLastEncoder(torch.nn.Module):
    """The encoder with channel-last features: frames [B, 1, H, W] -> features [B, h, w, C],
    heatmap [B, 1, h, w]."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, heatmap = self.encoder(frames)
        return features.permute(0, 2, 3, 1), heatmap


class ChannelLastSisters(torch.nn.Module):
    """The sister head on channel-last features [B, h, w, C] of frames t - 1 and t.

    The head's first layer, a 1 x 1 convolution of [previous, current, current - previous],
    is linear: here it is two products of the channel-last features with folded weights
    (previous @ (W_p - W_d) + current @ (W_c + W_d)), so that the graph neither concatenates
    three maps nor turns 3C channels channel-first, only the layer's `width` (the graph 15%
    faster in WebAssembly; outputs within a few millionths of the head's)."""

    previous_weight: torch.Tensor  # [C, width]
    current_weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, head: SisterHead) -> None:
        super().__init__()
        self.head = head
        conv = head.mix[0]
        assert isinstance(conv, torch.nn.Conv2d)
        assert conv.bias is not None
        weight = conv.weight.detach()[:, :, 0, 0]  # [width, 3C]
        w_previous, w_current, w_difference = torch.split(weight, conv.in_channels // 3, dim=1)
        self.register_buffer("previous_weight", (w_previous - w_difference).T.contiguous())
        self.register_buffer("current_weight", (w_current + w_difference).T.contiguous())
        self.register_buffer("bias", conv.bias.detach())

    def forward(self, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        mixed = previous @ self.previous_weight + current @ self.current_weight + self.bias
        out: torch.Tensor = self.head.read(self.head.mix[1](mixed).permute(0, 3, 1, 2))
        return out


def _check(
    session_path: Path, model: torch.nn.Module, inputs: dict[str, torch.Tensor]
) -> tuple[float, float]:
    """The largest difference between the graph's outputs and PyTorch's: absolute, and each
    output's relative to its largest magnitude where that exceeds 1 (points are in model
    pixels, up to hundreds: float32 rounding through the attention layers reaches a few
    thousandths of a pixel there, a negligible share)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(session_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(*inputs.values())
    if isinstance(expected, torch.Tensor):
        expected = (expected,)
    got = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    pairs = [
        (np.abs(g - e.numpy()).max(), np.abs(e.numpy()).max())
        for g, e in zip(got, expected, strict=True)
    ]
    return max(float(d) for d, _ in pairs), max(float(d) / max(1.0, float(m)) for d, m in pairs)


def export(
    encoder: Encoder,
    tracker: Tracker,
    out: Path,
    sister_head: SisterHead | None = None,
    tolerance: float = 1e-3,
) -> dict[str, Any]:
    """Writes encoder.onnx, tracker.onnx and (given a head) sisters.onnx into `out`; returns
    the measured absolute export errors. Raises where a graph's relative error (`_check`)
    exceeds `tolerance`."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # the same inputs to trace and check: an export is reproducible
    encoder_graph = ChannelLastEncoder(encoder).eval()
    frames = torch.randn(2, 1, 128, 160)
    torch.onnx.export(
        encoder_graph,
        (frames,),
        str(out / "encoder.onnx"),
        input_names=["frames"],
        output_names=["features", "heatmap"],
        dynamic_axes={
            "frames": {0: "batch", 2: "height", 3: "width"},
            "features": {0: "batch", 1: "fheight", 2: "fwidth"},
            "heatmap": {0: "batch", 2: "fheight", 3: "fwidth"},
        },
        opset_version=OPSET,
        dynamo=False,
    )
    features = torch.randn(1, 6, 24, 32, FEATURE_DIM)
    queries = torch.cat([torch.zeros(1, 5, 1), torch.rand(1, 5, 2) * 100], dim=-1)
    torch.onnx.export(
        tracker,
        (features, queries),
        str(out / "tracker.onnx"),
        input_names=["features", "queries"],
        output_names=["points", "visibility"],
        dynamic_axes={
            "features": {1: "frames", 2: "fheight", 3: "fwidth"},
            "queries": {1: "tracks"},
            "points": {1: "frames", 2: "tracks"},
            "visibility": {1: "frames", 2: "tracks"},
        },
        opset_version=OPSET,
        dynamo=False,
    )
    sisters_graph = ChannelLastSisters(sister_head).eval() if sister_head is not None else None
    if sisters_graph is not None:
        torch.onnx.export(
            sisters_graph,
            (features[0, :2], features[0, 2:4]),
            str(out / "sisters.onnx"),
            input_names=["previous", "current"],
            output_names=["sisters"],
            dynamic_axes={
                "previous": {0: "batch", 1: "fheight", 2: "fwidth"},
                "current": {0: "batch", 1: "fheight", 2: "fwidth"},
                "sisters": {0: "batch", 2: "fheight", 3: "fwidth"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    # Held to PyTorch on shapes other than those traced, so the dynamic axes are exercised,
    # and on features the encoder made (random features exaggerate rounding a hundredfold).
    with torch.no_grad():
        check_features = encoder_graph(torch.rand(9, 1, 80, 112))[0][None]
    errors = {
        "encoder": _check(
            out / "encoder.onnx", encoder_graph, {"frames": torch.randn(3, 1, 96, 208)}
        ),
        "tracker": _check(
            out / "tracker.onnx",
            tracker,
            {
                "features": check_features,
                "queries": torch.cat([torch.zeros(1, 7, 1), torch.rand(1, 7, 2) * 90], dim=-1),
            },
        ),
    }
    if sisters_graph is not None:
        pair = {"previous": check_features[0, :-1], "current": check_features[0, 1:]}
        errors["sisters"] = _check(out / "sisters.onnx", sisters_graph, pair)
    bad = {k: relative for k, (_, relative) in errors.items() if relative > tolerance}
    if bad:
        raise RuntimeError(f"ONNX outputs differ from PyTorch beyond {tolerance}: {bad}")
    return {k: absolute for k, (absolute, _) in errors.items()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_card(
    out: Path, tracker: Tracker, graphs: list[str], extra: dict[str, Any]
) -> dict[str, Any]:
    """The model card of the `graphs` ("encoder", ...) in `out`: what the browser and the kernel
    need to run them, and provenance."""
    cfg = tracker.config
    card = {
        "name": MODEL_NAME,
        "files": {
            name: {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
            for name in (f"{graph}.onnx" for graph in graphs)
        },
        "input": {
            "canonical_diameter": CANONICAL_DIAMETER,
            "pad_multiple": PAD_MULTIPLE,
            "normalisation": {
                "per_frame": True,
                "low_percentile": LOW_PERCENTILE,
                "high_percentile": HIGH_PERCENTILE,
            },
        },
        "encoder": {
            "stride": FEATURE_STRIDE,
            "feature_dim": FEATURE_DIM,
            "feature_layout": FEATURE_LAYOUT,
        },
        "tracker": dict(cfg.__dict__),
        "opset": OPSET,
        **extra,
    }
    (out / f"{MODEL_NAME}.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--encoder", type=Path, required=True)
    parser.add_argument("--tracker", type=Path, required=True)
    parser.add_argument("--sisters", type=Path, help="sister head checkpoint")
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--card-extra", type=Path, help="JSON merged into the model card")
    args = parser.parse_args(argv)
    encoder, tracker = load_encoder(args.encoder), load_tracker(args.tracker)
    sister_head = load_sisters(args.sisters) if args.sisters else None
    errors = export(encoder, tracker, args.out, sister_head)
    extra = json.loads(args.card_extra.read_text()) if args.card_extra else {}
    extra.setdefault("export_max_abs_error", errors)
    card = model_card(args.out, tracker, list(errors), extra)
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
