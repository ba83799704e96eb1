"""WooCommerce as a product source and publish target, through the real `woocommerce` client and httpx against the
loopback store emulator (tests/emulators/woocommerce.py)."""

from __future__ import annotations

import logging
import re
import traceback

import pytest
from sqlmodel import select

from lib.errors import (
    ImageTooLarge,
    InputError,
    NotAStoreError,
    PublishError,
    SourceAuthError,
    SourceNotFound,
    SourceUnavailable,
)
from lib.models import Event
from lib.sources import wc_client
from lib.sources.base import ProductQuery, ProductSource, PublishTarget, SourceImage
from lib.sources.wc_client import normalize_url, plain_text
from lib.sources.woocommerce import WooSource, WooTarget, open_source, open_target, save_woocommerce
from tests.emulators.woocommerce import (
    APP_PASSWORD,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    WP_USER,
    image_bytes,
)


@pytest.fixture
def waits(monkeypatch):
    """Retry back-off waits are recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(wc_client, "SLEEP", recorded.append)
    return recorded


@pytest.fixture
def rt_settings(waits):
    return {"http_timeout_seconds": 1.0, "http_retries": 2}


def connect(rt, emu, *, secret=CONSUMER_SECRET, key=CONSUMER_KEY, app_password=APP_PASSWORD):
    return save_woocommerce(
        rt, url=emu.url, key=key, secret=secret, wp_user=WP_USER, app_password=app_password, name="Test shop"
    )


@pytest.fixture
def source(rt, woo_emu) -> WooSource:
    return open_source(rt, connect(rt, woo_emu))


@pytest.fixture
def target(rt, woo_emu) -> WooTarget:
    return open_target(rt, connect(rt, woo_emu))


def product_requests(emu, path="/wp-json/wc/v3/products"):
    return [r for r in emu.requests if r["path"] == path]


# Listing -------------------------------------------------------------------------------------------------


def test_implements_the_protocols(source, target):
    assert isinstance(source, ProductSource) and source.kind == "woocommerce"
    assert isinstance(target, PublishTarget) and target.kind == "woocommerce"


def test_pages_through_the_whole_catalogue_by_id_without_repeats(source, woo_emu):
    seen: list[str] = []
    page = 1
    while True:
        result = source.list_products(ProductQuery(page=page, per_page=5))
        assert result.total == 17 and result.pages == 4
        if not result.items:
            break
        seen += [p.id for p in result.items]
        page += 1
    assert len(seen) == 17 and len(set(seen)) == 17  # the store's default date order would repeat and skip
    assert seen == sorted(seen, key=int)
    sent = product_requests(woo_emu)
    assert all(dict(r["query"])["orderby"] == "id" for r in sent)
    # one request per page we asked for: the Link header (which carries the nonce and signature) is never followed
    assert len(sent) == 5 and all(r["status"] == 200 for r in sent)
    assert len({r["nonce"] for r in sent}) == 5


def test_filters_go_to_the_store(source):
    def names(**kw):
        return sorted(p.name for p in source.list_products(ProductQuery(per_page=50, **kw)).items)

    assert names(search="mug") == ["Red Mug"]
    assert names(category="Apparel") == ["Blue Cap", "Classic Tee"]
    assert names(category="16") == ["Blue Cap", "Classic Tee"]  # a term id works too
    assert names(category="No such category") == []
    assert names(status="draft") == ["Draft Vase"]
    assert names(stock_status="outofstock") == ["Green Lamp"]
    assert names(ids=("17", "19")) == ["Blue Cap", "Red Mug"]
    assert "Draft Vase" in names()  # the store's default status is "any"
    assert source.categories() == ["Uncategorized", "Apparel", "Home"]


def test_per_page_is_capped_at_the_api_maximum(source):
    page = source.list_products(ProductQuery(per_page=500))
    assert page.per_page == 100 and len(page.items) == 17


def test_product_data_for_the_prompt_is_plain_text(source, woo_emu):
    mug = source.get_product("17")
    assert mug.name == "Red Mug" and mug.sku == "WCR-MUG-RED"
    assert mug.category == "Home" and mug.categories == ("Home",)
    assert mug.short_description == "Glazed stoneware mug & saucer, 350 ml"
    assert mug.images[0].id == "10" and mug.images[0].ref.endswith("/wcreal-mug-red.jpg")
    pid = woo_emu.add_product(
        "Tee &amp; <b>Co</b>", short_description="<script>alert(1)</script><p>Soft&nbsp;cotton\n<em>tee</em></p>"
    )
    odd = source.get_product(str(pid))
    assert odd.name == "Tee & Co" and odd.short_description == "Soft cotton tee"


def test_plain_text():
    assert plain_text("<p>A &lt;b&gt; tag</p>\n<br/>line") == "A <b> tag line"
    assert plain_text(None) == ""


def test_variable_products_carry_their_variations(source):
    tee = source.get_product("21")
    assert tee.type == "variable"
    assert tee.attributes == {"Color": "Blue, Red", "Size": "S, M, L"}
    assert [v.id for v in tee.variations] == ["22", "23", "24", "25", "26", "27"]
    blue_l = tee.variation("27")
    assert blue_l.name == "Blue, L" and blue_l.sku == "WCR-TEE-BLUE-L"
    assert blue_l.attributes == {"Color": "Blue", "Size": "L"}
    assert blue_l.image is not None and blue_l.image.id == "16"
    listed = {p.id: p for p in source.list_products(ProductQuery(per_page=10)).items}
    assert len(listed["21"].variations) == 6


def test_gallery_order_is_kept(source):
    cap = source.get_product("19")
    assert [i.id for i in cap.images] == ["12", "13"] and cap.featured.id == "12"


def test_fetch_image_downloads_and_respects_the_byte_limit(rt, woo_emu, source):
    mug = source.get_product("17")
    data = source.fetch_image(mug.images[0])
    assert data == image_bytes((200, 30, 40))
    small = WooSource(wc_client.WooClient(source.client.creds, max_image_bytes=1000))
    with pytest.raises(ImageTooLarge):
        small.fetch_image(mug.images[0])
    with pytest.raises(SourceNotFound):
        source.fetch_image(SourceImage(ref=f"{woo_emu.url}/wp-content/uploads/2026/11/gone.jpg"))


def test_download_without_a_declared_length_stops_at_the_byte_limit(woo_emu, source):
    woo_emu.chunked_files = True  # no Content-Length: the limit is enforced while streaming
    mug = source.get_product("17")
    assert source.fetch_image(mug.images[0]) == image_bytes((200, 30, 40))
    small = WooSource(wc_client.WooClient(source.client.creds, max_image_bytes=1000))
    with pytest.raises(ImageTooLarge):
        small.fetch_image(mug.images[0])


def test_download_timeouts_are_retried_then_reported(woo_emu, source, waits):
    mug = source.get_product("17")
    quick = WooSource(wc_client.WooClient(source.client.creds, timeout=0.25, retries=2))
    woo_emu.inject("GET", r"^/wp-content/uploads/", mode="slow", delay=5)
    assert quick.fetch_image(mug.images[0]) == image_bytes((200, 30, 40))
    woo_emu.inject("GET", r"^/wp-content/uploads/", mode="slow", delay=5, times=None)
    with pytest.raises(SourceUnavailable) as err:
        quick.fetch_image(mug.images[0])
    assert "in time" in err.value.message
    assert len([r for r in woo_emu.requests if r["path"].startswith("/wp-content/uploads/")]) == 1 + 1 + 3


# Errors --------------------------------------------------------------------------------------------------


def test_wrong_secret_is_an_auth_error(rt, woo_emu, waits):
    src = open_source(rt, connect(rt, woo_emu, secret="cs_wrong"))
    with pytest.raises(SourceAuthError) as err:
        src.list_products(ProductQuery())
    assert "Invalid signature" in err.value.message
    assert waits == []  # not retried


def test_forbidden_is_an_auth_error(source, woo_emu):
    woo_emu.inject("GET", r"/products$", status=403)
    with pytest.raises(SourceAuthError):
        source.list_products(ProductQuery())


def test_missing_product_is_not_found(source):
    with pytest.raises(SourceNotFound) as err:
        source.get_product("9999")
    assert "9999" in err.value.message
    with pytest.raises(SourceNotFound):
        source.get_product("abc")


def test_rate_limit_is_retried_after_the_servers_delay(source, woo_emu, waits):
    woo_emu.inject("GET", r"/products$", status=429, retry_after=2)
    assert source.list_products(ProductQuery()).total == 17
    assert waits and waits[0] >= 2


def test_long_retry_after_is_handed_to_the_caller(source, woo_emu, waits):
    woo_emu.inject("GET", r"/products$", status=429, retry_after=120, times=None)
    with pytest.raises(SourceUnavailable) as err:
        source.list_products(ProductQuery())
    assert err.value.retry_after == 120 and err.value.retryable
    assert len(product_requests(woo_emu)) == 1 and waits == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_then_reported(source, woo_emu, waits, status):
    woo_emu.inject("GET", r"/products$", status=status, times=2)
    assert source.list_products(ProductQuery()).total == 17
    assert len(waits) == 2
    woo_emu.inject("GET", r"/products$", status=status, times=None)
    with pytest.raises(SourceUnavailable) as err:
        source.list_products(ProductQuery())
    assert f"HTTP {status}" in err.value.message
    assert len(product_requests(woo_emu)) == 3 + 3  # 1 + http_retries attempts each time


def test_timeouts_are_retried_then_reported(source, woo_emu):
    source = WooSource(wc_client.WooClient(source.client.creds, timeout=0.25, retries=2))
    woo_emu.inject("GET", r"/products/17$", mode="slow", delay=5)
    assert source.get_product("17").name == "Red Mug"
    woo_emu.inject("GET", r"/products/17$", mode="slow", delay=5, times=None)
    with pytest.raises(SourceUnavailable) as err:
        source.get_product("17")
    assert "did not answer" in err.value.message


def test_dropped_connections_are_retried_then_reported(source, woo_emu):
    woo_emu.inject("GET", r"/products/17$", mode="drop")
    assert source.get_product("17").name == "Red Mug"
    woo_emu.inject("GET", r"/products/17$", mode="drop", times=None)
    with pytest.raises(SourceUnavailable) as err:
        source.get_product("17")
    printed = "".join(traceback.format_exception(err.value))
    assert "oauth_" not in printed and CONSUMER_KEY not in printed  # requests quotes the signed URL


def test_writes_are_not_retried_by_the_client(target, woo_emu):
    woo_emu.inject("PUT", r"/products/17$", status=500)
    with pytest.raises(SourceUnavailable):
        target.set_product_images("17", ["10"])
    assert len([r for r in woo_emu.requests if r["method"] == "PUT"]) == 1


def test_not_a_store_address(rt):
    from tests.emulators.woocommerce import PlainServer

    with PlainServer() as plain:
        conn = save_woocommerce(rt, url=plain.url, key="ck_x", secret="cs_x", name="Plain")
        with pytest.raises(NotAStoreError):
            open_source(rt, conn).list_products(ProductQuery())


def test_redirects_are_not_followed(rt):
    from lib.errors import SourceError
    from tests.emulators.woocommerce import PlainServer

    with PlainServer(redirect_to="https://shop.example.com") as moved:
        conn = save_woocommerce(rt, url=moved.url, key="ck_x", secret="cs_x", name="Moved")
        with pytest.raises(SourceError) as err:
            open_source(rt, conn).list_products(ProductQuery())
    assert "https://shop.example.com/wp-json/wc/v3/products" in err.value.message
    assert "oauth" not in err.value.message  # the signed query is not repeated back


def test_upload_needs_an_application_password(rt, woo_emu):
    conn = save_woocommerce(rt, url=woo_emu.url, key=CONSUMER_KEY, secret=CONSUMER_SECRET, name="Keys only")
    with pytest.raises(SourceAuthError) as err:
        open_target(rt, conn).upload_media(b"x", filename="a.jpg", mime="image/jpeg", alt_text="", title="")
    assert "Application Password" in err.value.message and woo_emu.counts["uploads"] == 0


def test_store_url_is_normalised_and_checked():
    assert normalize_url("shop.example.com/") == "https://shop.example.com"
    assert normalize_url("http://127.0.0.1:8080/shop/") == "http://127.0.0.1:8080/shop"
    with pytest.raises(InputError):
        normalize_url("ftp://x")
    with pytest.raises(InputError):
        normalize_url("https://user:pw@shop.example.com")


def test_requests_are_recorded_without_credentials(rt, woo_emu, source, target):
    source.list_products(ProductQuery(per_page=5, search="mug"))
    source.fetch_image(source.get_product("17").images[0])
    target.find_media("nothing.jpg")
    with rt.db.session() as s:
        recorded = s.exec(select(Event).where(Event.kind == "request")).all()
    assert {e.service for e in recorded} == {"woocommerce", "wordpress"}
    assert all(e.status_code == 200 and e.duration_ms is not None for e in recorded)
    text = " ".join(f"{e.url} {e.message} {e.data}" for e in recorded)
    for secret in ("oauth_", "consumer_", CONSUMER_KEY, CONSUMER_SECRET, APP_PASSWORD, "signature", "nonce"):
        assert secret not in text
    assert any("search=mug" in (e.url or "") for e in recorded)


def test_no_log_line_carries_the_signed_url(rt, woo_emu, source, target, caplog):
    """urllib3 logs each request line at DEBUG; over http that line holds the key, the nonce and the signature."""
    caplog.set_level(logging.DEBUG)
    source.list_products(ProductQuery(per_page=5, search="mug"))
    woo_emu.inject("GET", r"/products/17$", status=503)
    woo_emu.inject("GET", r"/products/18$", mode="drop", times=None)
    source.get_product("17")
    with pytest.raises(SourceUnavailable):
        source.get_product("18")
    target.find_media("nothing.jpg")
    text = caplog.text
    assert "/wp-json/wc/v3/products" in text  # the lines are there, only the credentials are not
    nonces = [r["nonce"] for r in woo_emu.requests if r["nonce"]]
    assert nonces
    for secret in (CONSUMER_KEY, CONSUMER_SECRET, APP_PASSWORD, *nonces):
        assert secret not in text
    assert "oauth_signature=***" in text and not re.search(r"oauth_signature=[^*]", text)


# Publish target --------------------------------------------------------------------------------------------


def test_target_reads_image_lists(target, woo_emu):
    assert target.product_image_ids("19") == ["12", "13"]
    assert target.variation_image_id("21", "27") == "16"
    target.set_variation_image("21", "27", None)
    assert woo_emu.variation_image(27) is None
    assert target.variation_image_id("21", "27") is None  # edit context: the parent's image is not reported


def test_upload_sets_alt_text_and_title_and_can_be_found_again(target, woo_emu):
    data = image_bytes((10, 200, 10))
    media_id = target.upload_media(
        data,
        filename="wcr-mug-red-ai-0123abcd.jpg",
        mime="image/jpeg",
        alt_text="Red mug on a marble counter",
        title="Red Mug (lifestyle photo)",
    )
    stored = woo_emu.media[int(media_id)]
    assert stored["alt"] == "Red mug on a marble counter" and stored["title"] == "Red Mug (lifestyle photo)"
    assert stored["data"] == data
    assert target.find_media("wcr-mug-red-ai-0123abcd.jpg") == media_id  # by slug: search matches titles only
    assert target.find_media("wcr-mug-red-ai-0123abcd.webp") is None
    assert target.find_media("wcr-mug-red-ai-0123abc.jpg") is None


def test_set_images_replaces_the_whole_list(target, woo_emu):
    assert target.set_product_images("19", ["13", "12", "10"]) == ["13", "12", "10"]
    assert woo_emu.image_ids(19) == [13, 12, 10]
    with pytest.raises(PublishError) as err:
        target.set_product_images("19", ["12", "999999"])
    assert "#999999 is an invalid image ID" in err.value.message and not err.value.retryable
    assert woo_emu.image_ids(19) == [13, 12, 10]  # the whole update was rejected


def test_product_for_sku(target, woo_emu):
    assert target.product_for_sku("WCR-MUG-RED")[:2] == ("17", None)
    assert target.product_for_sku("wcr-mug-red")[:2] == ("17", None)  # the store ignores case
    hit = target.product_for_sku("WCR-TEE-RED-S")  # a variation: its parent from parent_id
    assert hit[:2] == ("21", "22") and hit.name == "Classic Tee - Red, S"
    assert target.product_for_sku("WCR-MUG") is None  # no partial matches
    assert target.product_for_sku("") is None
    woo_emu.add_product("Red Mug (old)", sku="wcr-mug-red")  # a store that let two spellings in
    assert target.product_for_sku("WCR-MUG-RED")[0] == "17"  # the exact spelling wins
    with pytest.raises(InputError, match="SKU Wcr-Mug-Red matches 2 items in the store"):
        target.product_for_sku("Wcr-Mug-Red")


def test_no_connection_means_a_clear_error(rt):
    with pytest.raises(InputError):
        open_source(rt, None)
