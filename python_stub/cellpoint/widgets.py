"""Jupyter widgets backed by the cellpoint JupyterLab extension: their common base, how they
answer the browser's requests, and the plugins widget (what the browser's cellpoint host
offers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ipywidgets import DOMWidget
from traitlets import Dict, List, Unicode

from ._version import __version__

MODULE_NAME = "cellpoint"
MODULE_VERSION = f"^{__version__}"


class _CellpointWidget(DOMWidget):
    """Common ipywidgets plumbing: every cellpoint view lives in the `cellpoint` npm module."""

    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)


# What answering a request gives: the reply's fields, and its binary buffers.
Reply = tuple[dict[str, Any], list[bytes]]


def answer(
    widget: DOMWidget,
    request: Mapping[str, Any],
    compute: Callable[[], Reply],
    expected: tuple[type[Exception], ...] = (Exception,),
) -> Exception | None:
    """Answers a browser's request in the one envelope of every cellpoint widget (its browser
    side: src/comm-requests.ts): `{"type": "reply", "id", "ok": true, **fields}` with the
    buffers `compute()` gives, or `{"type": "reply", "id", "ok": false, "error"}` where it
    raised one of `expected`, which is returned (the caller decides whether that also ends
    something). Other exceptions propagate."""
    envelope = {"type": "reply", "id": request.get("id")}
    try:
        fields, buffers = compute()
    except expected as error:
        widget.send({**envelope, "ok": False, "error": str(error) or type(error).__name__})
        return error
    widget.send({**envelope, "ok": True, **fields}, buffers)
    return None


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


def plugins() -> PluginsWidget:
    """Show what the cellpoint extension in this JupyterLab offers, and its tracker settings."""
    return PluginsWidget()
