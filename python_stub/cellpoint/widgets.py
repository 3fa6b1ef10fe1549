"""Jupyter widgets backed by the cellpoint JupyterLab extension."""

from __future__ import annotations

from typing import Any

from ipywidgets import DOMWidget
from traitlets import Dict, Float, Int, List, Unicode

from ._version import __version__

MODULE_NAME = "cellpoint"
MODULE_VERSION = f"^{__version__}"


class _CellpointWidget(DOMWidget):
    """Common ipywidgets plumbing: every cellpoint view lives in the `cellpoint` npm module."""

    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)


class PluginsWidget(_CellpointWidget):
    """The contributions (trackers, readers, writers, widgets, sample data) and settings of the
    browser's cellpoint host.

    The browser fills `contributions` and `settings` once the widget is shown, so the kernel
    can see what the attached JupyterLab offers.
    """

    _model_name = Unicode("PluginsModel").tag(sync=True)
    _view_name = Unicode("PluginsView").tag(sync=True)

    contributions = List(Dict(), help="One dict per contribution: kind, id, title, plugin").tag(
        sync=True
    )
    settings = Dict(help="The tracker settings in force in the browser").tag(sync=True)

    def contribution_ids(self, kind: str | None = None) -> list[str]:
        """Ids of the contributions the browser reported, optionally of one kind."""
        items: list[dict[str, Any]] = list(self.contributions)
        return [c["id"] for c in items if kind is None or c["kind"] == kind]


class JobWidget(_CellpointWidget):
    """One tracking job's widget: the browser's model runs it in the engine, the view is the
    progress bar under the cell. The kernel's `cellpoint.browser.TrackingJob` drives it; the
    state below is the kernel's, shown by every view."""

    _model_name = Unicode("TrackingJobModel").tag(sync=True)
    _view_name = Unicode("TrackingJobView").tag(sync=True)

    shape = List(Int(), help="(T, H, W) of the stack").tag(sync=True)
    dtype = Unicode(help="numpy dtype of the frames as they travel").tag(sync=True)
    diameter = Float(help="nucleus diameter, input pixels").tag(sync=True)
    params = Dict(help="RAW's parameters").tag(sync=True)
    backend_choice = Unicode(help="auto, webgpu or wasm; empty: the user's settings").tag(sync=True)
    status = Unicode("waiting", help="waiting, running, done, failed or cancelled").tag(sync=True)
    message = Unicode(help="why the job failed or was cancelled").tag(sync=True)
    frames_done = Int(0).tag(sync=True)
    n_frames = Int(0).tag(sync=True)
    cells = Int(0).tag(sync=True)
    backend = Unicode(help="the backend the browser runs on").tag(sync=True)
    eta_s = Float(-1.0, help="seconds left, estimated; negative: unknown").tag(sync=True)


def plugins() -> PluginsWidget:
    """Show what the cellpoint extension in this JupyterLab offers, and its tracker settings."""
    return PluginsWidget()
