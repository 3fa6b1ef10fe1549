"""Sample data: simulated sequences with exact ground truth, by key.

The browser's plugin host lists them as cellpoint's built-in `sample_data` contributions (the
keys there are these keys); the data itself is made here, in the kernel, by the simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .sim import SimulatedSequence, simulate


@dataclass(frozen=True)
class Sample:
    title: str
    description: str
    make: Callable[[], SimulatedSequence]


SAMPLES: dict[str, Sample] = {
    "sim-small": Sample(
        "Simulated nuclei (small)",
        "24 frames of 128 x 128 px, about 15 nuclei, a few divisions. Seconds to track.",
        lambda: simulate("small", seed=0),
    ),
    "sim-gowt1": Sample(
        "Simulated GOWT1-like stem cells",
        "92 frames of 1024 x 1024 px: large, dim nuclei of unequal brightness; rare divisions.",
        lambda: simulate("gowt1", seed=0),
    ),
    "sim-hard": Sample(
        "Simulated dense, fast, dividing nuclei",
        "48 frames of 384 x 384 px at low signal-to-noise, with divisions, deaths and drift.",
        lambda: simulate("hard", seed=0),
    ),
}


def load_sample(key: str) -> SimulatedSequence:
    """The sample sequence `key` (see `SAMPLES`), with `frames` and its ground truth."""
    try:
        sample = SAMPLES[key]
    except KeyError:
        raise ValueError(f"no sample {key!r}; choose from {sorted(SAMPLES)}") from None
    return sample.make()
