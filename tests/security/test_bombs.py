"""A refused source image never reaches the blob store: a decompression bomb (and a file that is no image) served
by the store fails the item with a sentence, and its bytes are not stored."""

from __future__ import annotations

import struct
import zlib

import pytest
from sqlmodel import select

from lib.jobs import JobSpec, Selection, create_job
from lib.models import JobItem
from lib.storage import sha256_of
from lib.worker import run_until_idle
from tests.emulators.woocommerce import image_bytes
from tests.security.conftest import store_runtime


def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A small PNG whose header claims 1.6 gigapixels (a decompression bomb's header)."""
    raw = b"".join(b"\0" + b"\xff" * 3 for _ in range(1))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (png_bomb(), "megapixels"),
        (b"<html><script>alert(1)</script></html>", "not a picture"),
        (image_bytes((10, 10, 10), (20, 20), "PNG"), "at least 256 pixels"),
    ],
    ids=["decompression bomb", "html instead of an image", "tiny image"],
)
def test_a_refused_source_image_from_the_store_is_never_stored(tmp_path, woo_emu, payload, says):
    rt = store_runtime(tmp_path, woo_emu)
    mid = woo_emu.add_media("mug.png", payload, mime="image/png")
    pid = woo_emu.add_product("Bomb mug", sku="BOMB-1", images=[mid])
    product = rt.source("woocommerce").get_product(str(pid))
    job = create_job(rt, spec=JobSpec(source_kind="woocommerce"), selections=[Selection(product)])
    run_until_idle(rt)
    with rt.db.session() as s:
        [item] = s.exec(select(JobItem).where(JobItem.job_id == job.id)).all()
    assert item.status == "failed" and says in (item.error_message or "").lower()
    assert not rt.blobs.exists(sha256_of(payload))
    assert not any(p.is_file() and not p.name.startswith(".") for p in rt.settings.blob_dir.rglob("*"))
