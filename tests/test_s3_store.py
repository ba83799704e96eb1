"""The image store in an S3-compatible bucket, against a real S3 server on loopback (moto's standalone server):
the same contract as the local folder, shared between two "machines" with separate data folders."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from lib.errors import ConfigError, StorageError
from lib.runtime import Runtime, open_blob_store
from lib.s3_store import S3BlobStore, parse_bucket_url
from lib.storage import BlobStore, LocalBlobStore
from tests.conftest import make_runtime, png_bytes
from tests.servers import S3Server


def s3_settings(s3_server: S3Server, bucket: str, prefix: str = "shop-a") -> dict[str, object]:
    return {
        "blob_store_url": f"s3://{bucket}/{prefix}",
        "s3_endpoint_url": s3_server.url,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }


@pytest.fixture(params=["folder", "bucket"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "folder":
        return LocalBlobStore(tmp_path / "blobs")
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("bucket")
    rt = make_runtime(tmp_path / "data", **s3_settings(server, bucket))
    return rt.blobs


def test_both_stores_address_blobs_by_sha256_and_give_back_the_bytes(store: BlobStore) -> None:
    data = png_bytes((40, 30))
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.exists(sha) and store.get(sha) == data
    with store.open(sha) as stream:  # streamed in chunks: ZIP export copies without holding the whole image
        assert stream.read(10) + stream.read() == data
    assert not store.exists(hashlib.sha256(b"never stored").hexdigest())


def test_both_stores_say_a_missing_image_is_missing(store: BlobStore) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(StorageError, match="missing from the image store"):
        store.get(missing)
    with pytest.raises(StorageError, match="Not a sha256"):
        store.get("../../etc/passwd")


def test_both_stores_make_a_thumbnail_of_384_px(store: BlobStore) -> None:
    sha = store.put(png_bytes((1200, 600)))
    thumb = store.thumbnail(sha)
    with Image.open(io.BytesIO(thumb)) as im:
        assert im.format == "JPEG" and im.size == (384, 192)
    assert store.thumbnail(sha) == thumb


def test_a_runtime_with_a_bucket_url_stores_images_in_the_bucket(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    rt = make_runtime(tmp_path / "data", **s3_settings(s3_server, bucket, "agency/shop-a"))
    sha = rt.blobs.put(b"a result")
    assert isinstance(rt.blobs, S3BlobStore)
    assert rt.blobs.uri(sha) == f"s3://{bucket}/agency/shop-a/blobs/{sha[:2]}/{sha[2:4]}/{sha}"
    assert not (tmp_path / "data" / "blobs" / sha[:2]).exists()  # nothing written to the local folder


def test_putting_the_same_bytes_twice_writes_the_object_once(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data", **s3_settings(s3_server, bucket))
    store = rt.blobs
    assert isinstance(store, S3BlobStore)
    puts: list[str] = []
    store._s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **kw: puts.append(params["Key"])
    )
    first = store.put(b"same bytes")
    second = store.put(b"same bytes")
    assert first == second and len(puts) == 1


def test_two_machines_sharing_a_bucket_see_each_others_images(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    # Separate data folders (as on two machines); only the bucket is shared.
    machine_a = make_runtime(tmp_path / "a", **s3_settings(s3_server, bucket))
    machine_b = make_runtime(tmp_path / "b", **s3_settings(s3_server, bucket))
    sha = machine_a.blobs.put(png_bytes((500, 500), (10, 200, 10)))
    assert machine_b.blobs.exists(sha)
    assert machine_b.blobs.get(sha) == machine_a.blobs.get(sha)
    assert machine_b.blobs.thumbnail(sha) == machine_a.blobs.thumbnail(sha)


def test_a_bucket_that_does_not_exist_is_named_in_a_sentence(s3_server: S3Server, tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data", **s3_settings(s3_server, "no-such-bucket-here"))
    with pytest.raises(StorageError, match="bucket does not exist"):
        rt.blobs.put(b"anything")


def test_a_bucket_url_that_is_not_s3_is_refused_in_a_sentence() -> None:
    assert parse_bucket_url("s3://images/agency/shop") == ("images", "agency/shop")
    with pytest.raises(ConfigError, match="s3://bucket/prefix"):
        parse_bucket_url("https://images.example.com/shop")


def test_without_a_bucket_url_the_data_folder_is_used(rt: Runtime) -> None:
    store = open_blob_store(rt.settings)
    assert isinstance(store, LocalBlobStore) and store.root == rt.settings.blob_dir
