"""cellpoint: cell tracking with the CAP (Cell as Point) method, in JupyterLab."""

from ._version import __version__
from .ctc import CTCSequence, read_ctc
from .result import TrackingResult
from .tables import TableError
from .widgets import PluginsWidget, plugins

__all__ = [
    "CTCSequence",
    "PluginsWidget",
    "TableError",
    "TrackingResult",
    "__version__",
    "plugins",
    "read_ctc",
]
