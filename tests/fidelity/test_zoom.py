"""The gallery's zoom shows the flagged part of the image, enlarged, not the whole image."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lib.errors import ImageUnreadable
from lib.fidelity.zoom import crop


def test_the_zoom_is_the_flagged_region_enlarged() -> None:
    im = Image.new("RGB", (1000, 800), (255, 255, 255))
    im.paste((200, 20, 20), (600, 400, 700, 500))  # the flagged part: red
    buf = io.BytesIO()
    im.save(buf, "PNG")
    out = Image.open(io.BytesIO(crop(buf.getvalue(), (0.6, 0.5, 0.7, 0.625), side=300)))
    assert max(out.size) == 300
    red = sum(1 for px in out.getdata() if px[0] > 150 and px[1] < 80)  # type: ignore[index]
    assert red > 0.3 * out.width * out.height  # mostly the red part, with a margin of its surroundings


def test_an_unreadable_image_is_refused_with_a_message() -> None:
    with pytest.raises(ImageUnreadable):
        crop(b"not an image", (0, 0, 1, 1))
