"""The blob store: content addressing, idempotent and atomic writes, thumbnails made once."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from lib import storage
from lib.errors import ImageError, StorageError
from lib.storage import LocalBlobStore


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _jpeg(size: tuple[int, int], **kw: object) -> bytes:
    img = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(img).rectangle((0, 0, size[0] // 5, size[1] // 5), fill=(255, 0, 0))  # marker: top left
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_blobs_are_addressed_by_their_sha256(store: LocalBlobStore) -> None:
    data = b"product photo bytes"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.path(sha) == store.root / sha[:2] / sha[2:4] / sha
    assert store.exists(sha) and store.get(sha) == data
    other = store.put(b"another photo")
    assert other != sha and store.get(other) == b"another photo"


def test_putting_the_same_bytes_twice_writes_once(store: LocalBlobStore) -> None:
    sha = store.put(b"same bytes")
    before = store.path(sha).stat()
    assert store.put(b"same bytes") == sha
    after = store.path(sha).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    assert _files(store.root) == [store.path(sha)]


def test_a_damaged_blob_of_the_wrong_size_is_rewritten(store: LocalBlobStore) -> None:
    sha = store.put(b"full content")
    store.path(sha).write_bytes(b"half")  # e.g. a disk that lost the tail of the file
    assert store.put(b"full content") == sha
    assert store.get(sha) == b"full content"


def test_writes_leave_no_temp_files(store: LocalBlobStore) -> None:
    shas = [store.put(f"photo {i}".encode()) for i in range(20)]
    assert _files(store.root) == sorted(store.path(s) for s in shas)
    assert not [p for p in store.root.rglob(".tmp-*")]


def test_a_failure_mid_write_leaves_neither_target_nor_temp_file(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"x" * 100_000
    sha = hashlib.sha256(data).hexdigest()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "fsync", disk_full)  # after the bytes are written, before the rename
    with pytest.raises(StorageError):
        store.put(data)
    assert not store.exists(sha)
    assert _files(store.root) == []

    monkeypatch.undo()
    assert store.put(data) == sha and store.get(sha) == data  # the next attempt succeeds


def test_a_crash_between_write_and_rename_is_invisible(store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # anything, even a BaseException, mid-write

    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.put(b"never lands")
    assert _files(store.root) == []


def test_bad_ids_are_refused(store: LocalBlobStore) -> None:
    for bad in ("", "abc", "../../etc/passwd", "A" * 64, "g" * 64, "0" * 63 + "/"):
        with pytest.raises(StorageError):
            store.path(bad)
        with pytest.raises(StorageError):
            store.get(bad)
        with pytest.raises(StorageError):
            store.thumbnail(bad)


def test_a_missing_blob_is_a_storage_error_with_a_sentence(store: LocalBlobStore) -> None:
    with pytest.raises(StorageError) as err:
        store.get("0" * 64)
    assert "missing" in err.value.message
    assert not store.exists("0" * 64)


def test_thumbnail_is_a_jpeg_with_a_long_side_of_384(store: LocalBlobStore) -> None:
    for size, expected in (((2000, 1000), (384, 192)), ((600, 1200), (192, 384))):
        thumb = Image.open(io.BytesIO(store.thumbnail(store.put(_jpeg(size)))))
        assert thumb.format == "JPEG" and thumb.mode == "RGB" and thumb.size == expected
    assert storage.THUMB_SIDE == 384


def test_thumbnail_is_made_once_and_reused(store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    sha = store.put(_jpeg((1600, 1200)))
    opened: list[int] = []
    real_open = Image.open

    def counting_open(*args: object, **kw: object) -> Image.Image:
        opened.append(1)
        return real_open(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", counting_open)
    first = store.thumbnail(sha)
    renders = len(opened)
    assert renders >= 1
    path = next(store.root.joinpath("thumbs").rglob(f"{sha}.jpg"))
    stat = path.stat()
    second = store.thumbnail(sha)
    assert second == first
    assert len(opened) == renders  # not rendered again
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    # Another size is its own file, next to the first.
    assert Image.open(io.BytesIO(store.thumbnail(sha, 128))).size == (128, 96)
    assert store.thumbnail(sha) == first


def test_thumbnail_shows_transparent_and_rotated_photos_as_intake_does(store: LocalBlobStore) -> None:
    rgba = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    thumb = Image.open(io.BytesIO(store.thumbnail(store.put(buf.getvalue()))))
    assert min(thumb.getpixel((192, 192))) > 250  # transparent -> white, not black

    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait turned clockwise
    thumb = Image.open(io.BytesIO(store.thumbnail(store.put(_jpeg((800, 400), exif=exif.tobytes())))))
    assert thumb.size == (192, 384)
    r, g, b = thumb.getpixel((192 - 15, 15))  # the stored top-left marker is now top right
    assert r > 200 and g < 80 and b < 80


def test_thumbnail_of_something_that_is_not_a_picture_is_a_typed_error(store: LocalBlobStore) -> None:
    sha = store.put(b"%PDF-1.4 not a photo")
    with pytest.raises(ImageError):
        store.thumbnail(sha)
    assert not (store.root / "thumbs").exists() or not list((store.root / "thumbs").rglob("*.jpg"))


def test_store_files_stay_inside_the_root(store: LocalBlobStore, tmp_path: Path) -> None:
    sha = store.put(_jpeg((500, 500)))
    store.thumbnail(sha)
    for path in _files(tmp_path):
        assert store.root in path.parents
    assert os.access(store.path(sha), os.R_OK)
