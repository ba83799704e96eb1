"""The Shopify source, client and connection checklist, through httpx against the Shopify emulator on 127.0.0.1."""

from __future__ import annotations

import pytest
from sqlmodel import select

from lib import catalog
from lib.connections import read_secret
from lib.errors import InputError, SourceAuthError, SourceError
from lib.models import Connection, Event
from lib.sources import shopify_client
from lib.sources.base import ProductQuery
from lib.sources.shopify import ShopifySource, open_source
from lib.sources.shopify_check import check_connection as _check_connection
from lib.sources.shopify_check import save_shopify, test_connection
from lib.sources.shopify_client import ShopifyClient, ShopifyCredentials, normalize_shop
from tests.emulators.shopify import (
    ADMIN_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    NO_FILES_TOKEN,
    READ_ONLY_TOKEN,
    TOKEN_LIFETIME,
    ShopifyEmulator,
)
from tests.emulators.woocommerce import PlainServer


def check_connection(*args, **kw):
    # The emulator is a local shop: allowed as an admin allows one with the setting private_store_hosts.
    return _check_connection(*args, private_hosts=["127.0.0.1"], **kw)


@pytest.fixture
def client(shopify_emu, shopify_waits):
    c = ShopifyClient(ShopifyCredentials(shopify_emu.url, ADMIN_TOKEN), retries=2)
    yield c
    c.close()


@pytest.fixture
def source(client):
    return ShopifySource(client)


# Addresses -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "base"),
    [
        ("gecko-test", "https://gecko-test.myshopify.com"),
        ("Gecko-Test.myshopify.com/", "https://gecko-test.myshopify.com"),
        ("https://admin.shopify.com/store/gecko-test/products", "https://gecko-test.myshopify.com"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
    ],
)
def test_shop_addresses_people_type(typed, base):
    assert normalize_shop(typed) == base


@pytest.mark.parametrize("typed", ["", "http://shop.example.com", "https://shop.example.com", "ftp://x.myshopify.com"])
def test_addresses_that_are_not_a_shop_are_refused_in_words(typed):
    with pytest.raises(InputError) as err:
        normalize_shop(typed)
    assert "myshopify.com" in err.value.message or "Enter" in err.value.message


# Choosing products ---------------------------------------------------------------------------------------------


def test_products_page_with_images_variants_and_plain_text(shopify_emu, source):
    mug_id = str(shopify_emu.product_by_title("Red Mug")["id"])
    page = source.list_products(ProductQuery(search="mug"))
    assert [p.name for p in page.items] == ["Red Mug"] and page.total == 1
    mug = page.items[0]
    assert mug.id == mug_id and mug.sku == "SH-MUG-RED" and mug.type == "simple"
    assert [i.name for i in mug.images] == ["mug-red.jpg", "mug-red-side.jpg"]
    assert mug.short_description == "Glazed stoneware mug & saucer, 350 ml"  # no HTML
    assert mug.categories == ("Kitchen",) and mug.status == "active"
    tee = source.get_product(str(shopify_emu.product_by_title("Classic Tee")["id"]))
    assert tee.type == "variable" and [v.sku for v in tee.variations] == [
        "SH-TEE-BLK-S",
        "SH-TEE-BLK-M",
        "SH-TEE-WHT-S",
        "SH-TEE-WHT-M",
    ]
    assert tee.variations[0].attributes == {"Color": "Black", "Size": "S"}
    assert tee.variations[0].image is not None and tee.variations[0].image.name == "tee-black.jpg"
    assert tee.variations[3].image is None
    assert source.fetch_image(mug.images[0]) == shopify_emu.media[int(mug.images[0].id or 0)]["data"]


def test_filters_collection_product_type_and_status(shopify_emu, source):
    assert sorted(source.categories()) == ["Apparel", "Kitchen", "Sale"]
    assert {p.name for p in source.list_products(ProductQuery(category="Kitchen")).items} == {"Red Mug", "Green Lamp"}
    assert source.list_products(ProductQuery(category="No Such")).items == []
    assert "Lamps" in source.product_types()
    lamps = source.list_products(ProductQuery(product_type="Lamps"))
    assert [p.name for p in lamps.items] == ["Green Lamp"]
    assert [p.name for p in source.list_products(ProductQuery(status="draft")).items] == ["Draft Vase"]
    assert [p.name for p in source.list_products(ProductQuery(status="archived")).items] == ["Old Cap"]
    with pytest.raises(InputError):
        source.list_products(ProductQuery(status="trash"))


def test_paging_a_large_shop_walks_cursors_and_never_repeats(shopify_emu, source):
    total = len(shopify_emu.products)
    seen = []
    page = source.list_products(ProductQuery(per_page=7, page=1))
    assert page.total == total and page.pages == -(-total // 7)
    for n in range(1, page.pages + 1):
        seen += [p.id for p in source.list_products(ProductQuery(per_page=7, page=n)).items]
    assert len(seen) == total == len(set(seen))
    # Jumping straight to a page of a new query walks there with cheap id-only pages.
    fresh = ShopifySource(source.client)
    assert [p.id for p in fresh.list_products(ProductQuery(per_page=7, page=4)).items] == seen[21:28]


def test_ids_restrict_the_listing(shopify_emu, source):
    mug, lamp = (str(shopify_emu.product_by_title(t)["id"]) for t in ("Red Mug", "Green Lamp"))
    page = source.list_products(ProductQuery(ids=(lamp, mug, "nope")))
    assert [p.name for p in page.items] == ["Green Lamp", "Red Mug"]


def test_a_listing_stays_under_the_single_query_cost_limit(shopify_emu, source):
    source.list_products(ProductQuery(per_page=100))
    assert shopify_emu.counts["graphql"] > 0 and not any(
        "MAX_COST" in str(r.get("status")) for r in shopify_emu.requests
    )
    assert shopify_emu.errors == []


# The client: pacing, throttling, errors ---------------------------------------------------------------------


def test_the_client_paces_itself_from_throttle_status(shopify_waits):
    with ShopifyEmulator(bucket_max=400, restore_rate=20) as emu:
        emu.clock = shopify_client.CLOCK  # the fixture's fake clock
        c = ShopifyClient(ShopifyCredentials(emu.url, ADMIN_TOKEN))
        source = ShopifySource(c)
        for _ in range(6):
            source.list_products(ProductQuery(per_page=5))
        # Each listing asks for more than a few seconds of refill: the client waited before sending instead of
        # being told THROTTLED more than once (the first time it did not know a document's cost).
        assert emu.counts["throttled"] <= 2
        assert sum(shopify_waits) > 0
        c.close()


def test_throttled_answers_are_retried_after_the_time_the_bucket_needs(shopify_emu, client, shopify_waits):
    shopify_emu.bucket_max = 40
    shopify_emu._available = 5
    data = client.graphql("query { shop { name } productsCount { count } }")
    assert data["shop"]["name"] == "Gecko Test Shop"
    assert shopify_emu.counts["throttled"] == 0  # the client's picture of the bucket was unknown: it asked


def test_throttled_answer_waits_requested_minus_available_over_rate(shopify_emu, client, shopify_waits):
    shopify_emu._available = 0.0
    shopify_emu._bucket_at = shopify_client.CLOCK()
    query = "query { products(first: 10) { nodes { id } } }"
    client._costs[query] = 0.0  # the client believes it is free: the shop says THROTTLED
    client.graphql(query)
    assert shopify_emu.counts["throttled"] == 1 and client.throttled == 1
    assert shopify_waits[0] == pytest.approx(12 / 50, rel=0.05)  # (2 + 10 × 1 - 0) / 50


def test_429_and_5xx_are_retried(shopify_emu, client, shopify_waits):
    shopify_emu.inject("POST", "graphql", status=429, retry_after=2)
    shopify_emu.inject("POST", "graphql", status=502)
    assert client.graphql("{ shop { name } }")["shop"]["name"]
    assert 2 in shopify_waits


def test_wrong_token_and_missing_scope_are_sentences(shopify_emu, shopify_waits):
    bad = ShopifyClient(ShopifyCredentials(shopify_emu.url, "shpat_wrong"))
    with pytest.raises(SourceAuthError) as err:
        bad.graphql("{ shop { name } }")
    assert "refused the access token" in err.value.message
    ro = ShopifyClient(ShopifyCredentials(shopify_emu.url, READ_ONLY_TOKEN))
    with pytest.raises(SourceAuthError) as err:
        ro.graphql(
            "mutation($f: [FileCreateInput!]!) { fileCreate(files: $f) { files { id } userErrors { message } } }",
            {"f": [{"originalSource": "https://x/y.png", "contentType": "IMAGE"}]},
        )
    assert "write_files" in err.value.message


def test_a_misspelt_document_is_refused_by_the_schema(client):
    with pytest.raises(SourceError) as err:
        client.graphql("{ shop { nmae } }")
    assert "nmae" in err.value.message


def test_client_credentials_token_is_cached_and_renewed_before_it_expires(shopify_emu, shopify_waits):
    creds = ShopifyCredentials(shopify_emu.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    a = ShopifyClient(creds)
    b = ShopifyClient(creds)
    a.graphql("{ shop { name } }")
    b.graphql("{ shop { name } }")
    assert shopify_emu.counts["tokens_issued"] == 1  # one token for the process
    shopify_emu.clock.advance(TOKEN_LIFETIME - 1800)  # half an hour left: renewed before it runs out
    a.graphql("{ shop { name } }")
    assert shopify_emu.counts["tokens_issued"] == 2
    assert not any(r["status"] == 401 for r in shopify_emu.requests)
    bad = ShopifyClient(ShopifyCredentials(shopify_emu.url, client_id=CLIENT_ID, client_secret="wrong"))
    with pytest.raises(SourceAuthError) as err:
        bad.graphql("{ shop { name } }")
    assert "client id and secret" in err.value.message


# Connecting ------------------------------------------------------------------------------------------------


def _lines(checks):
    return {c.label: c for c in checks}


def test_checklist_all_green_with_a_token_and_with_client_credentials(shopify_emu, shopify_waits):
    for kw in ({"access_token": ADMIN_TOKEN}, {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}):
        checks = check_connection(shopify_emu.url, **kw)
        assert all(c.ok for c in checks), [(c.label, c.detail) for c in checks]
        assert [c.label for c in checks] == [
            "Shop address",
            "Shop answers",
            "Access token valid",
            "Scope read_products",
            "Scope write_products",
            "Scope write_files",
        ]


def test_checklist_names_missing_scopes_and_how_to_fix(shopify_emu, shopify_waits):
    lines = _lines(check_connection(shopify_emu.url, access_token=NO_FILES_TOKEN))
    assert lines["Scope read_products"].ok and lines["Scope write_products"].ok
    assert not lines["Scope write_files"].ok and "write_files" in lines["Scope write_files"].advice
    lines = _lines(check_connection(shopify_emu.url, access_token=READ_ONLY_TOKEN))
    assert not lines["Scope write_products"].ok


def test_checklist_wrong_token_unreachable_and_not_a_shop(shopify_emu, shopify_waits):
    lines = _lines(check_connection(shopify_emu.url, access_token="shpat_nope"))
    assert not lines["Access token valid"].ok and lines["Scope read_products"].skipped
    with PlainServer() as plain:
        lines = _lines(check_connection(plain.url, access_token=ADMIN_TOKEN))
        assert not lines["Shop answers"].ok and "Shopify" in lines["Shop answers"].detail
        url = plain.url
    lines = _lines(check_connection(url, access_token=ADMIN_TOKEN, timeout=1))
    assert not lines["Shop answers"].ok and lines["Access token valid"].skipped
    lines = _lines(check_connection("shop.example.com", access_token=ADMIN_TOKEN))
    assert not lines["Shop address"].ok


def test_saved_secrets_are_encrypted_and_the_test_is_remembered(rt, shopify_emu, shopify_waits):
    conn = save_shopify(rt, shop=shopify_emu.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with rt.db.session() as s:
        row = s.get(Connection, conn.id)
        assert row is not None and row.kind == "shopify" and row.is_active
        assert CLIENT_SECRET.encode() not in (row.secret_blob or b"")
        assert row.settings == {"client_id": CLIENT_ID}
    assert read_secret(rt.vault, row) == {"client_secret": CLIENT_SECRET}
    assert all(c.ok for c in test_connection(rt, row))
    with pytest.raises(InputError):
        save_shopify(rt, shop=shopify_emu.url)
    with pytest.raises(InputError):
        save_shopify(rt, shop=shopify_emu.url, access_token=ADMIN_TOKEN, client_id=CLIENT_ID, client_secret="x")


def test_requests_are_recorded_without_the_token(rt, shopify_emu, shopify_waits):
    conn = save_shopify(rt, shop=shopify_emu.url, access_token=ADMIN_TOKEN)
    open_source(rt, conn).list_products(ProductQuery(per_page=3))
    with rt.db.session() as s:
        events = s.exec(select(Event).where(Event.kind == "request")).all()
    assert events and all(e.service == "shopify" for e in events)
    assert not any(ADMIN_TOKEN in (e.url or "") + e.message + str(e.data) for e in events)


def test_choosing_on_white_only_and_not_generated_yet(rt, shopify_emu, shopify_waits):
    conn = save_shopify(rt, shop=shopify_emu.url, access_token=ADMIN_TOKEN)
    ref = catalog.SourceRef("shopify", conn.id, "Shop")
    source = open_source(rt, conn)
    assert "Furniture" in catalog.product_types(source)
    everything = catalog.browse(rt, source, ref, catalog.Filters(product_type="Furniture"))
    assert [p.name for p in everything.products] == ["Sofa"]  # its only photo is a room scene
    white = catalog.browse(rt, source, ref, catalog.Filters(product_type="Furniture", white_only=True))
    assert white.products == []
    mugs = catalog.browse(rt, source, ref, catalog.Filters(search="mug", white_only=True, not_generated=True))
    assert [p.name for p in mugs.products] == ["Red Mug"]
