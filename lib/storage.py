"""Content-addressed blob store: sources, results and thumbnails live at blobs/ab/cd/<sha256>.

Writes are atomic (temp file in the same directory, fsync, rename), so a crash never leaves half a file,
and storing the same bytes twice writes nothing the second time. `BlobStore` is the interface; `LocalBlobStore` is
the directory one and `lib.s3_store.S3BlobStore` the bucket one (several machines).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

from PIL import Image, ImageOps

from lib.errors import ImageTooLarge, ImageUnreadable, StorageError, StorageUnavailable
from lib.file_modes import private_dir, private_dirs_down_to

THUMB_SIDE = 384


_DISK_WORDS = {
    errno.ENOSPC: "is full",
    errno.EDQUOT: "is over its quota",
    errno.EROFS: "is read-only",
    errno.EACCES: "refuses writes (permission denied)",
    errno.EPERM: "refuses writes (permission denied)",
    errno.ENOENT: "is missing",
    errno.ENOTDIR: "is missing",
    errno.EIO: "had an input/output error",
}


def disk_error(exc: OSError, root: Path) -> StorageError:
    """An OSError of the image store as a sentence that says what is wrong with the disk. Full, read-only,
    missing and I/O errors pass (space is freed, a disk remounted), so they are retryable."""
    words = _DISK_WORDS.get(exc.errno or 0)
    if words is None:
        return StorageError(f"The image store at {root} could not be written.", detail=str(exc))
    return StorageUnavailable(f"The image store at {root} {words}; the work waits and tries again.", detail=str(exc))


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    """Where images live: a local directory (`LocalBlobStore`) or an S3-compatible bucket (`lib.s3_store`)."""

    def put(self, data: bytes) -> str: ...

    def get(self, sha: str) -> bytes: ...

    def open(self, sha: str) -> BinaryIO:
        """A stream of the blob's bytes, for copying large images without holding them in memory."""
        ...

    def exists(self, sha: str) -> bool: ...

    def uri(self, sha: str) -> str:
        """Where the blob is, for a person or a script (a file path or an s3:// address)."""
        ...

    def thumbnail(self, sha: str, side: int = THUMB_SIDE) -> bytes: ...


def check_sha(sha: str) -> str:
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise StorageError(f"Not a sha256 blob id: {sha[:80]!r}")
    return sha


def make_thumbnail(data: bytes, side: int) -> bytes:
    """A JPEG whose long side is `side`. Raises ImageError if `data` is not a picture (or a decompression bomb)."""
    from lib import images  # lazy: lib.images pulls numpy, which plain blob access does not need

    width, height = images.image_size(data)  # header only: a bomb is refused before its pixels exist
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise ImageTooLarge(f"This image is {width} × {height} pixels, too large to preview safely.")
    try:
        with Image.open(io.BytesIO(data), formats=images.ALLOWED_FORMATS) as im:
            im.draft("RGB", (side, side))  # JPEG: decode at a reduced scale
            im.load()
            # EXIF orientation, CMYK, 16-bit, palette and alpha handled as for intake, so the grid shows
            # what the pipeline will use (a phone photo upright, a transparent PNG on white).
            rgb = images.normalise(ImageOps.exif_transpose(im) or im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageUnreadable(images.UNREADABLE, detail=f"{type(exc).__name__}: {exc}") from exc
    rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=85, optimize=True)
    return buf.getvalue()


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = private_dir(Path(root))

    def path(self, sha: str) -> Path:
        check_sha(sha)
        return self.root / sha[:2] / sha[2:4] / sha

    def uri(self, sha: str) -> str:
        return str(self.path(sha))

    def open(self, sha: str) -> BinaryIO:
        try:
            return self.path(sha).open("rb")
        except FileNotFoundError as exc:
            raise StorageError(f"Image {sha[:12]} is missing from the image store.") from exc
        except OSError as exc:
            raise StorageError(detail=str(exc)) from exc

    def put(self, data: bytes) -> str:
        sha = sha256_of(data)
        target = self.path(sha)
        if target.exists() and target.stat().st_size == len(data):
            return sha
        self._write_atomic(target, data)
        return sha

    def get(self, sha: str) -> bytes:
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError as exc:
            if not self.root.is_dir():  # the whole store is gone (unmounted), not one image
                raise disk_error(exc, self.root) from exc
            raise StorageError(f"Image {sha[:12]} is missing from the image store.") from exc
        except OSError as exc:
            raise disk_error(exc, self.root) from exc

    def exists(self, sha: str) -> bool:
        return self.path(sha).exists()

    def thumbnail(self, sha: str, side: int = THUMB_SIDE) -> bytes:
        """A JPEG whose long side is `side`, made once and reused. Raises ImageError if the blob is not a
        picture (or a decompression bomb), StorageError if it is missing."""
        self.path(sha)  # refuse a malformed id before it becomes part of a thumbnail path
        target = self.root / "thumbs" / str(side) / sha[:2] / f"{sha}.jpg"
        if target.exists():
            return target.read_bytes()
        out = make_thumbnail(self.get(sha), side)
        self._write_atomic(target, out)
        return out

    def _write_atomic(self, target: Path, data: bytes) -> None:
        try:
            if not target.parent.is_dir():
                private_dirs_down_to(target.parent, self.root)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise disk_error(exc, self.root) from exc
