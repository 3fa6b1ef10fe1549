"""The extension in a real JupyterLab: the host lists built-in and third-party contributions,
reads the user's settings, and its widget talks to the kernel."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import artifact, open_notebook, run_cell, write_notebook
from .lab import LabServer

pytestmark = pytest.mark.browser

CELLS = [
    "import cellpoint\nw = cellpoint.plugins()\nw",
    "print('ids:', sorted(w.contribution_ids()), 'window:', w.settings.get('windowLength'))",
]


# Cross-origin isolation (the README's setting for WebAssembly threads) must leave the rest of
# JupyterLab, a third-party extension and widgets working.
@pytest.mark.parametrize("server", ["lab_server", "isolated_lab_server"])
def test_widget_lists_builtin_and_third_party_contributions(
    page: Page, server: str, request: pytest.FixtureRequest
) -> None:
    lab_server: LabServer = request.getfixturevalue(server)
    write_notebook(lab_server.root, "plugins.ipynb", CELLS)
    open_notebook(page, lab_server, "plugins.ipynb")

    run_cell(page, 0)
    panel = page.locator("cellpoint-plugins")
    expect(panel).to_be_visible(timeout=60_000)
    # Built-ins and the test extension's tracker arrive through the same registry token.
    for contribution in (
        "cellpoint.plugins",
        "cellpoint.cap",
        "cellpoint.ctc-track-file",
        "cellpoint.ctc-track-file-writer",
        "cellpoint-test-plugin.nearest",
    ):
        expect(panel.locator(f"tr[data-id='{contribution}']")).to_have_count(1)
    third_party = panel.locator("tr[data-id='cellpoint-test-plugin.nearest']")
    expect(third_party).to_contain_text("tracker")
    expect(third_party).to_contain_text("cellpoint-test-plugin")
    # The widget module itself was loaded lazily through its contribution.
    expect(panel.locator("tr[data-id='cellpoint.plugins']")).to_contain_text("loaded")
    expect(third_party).to_contain_text("not loaded")
    # The user's settings file (windowLength 32) overrides the schema default (24).
    expect(panel.locator("tr[data-setting='windowLength'] td")).to_have_text("32")
    panel.screenshot(path=artifact(f"plugins-widget-{server}.png"))

    # What the browser shows went back to the kernel over the widget's comm.
    run_cell(page, 1)
    output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
    expect(output).to_contain_text("window: 32", timeout=30_000)
    text = output.inner_text()
    assert re.search(r"'cellpoint-test-plugin\.nearest'", text), text
    assert "'cellpoint.plugins'" in text
    page.screenshot(path=artifact(f"plugins-notebook-{server}.png"), full_page=True)
