"""Image intake: decode a merchant's photo safely, normalise it, and measure it.

Order of checks (each refusal is a typed error from lib.errors with a sentence a merchant can act on):
1. bytes: empty, over the byte limit;
2. header only (no pixels yet): not a picture we read, over the pixel limit (decompression bombs), too small;
3. pixels: truncated or damaged files fail in `.load()` (Pillow's LOAD_TRUNCATED_IMAGES stays False);
4. normalise: EXIF orientation applied; CMYK, 16-bit, palette, grey and transparent inputs become RGB, with
   transparency flattened onto white (the product is shot on white, so white is the neutral backdrop).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageFile, ImageOps, UnidentifiedImageError

from lib.errors import AppError, ImageTooLarge, ImageTooSmall, ImageUnreadable, InputError

# Formats a store or a camera actually produces. Everything else Pillow knows (EPS runs Ghostscript, PSD, ICO,
# ...) is refused: less attack surface, and the merchant gets a clear "use JPEG, PNG or WebP".
# JPEG covers MPO (multi-picture JPEGs from phones): Pillow opens them through the JPEG factory.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")

WHITE_LEVEL = 240  # a border pixel is "white" when every channel is at least this
BORDER_FRACTION = 0.01  # the frame sampled for the white score: 1% of the short side...
BORDER_MIN, BORDER_MAX = 2, 8  # ...but at least 2 and at most 8 pixels wide

UNREADABLE = (
    "This file is not a picture we can read: it may be damaged or in an unsupported format (use JPEG, PNG or WebP)."
)
TRUNCATED = (
    "This picture is incomplete: the file ends before the image does (the upload or download was cut "
    "short). Save or export it again and retry."
)
EMPTY = "This file is empty (0 bytes). Choose the photo file again."
HEIC = (
    "This is an HEIC/HEIF photo (the iPhone format), which we cannot read. Export it as JPEG or PNG "
    "(on iPhone: Settings › Camera › Formats › Most Compatible) and upload it again."
)

# Pillow raises any of these for corrupt data, depending on the plugin and where the data breaks.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    ZeroDivisionError,
    MemoryError,
)


@dataclass(frozen=True)
class Intake:
    image: Image.Image  # RGB, EXIF orientation applied, transparency flattened onto white
    width: int
    height: int
    white_score: float  # 0..1: share of border pixels that are near-white
    bbox: tuple[int, int, int, int] | None  # (x0, y0, x1, y1) of the product, x1/y1 exclusive; None: all white
    source_format: str  # Pillow's format name: "JPEG", "PNG", "WEBP", ...


@dataclass
class Validation:
    ok: bool
    problem: str | None  # a plain sentence when not ok
    white_score: float | None
    width: int
    height: int


# Header -----------------------------------------------------------------------------------------------


def _open_header(data: bytes) -> ImageFile.ImageFile:
    """Parse only the header with the allowed format plugins, without Pillow's own bomb check, so that a bomb's
    real dimensions can be named in the refusal. No pixel data is decoded here."""
    Image.preinit()
    prefix = bytes(data[:16])
    for fmt in ALLOWED_FORMATS:
        if fmt not in Image.OPEN:
            Image.init()
        if fmt not in Image.OPEN:  # plugin not built into this Pillow (e.g. AVIF)
            continue
        factory, accept = Image.OPEN[fmt]
        verdict = accept(prefix) if accept is not None else True
        if isinstance(verdict, str) or not verdict:  # a str is Pillow's "recognised, but support not built in"
            continue
        try:
            return factory(io.BytesIO(data), "")
        except _DECODE_ERRORS as exc:
            if isinstance(exc, MemoryError):
                raise ImageTooLarge() from exc
            continue
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in {b"heic", b"heix", b"mif1", b"msf1", b"hevc"}:
        raise ImageUnreadable(HEIC)
    raise ImageUnreadable(UNREADABLE)


def _orientation(im: Image.Image) -> int:
    """EXIF orientation from what the header already read (never triggers a pixel load, unlike getexif() on PNG)."""
    raw = im.info.get("exif")
    if not raw:
        return 1
    try:
        exif = Image.Exif()
        exif.load(raw)
        value = int(exif.get(0x0112, 1) or 1)
    except Exception:  # malformed EXIF: show the picture as stored rather than refuse it
        return 1
    return value if 1 <= value <= 8 else 1


def _displayed(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    # Orientations 5-8 turn the picture by 90°: width and height swap.
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) as the picture is displayed (EXIF rotation counted), from the header only.
    Raises ImageUnreadable."""
    if not data:
        raise ImageUnreadable(EMPTY)
    im = _open_header(bytes(data))
    return _displayed(im.size, _orientation(im))


def _mb(n: int, *, up: bool = False) -> str:
    # Binary megabytes, as the max_image_bytes default (25 * 1024 * 1024) counts them; a file's size is rounded
    # up so that a file just over the limit never reads as equal to it.
    tenths = n * 10 / (1024 * 1024)
    return f"{(math.ceil(tenths) if up else round(tenths)) / 10:g} MB"


def _megapixels(n: int) -> str:
    return f"{n / 1_000_000:g}" if n % 1_000_000 == 0 else f"{n / 1_000_000:.1f}"


def _check_header(data: bytes, *, max_bytes: int, max_pixels: int, min_side: int) -> ImageFile.ImageFile:
    if not data:
        raise ImageUnreadable(EMPTY)
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"This file is {_mb(len(data), up=True)}; the limit is {_mb(max_bytes)}. "
            "Save it at a smaller size or higher JPEG compression and upload it again."
        )
    header = _open_header(data)
    width, height = header.size
    # Pillow's own ceiling still applies when it opens the file below; name the lower of the two limits.
    limit = max_pixels if Image.MAX_IMAGE_PIXELS is None else min(max_pixels, int(Image.MAX_IMAGE_PIXELS))
    if width * height > limit:
        raise ImageTooLarge(
            f"This image is {width} × {height} pixels; the limit is {_megapixels(limit)} megapixels. "
            "Resize it (for example to 4000 pixels on the long side) and upload it again."
        )
    if min(width, height) < min_side:
        w, h = _displayed((width, height), _orientation(header))
        raise ImageTooSmall(
            f"This image is {w} × {h} pixels; it needs at least {min_side} pixels on each side "
            "to make a good lifestyle shot. Use a larger photo."
        )
    return header


# Decode -----------------------------------------------------------------------------------------------


def _load(data: bytes, draft_side: int | None = None) -> tuple[Image.Image, str]:
    """Open (Pillow's bomb check on as a second line of defence) and decode the pixels."""
    try:
        im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        if draft_side is not None and im.format in ("JPEG", "MPO"):
            # JPEG can decode at 1/2..1/8 scale for free: measuring the border does not need every pixel.
            im.draft(None, (draft_side, draft_side))
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Not reached in practice: the header check uses a limit no higher than Pillow's.
        raise ImageTooLarge(
            "This image has too many pixels to process safely. Resize it and upload it again.", detail=str(exc)
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageUnreadable(UNREADABLE) from exc
    except MemoryError as exc:
        raise ImageTooLarge("This image is too large to process with the memory available.") from exc
    except _DECODE_ERRORS as exc:
        message = TRUNCATED if "truncated" in str(exc).lower() else UNREADABLE
        raise ImageUnreadable(message, detail=f"{type(exc).__name__}: {exc}") from exc
    return im, str(im.format or "")


def _transpose(im: Image.Image) -> Image.Image:
    try:
        if im.getexif().get(0x0112, 1) in (1, None):  # nothing to turn: skip exif_transpose's full copy
            return im
        return ImageOps.exif_transpose(im) or im
    except Exception:  # malformed EXIF: keep the stored orientation rather than refuse the photo
        return im


def _to_srgb(im: Image.Image) -> Image.Image:
    """Convert through the embedded ICC profile when there is one (CMYK print profiles, Display P3 photos);
    a plain conversion is the fallback."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("CMYK", "RGB"):
        return im
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if im.mode == "RGB" and "srgb" in (ImageCms.getProfileDescription(src) or "").lower():
            return im
        out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        return out if out is not None else im
    except Exception:  # broken or exotic profile: colours stay as stored
        return im


def _flatten(im: Image.Image) -> Image.Image:
    """RGBA onto white: the product photo's own backdrop colour."""
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def normalise(im: Image.Image) -> Image.Image:
    """Any decoded image -> RGB (8 bits per channel, transparency flattened onto white)."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(im)
        if mode == "F":
            scaled = arr * 255.0 if float(arr.max(initial=0.0)) <= 1.0 else arr
        elif mode == "I" and int(arr.max(initial=0)) <= 255:
            scaled = arr  # 32-bit container, 8-bit values
        else:
            scaled = arr.astype(np.uint32) >> 8  # 16-bit range -> 8-bit (convert("L") would clip to white)
        grey = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")
        return grey.convert("RGB")
    if mode == "CMYK":
        out = _to_srgb(im)
        return out if out.mode == "RGB" else out.convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in im.info
    if has_alpha:
        return _flatten(im)
    if mode == "RGB":
        return _to_srgb(im)
    return im.convert("RGB")


def _decode(
    data: bytes, *, max_bytes: int, max_pixels: int, min_side: int, draft_side: int | None = None
) -> tuple[Image.Image, str, tuple[int, int]]:
    data = bytes(data)
    header = _check_header(data, max_bytes=max_bytes, max_pixels=max_pixels, min_side=min_side)
    full_size = _displayed(header.size, _orientation(header))
    im, fmt = _load(data, draft_side)
    try:
        return normalise(_transpose(im)), fmt, full_size
    except (ValueError, OSError) as exc:  # a colour mode Pillow cannot convert to RGB (e.g. LAB TIFF)
        raise ImageUnreadable(UNREADABLE, detail=f"{type(exc).__name__}: {exc}") from exc


def decode(data: bytes, *, max_bytes: int, max_pixels: int, min_side: int) -> Intake:
    """Decode a photo safely. Raises ImageUnreadable, ImageTooLarge or ImageTooSmall, each with a sentence."""
    img, fmt, _ = _decode(data, max_bytes=max_bytes, max_pixels=max_pixels, min_side=min_side)
    return Intake(
        image=img,
        width=img.width,
        height=img.height,
        white_score=white_score(img),
        bbox=product_bbox(img),
        source_format=fmt,
    )


def check_for(settings: Any, data: bytes, *, min_side: int | None = None) -> tuple[int, int]:
    """Size and pixel limits checked from the header alone (a bomb is refused before its pixels exist); called
    before bytes from outside are stored, so a refused image never reaches the blob store. Returns (width, height)."""
    header = _check_header(
        data,
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels,
        min_side=settings.min_image_side if min_side is None else min_side,
    )
    return header.size


def decode_for(settings: Any, data: bytes) -> Intake:
    return decode(
        data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels, min_side=settings.min_image_side
    )


# Measures ---------------------------------------------------------------------------------------------


def _border_width(img: Image.Image) -> int:
    return max(BORDER_MIN, min(BORDER_MAX, round(min(img.size) * BORDER_FRACTION)))


def white_score(img: Image.Image) -> float:
    """Share (0..1) of the pixels in a thin frame around the edge that are near-white in every channel."""
    rgb = img if img.mode == "RGB" else normalise(img)
    w, h = rgb.size
    if w == 0 or h == 0:
        return 0.0
    k = min(_border_width(rgb), w, h)
    # Four strips; the side strips skip the corners the top and bottom strips already hold.
    boxes = [(0, 0, w, k), (0, max(k, h - k), w, h)]
    if h > 2 * k:
        boxes += [(0, k, k, h - k), (max(k, w - k), k, w, h - k)]
    white = total = 0
    for box in boxes:
        arr = np.asarray(rgb.crop(box))
        if arr.size == 0:
            continue
        mask = (arr >= WHITE_LEVEL).all(axis=-1)
        white += int(mask.sum())
        total += mask.size
    return white / total if total else 0.0


def product_bbox(img: Image.Image, threshold: int = 245) -> tuple[int, int, int, int] | None:
    """Box (x0, y0, x1, y1), x1/y1 exclusive like Pillow's getbbox, of the pixels where any channel is below
    `threshold`: the product on its white background. None when the picture is all white."""
    rgb = img if img.mode == "RGB" else normalise(img)
    # Per channel: 255 where darker than the threshold; the lighter of the three = "any channel is dark".
    lut = [255 if v < threshold else 0 for v in range(256)] * 3
    r, g, b = rgb.point(lut).split()
    box = ImageChops.lighter(ImageChops.lighter(r, g), b).getbbox()
    return tuple(box) if box else None  # type: ignore[return-value]


def validate(settings: Any, data: bytes, *, min_white: float = 0.85) -> Validation:
    """Can this photo be used as is? Never raises: every problem comes back as a sentence."""
    try:
        img, _, (width, height) = _decode(
            data,
            max_bytes=settings.max_image_bytes,
            max_pixels=settings.max_image_pixels,
            min_side=settings.min_image_side,
            draft_side=1024,
        )
    except AppError as exc:
        width = height = 0
        if not isinstance(exc, ImageUnreadable):  # too large / too small: the header says how big it is
            try:
                width, height = image_size(data)
            except Exception:
                pass
        return Validation(False, exc.message, None, width, height)
    except Exception:  # never raise from a check: an unknown failure is an unreadable file
        return Validation(False, UNREADABLE, None, 0, 0)
    score = white_score(img)
    if score < min_white:
        problem = (
            f"This photo is not on a white background (only {score:.0%} of its edge is white). "
            "Lifestyle shots come out best from a product photographed on plain white."
        )
        return Validation(False, problem, score, width, height)
    return Validation(True, None, score, width, height)


# Output -----------------------------------------------------------------------------------------------


def crop_window(data: bytes, box: tuple[float, float, float, float], *, max_side: int = 2048) -> bytes:
    """JPEG of one window of a stored image (fractions x0, y0, x1, y1 of its size) at the image's own resolution,
    the long side capped at `max_side`: the Gallery's compare cuts a photo and its result at the same place.
    Raises ImageUnreadable or ImageTooLarge with a sentence."""
    im, _ = _load(data)
    try:
        rgb = normalise(_transpose(im))
    except (ValueError, OSError) as exc:
        raise ImageUnreadable(UNREADABLE, detail=f"{type(exc).__name__}: {exc}") from exc
    w, h = rgb.size
    x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) for v in box)
    left, top = min(int(x0 * w), w - 1), min(int(y0 * h), h - 1)
    part = rgb.crop((left, top, max(left + 1, round(x1 * w)), max(top + 1, round(y1 * h))))
    if max(part.size) > max_side:
        part.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    part.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def is_plain_png(decoded: Image.Image) -> bool:
    """decode() returned the PNG as it was read: RGB, nothing turned, converted or flattened (every such step makes
    a new image, whose format is None), and no transparency, colour profile or EXIF that to_png would drop. Its
    bytes are then what to_png would write, pixel for pixel."""
    return (
        decoded.format == "PNG"
        and decoded.mode == "RGB"
        and not {"transparency", "icc_profile", "exif"} & set(decoded.info)
    )


def to_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # Fast compression: these bytes go to a provider once; encode time matters more than size.
    (img if img.mode in ("RGB", "RGBA", "L") else normalise(img)).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


_MIMES = {"jpeg": "image/jpeg", "webp": "image/webp"}


def encode_output(img: Image.Image, *, fmt: str = "jpeg", quality: int = 90, max_side: int = 2048) -> tuple[bytes, str]:
    """Encode a result for the store: RGB, long side capped at `max_side`, JPEG or WebP. No EXIF is written
    (nothing of the source's metadata, e.g. GPS, leaks into a published image)."""
    fmt = fmt.lower().replace("jpg", "jpeg")
    if fmt not in _MIMES:
        raise InputError(f"Output format must be JPEG or WebP, not “{fmt}”.")
    if not 1 <= quality <= 100:
        raise InputError(f"Output quality must be between 1 and 100, not {quality}.")
    rgb = img if img.mode == "RGB" else normalise(img)
    if max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)  # box pre-shrink: ~1/3 faster
    buf = io.BytesIO()
    if fmt == "jpeg":
        rgb.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
    else:
        rgb.save(buf, "WEBP", quality=quality, method=4)
    return buf.getvalue(), _MIMES[fmt]
