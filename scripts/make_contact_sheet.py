"""Render every studio style with every demo product into one labelled contact sheet.

    .venv/bin/python scripts/make_contact_sheet.py [--out docs/studio-presets.png] [--thumb 300]

The images come from the real engine at 1024 px (then reduced), so the sheet shows what a merchant gets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.generation.base import GenerationRequest  # noqa: E402
from lib.generation.prompts import PRESETS, build_prompt, product_info  # noqa: E402
from lib.generation.studio import StudioEngine  # noqa: E402
from lib.sources.base import ProductQuery  # noqa: E402
from lib.sources.demo import DemoSource  # noqa: E402

BG = (248, 247, 244)
INK = (34, 34, 38)
MUTED = (110, 110, 116)


def render_sheet(thumb: int) -> Image.Image:
    """Rows: every demo product (the tee once, in one colour); columns: every style."""
    source = DemoSource(None)
    engine = StudioEngine()
    styles = list(PRESETS)
    products = source.list_products(ProductQuery(per_page=100)).items
    gap, label_w, head_h, title_h = 6, 190, 64, 56
    width = label_w + len(styles) * (thumb + gap) + gap
    height = title_h + head_h + len(products) * (thumb + gap) + gap
    sheet = Image.new("RGB", (width, height), BG)
    d = ImageDraw.Draw(sheet)
    title = ImageFont.load_default(size=24)
    bold = ImageFont.load_default(size=15)
    small = ImageFont.load_default(size=12)
    d.text(
        (gap * 2, 16),
        "ImageGecko Studio: every offline studio style x every demo product (1024 px renders, reduced)",
        font=title,
        fill=INK,
    )
    for c, style in enumerate(styles):
        x = label_w + c * (thumb + gap)
        d.text((x, title_h + 8), PRESETS[style].label, font=bold, fill=INK)
        d.text((x, title_h + 30), style, font=small, fill=MUTED)
    for r, product in enumerate(products):
        y = title_h + head_h + r * (thumb + gap)
        vid = product.variations[0].id if product.variations else None
        image = product.variation(vid).image if vid else product.images[0]
        info = product_info(product, vid)
        data = source.fetch_image(image)
        d.text((gap * 2, y + 8), product.name, font=bold, fill=INK)
        d.text((gap * 2, y + 30), product.category, font=small, fill=MUTED)
        d.text((gap * 2, y + 48), product.sku, font=small, fill=MUTED)
        for c, style in enumerate(styles):
            req = GenerationRequest(
                source_image=data,
                prompt=build_prompt(info, style),
                product=info,
                style=style,
                model="studio-v1",
                variant_index=(r + c) % 4,
            )
            started = time.perf_counter()
            comp = engine.render(req)
            print(f"{style:18} {info.name:34} {comp.placement.mode:7} {1000 * (time.perf_counter() - started):6.0f} ms")
            sheet.paste(comp.image.resize((thumb, thumb), Image.Resampling.LANCZOS), (label_w + c * (thumb + gap), y))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "studio-presets.png"))
    parser.add_argument("--thumb", type=int, default=150)
    args = parser.parse_args()
    sheet = render_sheet(args.thumb)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A dithered 256-colour palette keeps the committed sheet under 2 MB.
    small = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    small.save(out, "PNG", optimize=True)
    print(f"wrote {out} ({sheet.width}x{sheet.height}, {out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
