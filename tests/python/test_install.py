"""The pip-installed package carries the prebuilt extension and Jupyter finds it enabled."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cellpoint


def test_labextension_is_enabled_from_the_installed_package() -> None:
    jupyter = Path(sys.executable).with_name("jupyter")
    listing = subprocess.run(
        [str(jupyter), "labextension", "list"], capture_output=True, text=True, check=True
    )
    # The listing colours its words with ANSI escapes; compare the plain text.
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    pattern = rf"cellpoint v{re.escape(cellpoint.__version__)} enabled\s+OK \(python, cellpoint\)"
    assert re.search(pattern, text), text


def test_package_ships_the_prebuilt_labextension() -> None:
    labext = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "cellpoint"
    assert (labext / "package.json").is_file()
    assert list((labext / "static").glob("remoteEntry.*.js"))
