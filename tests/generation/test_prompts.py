"""Style presets, per-category defaults and the prompt built from product data."""

from __future__ import annotations

import pytest

from lib.errors import InputError
from lib.generation.base import ProductInfo
from lib.generation.prompts import (
    DEFAULT_STYLE,
    KEEP_PRODUCT,
    PRESETS,
    SceneParams,
    alt_text,
    build_prompt,
    default_style,
    plain,
    product_info,
    resolve_style,
)
from lib.sources.base import Product, Variation

REQUIRED = {
    "marble_counter",
    "oak_table",
    "linen_backdrop",
    "concrete_loft",
    "outdoor_sunlight",
    "pastel_studio",
    "bathroom_shelf",
    "model_worn",
}


def test_presets_cover_the_required_styles_and_describe_themselves():
    assert REQUIRED <= set(PRESETS)
    assert len(PRESETS) >= 8
    assert DEFAULT_STYLE in PRESETS
    for key, preset in PRESETS.items():
        assert preset.key == key
        assert preset.label and preset.description and len(preset.scene) > 40
        assert "\n" not in preset.description
        assert isinstance(preset.render, SceneParams)


@pytest.mark.parametrize("style", list(PRESETS))
def test_every_preset_builds_a_prompt_with_the_name_and_the_keep_rule(style):
    info = ProductInfo(
        name="Stoneware Mug", category="Kitchen", description="Holds 350 ml.", attributes={"Colour": "Teal"}
    )
    prompt = build_prompt(info, style)
    assert "Stoneware Mug" in prompt
    assert KEEP_PRODUCT in prompt
    assert PRESETS[style].scene in prompt
    assert "label, logo" in prompt and "Do not add any text" in prompt
    assert "Colour: Teal" in prompt and "Holds 350 ml." in prompt


def test_html_in_product_data_does_not_reach_the_prompt():
    product = Product(
        id="7",
        name="<script>alert(1)</script>Mug <b>Pro</b> &amp; Saucer",
        category="<i>Kitchen</i>",
        short_description="<p>Line one</p><p>Line&nbsp;two &lt;b&gt;bold&lt;/b&gt;</p>\n\nmore",
        attributes={"<b>Size</b>": "Large<br>"},
    )
    info = product_info(product)
    prompt = build_prompt(info, "marble_counter", extra="<img src=x onerror=1>warmer light")
    assert "<" not in prompt and ">" not in prompt
    assert "Mug Pro & Saucer" in prompt
    assert "Line one Line two bold more" in prompt
    assert "Size: Large" in prompt
    assert "warmer light" in prompt
    assert "\n\n" not in info.description


def test_long_descriptions_are_cut_at_a_word():
    info = product_info(Product(id="1", name="Lamp", short_description="word " * 200))
    assert len(info.description) <= 300
    assert info.description.endswith("…")
    assert info.description[:-1].split(" ")[-1] == "word"


@pytest.mark.parametrize(
    ("category", "style"),
    [
        ("Kitchen", "marble_counter"),
        ("Mugs", "marble_counter"),
        ("Home & Lighting", "oak_table"),
        ("Lighting", "oak_table"),
        ("Apparel & Bags", "model_worn"),
        ("T-Shirts", "model_worn"),
        ("Shoes", "concrete_loft"),
        ("Bags", "concrete_loft"),
        ("Bath & Beauty", "bathroom_shelf"),
        ("Garden", "outdoor_sunlight"),
        ("", DEFAULT_STYLE),
        ("Something else", DEFAULT_STYLE),
    ],
)
def test_category_defaults(category, style):
    assert default_style(category) == style


def test_auto_style_follows_the_category_and_unknown_styles_are_refused():
    assert resolve_style("auto", "Bath & Beauty") == "bathroom_shelf"
    assert resolve_style("", "Kitchen") == "marble_counter"
    assert PRESETS["bathroom_shelf"].scene in build_prompt(ProductInfo(name="Soap", category="Bath"), "auto")
    with pytest.raises(InputError) as err:
        build_prompt(ProductInfo(name="Soap"), "disco_inferno")
    assert "marble_counter" in err.value.message


def test_product_info_for_a_variation_names_its_colour_and_sku():
    product = Product(
        id="12",
        name="Classic Tee",
        sku="TEE",
        category="Apparel",
        attributes={"Material": "Cotton"},
        variations=(Variation(id="12-2", name="Classic Tee – Sage", sku="TEE-SAG", attributes={"Colour": "Sage"}),),
    )
    info = product_info(product, "12-2")
    assert info.name == "Classic Tee – Sage"
    assert info.sku == "TEE-SAG"
    assert info.attributes == {"Material": "Cotton", "Colour": "Sage"}
    assert "Classic Tee – Sage" in build_prompt(info, "model_worn")


def test_alt_text_is_concrete_and_short():
    for style in PRESETS:
        text = alt_text(ProductInfo(name="Walnut Wall Clock", category="Home"), style)
        assert text.startswith("Walnut Wall Clock ")
        assert len(text) <= 125
        assert "image of" not in text.lower()
    long = alt_text(ProductInfo(name="Extremely " * 30 + "Long Name"), "oak_table")
    assert len(long) <= 125 and long.endswith("on an oak wood table")


def test_plain_text_helper():
    assert plain("  a\n\tb  ") == "a b"
    assert plain(None) == ""
    assert plain("<p>x</p><p>y</p>") == "x y"
