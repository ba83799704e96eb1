"""One outbound policy (lib/outbound.py) for every download and connection test, driven through the real clients
against loopback emulators: product images only from the store's own host or an image host an admin added,
every redirect checked again, no private, loopback, link-local or metadata address unless the store itself lives
there, size and time caps kept, each refusal a sentence. Trap servers stand for the hosts that must never be
reached; each test fails if one of them got a single request."""

from __future__ import annotations

import pytest

from lib.errors import ImageTooLarge, OutboundRefused, SourceNotFound
from lib.outbound import OutboundPolicy
from lib.sources.base import SourceImage
from lib.sources.wc_check import check_connection
from tests.emulators.trap import Redirector, TrapServer
from tests.emulators.woocommerce import APP_PASSWORD, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, WooEmulator, image_bytes
from tests.security.conftest import REBOUND_NAMES, non_loopback_connects, store_runtime
from tests.security.corpus import NOT_WEB, PRIVATE_STORE_URLS


def by_name(checks):
    return {c.label: c for c in checks}


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1]


# Test connection: a visitor cannot make the server probe its own network ------------------------------------


@pytest.mark.parametrize("template", [u for _, u in PRIVATE_STORE_URLS], ids=[k for k, _ in PRIVATE_STORE_URLS])
def test_test_connection_refuses_private_loopback_and_metadata_addresses_without_a_request(template, trap):
    before = non_loopback_connects()
    checks = check_connection(template.format(port=port_of(trap.url)), "ck", "cs", "u", "p", timeout=1)
    named = by_name(checks)
    address = named["Store address"]
    assert (
        not address.ok
        and address.detail.endswith(".")
        # refused as a private/metadata address, or earlier as no real host name (a bare decimal like 2130706433)
        and ("private" in address.detail or "metadata" in address.detail or "store's address" in address.detail)
    )
    assert trap.hits == 0
    assert all(c.skipped for c in checks[1:])  # nothing else was tried: open and closed ports look the same
    assert non_loopback_connects() == before


def test_test_connection_refuses_a_dns_name_that_resolves_to_loopback(trap):
    url = f"http://{REBOUND_NAMES[0]}:{port_of(trap.url)}"
    named = by_name(check_connection(url, "ck", "cs", "u", "p", timeout=1))
    assert not named["Store address"].ok and "127.0.0.1" in named["Store address"].detail


def test_test_connection_tells_nothing_about_ports_on_private_addresses(trap):
    closed = WooEmulator().start()
    closed_url = closed.url
    closed.stop()  # nothing listens there any more
    open_named = by_name(check_connection(trap.url, "ck", "cs", "u", "p", timeout=1))
    closed_named = by_name(check_connection(closed_url, "ck", "cs", "u", "p", timeout=1))
    assert [(c.label, c.ok, c.skipped) for c in open_named.values()] == [
        (c.label, c.ok, c.skipped) for c in closed_named.values()
    ]
    assert open_named["Store address"].detail.replace(port_of(trap.url), "P") == closed_named[
        "Store address"
    ].detail.replace(port_of(closed_url), "P")


def test_a_store_an_admin_listed_as_local_passes_the_checklist(woo_emu):
    checks = check_connection(
        woo_emu.url,
        CONSUMER_KEY,
        CONSUMER_SECRET,
        WP_USER,
        APP_PASSWORD,
        timeout=2,
        private_hosts=[f"127.0.0.1:{port_of(woo_emu.url)}"],
    )
    assert [c.label for c in checks if not c.ok] == []


def test_saving_a_store_on_a_private_address_is_refused_and_nothing_is_saved(rt, trap):
    from lib.connections import list_connections
    from lib.sources.woocommerce import save_woocommerce

    rt.settings.private_store_hosts = []
    with pytest.raises(OutboundRefused, match="private or local network"):
        save_woocommerce(rt, url=trap.url, key="ck_x", secret="cs_x")
    assert list_connections(rt.db, "woocommerce") == []


@pytest.mark.parametrize("url", [u for _, u in NOT_WEB], ids=[k for k, _ in NOT_WEB])
def test_addresses_that_are_not_plain_web_addresses_are_refused(url):
    with pytest.raises(OutboundRefused) as err:
        OutboundPolicy().check(url)
    assert err.value.message.endswith(".")


# Product images from the store -------------------------------------------------------------------------------


def hostile_product(woo: WooEmulator, src: str) -> SourceImage:
    """A product whose featured image the store says lives at `src`; the image as our source reads it."""
    mid = woo.add_media("mug.png", image_bytes((200, 40, 40), (300, 300), "PNG"))
    woo.media[mid]["src"] = src
    return SourceImage(ref=src, name="mug.png", id=str(mid))


def fetch(rt, image: SourceImage) -> bytes:
    return rt.source("woocommerce").fetch_image(image)


def test_the_stores_own_images_are_downloaded(tmp_path, woo_emu):
    rt = store_runtime(tmp_path, woo_emu)
    product = rt.source("woocommerce").get_product(str(next(iter(woo_emu.products))))
    assert product.featured is not None and fetch(rt, product.featured)[:4] in (
        b"\x89PNG",
        b"\xff\xd8\xff\xe0",
        b"\xff\xd8\xff\xe1",
        b"RIFF",
    )


@pytest.mark.parametrize(
    "where",
    ["another port on the store's machine", "localhost", "a name that resolves to loopback", "a metadata address"],
)
def test_an_image_on_another_host_is_refused_before_any_request(tmp_path, woo_emu, trap, where):
    port = port_of(trap.url)
    src = {
        "another port on the store's machine": f"{trap.url}/mug.png",
        "localhost": f"http://localhost:{port}/mug.png",
        "a name that resolves to loopback": f"http://{REBOUND_NAMES[1]}:{port}/mug.png",
        "a metadata address": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    }[where]
    rt = store_runtime(tmp_path, woo_emu)
    before = non_loopback_connects()
    with pytest.raises(OutboundRefused) as err:
        fetch(rt, hostile_product(woo_emu, src))
    assert err.value.message.startswith("That image address") and err.value.message.endswith(".")
    assert non_loopback_connects() == before


def test_an_image_host_the_admin_added_is_downloaded_from(tmp_path, woo_emu):
    with TrapServer() as cdn:  # here an allowed CDN: not off the policy
        cdn.off_policy = False
        cdn_host = f"127.0.0.1:{port_of(cdn.url)}"
        rt = store_runtime(tmp_path, woo_emu, image_hosts=[cdn_host])
        rt.settings.private_store_hosts.append(cdn_host)  # the CDN of a local test store lives on loopback too
        assert fetch(rt, hostile_product(woo_emu, f"{cdn.url}/mug.png")) == cdn.image
        assert cdn.hits == 1


def test_an_allowed_image_host_that_resolves_to_a_private_address_is_refused(tmp_path, woo_emu, trap):
    rt = store_runtime(tmp_path, woo_emu, image_hosts=[REBOUND_NAMES[1]])
    with pytest.raises(OutboundRefused, match="private or local network"):
        fetch(rt, hostile_product(woo_emu, f"http://{REBOUND_NAMES[1]}:{port_of(trap.url)}/mug.png"))


def cdn_runtime(tmp_path, woo: WooEmulator, cdn: Redirector):
    host = f"127.0.0.1:{port_of(cdn.url)}"
    rt = store_runtime(tmp_path, woo, image_hosts=[host])
    rt.settings.private_store_hosts.append(host)
    return rt


@pytest.mark.parametrize("hops", [0, 2], ids=["one redirect", "a chain of redirects"])
def test_a_redirect_to_another_host_is_checked_again_and_refused(tmp_path, woo_emu, trap, hops):
    with Redirector(f"{trap.url}/stolen.png", chain=hops) as cdn:
        rt = cdn_runtime(tmp_path, woo_emu, cdn)
        with pytest.raises(OutboundRefused, match="neither the store's own address nor an image host"):
            fetch(rt, hostile_product(woo_emu, f"{cdn.url}/mug.png"))
        assert len(cdn.requests_seen) == hops + 1


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "http://[::1]:9/x.png"],
    ids=["to a metadata address", "to a file", "to ipv6 loopback"],
)
def test_a_redirect_to_a_forbidden_address_is_refused(tmp_path, woo_emu, target):
    with Redirector(target) as cdn:
        rt = cdn_runtime(tmp_path, woo_emu, cdn)
        before = non_loopback_connects()
        with pytest.raises(OutboundRefused):
            fetch(rt, hostile_product(woo_emu, f"{cdn.url}/mug.png"))
        assert non_loopback_connects() == before


def test_an_endless_redirect_loop_stops_with_a_sentence(tmp_path, woo_emu):
    with Redirector(chain=1000) as cdn:
        rt = cdn_runtime(tmp_path, woo_emu, cdn)
        with pytest.raises(SourceNotFound, match="redirects too many times"):
            fetch(rt, hostile_product(woo_emu, f"{cdn.url}/mug.png"))
        assert len(cdn.requests_seen) <= 4


@pytest.mark.parametrize("body", ["endless", "oversized"])
def test_an_endless_or_oversized_body_is_cut_at_the_byte_limit(tmp_path, woo_emu, body):
    with Redirector(body=body) as cdn:
        rt = cdn_runtime(tmp_path, woo_emu, cdn)
        rt.settings.max_image_bytes = 1 << 20
        with pytest.raises(ImageTooLarge, match="larger than 1 MB"):
            fetch(rt, hostile_product(woo_emu, f"{cdn.url}/mug.png"))
