"""The whole flow in a real browser, on the demo store with the studio engine: pick 3 products, launch, wait for
the job, approve, publish, roll back. Screenshots of each screen go to tests/e2e/artifacts/; with UPDATE_SCREENSHOTS=1
(`make screenshot`) the gallery one is also copied to docs/screenshot-gallery.png for the README, so that an
ordinary test run leaves the checkout untouched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lib.config import Settings
from lib.runtime import Runtime
from lib.sources.demo import open_target
from tests.e2e.conftest import ARTIFACTS, ROOT

pytestmark = pytest.mark.e2e

# Every wait below watches for something the app draws, so a long timeout costs nothing when the app is quick. It is
# sized for a loaded 2-core machine (the suite running in parallel): there the first run, which builds the runtime,
# took 21-26 s to draw the Connect page, and the Generate page with its photo check 22-35 s.
LOADED_MS = 120_000


def _key(page, key: str):  # type: ignore[no-untyped-def]
    return page.locator(f".st-key-{key}")


def _click(page, key: str) -> None:  # type: ignore[no-untyped-def]
    _key(page, key).locator("button").first.click()


def _see(page, text: str, timeout: float = LOADED_MS) -> None:  # type: ignore[no-untyped-def]
    page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=timeout)


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit has finished the current script run: no running indicator, no stale elements."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-stale=\"true\"]')",
        timeout=LOADED_MS,
    )


def _shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """A screenshot of the whole page (Streamlit scrolls inside its main block, so grow the viewport to fit)."""
    _settle(page)
    height = page.evaluate(
        '() => Math.max(...Array.from(document.querySelectorAll(\'[data-testid="stMain"], '
        '[data-testid="stMainBlockContainer"]\')).map(e => e.scrollHeight), 800)'
    )
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 80, 6000)})
    _settle(page)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


def _image_lists(home: Path) -> dict[tuple[str, str], list[str]]:
    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, embedded_worker=False))
    store = open_target(rt, None)
    return {(pid, ""): store.product_image_ids(pid) for pid in ("1", "2", "3")}


def test_pick_generate_approve_publish_rollback(app_server, page) -> None:  # type: ignore[no-untyped-def]
    url, home = app_server
    page.set_default_timeout(LOADED_MS)  # clicks and dialogs wait for their element as long as the _see waits
    page.goto(url + "/connect")
    _see(page, "Try it on the demo store")
    _see(page, "Get a key at aistudio")  # the last card: the page has finished drawing
    _shot(page, "1-connect")

    page.goto(url)  # Products is the default page, served at the root URL
    for pid in ("1", "2", "3"):
        _settle(page)  # a click on a box the running script is about to redraw can be lost
        _key(page, f"prod_pick_demo_{pid}").locator("label").first.click()
        _see(page, f"{pid} product{'s' if pid != '1' else ''} selected")
    before = _image_lists(home)
    _shot(page, "2-products")

    _click(page, "prod_go")
    _see(page, "1 · What you selected")
    _see(page, "All 3 photos look usable")
    _shot(page, "3-generate")
    _click(page, "gen_launch")
    _see(page, "done")  # the live progress panel ("… of 3 done")
    _see(page, "updated")  # … and when its figures last moved ("updated just now")
    _shot(page, "4-progress")
    # Only the panel's own polling brings the finished view: the page is never reloaded here.
    _see(page, "Review in Gallery", timeout=180_000)
    _settle(page)
    bars = page.locator("[data-testid='stMain'] [data-testid='stProgress']")
    assert bars.count() == 1, "the finished view shows one panel; no tick of the live one redrew it there"
    assert "3 of 3 done" in bars.first.inner_text()
    _click(page, "gen_review")

    _see(page, "Compare each product's photo")
    _see(page, "Products 1–3 of 3")  # the pager, drawn last
    _click(page, "gallery_approve_all")
    _see(page, "Approved 3 images")
    gallery_png = _shot(page, "5-gallery")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(gallery_png, ROOT / "docs" / "screenshot-gallery.png")

    _click(page, "gallery_publish")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("will change in the Demo store").wait_for()
    _shot(page, "6-publish-confirm")
    _click(page, "gallery_publish_confirm")
    _see(page, "Publishing 3 images to the Demo store as job")  # queued; the app's worker publishes it
    _see(page, "Published 3 images to the Demo store", timeout=60_000)  # the Gallery follows it to the end
    after = _image_lists(home)
    assert after != before
    assert all(after[k][0] != before[k][0] for k in before), "each product got a new main image"
    _shot(page, "7-published")

    _click(page, "gallery_rollback_job")
    _see(page, "Rolling back 3 products as job")
    _see(page, "Restored the old images of 3 products", timeout=60_000)
    assert _image_lists(home) == before
    _shot(page, "8-rolled-back")

    page.goto(url + "/jobs")
    _see(page, "Images made")
    _see(page, "Request log")  # the job detail, drawn last
    page.locator("[data-testid='stDataFrame'] canvas").first.wait_for()  # tables paint on a canvas
    _shot(page, "9-jobs")
