"""Hostile store data on the screens (AppTest against the WooCommerce emulator): every label, caption, heading,
option and tooltip the Products page hands Streamlit shows the text inert; nothing reversed, nothing 10,000
characters long."""

from __future__ import annotations

import re

import pytest

from lib.display_text import BIDI_CONTROLS
from lib.sources.woocommerce import save_woocommerce
from tests.emulators.woocommerce import APP_PASSWORD, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, WooEmulator, image_bytes
from tests.security.corpus import TEXT
from tests.ui.conftest import assert_ok, page
from tests.ui.conftest import home as home  # the pages' data folder
from tests.ui.conftest import rt as rt  # its runtime

LATER = "2026-11-30T10:00:00"  # newer than the seeded catalogue: the hostile products come first


@pytest.fixture
def hostile_store():
    with WooEmulator() as emu:
        photo = emu.add_media("mug.png", image_bytes((200, 40, 40), (300, 300), "PNG"))
        for i, (_, text) in enumerate(TEXT):
            emu.add_product(text, sku=f"H-{i}", images=[photo], date=LATER, short_description=text)
        parent = emu.add_product(
            "Hostile tee",
            sku="H-TEE",
            type="variable",
            images=[photo],
            date="2026-12-01T10:00:00",
            attributes=[{"id": 0, "name": "Size", "options": [t for _, t in TEXT[:8]], "variation": True}],
        )
        for i, (_, text) in enumerate(TEXT[:8]):
            emu.add_variation(parent, {"Size": text}, sku=f"H-TEE-{i}")
        yield emu


def markdown_texts(at) -> list[str]:
    """Every string the page gave a Markdown-rendering element: bodies, labels and tooltips."""
    out: list[str] = []
    for kind in ("markdown", "caption", "subheader", "header", "title", "info", "warning", "error", "success"):
        out += [str(e.value) for e in getattr(at, kind)]
    for kind in ("checkbox", "button", "toggle", "expander", "selectbox", "radio", "text_input"):
        for e in getattr(at, kind):
            out += [str(getattr(e, "label", "") or ""), str(getattr(e, "help", "") or "")]
    return out


def test_hostile_names_from_the_store_are_shown_inert_on_the_products_page(home, rt, hostile_store):
    conn = save_woocommerce(
        rt, url=hostile_store.url, key=CONSUMER_KEY, secret=CONSUMER_SECRET, wp_user=WP_USER, app_password=APP_PASSWORD
    )
    at = page("products").run()
    at.selectbox(key="prod_source").set_value(f"woocommerce:{conn.id}").run()
    assert_ok(at)
    texts, plain_texts = markdown_texts(at), [str(e.value) for e in at.text]
    everything = "\n".join(texts + plain_texts)
    assert "Login here" in everything and "evil.example/track.png" in everything  # hostile products are shown
    for text in texts:
        resolved = re.sub(r"\\(.)", r"\1", text)
        assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", text), text  # no live [link](…) or ![image](…)
        assert not re.search(r"(?i)(https?://|www\.)\w", resolved), text  # no autolink once escapes resolve
        assert "<a " not in text and "<img" not in text and "<script" not in text
    assert not set(everything) & set(BIDI_CONTROLS + "\x00")
    assert max(len(t) for t in plain_texts) <= 200  # no name runs on
