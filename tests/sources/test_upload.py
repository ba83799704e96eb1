"""The Uploads source: photos from the browser become products; bad files are refused one by one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from lib.config import Settings
from lib.errors import InputError, SourceNotFound
from lib.runtime import Runtime
from lib.sources import upload
from lib.sources.base import ProductQuery


def _jpeg(side: int = 800, colour: tuple[int, int, int] = (255, 255, 255)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


def test_each_good_file_becomes_a_named_product(rt: Runtime) -> None:
    result = upload.add_uploads(rt, [("blue-mug_01.jpg", _jpeg()), ("lamp.JPG", _jpeg(colour=(250, 250, 250)))])
    assert [p.name for p in result] == ["Blue mug 01", "Lamp"]
    assert result.refused == []
    source = rt.source("upload")
    page = source.list_products(ProductQuery())
    assert page.total == 2
    product = source.get_product(str(result[0].id))
    assert product.category == "Uploads"
    assert source.fetch_image(product.featured) == _jpeg()  # the original bytes, from the blob store


def test_bad_files_are_refused_with_a_sentence_and_do_not_block_others(rt: Runtime) -> None:
    files = [
        ("notes.txt", b"hello, not an image"),
        ("tiny.jpg", _jpeg(side=40)),
        ("empty.png", b""),
        ("good.jpg", _jpeg()),
    ]
    result = upload.add_uploads(rt, files)
    assert [p.name for p in result] == ["Good"]
    refused = {r.filename: r.message for r in result.refused}
    assert set(refused) == {"notes.txt", "tiny.jpg", "empty.png"}
    assert all(msg and "Traceback" not in msg for msg in refused.values())
    assert rt.source("upload").list_products(ProductQuery()).total == 1


def test_the_same_photo_twice_is_one_product(rt: Runtime) -> None:
    upload.add_uploads(rt, [("a.jpg", _jpeg())])
    again = upload.add_uploads(rt, [("b.jpg", _jpeg())])
    assert list(again) == []
    assert "already uploaded" in again.refused[0].message


def test_rename_search_and_remove(rt: Runtime) -> None:
    [p] = upload.add_uploads(rt, [("x.jpg", _jpeg())])
    upload.rename(rt, p.id, "  Linen   tote bag ", sku="TOTE-1", category="Bags")
    source = rt.source("upload")
    found = source.list_products(ProductQuery(search="tote"))
    assert [(x.name, x.sku, x.category) for x in found.items] == [("Linen tote bag", "TOTE-1", "Bags")]
    assert source.categories() == ["Bags"]
    assert source.list_products(ProductQuery(search="tote", stock_status="outofstock")).total == 0
    with pytest.raises(InputError):
        upload.rename(rt, p.id, "   ")
    upload.remove(rt, p.id)
    with pytest.raises(SourceNotFound):
        source.get_product(str(p.id))


def test_product_names_are_kept_as_text(rt: Runtime) -> None:
    [p] = upload.add_uploads(rt, [("x.jpg", _jpeg())])
    upload.rename(rt, p.id, "<b>Bold</b> & <script>x</script>")
    # Stored as typed; pages render it with st.text, prompts strip tags (lib.generation.prompts.plain).
    assert rt.source("upload").get_product(str(p.id)).name == "<b>Bold</b> & <script>x</script>"


def test_an_animated_photo_is_taken_as_its_first_frame_and_says_so(rt: Runtime) -> None:
    frames = [Image.new("RGB", (600, 600), "white"), Image.new("RGB", (600, 600), (250, 250, 250))]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=200)
    result = upload.add_uploads(rt, [("spin.png", buf.getvalue()), ("still.jpg", _jpeg())])
    assert len(result) == 2 and result.refused == []
    assert result.notes == ["spin.png: an animated image; it was flattened to its first frame, a still photo."]
