"""A real JupyterLab on localhost and a real Chromium, for the browser tests and the browser
benchmark alike.

The server runs from this virtual environment (so its kernel imports the pip-installed
cellpoint), with private config, data and settings folders, and with the test extension in
fixtures/ built and put on its labextension path.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Playwright

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
CHROMIUM = os.environ.get("CELLPOINT_CHROMIUM", "/usr/bin/chromium")
# User settings the tests check the extension reads.
USER_SETTINGS = {
    "cellpoint/plugin.jupyterlab-settings": {"windowLength": 32},
    # No "fetch news?" prompt over the notebook.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    # No "Select Kernel" dialog: on a loaded machine it can come up after a cell was sent, and
    # taking its choice then starts a second kernel that drops the cell.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
    # Widget state goes into the saved notebook (the review viewer's decisions live there).
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
}
# Chromium's WebGPU on SwiftShader (Vulkan on the CPU): slow, but the real WebGPU path.
WEBGPU_ARGS = (
    "--enable-unsafe-webgpu",
    "--use-webgpu-adapter=swiftshader",
    "--enable-features=Vulkan",
)
NO_GPU_ARGS = ("--disable-gpu",)


@dataclass(frozen=True)
class LabServer:
    url: str
    token: str
    root: Path

    def lab_url(self, path: str = "") -> str:
        """The lab with only `path` open: `reset` forgets the tabs earlier tests opened."""
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build_test_extension(out: Path) -> Path:
    """Builds fixtures/cellpoint-test-plugin and lays it out as a labextensions folder."""
    source = FIXTURES / "cellpoint-test-plugin"
    # Its build tools resolve from the project's node_modules; an empty node_modules of its
    # own tells jupyter-builder not to run a package install in the fixture.
    (source / "node_modules").mkdir(exist_ok=True)
    jupyter = Path(sys.executable).with_name("jupyter")
    subprocess.run([str(jupyter), "builder", "build", str(source)], check=True, cwd=ROOT)
    target = out / "labextensions" / "cellpoint-test-plugin"
    shutil.copytree(source / "labextension", target)
    return out


@contextmanager
def lab_server(base: Path, isolated: bool = False) -> Iterator[LabServer]:
    """JupyterLab with everything it writes under `base`; notebooks go in `LabServer.root`;
    `isolated`: cross-origin isolated, by cellpoint's server extension's setting (README)."""
    settings_dir = base / "settings"
    for name, values in USER_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    extra_path = _build_test_extension(base / "share")
    root = base / "notebooks"
    root.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "JUPYTER_PATH": os.pathsep.join([str(extra_path), os.environ.get("JUPYTER_PATH", "")]),
    }
    log = (base / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--allow-root",  # CI runs as root
            *(["--CellpointServer.cross_origin_isolated=True"] if isolated else []),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + (base / "server.log").read_text()
                    ) from None
                time.sleep(0.5)
        yield LabServer(url=url, token=token, root=root)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def launch(playwright: Playwright, *args: str) -> Browser:
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            *args,
        ],
    )
