"""cellpoint: cell tracking with the CAP (Cell as Point) method, in JupyterLab.

The public names load on first use, so that `import cellpoint` is quick: it loads none of the
notebook packages, onnxruntime, scipy, pyarrow or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .api import track
    from .batch.run import BatchReport, track_many
    from .eval import sim
    from .eval.metrics import EvaluationReport, evaluate, evaluate_ctc
    from .eval.samples import load_sample
    from .io.ctc import CTCSequence, read_ctc
    from .io.frames import StackError
    from .io.result import TrackingResult
    from .io.tables import TableError
    from .job.job import TrackingError, TrackingJob
    from .widgets import PluginsWidget, plugins

# Each public name and the module that holds it (`sim` is the module itself).
_LAZY = {
    "BatchReport": ".batch.run",
    "CTCSequence": ".io.ctc",
    "EvaluationReport": ".eval.metrics",
    "PluginsWidget": ".widgets",
    "StackError": ".io.frames",
    "TableError": ".io.tables",
    "TrackingError": ".job.job",
    "TrackingJob": ".job.job",
    "TrackingResult": ".io.result",
    "evaluate": ".eval.metrics",
    "evaluate_ctc": ".eval.metrics",
    "load_sample": ".eval.samples",
    "plugins": ".widgets",
    "read_ctc": ".io.ctc",
    "sim": ".eval.sim",
    "track": ".api",
    "track_many": ".batch.run",
}

__all__ = [
    "BatchReport",
    "CTCSequence",
    "EvaluationReport",
    "PluginsWidget",
    "StackError",
    "TableError",
    "TrackingError",
    "TrackingJob",
    "TrackingResult",
    "__version__",
    "evaluate",
    "evaluate_ctc",
    "load_sample",
    "plugins",
    "read_ctc",
    "sim",
    "track",
    "track_many",
]


# Hidden from type checkers, which see the imports above instead and so flag a misspelt name.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """A public name, imported from its module on first use."""
        if name not in _LAZY:
            raise AttributeError(f"module 'cellpoint' has no attribute {name!r}")
        module = importlib.import_module(_LAZY[name], __name__)
        value = module if name == "sim" else getattr(module, name)
        globals()[name] = value
        return value


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """cellpoint's Jupyter Server extension (`cellpoint.server`)."""
    return [{"module": "cellpoint"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .server import load

    load(serverapp)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
