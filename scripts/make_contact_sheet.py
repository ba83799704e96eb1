"""Render every studio preset with three demo products into one labelled contact sheet.

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
from lib.sources.demo import DemoSource  # noqa: E402

# (product id, variation id or None) shown for each preset; variants 0, 1, 2 from left to right.
PICKS: dict[str, list[tuple[str, str | None]]] = {
    "marble_counter": [("1", None), ("2", None), ("3", None)],
    "oak_table": [("4", None), ("5", None), ("7", None)],
    "linen_backdrop": [("3", None), ("14", None), ("5", None)],
    "concrete_loft": [("8", None), ("10", None), ("11", None)],
    "outdoor_sunlight": [("2", None), ("9", None), ("6", None)],
    "pastel_studio": [("14", None), ("11", None), ("8", None)],
    "bathroom_shelf": [("13", None), ("14", None), ("5", None)],
    "model_worn": [("12", "12-1"), ("12", "12-3"), ("9", None)],
    "kitchen_window": [("3", None), ("1", None), ("6", None)],
    "dark_moody": [("11", None), ("5", None), ("2", None)],
}
BG = (248, 247, 244)
INK = (34, 34, 38)
MUTED = (110, 110, 116)


def render_sheet(thumb: int) -> Image.Image:
    source = DemoSource(None)
    engine = StudioEngine()
    styles = list(PRESETS)
    per_row = 2
    gap = 14
    label_h = 58
    block_w = 3 * thumb + 2 * gap
    block_h = label_h + thumb
    title_h = 70
    rows = -(-len(styles) // per_row)
    width = per_row * block_w + (per_row + 1) * 2 * gap
    height = title_h + rows * (block_h + 2 * gap) + gap
    sheet = Image.new("RGB", (width, height), BG)
    d = ImageDraw.Draw(sheet)
    title = ImageFont.load_default(size=30)
    bold = ImageFont.load_default(size=21)
    small = ImageFont.load_default(size=15)
    d.text(
        (2 * gap, 20), "ImageGecko Studio: offline studio presets (demo catalogue, variants 1-3)", font=title, fill=INK
    )
    for i, style in enumerate(styles):
        preset = PRESETS[style]
        bx = 2 * gap + (i % per_row) * (block_w + 2 * gap)
        by = title_h + (i // per_row) * (block_h + 2 * gap)
        d.text((bx, by + 4), f"{preset.label}  ·  {style}", font=bold, fill=INK)
        d.text((bx, by + 32), preset.description, font=small, fill=MUTED)
        for j, (pid, vid) in enumerate(PICKS.get(style, [("1", None), ("2", None), ("3", None)])):
            product = source.get_product(pid)
            image = product.variation(vid).image if vid else product.images[0]
            info = product_info(product, vid)
            req = GenerationRequest(
                source_image=source.fetch_image(image),
                prompt=build_prompt(info, style),
                product=info,
                style=style,
                model="studio-v1",
                variant_index=j,
            )
            started = time.perf_counter()
            im = engine.render(req).image
            print(f"{style:18} {info.name:34} {1000 * (time.perf_counter() - started):6.0f} ms")
            im = im.resize((thumb, thumb), Image.Resampling.LANCZOS)
            sheet.paste(im, (bx + j * (thumb + gap), by + label_h))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "studio-presets.png"))
    parser.add_argument("--thumb", type=int, default=300)
    args = parser.parse_args()
    sheet = render_sheet(args.thumb)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A dithered 256-colour palette keeps the committed sheet under 1 MB (full colour is about 2.5 MB).
    small = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    small.save(out, "PNG", optimize=True)
    print(f"wrote {out} ({sheet.width}x{sheet.height}, {out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
