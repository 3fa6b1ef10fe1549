"""Fixtures of the browser tests: a real JupyterLab on localhost (lab.py) and real Chromium
driven by Playwright, without a GPU and with SwiftShader's WebGPU."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .lab import CHROMIUM, NO_GPU_ARGS, ROOT, WEBGPU_ARGS, LabServer, launch
from .lab import lab_server as start_lab_server

ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test`, which installs it")
    with start_lab_server(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="session")
def isolated_lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab served cross-origin isolated (cellpoint's server extension's setting)."""
    with start_lab_server(tmp_path_factory.mktemp("isolated-lab"), isolated=True) as server:
        yield server


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium without a GPU, hence without WebGPU."""
    chromium = launch(playwright, *NO_GPU_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def webgpu_browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch(playwright, *WEBGPU_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: print(f"console {m.type}: {m.text}") if m.type == "error" else None)
    yield pg
    # The page as the test left it, pass or fail, for a person to look at.
    pg.screenshot(path=artifact(f"{request.node.name}-last.png"), full_page=True)
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def write_notebook(root: Path, name: str, cells: list[str]) -> Path:
    """Writes a notebook of code cells, for the browser to open and run."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = root / name
    path.write_text(json.dumps(nb))
    return path


def artifact(name: str) -> Path:
    """Where a test keeps a screenshot for people to look at (tests/artifacts/)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def open_notebook(page: Page, lab: LabServer, name: str) -> None:
    page.goto(lab.lab_url(name))
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
        1, timeout=60_000
    )
    close_dialog(page)


def close_dialog(page: Page) -> None:
    """JupyterLab may put up a dialog of its own (kernel choice, news), also a while after the
    page settled (a loaded machine); it is not what these tests look at, so it is noted and
    closed: a kernel choice by taking the kernel it offers (Escape would leave the notebook
    without one), anything else by Escape."""
    dialog = page.locator(".jp-Dialog")
    if not dialog.count():
        return
    text = dialog.inner_text()
    print(f"closing JupyterLab's dialog: {text!r}")
    accept = dialog.locator(".jp-mod-accept")
    if "Select Kernel" in text and accept.count():
        accept.click()
    else:
        page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def run_cell(page: Page, index: int) -> None:
    """Runs a cell as a person does (click into it, Shift+Enter) and waits until the kernel
    has taken it: its prompt shows [*] or an execution count. A keypress that lands while the
    page is still settling, or a click that a late JupyterLab dialog takes, is tried again."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    for attempt in range(3):
        close_dialog(page)
        try:
            cell.locator(".jp-InputArea-editor").click(timeout=10_000)
            page.keyboard.press("Shift+Enter")
            expect(prompt).to_have_text(re.compile(r"\[(\*|\d+)\]"), timeout=15_000)
            return
        except (AssertionError, PlaywrightTimeoutError):
            if attempt == 2:
                raise


def output(page: Page, index: int) -> str:
    """The text a notebook cell printed."""
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea").inner_text()


def wait_for_output(page: Page, index: int, pattern: str, timeout: float = 120_000) -> None:
    area = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")
    expect(area).to_contain_text(re.compile(pattern), timeout=timeout)
