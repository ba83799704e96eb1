"""The image store in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Google Cloud Storage's S3
interoperability), so workers on several machines see the same sources, results and thumbnails.

Keys are content-addressed like the local store (`<prefix>/blobs/ab/cd/<sha256>`), so a put of bytes the bucket
already holds writes nothing, and two workers storing the same result at once write the same object.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lib.errors import ConfigError, StorageError
from lib.storage import THUMB_SIDE, check_sha, make_thumbnail, sha256_of

if TYPE_CHECKING:
    from lib.config import Settings

_MISSING = {"404", "NoSuchKey", "NotFound"}
_THUMB_CACHE_ENTRIES = 512  # ~20 KB each: what a few gallery pages show, without growing without bound


def parse_bucket_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"BLOB_STORE_URL must look like s3://bucket/prefix, not {url!r}.")
    return parts.netloc, parts.path.strip("/")


class S3BlobStore:
    def __init__(self, *, bucket: str, prefix: str = "", client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._s3 = client
        self._thumbs: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        assert settings.blob_store_url is not None
        bucket, prefix = parse_bucket_url(settings.blob_store_url)
        secret = settings.s3_secret_access_key
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            # None falls back to boto3's own chain (AWS_* variables, ~/.aws, an instance role).
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(
                retries={"mode": "standard", "max_attempts": 5},
                connect_timeout=10,
                read_timeout=60,
                # MinIO and most self-hosted servers want path-style addresses; AWS accepts both.
                s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
                # R2 and GCS reject the CRC checksums newer boto3 adds to every request by default.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        return cls(bucket=bucket, prefix=prefix, client=client)

    # Keys ------------------------------------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def key(self, sha: str) -> str:
        check_sha(sha)
        return self._key("blobs", sha[:2], sha[2:4], sha)

    def uri(self, sha: str) -> str:
        return f"s3://{self.bucket}/{self.key(sha)}"

    # Blobs -----------------------------------------------------------------------------------
    def put(self, data: bytes) -> str:
        sha = sha256_of(data)
        key = self.key(sha)
        if self._size(key) != len(data):  # absent, or a damaged object of the wrong size
            self._call("write", self._s3.put_object, Bucket=self.bucket, Key=key, Body=data, ContentLength=len(data))
        return sha

    def get(self, sha: str) -> bytes:
        with self.open(sha) as body:
            return body.read()

    def open(self, sha: str) -> BinaryIO:
        answer = self._call("read", self._s3.get_object, Bucket=self.bucket, Key=self.key(sha), sha=sha)
        return cast(BinaryIO, answer["Body"])

    def exists(self, sha: str) -> bool:
        return self._size(self.key(sha)) is not None

    def thumbnail(self, sha: str, side: int = THUMB_SIDE) -> bytes:
        """Made once per bucket (stored beside the blobs) and kept in a small in-process cache."""
        key = self._key("thumbs", str(side), sha[:2], f"{check_sha(sha)}.jpg")
        with self._lock:
            cached = self._thumbs.get((sha, side))
            if cached is not None:
                self._thumbs.move_to_end((sha, side))
                return cached
        if self._size(key) is not None:
            out = self._call("read", self._s3.get_object, Bucket=self.bucket, Key=key)["Body"].read()
        else:
            out = make_thumbnail(self.get(sha), side)
            self._call("write", self._s3.put_object, Bucket=self.bucket, Key=key, Body=out, ContentType="image/jpeg")
        with self._lock:
            self._thumbs[(sha, side)] = out
            while len(self._thumbs) > _THUMB_CACHE_ENTRIES:
                self._thumbs.popitem(last=False)
        return out

    # Plumbing --------------------------------------------------------------------------------
    def _size(self, key: str) -> int | None:
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise _storage_error("read", exc) from exc
        except BotoCoreError as exc:
            raise _storage_error("read", exc) from exc
        return int(head["ContentLength"])

    def _call(self, verb: str, fn: Any, *, sha: str | None = None, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except ClientError as exc:
            if sha is not None and _code(exc) in _MISSING:
                raise StorageError(f"Image {sha[:12]} is missing from the image store.") from exc
            raise _storage_error(verb, exc) from exc
        except BotoCoreError as exc:
            raise _storage_error(verb, exc) from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _storage_error(verb: str, exc: Exception) -> StorageError:
    if isinstance(exc, ClientError) and _code(exc) in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
        message = "The image bucket refused our credentials. Check the S3 access key and its permissions."
    elif isinstance(exc, ClientError) and _code(exc) == "NoSuchBucket":
        message = "The image bucket does not exist. Check BLOB_STORE_URL."
    else:
        message = f"The image bucket could not {verb} an image; the work will be tried again."
    return StorageError(message, detail=f"{type(exc).__name__}: {exc}")
