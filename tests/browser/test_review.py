"""The review viewer in a real JupyterLab: a simulated sequence whose true divisions are put up
for review; the reviewer rejects one and accepts another with the keyboard, moves it a frame
later and undoes and redoes that, and the kernel's tables, a re-displayed viewer, an export and
the saved notebook all show those decisions.
Screenshots of the viewer are kept in tests/artifacts/."""

from __future__ import annotations

import json
import re

import pytest
from cellpoint.io.result import TrackingResult
from playwright.sync_api import Page, expect

from .conftest import artifact, open_notebook, output, run_cell, wait_for_output, write_notebook
from .lab import LabServer

pytestmark = pytest.mark.browser

SETUP = """
import cellpoint as cp
from cellpoint.io.result import TrackingResult
from cellpoint.eval.sim import simulate
from cellpoint.io.tables import divisions_from_lineage
seq = simulate("small", seed=10005)
truth = seq.to_result()
parents = sorted(truth.divisions["parent_id"])
# The true divisions, proposed with made-up scores: the least sure is the first parent.
scores = {p: 0.2 + 0.1 * i for i, p in enumerate(parents)}
res = TrackingResult(truth.tracks, truth.lineage,
                     divisions_from_lineage(truth.lineage, scores=scores, status="proposed"),
                     shape=seq.frames.shape, frames=seq.frames)
at = truth.divisions.set_index("parent_id")["t"]
print("DIVISIONS", len(parents), "FIRST", parents[0], "SECOND", parents[1], "AT", at[parents[1]])
"""
SHOW = "viewer = res.review()\nviewer"
CHECK = """
status = res.divisions.set_index("parent_id")["status"]
parent_of = res.lineage.set_index("track_id")["parent_id"]
first, second = (res.divisions.set_index("parent_id").loc[p] for p in parents[:2])
assert status[parents[0]] == "rejected" and status[parents[1]] == "accepted", status
assert (status[parents[2:]] == "proposed").all()
assert parent_of[first.daughter_a] == 0
assert parent_of[first.daughter_b] == 0
assert parent_of[second.daughter_a] == parents[1]
assert parent_of[second.daughter_b] == parents[1]
assert second.t == at[parents[1]]  # moved a frame later, then undone
assert viewer.undo_depth == 2 and viewer.redo_depth == 1, (viewer.undo_depth, viewer.redo_depth)
print("REVIEWED AS DECIDED")
"""
CHECK_EXPORT = """
back = TrackingResult.read("reviewed-csv")
assert back.divisions.set_index("parent_id")["status"][parents[0]] == "rejected"
print("EXPORT HAS THE DECISIONS")
"""


def test_review_round_trip(page: Page, lab_server: LabServer) -> None:
    cells = [SETUP, SHOW, CHECK, "res.review()", CHECK_EXPORT]
    write_notebook(lab_server.root, "review.ipynb", cells)
    open_notebook(page, lab_server, "review.ipynb")
    run_cell(page, 0)
    wait_for_output(page, 0, r"DIVISIONS \d+ FIRST \d+ SECOND \d+ AT \d+")
    first, second, t = (int(v) for v in re.findall(r"(?:FIRST|SECOND|AT) (\d+)", output(page, 0)))
    run_cell(page, 1)
    viewer = page.locator("cellpoint-review").first
    expect(viewer).to_be_visible(timeout=60_000)
    items = viewer.locator("li[data-parent]")
    expect(items.first).to_have_attribute("data-parent", str(first))
    expect(viewer.locator(".frame-label")).to_have_text(re.compile(r"t = 0 / \d+"))
    viewer.screenshot(path=artifact("review-opened.png"))

    # Reject the least sure division, then accept the next one, by keyboard.
    items.first.click()
    expect(viewer.locator("canvas.daughters")).to_be_visible()
    viewer.focus()
    page.keyboard.press("r")
    expect(viewer.locator(f"li[data-parent='{first}']")).to_have_attribute(
        "data-status", "rejected", timeout=30_000
    )
    page.keyboard.press("j")
    expect(viewer.locator("li[aria-selected=true]")).to_have_attribute("data-parent", str(second))
    page.keyboard.press("a")
    expect(viewer.locator(f"li[data-parent='{second}']")).to_have_attribute(
        "data-status", "accepted", timeout=30_000
    )
    expect(viewer.locator("[role=status]")).to_have_text(f"division of track {second} accepted")
    # A frame later, undone, redone and undone again: the division is back where it was.
    chosen = viewer.locator(f"li[data-parent='{second}']")
    page.keyboard.press("]")
    expect(viewer.locator("[role=status]")).to_have_text(
        f"division of track {second} moved to frame {t + 1} (accepted)", timeout=30_000
    )
    expect(chosen).to_contain_text(f"t {t + 1}:")
    for keys, frame in (("Control+z", t), ("Control+Shift+z", t + 1), ("Control+z", t)):
        page.keyboard.press(keys)
        expect(chosen).to_contain_text(f"t {frame}:", timeout=30_000)
    expect(viewer.locator("button.redo")).to_be_enabled()
    # Step a frame and zoom in, as a reviewer does, then keep the view.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("+")
    viewer.screenshot(path=artifact("review-decided.png"))

    run_cell(page, 2)
    wait_for_output(page, 2, "REVIEWED AS DECIDED")

    # A viewer shown again starts from the decisions.
    run_cell(page, 3)
    again = page.locator("cellpoint-review").nth(1)
    expect(again.locator(f"li[data-parent='{first}']")).to_have_attribute(
        "data-status", "rejected", timeout=60_000
    )

    # Export from the viewer, then read the export back in the kernel.
    viewer.locator("input.export-path").fill("reviewed-csv")
    viewer.locator("input.export-path").dispatch_event("change")
    viewer.locator("button[data-export=csv]").click()
    expect(viewer.locator("[role=status]")).to_have_text(
        "exported CSV to reviewed-csv", timeout=30_000
    )
    run_cell(page, 4)
    wait_for_output(page, 4, "EXPORT HAS THE DECISIONS")
    # A GEFF store (written by the kernel, in a folder of the path): the decisions in it too.
    viewer.locator("input.export-path").fill("reviewed.geff")
    viewer.locator("input.export-path").dispatch_event("change")
    viewer.locator("button[data-export=geff]").click()
    expect(viewer.locator("[role=status]")).to_contain_text("exported GEFF", timeout=30_000)
    store = TrackingResult.read(lab_server.root / "reviewed.geff")
    assert store.divisions.set_index("parent_id")["status"][first] == "rejected"
    viewer.locator("input.export-path").fill("reviewed-view.png")
    viewer.locator("input.export-path").dispatch_event("change")
    viewer.locator("button[data-export=png]").click()
    expect(viewer.locator("[role=status]")).to_contain_text("exported PNG", timeout=30_000)
    assert (lab_server.root / "reviewed-view.png").read_bytes()[:4] == b"\x89PNG"

    # Saved with widget state, the notebook keeps the decisions.
    page.keyboard.press("Control+s")
    saved = lab_server.root / "review.ipynb"
    expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=30_000)
    state = json.loads(saved.read_text())["metadata"]["widgets"][
        "application/vnd.jupyter.widget-state+json"
    ]["state"]
    reviews = [m["state"] for m in state.values() if m["model_name"] == "ReviewModel"]
    assert reviews, "no review viewer in the saved widget state"
    for review in reviews:
        decided = dict(
            zip(review["divisions"]["parent_id"], review["divisions"]["status"], strict=True)
        )
        assert decided[first] == "rejected"
        assert decided[second] == "accepted"


def test_track_shows_the_viewer_and_hands_it_the_result(page: Page, lab_server: LabServer) -> None:
    cells = [
        "import cellpoint as cp\nfrom cellpoint.eval.sim import simulate\n"
        'seq = simulate("small", seed=7, n_frames=16)\n'
        'res = cp.track(seq.frames, diameter=seq.config.diameter, backend="browser", review=True)\n'
        'print("TRACKS", len(res.lineage), "DIVISIONS", len(res.divisions))',
    ]
    write_notebook(lab_server.root, "track-review.ipynb", cells)
    open_notebook(page, lab_server, "track-review.ipynb")
    run_cell(page, 0)
    viewer = page.locator("cellpoint-review")
    expect(viewer).to_be_visible(timeout=60_000)
    wait_for_output(page, 0, r"TRACKS \d+ DIVISIONS \d+", timeout=120_000)
    tracks, divisions = (int(v) for v in re.findall(r"\d+", output(page, 0).split("TRACKS")[-1]))
    # The result's tables, open to decisions: no progress note left.
    expect(viewer.locator(".divisions-box legend")).to_have_text(
        re.compile(rf"Divisions \({divisions}, {divisions} to review\)")
    )
    expect(viewer.locator("svg line[data-track]")).to_have_count(tracks)
    expect(viewer.locator(".note")).to_have_count(0)
    viewer.screenshot(path=artifact("track-review-done.png"))
