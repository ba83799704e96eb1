"""The Gallery in chromium at 820 px wide (a laptop with the sidebar open, a tablet): what a person would check is
that every button reads whole (no label cut short: scrollWidth <= clientWidth for the button and everything in it)
and that no column stands empty, holding space for something that is not there. Checked on a job with two
variants per product, one product published (its badge and rollback button) and one waiting for review, and in
the compare dialog."""

from __future__ import annotations

import pytest

from lib import jobs, store_jobs
from lib.config import Settings
from lib.models import ReviewState
from lib.runtime import Runtime
from lib.sources.demo import open_source
from lib.worker import run_until_idle
from tests.e2e.test_flow import _key, _settle, _shot

pytestmark = pytest.mark.e2e

WIDTH = 820

# Buttons whose text does not fit, and columns with nothing in them, among what is on screen.
MEASURE = """() => {
  const shown = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const scope = '[data-testid="stMain"], [role="dialog"]';
  const buttons = [...document.querySelectorAll(scope)].flatMap(s => [...s.querySelectorAll('button')]).filter(shown);
  const cut = [];
  for (const b of buttons) {
    const over = [b, ...b.querySelectorAll('*')].find(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth);
    if (over) cut.push(`${b.innerText.trim().split('\\n').pop()} (${over.scrollWidth} > ${over.clientWidth} px)`);
  }
  const columns = [...document.querySelectorAll(scope)]
    .flatMap(s => [...s.querySelectorAll('[data-testid="stColumn"]')]).filter(shown);
  const empty = columns.filter(c => c.innerText.trim() === ''
      && !c.querySelector('img, button, input, textarea, canvas, [role="progressbar"]'))
    .map(c => `${Math.round(c.getBoundingClientRect().width)} px in "${c.parentElement.innerText.trim().slice(0, 9)}"`);
  return {buttons: buttons.length, cut, empty};
}"""


def _seed(home) -> int:  # type: ignore[no-untyped-def]
    """Two demo products with two variants each; the first product's images approved and published."""
    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, embedded_worker=False))
    source = open_source(rt)
    selections = [jobs.Selection(source.get_product(pid)) for pid in ("1", "2")]
    job = jobs.create_job(rt, spec=jobs.JobSpec(source_kind="demo", variants=2), selections=selections)
    assert job.id is not None
    run_until_idle(rt, job_id=job.id)
    first = [i.result_asset_id for i in jobs.job_items(rt.db, job.id) if i.product_id == "1" and i.result_asset_id]
    jobs.set_review(rt.db, asset_ids=first, state=ReviewState.APPROVED)
    published = store_jobs.queue_publish(rt, job_id=job.id, role="gallery")
    assert published.id is not None
    run_until_idle(rt, job_id=published.id)
    rt.db.dispose()
    return job.id


def test_the_gallery_at_820_px_cuts_no_button_and_keeps_no_empty_column(app_server, page) -> None:  # type: ignore[no-untyped-def]
    url, home = app_server
    _seed(home)
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    page.goto(url + "/gallery")
    _key(page, "gallery_next").locator("button").wait_for()  # the pager, drawn last
    page.get_by_text("Published (gallery)").first.wait_for()
    _settle(page)
    assert page.evaluate("() => window.innerWidth") == WIDTH

    found = page.evaluate(MEASURE)
    _shot(page, "gallery-820")
    assert found["buttons"] >= 20  # approve, reject, compare, regenerate per card, the bulk actions, publishing
    assert found["cut"] == []
    assert found["empty"] == []

    # The compare dialog at the same width, zoomed in (its sliders and buttons).
    page.locator("[class*='st-key-gallery_cmp_'] button").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Both pictures whole, at full resolution").wait_for()
    dialog.get_by_text("4×", exact=True).click()
    dialog.get_by_text("4× closer").wait_for()
    _settle(page)
    found = page.evaluate(MEASURE)
    _shot(page, "gallery-820-compare")
    assert found["cut"] == [] and found["empty"] == []
    assert dialog.locator("img").count() == 2
