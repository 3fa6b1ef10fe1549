"""cellpoint: cell tracking with the CAP (Cell as Point) method, in JupyterLab."""

from ._version import __version__
from .api import track
from .browser import TrackingError, TrackingJob
from .ctc import CTCSequence, read_ctc
from .frames import StackError
from .metrics import EvaluationReport, evaluate, evaluate_ctc
from .result import TrackingResult
from .samples import load_sample
from .tables import TableError
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
