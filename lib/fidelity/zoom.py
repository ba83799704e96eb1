"""The flagged region of a generated image, cut out for the gallery's side-by-side zoom."""

from __future__ import annotations

import io

from PIL import Image

from lib.errors import ImageUnreadable


def crop(data: bytes, region: tuple[float, float, float, float] | list[float], *, side: int = 384) -> bytes:
    """PNG of `region` (fractions x0, y0, x1, y1 of the image) with a margin, its long side `side` pixels."""
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageUnreadable("This image could not be read for the zoom.") from exc
    w, h = im.size
    x0, y0, x1, y1 = (float(v) for v in region)
    mx, my = max(0.04, 0.25 * (x1 - x0)), max(0.04, 0.25 * (y1 - y0))
    box = (
        int(max(0.0, x0 - mx) * w),
        int(max(0.0, y0 - my) * h),
        max(int(min(1.0, x1 + mx) * w), int(max(0.0, x0 - mx) * w) + 1),
        max(int(min(1.0, y1 + my) * h), int(max(0.0, y0 - my) * h) + 1),
    )
    part = im.convert("RGB").crop(box)
    if max(part.size) != side:
        f = side / max(part.size)
        part = part.resize((max(1, round(part.width * f)), max(1, round(part.height * f))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    part.save(buf, "PNG")
    return buf.getvalue()
