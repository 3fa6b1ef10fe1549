"""`cellpoint.track(stack)` from a notebook in a real JupyterLab: the frames go to the browser
over the job widget's comm, the engine tracks them in its worker, and the tables come back as
DataFrames equal to the kernel backend's; the job survives a closed page (resume) and a kernel
restart ends it in the browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import artifact, open_notebook, output, run_cell, wait_for_output, write_notebook
from .lab import LabServer

pytestmark = pytest.mark.browser

SETUP = """
import cellpoint as cp, pandas as pd
from cellpoint.eval.sim import simulate
seq = simulate("small", seed=7, n_frames={n_frames})
frames, diameter = seq.frames, seq.config.diameter
"""

# The kernel with the window the browser used (the test server's setting): tracker calls over
# other windows give other tables.
COMPARE = """
used = res.metadata["params"]
ref = cp.track(frames, diameter=diameter, backend="kernel", progress=False, window=used["window"])
pd.testing.assert_frame_equal(res.tracks, ref.tracks, check_exact=False, rtol=0, atol=1e-3)
pd.testing.assert_frame_equal(res.lineage, ref.lineage)
pd.testing.assert_frame_equal(res.divisions, ref.divisions, check_exact=False, rtol=0, atol=1e-4)
assert res.metadata["lineage"] == ref.metadata["lineage"] == "global", res.metadata["lineage"]
print("SAME TABLES", len(res.tracks), "rows", len(res.lineage), "tracks")
"""

# Dark cells on a bright background (the stack's negative, as phase contrast shows cells): both
# hosts tell the polarity from the frames and negate them, to the same tables.
DARK = """
dark = frames.max() - frames
res = cp.track(dark, diameter=diameter, backend="browser")
used = res.metadata["params"]
ref = cp.track(dark, diameter=diameter, backend="kernel", progress=False, window=used["window"])
assert res.metadata["polarity"] == ref.metadata["polarity"] == "dark", res.metadata["polarity"]
pd.testing.assert_frame_equal(res.tracks, ref.tracks, check_exact=False, rtol=0, atol=1e-3)
pd.testing.assert_frame_equal(res.lineage, ref.lineage)
print("DARK SAME TABLES", len(res.tracks), "rows")
"""

# Cells four times larger: the network sees them shrunk, so the kernel sends its preprocessing
# of each frame (smaller than the frame) and the browser's tables are still the kernel's.
SHRUNK = """
import numpy as np
big = np.kron(frames, np.ones((1, 4, 4), frames.dtype))
res = cp.track(big, diameter=4 * diameter, backend="browser")
used = res.metadata["params"]
ref = cp.track(big, diameter=4 * diameter, backend="kernel", progress=False, window=used["window"])
assert res.metadata["frames_sent"] == "model inputs", res.metadata["frames_sent"]
pd.testing.assert_frame_equal(res.tracks, ref.tracks, check_exact=False, rtol=0, atol=1e-3)
pd.testing.assert_frame_equal(res.lineage, ref.lineage)
print("SHRUNK SAME TABLES", len(res.tracks), "rows", res.metadata["frame_bytes"], "bytes")
"""


def test_track_in_the_browser_gives_the_kernel_tables(page: Page, lab_server: LabServer) -> None:
    # RAW's parameters: what track() is passed, else the JupyterLab setting (the test server's
    # user settings say windowLength 32), else the model's default.
    cells = [
        SETUP.format(n_frames=12),
        'res = cp.track(frames, diameter=diameter, backend="browser")\n'
        'print("backend:", res.metadata["backend"], "window:", res.metadata["params"]["window"])\n'
        'print("threads:", res.metadata["threads"], res.metadata["threads_reason"])',
        COMPARE,
        'passed = cp.track(frames, diameter=diameter, backend="browser", window=5)\n'
        'print("passed:", passed.metadata["params"]["window"])',
        DARK,
        SHRUNK,
    ]
    write_notebook(lab_server.root, "track.ipynb", cells)
    open_notebook(page, lab_server, "track.ipynb")
    run_cell(page, 0)
    run_cell(page, 1)
    # The bar under the cell, while the job runs and once it is done.
    bar = page.locator("cellpoint-job-progress")
    expect(bar).to_be_visible(timeout=60_000)
    wait_for_output(page, 1, r"backend: browser \(wasm\) window: 32")
    wait_for_output(page, 1, r"threads: 1 the page is not cross-origin isolated")
    expect(bar.locator("[role=status]")).to_contain_text("done: 12/12 frames")
    bar.screenshot(path=artifact("track-progress-done.png"))
    run_cell(page, 2)
    wait_for_output(page, 2, r"SAME TABLES \d+ rows \d+ tracks")
    assert "Error" not in output(page, 2), output(page, 2)
    run_cell(page, 3)
    wait_for_output(page, 3, r"passed: 5")
    run_cell(page, 4)
    wait_for_output(page, 4, r"DARK SAME TABLES \d+ rows")
    assert "Error" not in output(page, 4), output(page, 4)
    run_cell(page, 5)
    wait_for_output(page, 5, r"SHRUNK SAME TABLES \d+ rows \d+ bytes")
    assert "Error" not in output(page, 5), output(page, 5)
    page.screenshot(path=artifact("track-notebook.png"), full_page=True)


def test_bad_input_is_refused_before_anything_is_sent(page: Page, lab_server: LabServer) -> None:
    cells = [
        "import cellpoint as cp, numpy as np\n"
        "try:\n"
        "    cp.track(np.zeros((1, 64, 64)), backend='browser')\n"
        "except cp.StackError as e:\n"
        "    print('REFUSED:', e)",
    ]
    write_notebook(lab_server.root, "bad.ipynb", cells)
    open_notebook(page, lab_server, "bad.ipynb")
    run_cell(page, 0)
    wait_for_output(page, 0, "REFUSED: the stack has 1 frame; tracking needs at least 2")
    expect(page.locator("cellpoint-job-progress")).to_have_count(0)


def test_a_closed_page_ends_the_job_which_resumes_later(
    browser: Browser, lab_server: LabServer
) -> None:
    cells = [
        SETUP.format(n_frames=40),
        "import cellpoint.job.job as cj\n"
        "cj.SILENCE_TIMEOUT_S = 6\n"
        "try:\n"
        '    res = cp.track(frames, diameter=diameter, backend="browser")\n'
        "except cp.TrackingError as e:\n"
        "    job = e.job\n"
        "    print('ENDED:', e)",
        "print('STATUS', job.status, 'PARTIAL', job.partial.tracks.t.max() + 1)\n"
        "res = job.resume()\n"
        "print('RESUMED', res.metadata['backend'])",
        COMPARE,
    ]
    write_notebook(lab_server.root, "close.ipynb", cells)
    first = browser.new_context().new_page()
    open_notebook(first, lab_server, "close.ipynb")
    run_cell(first, 0)
    run_cell(first, 1)
    # Close the page once a checkpoint has surely reached the kernel (they go every 2 s).
    status = first.locator("cellpoint-job-progress [role=status]")
    expect(status).to_contain_text(re.compile(r"^([3-9]|\d\d)/40 frames"), timeout=120_000)
    first.wait_for_timeout(2500)
    first.context.close()

    second = browser.new_context().new_page()
    try:
        open_notebook(second, lab_server, "close.ipynb")
        # The kernel noticed the silence, ended the job and kept what was tracked.
        expect(second.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
            1, timeout=60_000
        )
        run_cell(second, 2)
        wait_for_output(second, 2, r"RESUMED browser", timeout=180_000)
        text = output(second, 2)
        found = re.search(r"STATUS failed PARTIAL (\d+)", text)
        assert found, text
        assert 0 < int(found.group(1)) < 40
        run_cell(second, 3)
        wait_for_output(second, 3, r"SAME TABLES")
        second.screenshot(path=artifact("track-resumed.png"), full_page=True)
    finally:
        second.context.close()


def test_a_kernel_restart_stops_the_browser_job(page: Page, lab_server: LabServer) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    cells = [
        SETUP.format(n_frames=40),
        'res = cp.track(frames, diameter=diameter, backend="browser")',
        "print('ALIVE', 1 + 1)",
    ]
    write_notebook(lab_server.root, "restart.ipynb", cells)
    open_notebook(page, lab_server, "restart.ipynb")
    run_cell(page, 0)
    run_cell(page, 1)
    status = page.locator("cellpoint-job-progress [role=status]")
    expect(status).to_contain_text(re.compile(r"^\d+/40 frames"), timeout=120_000)
    # Not awaited: the command resolves only once its dialog is answered.
    page.evaluate("() => { void window.jupyterapp.commands.execute('kernelmenu:restart'); }")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
        1, timeout=60_000
    )
    # The widget manager closes the job's model, which stops the engine's job.
    for _ in range(30):
        if any("tracking job stopped: the kernel went away" in m for m in messages):
            break
        page.wait_for_timeout(500)
    else:
        pytest.fail(f"the browser job did not stop: {messages}")
    # The kernel is back and answers.
    run_cell(page, 2)
    wait_for_output(page, 2, "ALIVE 2")


def test_a_cross_origin_isolated_page_tracks_and_says_on_how_many_threads(
    browser: Browser, isolated_lab_server: LabServer
) -> None:
    said = (
        'print("isolated:", {0}.metadata["cross_origin_isolated"], "threads:",'
        ' {0}.metadata["threads"], {0}.metadata["threads_reason"],'
        ' "start s:", {0}.metadata["seconds"]["start"] > 0)'
    )
    cells = [
        SETUP.format(n_frames=12),
        'res = cp.track(frames, diameter=diameter, backend="browser", threads=2)\n'
        + said.format("res"),
        COMPARE,
        # Another thread count: the page starts the engine again, and the tables do not change.
        'one = cp.track(frames, diameter=diameter, backend="browser", threads=1)\n'
        + said.format("one")
        + "\npd.testing.assert_frame_equal(one.tracks, res.tracks, check_exact=False, atol=1e-4)"
        '\npd.testing.assert_frame_equal(one.lineage, res.lineage)\nprint("ONE THREAD SAME")',
        # The same count again: the engine is warm.
        'again = cp.track(frames, diameter=diameter, backend="browser", threads=1)\n'
        + said.format("again"),
    ]
    write_notebook(isolated_lab_server.root, "threads.ipynb", cells)
    page = browser.new_context().new_page()
    open_notebook(page, isolated_lab_server, "threads.ipynb")
    assert page.evaluate("crossOriginIsolated") is True
    for i in range(len(cells)):
        run_cell(page, i)
    wait_for_output(page, 1, r"isolated: True threads: 2 None start s: True")
    wait_for_output(page, 2, r"SAME TABLES \d+ rows \d+ tracks")
    assert "Error" not in output(page, 2), output(page, 2)
    wait_for_output(page, 3, r"threads: 1 the settings ask for one thread start s: True")
    wait_for_output(page, 3, "ONE THREAD SAME")
    wait_for_output(page, 4, r"threads: 1 the settings ask for one thread start s: False")
