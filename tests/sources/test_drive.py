"""Google Drive as a product source, through the real google-api-python-client against the loopback emulator."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from sqlmodel import select

from lib.config import Settings
from lib.connections import get_connection, list_connections, read_secret
from lib.errors import ImageTooLarge, InputError, SourceAuthError, SourceNotFound, SourceUnavailable
from lib.models import Event
from lib.runtime import Runtime
from lib.sources import drive_client
from lib.sources.base import ProductQuery, SourceImage
from lib.sources.drive import (
    SHARED_WITH_ME,
    breadcrumbs,
    folder_id_from,
    list_folders,
    list_shared_drives,
    open_source,
    parse_name,
    save_drive,
)
from lib.sources.drive import test_connection as check_connection
from tests.emulators.drive import (
    MY_DRIVE_ROOT,
    SA_EMAIL,
    DriveEmulator,
    authorized_user_json,
    jpeg_bytes,
    service_account_json,
)

pytestmark = pytest.mark.usefixtures("drive_waits")

PHOTO = jpeg_bytes((30, 90, 200), (320, 320))


@pytest.fixture
def rt_settings(drive_emu):
    return {"drive_root_url": drive_emu.url}


def build_catalogue(emu: DriveEmulator) -> dict:
    """Catalogue / 2 categories / 25 product folders each / 5 photos each = 250 photos, 3 levels deep,
    plus things that must be ignored: a PDF, an SVG, a trashed folder, a trashed photo."""
    root = emu.add_folder("Catalogue")
    ids: dict = {"root": root, "products": {}, "categories": {}}
    for category in ("Kitchen", "Bathroom"):
        cat = emu.add_folder(category, root)
        ids["categories"][category] = cat
        for p in range(25):
            sku = f"GK-{category[:3].upper()}-{p:03d}"
            folder = emu.add_folder(f"{sku} - {category} item {p}", cat)
            ids["products"][sku] = folder
            for i in range(5):
                emu.add_file(f"{i:02d}-{sku}.jpg", folder, PHOTO)
    first = ids["products"]["GK-KIT-000"]
    emu.add_file("spec sheet.pdf", first, b"%PDF-1.4", "application/pdf")
    emu.add_file("logo.svg", first, b"<svg/>", "image/svg+xml")
    gone = emu.add_folder("GK-OLD-001 - Discontinued", ids["categories"]["Kitchen"])
    emu.add_file("old.jpg", gone, PHOTO)
    emu.trash(gone)
    emu.trash(emu.add_file("99-trashed.jpg", first, PHOTO))
    emu.add_file("Loose photo.png", root, PHOTO, "image/png")
    return ids


def connect(rt, emu, root, mode="folders", creds=None):
    conn = save_drive(rt, credentials_json=creds or service_account_json(emu), root_folder_id=root, mode=mode)
    return conn


# Names ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("GK-MUG-001 - Marble mug", ("GK-MUG-001", "Marble mug")),
        ("SKU123 – Linen shirt (blue)", ("SKU123", "Linen shirt (blue)")),
        ("WCR-MUG-RED - Red mug", ("WCR-MUG-RED", "Red mug")),
        ("Mug - Large", ("", "Mug - Large")),  # a name with a dash, not a SKU
        ("TEE - Red", ("", "TEE - Red")),
        ("Ceramic vase", ("", "Ceramic vase")),
        ("  AB-12 -   Tea pot  ", ("AB-12", "Tea pot")),
    ],
)
def test_sku_and_name_are_parsed_from_folder_names(text, expected):
    assert parse_name(text) == expected


def test_folder_links_and_ids_are_accepted():
    assert folder_id_from("https://drive.google.com/drive/folders/1AbC_d-9?usp=sharing") == "1AbC_d-9"
    assert folder_id_from(" 1AbC_d-9 ") == "1AbC_d-9"
    with pytest.raises(InputError):
        folder_id_from("'; drop")


# Saving a connection ----------------------------------------------------------------------------------------


def test_credentials_are_checked_and_stored_encrypted(rt, drive_emu):
    key = service_account_json(drive_emu)
    conn = save_drive(
        rt, credentials_json=key, root_folder_id="https://drive.google.com/drive/folders/1Abc", mode="images"
    )
    stored = get_connection(rt.db, conn.id)
    assert stored.kind == "drive" and stored.is_active
    assert stored.settings["root_folder_id"] == "1Abc" and stored.settings["mode"] == "images"
    assert SA_EMAIL in stored.name
    assert b"PRIVATE KEY" not in stored.secret_blob
    secret = read_secret(rt.vault, stored)
    assert secret["type"] == "service_account" and json.loads(secret["credentials_json"])["client_email"] == SA_EMAIL


@pytest.mark.parametrize(
    "text, words",
    [
        ("not json at all", "not a JSON file"),
        (json.dumps({"installed": {"client_id": "x"}}), "OAuth client file"),
        (json.dumps({"type": "external_account"}), "not supported"),
        (json.dumps({"type": "service_account", "client_email": "a@b"}), "incomplete"),
        (
            json.dumps({"type": "service_account", "client_email": "a@b", "private_key": "nope", "token_uri": "x"}),
            "cannot be used",
        ),
        (json.dumps({"type": "authorized_user", "client_id": "x"}), "incomplete"),
    ],
)
def test_bad_credentials_are_refused_with_a_sentence_and_nothing_is_saved(rt, text, words):
    with pytest.raises(InputError) as err:
        save_drive(rt, credentials_json=text, root_folder_id="1Abc", mode="folders")
    assert words in err.value.message
    assert list_connections(rt.db, "drive") == []


def test_a_service_account_needs_a_shared_folder_and_modes_are_checked(rt, drive_emu):
    with pytest.raises(InputError, match="shared with the service account"):
        save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id="", mode="folders")
    with pytest.raises(InputError, match="how photos become products"):
        save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id="1Abc", mode="everything")


# Test connection --------------------------------------------------------------------------------------------


def test_test_connection_lists_the_root_folder(rt, drive_emu):
    ids = build_catalogue(drive_emu)
    conn = connect(rt, drive_emu, ids["root"])
    sentence = check_connection(rt, conn)
    assert sentence == f"Connected as {SA_EMAIL}. “Catalogue” holds 2 folders and 1 photo."
    assert get_connection(rt.db, conn.id).last_error is None


def test_a_folder_not_shared_with_the_service_account_says_how_to_fix_it(rt, drive_emu):
    ids = build_catalogue(drive_emu)
    drive_emu.unshare(ids["root"], SA_EMAIL)
    conn = connect(rt, drive_emu, ids["root"])
    with pytest.raises(SourceNotFound) as err:
        check_connection(rt, conn)
    assert f"Share it with {SA_EMAIL}" in err.value.message
    assert "Share it with" in get_connection(rt.db, conn.id).last_error


def test_revoked_credentials_are_an_auth_error(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")
    user_file = json.loads(authorized_user_json(drive_emu, refresh_token="1//revoked-later"))
    del user_file["account"]  # most authorized-user files do not name the account
    conn = connect(rt, drive_emu, root, creds=json.dumps(user_file))
    assert "Connected as merchant@example.com" in check_connection(rt, conn)
    drive_emu.revoke_credentials()
    with pytest.raises(SourceAuthError) as err:
        check_connection(rt, conn)
    assert "sign in again" in err.value.message


# Browsing ---------------------------------------------------------------------------------------------------


def test_folders_mode_makes_one_product_per_folder_across_pages(rt, drive_emu):
    ids = build_catalogue(drive_emu)
    source = rt.source("drive", connect(rt, drive_emu, ids["root"]).id)
    first = source.list_products(ProductQuery(per_page=24))
    assert first.total == 50 and first.pages == 3
    lists_after_walk = drive_emu.calls["files.list"]
    assert lists_after_walk > 3  # Drive answered in pages of 100: the walk followed nextPageToken

    seen = {p.id for p in first.items}
    for page in (2, 3):
        seen |= {p.id for p in source.list_products(ProductQuery(page=page, per_page=24)).items}
    assert seen == set(ids["products"].values())
    assert drive_emu.calls["files.list"] == lists_after_walk  # paging the screen reuses the walk

    mug = source.get_product(ids["products"]["GK-KIT-007"])
    assert (mug.sku, mug.name, mug.category) == ("GK-KIT-007", "Kitchen item 7", "Kitchen")
    assert [i.name for i in mug.images] == [f"{i:02d}-GK-KIT-007.jpg" for i in range(5)]
    assert mug.featured.name == "00-GK-KIT-007.jpg"
    first_folder = source.get_product(ids["products"]["GK-KIT-000"])
    assert len(first_folder.images) == 5  # no PDF, no SVG, nothing from the trash
    assert source.categories() == ["Bathroom", "Kitchen"]
    assert "Discontinued" not in {p.name for p in source.list_products(ProductQuery(per_page=100)).items}


def test_images_mode_makes_one_product_per_photo(rt, drive_emu):
    ids = build_catalogue(drive_emu)
    source = rt.source("drive", connect(rt, drive_emu, ids["root"], mode="images").id)
    everything = source.list_products(ProductQuery(per_page=1000))
    assert everything.total == 251  # 250 photos in product folders + one loose photo in the root
    loose = next(p for p in everything.items if p.name == "Loose photo")
    assert loose.category == "" and loose.images[0].mime == "image/png"
    one = source.list_products(ProductQuery(search="03-GK-BAT-011")).items
    assert len(one) == 1 and one[0].category == "GK-BAT-011 - Bathroom item 11"
    assert one[0].categories == ("Bathroom", "GK-BAT-011 - Bathroom item 11")


def test_search_and_category_filter(rt, drive_emu):
    ids = build_catalogue(drive_emu)
    source = rt.source("drive", connect(rt, drive_emu, ids["root"]).id)
    assert source.list_products(ProductQuery(search="gk-bat-02")).total == 5  # GK-BAT-020 .. 024, by SKU
    assert source.list_products(ProductQuery(category="Bathroom", per_page=5)).total == 25
    assert source.list_products(ProductQuery(ids=(ids["products"]["GK-KIT-003"],))).items[0].sku == "GK-KIT-003"


def test_names_with_quotes_and_backslashes(rt, drive_emu):
    root = drive_emu.add_folder("It's \"Bob's\" shop")
    odd = drive_emu.add_folder("Baker's mug \\ large", root)
    drive_emu.add_file("front 'a'.jpg", odd, PHOTO)
    conn = connect(rt, drive_emu, root)
    product = rt.source("drive", conn.id).list_products(ProductQuery()).items[0]
    assert product.name == "Baker's mug \\ large"
    client = drive_client.DriveClient(rt.settings, drive_client.parse_credentials(service_account_json(drive_emu)))
    found = list(
        client.list_all(f"name = '{drive_client.escape(odd_name := product.name)}' and trashed = false", "id,name")
    )
    assert [f["name"] for f in found] == [odd_name]
    assert [f.name for f in list_folders(rt, conn, root)] == ["Baker's mug \\ large"]


def test_shared_drives_are_listed_with_their_drive_id(rt, drive_emu):
    drive = drive_emu.add_shared_drive("Studio team")
    root = drive_emu.add_folder("Spring range", drive)
    product = drive_emu.add_folder("SP-1 - Straw hat", root)
    drive_emu.add_file("hat.jpg", product, PHOTO)
    conn = connect(rt, drive_emu, root)
    page = rt.source("drive", conn.id).list_products(ProductQuery())
    assert [(p.sku, p.name) for p in page.items] == [("SP-1", "Straw hat")]
    assert [d.name for d in list_shared_drives(rt, conn)] == ["Studio team"]
    assert [f.name for f in breadcrumbs(rt, conn, product)] == ["Studio team", "Spring range", "SP-1 - Straw hat"]


def test_folder_picker_and_breadcrumbs(rt, drive_emu):
    ids = build_catalogue(drive_emu)
    drive_emu.unshare(MY_DRIVE_ROOT, SA_EMAIL)  # the merchant shared only "Catalogue" with the service account
    drive_emu.share(ids["root"], SA_EMAIL)
    conn = connect(rt, drive_emu, ids["root"])
    assert [f.name for f in list_folders(rt, conn, ids["root"])] == ["Bathroom", "Kitchen"]
    kitchen = list_folders(rt, conn, ids["categories"]["Kitchen"])
    assert len(kitchen) == 25 and kitchen[0].name == "GK-KIT-000 - Kitchen item 0"
    assert [f.name for f in list_folders(rt, conn, SHARED_WITH_ME)] == ["Catalogue"]
    trail = breadcrumbs(rt, conn, ids["products"]["GK-KIT-004"])
    assert [f.name for f in trail] == ["Catalogue", "Kitchen", "GK-KIT-004 - Kitchen item 4"]

    user = save_drive(rt, credentials_json=authorized_user_json(drive_emu), root_folder_id="", mode="folders")
    assert [f.name for f in breadcrumbs(rt, user, ids["categories"]["Kitchen"])] == ["My Drive", "Catalogue", "Kitchen"]
    assert "Catalogue" in [f.name for f in list_folders(rt, user, "root")]


# Photos -----------------------------------------------------------------------------------------------------


def test_fetch_downloads_in_range_chunks_once_and_caches(rt, drive_emu, monkeypatch):
    root = drive_emu.add_folder("Catalogue")
    big = jpeg_bytes((10, 120, 60), (900, 900))
    file_id = drive_emu.add_file("GK-1 - Bowl.jpg", root, big)
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    monkeypatch.setattr(drive_client, "DOWNLOAD_CHUNK", 4096)
    image = SourceImage(ref=file_id, name="GK-1 - Bowl.jpg")
    assert source.fetch_image(image) == big
    downloads = drive_emu.calls["files.download"]
    assert downloads == -(-len(big) // 4096)  # one Range request per chunk
    assert open_source(rt, get_connection(rt.db, source.connection.id)).fetch_image(image) == big
    assert drive_emu.calls["files.download"] == downloads  # unchanged md5: served from the local cache


def test_previews_are_small_cached_jpegs(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")
    drive_emu.add_file("GK-2 - Cup.png", root, jpeg_bytes((200, 100, 0), (1200, 800)), "image/jpeg")
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    product = source.list_products(ProductQuery()).items[0]
    thumb = source.preview(product.featured, side=128)
    assert thumb[:3] == b"\xff\xd8\xff"
    calls = sum(drive_emu.calls.values())
    assert source.preview(product.featured, side=128) == thumb
    assert sum(drive_emu.calls.values()) == calls  # no Drive call at all the second time


def test_parallel_previews_use_one_client_per_thread(rt, drive_emu):
    """The screens prefetch previews in a thread pool; httplib2 breaks when two threads share a connection."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    root = drive_emu.add_folder("Catalogue")
    for n in range(12):
        drive_emu.add_file(f"GK-{n} - Cup {n}.jpg", root, jpeg_bytes((n * 20, 100, 50), (300, 300)))
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    products = source.list_products(ProductQuery(per_page=100)).items
    assert len(products) == 12

    together = threading.Barrier(4, timeout=30)

    def client_of_this_thread(_: int) -> int:
        together.wait()  # four threads at once
        return id(source.client)

    with ThreadPoolExecutor(max_workers=4) as pool:
        clients = set(pool.map(client_of_this_thread, range(4)))
        thumbs = list(pool.map(lambda p: source.preview(p.featured, side=64), products))
    assert source.client is source.client  # one per thread, kept
    assert len(clients) == 4
    assert all(t[:3] == b"\xff\xd8\xff" for t in thumbs)
    assert drive_emu.calls["thumbnail"] == 12  # Drive's small renditions, not the photos
    assert drive_emu.calls["files.download"] == 0


def _size_and_centre(jpeg: bytes) -> tuple[tuple[int, int], tuple[int, int, int]]:
    with Image.open(io.BytesIO(jpeg)) as im:
        rgb = im.convert("RGB")
        return rgb.size, rgb.getpixel((rgb.width // 2, rgb.height // 2))


def test_previews_are_drives_small_thumbnails_not_the_photos(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")
    big = jpeg_bytes((200, 100, 0), (2400, 1600))
    drive_emu.add_file("GK-2 - Cup.jpg", root, big)
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    product = source.list_products(ProductQuery()).items[0]

    size, centre = _size_and_centre(source.preview(product.featured, side=200))

    assert max(size) == 200 and size[0] > size[1]  # the photo's shape, at the asked size
    assert all(abs(a - b) < 24 for a, b in zip(centre, (200, 100, 0), strict=True))  # and its content
    assert drive_emu.calls["thumbnail"] == 1
    assert drive_emu.calls["files.download"] == 0  # the 2400 px photo never came down
    thumb_requests = [e for e in drive_emu.log if e[0] == "thumbnail"]
    assert thumb_requests[0][1].endswith("=s200") and thumb_requests[0][2] == 200  # asked at the size needed


def test_an_expired_thumbnail_link_is_renewed_once(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")
    drive_emu.add_file("GK-3 - Bowl.jpg", root, jpeg_bytes((20, 160, 60), (900, 900)))
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    product = source.list_products(ProductQuery()).items[0]
    drive_emu.expire_thumbnails()  # the listing's links are now stale

    size, centre = _size_and_centre(source.preview(product.featured, side=96))

    assert size == (96, 96) and centre[1] > 120
    assert [status for op, _, status in drive_emu.log if op == "thumbnail"] == [403, 200]
    assert drive_emu.calls["files.download"] == 0


def test_previews_fall_back_to_the_photo_when_drive_has_no_thumbnail(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")
    drive_emu.add_file("GK-4 - Jug.jpg", root, jpeg_bytes((10, 10, 180), (640, 480)))
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    product = source.list_products(ProductQuery()).items[0]
    drive_emu.fail_next(2, status=500, reason="backendError", op="thumbnail")

    size, centre = _size_and_centre(source.preview(product.featured, side=64))

    assert size == (64, 48) and centre[2] > 140
    assert drive_emu.calls["files.download"] == 1


def test_when_drive_keeps_refusing_thumbnails_previews_stop_asking_for_a_while(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")
    for n in range(3):
        drive_emu.add_file(f"GK-{n} - Jug {n}.jpg", root, jpeg_bytes((10, 60 * n, 180), (300, 300)))
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    products = source.list_products(ProductQuery()).items
    drive_emu.fail_next(100, status=403, reason="forbidden", op="thumbnail")

    thumbs = [source.preview(p.featured, side=64) for p in products]

    assert all(t[:3] == b"\xff\xd8\xff" for t in thumbs)
    assert drive_emu.calls["thumbnail"] == 1  # the first photo's (Drive hands out the same link again); no more
    assert drive_emu.calls["files.download"] == 3


def test_a_photo_changed_in_drive_gets_a_new_preview(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")
    file_id = drive_emu.add_file("GK-5 - Vase.jpg", root, jpeg_bytes((200, 0, 0), (400, 400)))
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    image = source.list_products(ProductQuery()).items[0].featured
    assert _size_and_centre(source.preview(image, side=64))[1][0] > 150  # red

    drive_emu.files[file_id].content = jpeg_bytes((0, 0, 200), (400, 400))  # someone uploads a new version
    source.refresh()
    image = source.list_products(ProductQuery()).items[0].featured

    assert _size_and_centre(source.preview(image, side=64))[1][2] > 150  # blue now


def test_the_access_token_goes_only_to_drives_thumbnail_hosts(rt, drive_emu):
    """A thumbnailLink is fetched with our credentials, so a link on any other host is not fetched at all."""
    sent: list[str] = []
    client = drive_client.DriveClient(
        Settings.load(secrets_file=None, imagegecko_home=rt.settings.home),
        drive_client.parse_credentials(service_account_json(drive_emu)),
        lambda method, url, *rest: sent.append(url),
    )
    for link in (
        "https://evil.example.com/drive-storage/abc=s220",
        "http://lh3.googleusercontent.com/x=s220",
        "https://googleusercontent.com.evil.example/x=s220",
        drive_emu.url + "thumbnails/x=s220",
        "",
    ):
        assert client.thumbnail(link, side=100, max_bytes=1 << 20) is None
    assert sent == []
    assert (
        client._thumbnail_url("https://lh3.googleusercontent.com/drive-storage/AJQ=s220", 400)
        == "https://lh3.googleusercontent.com/drive-storage/AJQ=s400"
    )


def test_oversized_photos_are_refused_before_downloading(tmp_path, drive_emu):
    rt = Runtime.build(
        Settings.load(secrets_file=None, imagegecko_home=tmp_path, drive_root_url=drive_emu.url, max_image_bytes=1000)
    )
    root = drive_emu.add_folder("Catalogue")
    file_id = drive_emu.add_file("huge.jpg", root, PHOTO)
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    with pytest.raises(ImageTooLarge):
        source.fetch_image(SourceImage(ref=file_id, name="huge.jpg"))
    assert drive_emu.calls["files.download"] == 0


def test_missing_photo_is_not_found(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    with pytest.raises(SourceNotFound) as err:
        source.fetch_image(SourceImage(ref="1DoesNotExist", name="gone.jpg"))
    assert "gone.jpg" in err.value.message


def test_rate_limits_are_retried_then_reported_as_retryable(rt, drive_emu, drive_waits):
    root = drive_emu.add_folder("Catalogue")
    file_id = drive_emu.add_file("GK-3 - Plate.jpg", root, PHOTO)
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    drive_emu.fail_next(2, op="files.get", reason="rateLimitExceeded")
    drive_emu.fail_next(1, op="files.download", status=429, reason="rateLimitExceeded")
    assert source.fetch_image(SourceImage(ref=file_id)) == PHOTO
    assert len(drive_waits) == 3  # two retries of files.get, one of the download

    drive_emu.fail_next(10, op="files.get", status=503, reason="backendError")
    with pytest.raises(SourceUnavailable) as err:
        source.fetch_image(SourceImage(ref=file_id))
    assert err.value.retryable and "try again" in err.value.message


def test_requests_are_recorded_without_secrets(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")
    drive_emu.add_file("GK-4 - Jug.jpg", root, PHOTO)
    source = rt.source("drive", connect(rt, drive_emu, root, mode="images").id)
    source.list_products(ProductQuery())
    with rt.db.session() as s:
        logged = s.exec(select(Event).where(Event.service == "drive", Event.kind == "request")).all()
    assert logged and all(e.status_code == 200 for e in logged)
    assert any("/drive/v3/files" in e.url for e in logged)
    assert not any("ya29" in (e.url or "") + e.message for e in logged)
