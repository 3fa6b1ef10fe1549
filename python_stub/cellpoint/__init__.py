"""cellpoint: cell tracking with the CAP (Cell as Point) method, in JupyterLab."""

from ._version import __version__
from .api import track
from .eval.metrics import EvaluationReport, evaluate, evaluate_ctc
from .eval.samples import load_sample
from .io.ctc import CTCSequence, read_ctc
from .io.frames import StackError
from .io.result import TrackingResult
from .io.tables import TableError
from .job.job import TrackingError, TrackingJob
from .widgets import PluginsWidget, plugins

__all__ = [
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
    "track",
]
