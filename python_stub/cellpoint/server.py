"""cellpoint's Jupyter Server extension: one setting, cross-origin isolation.

    jupyter lab --CellpointServer.cross_origin_isolated=True

or in `jupyter_server_config.py`: `c.CellpointServer.cross_origin_isolated = True`. JupyterLab's
pages are then served with `Cross-Origin-Opener-Policy: same-origin` and
`Cross-Origin-Embedder-Policy` (`credentialless` by default, `require-corp` where a browser
lacks it), which gives them SharedArrayBuffer, so that the browser engine runs WebAssembly on
several threads. The README says what else it changes. Off by default.
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Enum
from traitlets.config import Configurable

# The headers that make a page cross-origin isolated (https://web.dev/articles/coop-coep).
OPENER_POLICY = "same-origin"


class CellpointServer(Configurable):
    """Settings of cellpoint's server extension."""

    cross_origin_isolated = Bool(
        False,
        config=True,
        help="Serve JupyterLab cross-origin isolated, so that cellpoint's WebAssembly runs on "
        "several threads. Cross-origin content a page embeds must then allow it (see the "
        "embedder policy).",
    )
    embedder_policy = Enum(
        ["credentialless", "require-corp"],
        "credentialless",
        config=True,
        help="Cross-Origin-Embedder-Policy: 'credentialless' still loads cross-origin images "
        "and scripts (without cookies); 'require-corp' loads only those that opt in, for "
        "browsers without 'credentialless' (Safari).",
    )

    def headers(self) -> dict[str, str]:
        if not self.cross_origin_isolated:
            return {}
        return {
            "Cross-Origin-Opener-Policy": OPENER_POLICY,
            "Cross-Origin-Embedder-Policy": self.embedder_policy,
        }


def load(serverapp: Any) -> None:
    """Adds the headers to every response the server sends, where they are asked for."""
    headers = CellpointServer(parent=serverapp).headers()
    if headers:
        settings = serverapp.web_app.settings
        settings["headers"] = {**headers, **settings.get("headers", {})}
        serverapp.log.info("cellpoint: JupyterLab is served cross-origin isolated")
