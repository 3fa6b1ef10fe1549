"""Sample data: the keys the browser lists are the keys the kernel can load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cellpoint import load_sample
from cellpoint.eval.samples import SAMPLES

BUILTINS = Path(__file__).resolve().parents[2] / "src" / "builtins.ts"


def test_browser_sample_contributions_name_kernel_samples() -> None:
    # The built-in manifest is TypeScript; its sample keys are plain `key: '...'` literals.
    keys = re.findall(r"key: '([^']+)'", BUILTINS.read_text())
    assert keys, "no sample_data keys found in src/builtins.ts"
    assert keys == list(SAMPLES)


def test_small_sample_loads_with_ground_truth() -> None:
    seq = load_sample("sim-small")
    assert seq.frames.shape == (24, 128, 128)
    assert len(seq.lineage) > 5
    assert seq.to_result().tracks["t"].max() == 23


def test_unknown_sample_is_named() -> None:
    with pytest.raises(ValueError, match=r"no sample 'nope'; choose from \['sim-gowt1'"):
        load_sample("nope")
