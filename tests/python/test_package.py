"""The package's surface: `import cellpoint` stays light, every public name resolves, and
tracking in the kernel loads nothing of the browser's job or the widgets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cellpoint
from cellpoint.eval import sim

HEAVY = ("ipywidgets", "IPython", "jsonschema", "scipy", "pyarrow", "onnxruntime", "torch")


def loaded_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running `code`, with this copy of cellpoint."""
    env = dict(os.environ)
    package_root = str(Path(cellpoint.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def test_import_loads_no_heavy_module() -> None:
    loaded = loaded_after("import cellpoint")
    assert [m for m in HEAVY if m in loaded] == []
    assert [m for m in loaded if m.startswith("cellpoint.")] == ["cellpoint._version"]


def test_every_public_name_resolves() -> None:
    for name in cellpoint.__all__:
        assert getattr(cellpoint, name) is not None, name
    assert set(cellpoint.__all__) <= set(dir(cellpoint))
    assert cellpoint.sim is sim  # the simulator module itself


def test_kernel_tracking_loads_no_job_or_widget() -> None:
    loaded = loaded_after(
        "import cellpoint as cp\n"
        "seq = cp.sim.simulate('small', seed=1, n_frames=4)\n"
        "cp.track(seq.frames, diameter=14.0, backend='kernel', progress=False)"
    )
    assert "cellpoint.api" in loaded
    unwanted = ("cellpoint.job", "cellpoint.review", "cellpoint.widgets", "ipywidgets", "IPython")
    assert [m for m in loaded if m.startswith(unwanted)] == []


def test_the_server_extension_isolates_only_when_asked() -> None:
    from cellpoint.server import CellpointServer
    from traitlets.config import Config

    assert cellpoint._jupyter_server_extension_points() == [{"module": "cellpoint"}]
    assert CellpointServer().headers() == {}
    config = Config({"CellpointServer": {"cross_origin_isolated": True}})
    assert CellpointServer(config=config).headers() == {
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": "credentialless",
    }
    config.CellpointServer.embedder_policy = "require-corp"
    assert CellpointServer(config=config).headers()["Cross-Origin-Embedder-Policy"] == (
        "require-corp"
    )
