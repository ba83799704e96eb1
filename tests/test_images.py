"""Image intake: bad files are refused with a typed error and a plain sentence; odd but valid files come out as
a correct RGB picture. Every input is built here with Pillow (or byte by byte for the PNG bomb)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from lib import images
from lib.config import Settings
from lib.errors import ImageTooLarge, ImageTooSmall, ImageUnreadable, InputError

LIMITS = {"max_bytes": 25 * 1024 * 1024, "max_pixels": 60_000_000, "min_side": 256}
RED = (220, 30, 30)


def decode(data: bytes, **kw: int) -> images.Intake:
    return images.decode(data, **{**LIMITS, **kw})


def save(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def product_on(
    background: tuple[int, int, int],
    size: tuple[int, int] = (600, 500),
    box: tuple[int, int, int, int] = (150, 120, 420, 380),
) -> Image.Image:
    img = Image.new("RGB", size, background)
    ImageDraw.Draw(img).rectangle(box, fill=RED)  # PIL's rectangle includes its end corner
    return img


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG from its parts, so tests can write what Pillow will not (16-bit RGB, a 30000² bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def png_bomb() -> bytes:
    """A genuine, fully valid 30000 × 30000 PNG (1 bit per pixel, all black): ~110 KB on disk, 900 megapixels
    (2.7 GB as RGB) once decoded. Compressed as a stream so the test never holds the raw rows either."""
    side = 30_000
    rows = (b"\x00" + b"\x00" * (side // 8)) * 1000  # filter byte + packed bits, 1000 rows at a time
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(rows) for _ in range(side // 1000)) + comp.flush()
    return png_bytes(side, side, 1, 0, idat)


@pytest.fixture
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails the test if any image's pixels are decoded."""
    calls: list[str] = []

    def load(self: ImageFile.ImageFile) -> None:
        calls.append(f"{self.format} {self.size}")
        raise AssertionError(f"pixels of {self.format} {self.size} were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


# Good pictures -----------------------------------------------------------------------------------------


def test_product_on_white_is_measured() -> None:
    intake = decode(save(product_on((255, 255, 255))))
    assert intake.image.mode == "RGB" and (intake.width, intake.height) == (600, 500)
    assert intake.source_format == "PNG"
    assert intake.white_score == 1.0
    assert intake.bbox == (150, 120, 421, 381)  # x1/y1 exclusive, like Pillow's getbbox


def test_jpeg_product_on_white_scores_high_and_the_box_is_close() -> None:
    intake = decode(save(product_on((255, 255, 255)), "JPEG", quality=85))
    assert intake.source_format == "JPEG"
    assert intake.white_score > 0.99
    assert intake.bbox is not None
    # JPEG ringing may bleed past the drawn edge within its 8-16 px blocks, never further.
    assert all(abs(got - want) <= 8 for got, want in zip(intake.bbox, (150, 120, 421, 381), strict=True))


def test_coloured_backdrop_scores_low() -> None:
    intake = decode(save(product_on((90, 120, 160)), "JPEG"))
    assert intake.white_score < 0.05
    # A pale grey studio sweep is not white either.
    assert decode(save(product_on((225, 225, 225)))).white_score == 0.0


def test_product_cut_by_the_edge_lowers_the_score_in_proportion() -> None:
    # The product runs off the left edge for 200 of the 500 rows: part of the frame is not white.
    score = decode(save(product_on((255, 255, 255), box=(0, 100, 300, 299)))).white_score
    assert 0.75 < score < 0.95


def test_all_white_picture_has_no_product_box() -> None:
    assert decode(save(Image.new("RGB", (400, 400), (255, 255, 255)))).bbox is None
    # Near-white paper texture (above the threshold) is background too.
    assert images.product_bbox(Image.new("RGB", (300, 300), (248, 250, 247))) is None


def test_bbox_of_a_drawn_rectangle_and_its_threshold() -> None:
    img = Image.new("RGB", (300, 200), (255, 255, 255))
    ImageDraw.Draw(img).rectangle((40, 30, 99, 59), fill=(250, 250, 240))  # only blue is below 245
    ImageDraw.Draw(img).rectangle((200, 150, 209, 169), fill=(20, 20, 20))
    assert images.product_bbox(img) == (40, 30, 210, 170)
    assert images.product_bbox(img, threshold=200) == (200, 150, 210, 170)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_common_formats_are_read(fmt: str) -> None:
    intake = decode(save(product_on((255, 255, 255)), fmt))
    assert intake.source_format == fmt
    assert intake.image.mode == "RGB" and intake.image.size == (600, 500)
    assert intake.white_score > 0.95


# Normalisation -----------------------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb_with_the_right_colours() -> None:
    img = Image.new("CMYK", (400, 400), (0, 0, 0, 0))  # no ink = white paper
    ImageDraw.Draw(img).rectangle((100, 100, 299, 299), fill=(255, 0, 0, 0))  # full cyan
    data = save(img, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    intake = decode(data)
    assert intake.image.mode == "RGB"
    assert min(intake.image.getpixel((10, 10))) >= 250  # paper is white, not black or inverted
    r, g, b = intake.image.getpixel((200, 200))
    assert r < 40 and g > 215 and b > 215  # cyan
    assert intake.white_score > 0.99


def test_16_bit_grey_png_is_scaled_not_clipped_to_white() -> None:
    arr = np.full((300, 400), 65535, dtype=np.uint16)
    arr[100:200, 100:300] = 16384  # a quarter of full scale: mid-dark grey
    data = save(Image.fromarray(arr))
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    intake = decode(data)
    assert intake.image.mode == "RGB"
    assert intake.image.getpixel((10, 10)) == (255, 255, 255)
    assert intake.image.getpixel((150, 150)) == (64, 64, 64)
    assert intake.bbox == (100, 100, 300, 200)


def test_16_bit_rgb_png_keeps_its_colours() -> None:
    width, height = 300, 260
    white, blue = b"\xff\xff" * 3, b"\x00\x00\x20\x00\xff\xff"  # 16-bit samples, big-endian
    rows = [b"\x00" + (blue * width if 100 <= y < 150 else white * width) for y in range(height)]
    intake = decode(png_bytes(width, height, 16, 2, zlib.compress(b"".join(rows))))
    assert intake.image.mode == "RGB"
    assert intake.image.getpixel((5, 5)) == (255, 255, 255)
    assert intake.image.getpixel((150, 120)) == (0, 32, 255)


def test_palette_png_with_transparency_is_flattened_onto_white() -> None:
    img = Image.new("P", (400, 300), 0)
    img.putpalette([0, 0, 0, *RED] + [0, 0, 0] * 254)  # index 0 is black, and transparent
    ImageDraw.Draw(img).rectangle((100, 50, 299, 249), fill=1)
    data = save(img, transparency=0)
    assert Image.open(io.BytesIO(data)).mode == "P"
    intake = decode(data)
    assert intake.image.mode == "RGB"
    assert intake.image.getpixel((10, 10)) == (255, 255, 255)  # not the palette's black
    assert intake.image.getpixel((200, 150)) == RED
    assert intake.white_score == 1.0 and intake.bbox == (100, 50, 300, 250)


def test_rgba_and_la_are_flattened_onto_white() -> None:
    rgba = Image.new("RGBA", (300, 300), (0, 0, 0, 0))  # transparent black around the product
    ImageDraw.Draw(rgba).rectangle((100, 100, 199, 199), fill=(0, 0, 0, 128))  # half-transparent black
    out = decode(save(rgba)).image
    assert out.getpixel((5, 5)) == (255, 255, 255)
    assert all(125 <= c <= 129 for c in out.getpixel((150, 150)))

    la = Image.new("LA", (300, 300), (0, 0))
    ImageDraw.Draw(la).rectangle((50, 50, 99, 99), fill=(40, 255))
    intake = decode(save(la))
    assert intake.image.getpixel((5, 5)) == (255, 255, 255)
    assert intake.image.getpixel((70, 70)) == (40, 40, 40)
    assert intake.bbox == (50, 50, 100, 100)


def _rotated_photo(orientation: int) -> bytes:
    """Stored landscape 400 × 300 with a red marker in the stored top-left corner; EXIF says how to turn it."""
    img = Image.new("RGB", (400, 300), (255, 255, 255))
    ImageDraw.Draw(img).rectangle((0, 0, 59, 59), fill=(255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(img, "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_6_turns_the_photo_upright() -> None:
    data = _rotated_photo(6)
    assert Image.open(io.BytesIO(data)).size == (400, 300)
    intake = decode(data)
    # Orientation 6: displayed turned 90° clockwise, so the picture is portrait and the stored top-left
    # corner shows at the top right.
    assert (intake.width, intake.height) == (300, 400) == intake.image.size
    r, g, b = intake.image.getpixel((300 - 30, 30))
    assert r > 200 and g < 60 and b < 60
    assert min(intake.image.getpixel((30, 30))) > 240
    assert images.image_size(data) == (300, 400)


def test_exif_orientation_3_turns_it_upside_down() -> None:
    intake = decode(_rotated_photo(3))
    assert intake.image.size == (400, 300)
    assert intake.image.getpixel((400 - 30, 300 - 30))[0] > 200  # marker now bottom right
    assert intake.image.getpixel((400 - 30, 300 - 30))[1] < 60


def test_broken_exif_does_not_refuse_the_photo() -> None:
    data = save(Image.new("RGB", (300, 300), (255, 255, 255)), "JPEG", exif=b"Exif\x00\x00garbage-not-tiff")
    assert decode(data).image.size == (300, 300)


# Refusals ----------------------------------------------------------------------------------------------


def _assert_plain(message: str) -> None:
    assert message.endswith(".") and "Traceback" not in message
    for jargon in ("decompression", "cannot identify", "PIL", "bytes not processed", "Errno"):
        assert jargon not in message


def test_zero_bytes_are_refused() -> None:
    with pytest.raises(ImageUnreadable) as err:
        decode(b"")
    assert "empty" in err.value.message
    _assert_plain(err.value.message)


def test_a_text_file_named_jpg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "product.jpg"
    path.write_text("SKU,name\nMUG-1,Blue mug\n")
    with pytest.raises(ImageUnreadable) as err:
        decode(path.read_bytes())
    assert err.value.message == images.UNREADABLE
    assert "JPEG, PNG or WebP" in err.value.message
    with pytest.raises(ImageUnreadable):
        images.image_size(path.read_bytes())


def test_a_truncated_jpeg_is_refused() -> None:
    photo = Image.effect_noise((800, 600), 60).convert("RGB")  # noise: every byte of the file matters
    data = save(photo, "JPEG", quality=90)
    assert decode(data).image.size == (800, 600)
    for cut in (len(data) // 2, len(data) - 100):
        with pytest.raises(ImageUnreadable) as err:
            decode(data[:cut])
        assert "incomplete" in err.value.message
        _assert_plain(err.value.message)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # nobody switched on Pillow's "decode what's there"


def test_a_corrupt_png_is_refused() -> None:
    data = bytearray(save(Image.effect_noise((300, 300), 60).convert("RGB")))
    data[2000:2060] = b"\x00" * 60  # inside the compressed pixel data
    with pytest.raises(ImageUnreadable) as err:
        decode(bytes(data))
    _assert_plain(err.value.message)


def test_png_bomb_is_refused_from_its_header_without_decoding(png_bomb: bytes, no_pixel_decoding: list[str]) -> None:
    assert len(png_bomb) < 200_000  # tiny on disk...
    assert images.image_size(png_bomb) == (30_000, 30_000)  # ...30000 × 30000 in its header
    with pytest.raises(ImageTooLarge) as err:
        decode(png_bomb)
    assert err.value.message.startswith("This image is 30000 × 30000 pixels; the limit is 60 megapixels.")
    _assert_plain(err.value.message)
    assert no_pixel_decoding == []


def test_png_bomb_is_a_real_png_pillow_would_refuse_too(png_bomb: bytes) -> None:
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(png_bomb))
    # Even with our limit raised past Pillow's, Pillow's own check still refuses it, as a typed error.
    with pytest.raises(ImageTooLarge) as err:
        decode(png_bomb, max_pixels=10**12)
    assert "30000 × 30000" in err.value.message


def test_pillows_bomb_check_is_a_second_line_of_defence(png_bomb: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # Were our header check ever skipped, Pillow's DecompressionBombError still ends as a typed refusal.
    monkeypatch.setattr(images, "_check_header", lambda data, **kw: images._open_header(data))
    with pytest.raises(ImageTooLarge) as err:
        decode(png_bomb)
    _assert_plain(err.value.message)


def test_rgb_bomb_with_a_patched_header_is_refused(no_pixel_decoding: list[str]) -> None:
    # A small real PNG whose IHDR then claims 30000 × 30000 (CRC fixed): what a hostile upload looks like.
    data = bytearray(save(Image.new("RGB", (300, 300), (255, 255, 255))))
    data[16:24] = struct.pack(">II", 30_000, 30_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    with pytest.raises(ImageTooLarge, match="30000 × 30000 pixels"):
        decode(bytes(data))
    # Just over our limit, well under Pillow's: our limit, named in megapixels.
    data[16:24] = struct.pack(">II", 8000, 8000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    with pytest.raises(ImageTooLarge) as err:
        decode(bytes(data))
    assert err.value.message.startswith("This image is 8000 × 8000 pixels; the limit is 60 megapixels.")
    assert no_pixel_decoding == []


def test_byte_limit() -> None:
    data = save(product_on((255, 255, 255)), "JPEG")
    with pytest.raises(ImageTooLarge) as err:
        decode(data, max_bytes=len(data) - 1)
    assert "the limit is" in err.value.message
    _assert_plain(err.value.message)
    assert decode(data, max_bytes=len(data)).width == 600
    with pytest.raises(ImageTooLarge, match=r"^This file is 25.1 MB; the limit is 25 MB\."):
        decode(data + b"\x00" * (25 * 1024 * 1024 - len(data) + 10))


def test_too_small_is_refused_with_its_size() -> None:
    with pytest.raises(ImageTooSmall) as err:
        decode(save(Image.new("RGB", (100, 80), (255, 255, 255))))
    assert "100 × 80 pixels" in err.value.message and "256" in err.value.message
    _assert_plain(err.value.message)


def test_formats_we_do_not_accept_are_refused() -> None:
    # Pillow can read PPM and ICO, but nothing a store sends needs them: refused like any unknown file.
    for fmt in ("PPM", "ICO"):
        with pytest.raises(ImageUnreadable):
            decode(save(Image.new("RGB", (256, 256), (255, 255, 255)), fmt))


def test_heic_gets_its_own_advice() -> None:
    with pytest.raises(ImageUnreadable, match="HEIC"):
        decode(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100)


def test_decode_for_uses_the_settings_limits(tmp_path: Path) -> None:
    settings = Settings.load(secrets_file=None, imagegecko_home=tmp_path, min_image_side=500)
    with pytest.raises(ImageTooSmall, match="at least 500 pixels"):
        images.decode_for(settings, save(Image.new("RGB", (400, 400), (255, 255, 255))))
    assert images.decode_for(settings, save(product_on((255, 255, 255), size=(600, 600)))).width == 600


# validate() --------------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(secrets_file=None, imagegecko_home=tmp_path)


def test_validate_accepts_a_product_on_white(settings: Settings) -> None:
    check = images.validate(settings, save(product_on((255, 255, 255)), "JPEG"))
    assert check.ok and check.problem is None
    assert (check.width, check.height) == (600, 500) and check.white_score is not None and check.white_score > 0.99


def test_validate_flags_a_coloured_background(settings: Settings) -> None:
    check = images.validate(settings, save(product_on((90, 120, 160)), "JPEG"))
    assert not check.ok and check.problem is not None and "white background" in check.problem
    assert check.white_score is not None and check.white_score < 0.05
    assert images.validate(settings, save(product_on((90, 120, 160))), min_white=0.0).ok


def test_validate_never_raises(settings: Settings, png_bomb: bytes) -> None:
    for data in (b"", b"hello", save(Image.new("RGB", (50, 50)))[:-40]):
        check = images.validate(settings, data)
        assert not check.ok and check.problem and check.white_score is None
    bomb = images.validate(settings, png_bomb)
    assert not bomb.ok and "30000 × 30000" in (bomb.problem or "") and (bomb.width, bomb.height) == (30_000, 30_000)
    small = images.validate(settings, save(Image.new("RGB", (100, 80), (255, 255, 255))))
    assert not small.ok and (small.width, small.height) == (100, 80)


def test_validate_reports_the_full_size_of_a_large_jpeg(settings: Settings) -> None:
    # validate decodes big JPEGs at reduced scale; the size it reports is still the photo's own.
    photo = product_on((255, 255, 255), size=(3000, 2000), box=(1000, 600, 2000, 1400))
    check = images.validate(settings, save(photo, "JPEG"))
    assert check.ok and (check.width, check.height) == (3000, 2000)
    rotated = images.validate(settings, _rotated_photo(6))
    assert (rotated.width, rotated.height) == (300, 400)


# Output ------------------------------------------------------------------------------------------------


def test_encode_output_jpeg_caps_the_long_side_and_writes_no_exif() -> None:
    data, mime = images.encode_output(
        product_on((255, 255, 255), size=(4000, 2000)), fmt="jpeg", quality=85, max_side=2048
    )
    assert mime == "image/jpeg"
    out = Image.open(io.BytesIO(data))
    assert out.format == "JPEG" and out.mode == "RGB" and out.size == (2048, 1024)
    assert "exif" not in out.info


def test_encode_output_webp_and_transparency() -> None:
    rgba = Image.new("RGBA", (800, 600), (0, 0, 0, 0))
    data, mime = images.encode_output(rgba, fmt="webp", quality=80)
    out = Image.open(io.BytesIO(data))
    assert mime == "image/webp" and out.format == "WEBP" and out.size == (800, 600)  # small ones keep their size
    assert min(out.convert("RGB").getpixel((400, 300))) > 250  # flattened onto white
    assert images.encode_output(Image.new("RGB", (10, 10)), fmt="JPG")[1] == "image/jpeg"


def test_encode_output_refuses_unknown_formats() -> None:
    with pytest.raises(InputError):
        images.encode_output(Image.new("RGB", (10, 10)), fmt="gif")
    with pytest.raises(InputError):
        images.encode_output(Image.new("RGB", (10, 10)), quality=0)


def test_to_png_is_lossless() -> None:
    img = Image.effect_noise((64, 48), 80).convert("RGB")
    again = Image.open(io.BytesIO(images.to_png(img)))
    assert again.format == "PNG" and np.array_equal(np.asarray(again), np.asarray(img))


def test_srgb_tagged_photo_keeps_its_pixels() -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    img = product_on((255, 255, 255))
    out = decode(save(img, icc_profile=srgb)).image
    assert np.array_equal(np.asarray(out), np.asarray(img))


def test_a_plain_png_is_recognised_as_already_normal_and_nothing_else_is() -> None:
    """The worker sends a plain RGB PNG as it came (no second encoding); anything decode() had to change, or
    metadata that to_png drops, is encoded again."""
    from PIL import ImageCms

    img = product_on((255, 255, 255))
    plain = decode(save(img))
    assert images.is_plain_png(plain.image)
    encoded_again = Image.open(io.BytesIO(images.to_png(plain.image)))
    assert np.array_equal(np.asarray(encoded_again), np.asarray(plain.image))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6
    for other in (
        save(img.convert("RGBA")),
        save(img.convert("P")),
        save(img, icc_profile=srgb),
        save(img, exif=exif),
        save(img, "JPEG"),
    ):
        assert not images.is_plain_png(decode(other).image)
