"""Hostile names in a real browser: uploaded products named with links, images, HTML and script (the corpus in
tests/security/corpus.py) go through a job, then the Gallery and Jobs pages are opened in chromium. What a person
would check: the names read as the characters typed, the page holds no link, image or script they made, no dialog
opens, and the browser requests nothing from any host but the app."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lib import jobs
from lib.config import Settings
from lib.runtime import Runtime
from lib.sources import upload
from lib.worker import run_until_idle
from tests.e2e.test_flow import _settle
from tests.security.corpus import TEXT

pytestmark = pytest.mark.e2e

# The entries a browser could turn into something live.
LIVE = [
    "markdown link",
    "markdown image",
    "autolink in angle brackets",
    "bare url",
    "html anchor",
    "html image",
    "script tag",
    "javascript link",
]
STREAMLIT_ICONS = "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/"
NAMES = {key: text for key, text in TEXT if key in LIVE}


def _photo(i: int) -> bytes:
    """A product on white; each a different colour (the same photo twice is one upload)."""
    buf = io.BytesIO()
    img = Image.new("RGB", (512, 512), (255, 255, 255))
    img.paste((190 - 15 * i, 60 + 10 * i, 40), (160, 140, 352, 380))
    img.save(buf, "PNG")
    return buf.getvalue()


def _seed(home) -> int:  # type: ignore[no-untyped-def]
    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, embedded_worker=False))
    added = upload.add_uploads(rt, [(f"photo-{i}.png", _photo(i)) for i in range(len(NAMES))])
    assert len(added) == len(NAMES)
    for product, name in zip(added, NAMES.values(), strict=True):
        upload.rename(rt, product.id, name=name, sku=name[:60])
    source = rt.source("upload")
    selections = [jobs.Selection(source.get_product(str(p.id))) for p in added]
    job = jobs.create_job(rt, spec=jobs.JobSpec(source_kind="upload"), selections=selections)
    assert job.id is not None
    run_until_idle(rt, job_id=job.id)
    rt.db.dispose()
    return job.id


def _live_things(page) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return page.evaluate(
        """(evil) => ({
            links: [...document.querySelectorAll('a[href]')].filter(a => a.href.includes(evil)
                || a.href.startsWith('javascript:')).length,
            images: [...document.querySelectorAll('img[src]')].filter(i => i.src.includes(evil)).length,
            scripts: [...document.querySelectorAll('[data-testid="stMain"] script')].length,
            handlers: document.querySelectorAll('[data-testid="stMain"] [onerror], [data-testid="stMain"] [onclick]')
                .length,
        })""",
        "evil.example",
    )


def test_hostile_product_names_stay_inert_in_the_browser(app_server, page) -> None:  # type: ignore[no-untyped-def]
    url, home = app_server
    _seed(home)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    elsewhere: list[str] = []  # every request the browser makes that is not to the app itself
    page.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:")) else elsewhere.append(r.url))

    for path, landmark in (("/gallery", "To review"), ("/jobs", "History")):
        page.goto(url + path)
        page.get_by_text(landmark, exact=True).first.wait_for(state="visible")
        _settle(page)
        if path == "/gallery":
            # Every hostile name is on the Gallery, as the characters typed (the word joiner that stops autolinks
            # is invisible). The script streams its cards in: wait until the last one has arrived.
            shown_js = "() => document.querySelector('[data-testid=\"stMain\"]').innerText.replaceAll('\\u2060', '')"
            page.wait_for_function(
                f"(names) => names.every(n => ({shown_js})().includes(n))", arg=list(NAMES.values()), timeout=60_000
            )
            shown = page.evaluate(shown_js)
            for key, text in NAMES.items():
                assert text in shown, f"{key} is not shown as typed"
            _settle(page)
        assert _live_things(page) == {"links": 0, "images": 0, "scripts": 0, "handlers": 0}, path
    assert dialogs == []
    # Nothing fetched from anywhere but the app, except the icons Streamlit itself asks Google's font host for
    # (blocked in tests by the page fixture); no store text made the browser ask for anything.
    assert [u for u in elsewhere if not u.startswith(STREAMLIT_ICONS)] == []
