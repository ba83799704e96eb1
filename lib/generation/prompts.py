"""Style presets, per-category defaults and the prompt built from product data.

A preset carries two things: the words an AI model gets (`scene`) and the numbers the offline studio engine
renders the same scene from (`render`). Keeping both in one place means the preview a merchant picks from and
the prompt sent to Gemini describe the same picture.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from lib.errors import InputError
from lib.generation.base import ProductInfo
from lib.sources.base import Product

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class SceneParams:
    """How the studio engine draws a preset. Colours are sRGB 0..255."""

    wall: str  # plaster | linen | concrete | tiles | garden | sweep | dark | window
    wall_colors: tuple[RGB, RGB]  # top, bottom
    surface: str  # marble | wood | linen | concrete | deck | sweep | shelf | slate
    surface_colors: tuple[RGB, RGB]  # base, accent (veins, grain, grout...)
    horizon: float = 0.58  # where the surface starts, as a fraction of the frame height
    edge: str = "hard"  # hard: a counter edge with a highlight; soft: a seamless curve (sweep, fabric)
    light_x: float = -0.6  # where the key light comes from: -1 left .. 1 right
    warmth: float = 0.0  # -1 cool .. 1 warm; tints the scene and, slightly, the product
    brightness: float = 1.0  # scene exposure
    shadow: float = 0.55  # cast shadow opacity
    vignette: float = 0.25
    props: tuple[str, ...] = ()  # plant | cup | book | vase | towel | soap | stones | fruit | candle
    dapple: bool = False  # leaf shadows over the scene (outdoor)
    plinth: bool = False  # a cylinder podium under the product (studio)
    hanger: bool = False  # a rail and a hanger for apparel
    reflection: float = 0.0  # opacity of a mirror reflection on glossy surfaces
    palette: tuple[RGB, ...] = ()  # alternative wall colours that variants cycle through


@dataclass(frozen=True)
class StylePreset:
    key: str
    label: str
    description: str  # one line for the style picker
    scene: str  # prompt text describing the scene
    alt_phrase: str  # how alt text places the product, e.g. "on a white marble kitchen counter"
    render: SceneParams = field(repr=False, compare=False)


def _p(key: str, label: str, description: str, scene: str, alt_phrase: str, render: SceneParams) -> StylePreset:
    return StylePreset(key, label, description, scene, alt_phrase, render)


PRESETS: dict[str, StylePreset] = {
    p.key: p
    for p in [
        _p(
            "marble_counter",
            "Marble counter",
            "White marble kitchen counter, soft window light from the left.",
            "standing on a polished white Carrara marble kitchen counter with soft grey veins, a softly blurred "
            "light kitchen wall behind, bright natural morning light from a window on the left, gentle soft shadows",
            "on a white marble kitchen counter",
            SceneParams(
                "plaster",
                ((236, 233, 228), (222, 218, 211)),
                "marble",
                ((242, 241, 238), (150, 150, 156)),
                horizon=0.60,
                light_x=-0.7,
                warmth=0.1,
                shadow=0.5,
                reflection=0.10,
                props=("plant", "cup", "book"),
            ),
        ),
        _p(
            "oak_table",
            "Oak table",
            "Warm oak wood table against a soft cream wall, homely afternoon light.",
            "placed on a warm natural oak wood table with visible grain, a cream painted wall softly out of focus "
            "behind, warm late-afternoon light from the right, cosy Scandinavian interior mood",
            "on an oak wood table",
            SceneParams(
                "plaster",
                ((232, 222, 205), (214, 202, 184)),
                "wood",
                ((196, 150, 102), (132, 90, 52)),
                horizon=0.57,
                light_x=0.65,
                warmth=0.45,
                shadow=0.55,
                props=("plant", "book", "cup"),
            ),
        ),
        _p(
            "linen_backdrop",
            "Linen backdrop",
            "Natural linen fabric sweep, soft diffuse light, calm and minimal.",
            "resting on a natural oatmeal linen cloth that sweeps up into the backdrop, soft diffuse daylight, "
            "gentle folds in the fabric, calm minimal editorial look",
            "on a natural linen backdrop",
            SceneParams(
                "linen",
                ((224, 214, 196), (214, 203, 184)),
                "linen",
                ((218, 207, 188), (196, 183, 162)),
                horizon=0.55,
                edge="soft",
                light_x=-0.4,
                warmth=0.2,
                shadow=0.4,
                vignette=0.2,
                props=("stones", "vase"),
            ),
        ),
        _p(
            "concrete_loft",
            "Concrete loft",
            "Urban loft: raw concrete wall and floor, cool daylight.",
            "on a polished raw concrete surface in an urban loft, grey concrete wall with subtle texture, cool "
            "daylight from a large industrial window on the left, crisp shadows, modern architectural mood",
            "on polished concrete in a loft",
            SceneParams(
                "concrete",
                ((176, 176, 174), (158, 158, 156)),
                "concrete",
                ((150, 149, 146), (118, 117, 115)),
                horizon=0.60,
                light_x=-0.8,
                warmth=-0.25,
                shadow=0.6,
                vignette=0.35,
                props=("plant", "book"),
            ),
        ),
        _p(
            "outdoor_sunlight",
            "Outdoor sunlight",
            "Sunny garden table with dappled leaf shadows and greenery.",
            "on a weathered wooden garden table outdoors in warm golden sunlight, dappled leaf shadows, lush green "
            "garden softly blurred in the background (shallow depth of field), summery and fresh",
            "on a garden table in dappled sunlight",
            SceneParams(
                "garden",
                ((168, 196, 150), (120, 150, 96)),
                "deck",
                ((186, 158, 122), (120, 96, 70)),
                horizon=0.58,
                light_x=0.7,
                warmth=0.6,
                brightness=1.05,
                shadow=0.6,
                vignette=0.2,
                dapple=True,
                props=("fruit", "cup"),
            ),
        ),
        _p(
            "pastel_studio",
            "Pastel studio",
            "Seamless pastel studio sweep with a round podium.",
            "on a round matte podium in a seamless pastel-coloured photo studio, soft even studio lighting, "
            "clean minimal modern product photography, soft shadow",
            "on a podium in a pastel studio",
            SceneParams(
                "sweep",
                ((240, 205, 205), (232, 190, 190)),
                "sweep",
                ((236, 196, 196), (226, 182, 182)),
                horizon=0.62,
                edge="soft",
                light_x=-0.5,
                warmth=0.05,
                shadow=0.4,
                vignette=0.18,
                plinth=True,
                palette=((240, 205, 205), (196, 226, 214), (214, 206, 238), (244, 222, 192), (200, 218, 240)),
            ),
        ),
        _p(
            "bathroom_shelf",
            "Bathroom shelf",
            "Bright bathroom: white tiles, stone shelf, a towel and a plant.",
            "on a pale stone shelf in a bright modern bathroom, white square wall tiles softly out of focus, "
            "a folded towel and a small plant nearby, fresh clean spa atmosphere, soft daylight",
            "on a bathroom shelf",
            SceneParams(
                "tiles",
                ((236, 238, 238), (226, 229, 229)),
                "shelf",
                ((226, 222, 214), (198, 192, 182)),
                horizon=0.62,
                light_x=-0.5,
                warmth=-0.05,
                shadow=0.45,
                vignette=0.2,
                props=("towel", "plant", "soap"),
            ),
        ),
        _p(
            "model_worn",
            "Model / styled",
            "Apparel styled on a hanger in a bright studio (a model, with AI).",
            "worn by a model in a natural relaxed pose in a bright neutral studio, the product clearly visible and "
            "unchanged, soft flattering light, fashion e-commerce photography, face cropped or turned away",
            "styled in a bright studio",
            SceneParams(
                "sweep",
                ((232, 228, 222), (220, 215, 208)),
                "sweep",
                ((226, 221, 214), (210, 204, 196)),
                horizon=0.80,
                edge="soft",
                light_x=-0.5,
                warmth=0.1,
                shadow=0.35,
                vignette=0.22,
                hanger=True,
            ),
        ),
        _p(
            "kitchen_window",
            "Kitchen window",
            "Light wood counter by a sunny window with window-frame light.",
            "on a light ash wood kitchen counter next to a sunny window, bright window light falling across the "
            "scene, soft shadows of the window frame on the wall, a few fresh kitchen props blurred nearby",
            "on a kitchen counter by a sunny window",
            SceneParams(
                "window",
                ((234, 228, 218), (220, 212, 200)),
                "wood",
                ((222, 196, 160), (170, 136, 98)),
                horizon=0.60,
                light_x=-0.75,
                warmth=0.35,
                brightness=1.04,
                shadow=0.55,
                props=("fruit", "cup", "plant"),
            ),
        ),
        _p(
            "dark_moody",
            "Dark & moody",
            "Dark slate surface, charcoal wall, a single dramatic side light.",
            "on a dark slate surface against a deep charcoal wall, a single dramatic soft spotlight from the side, "
            "rich contrast, moody premium editorial look",
            "on dark slate in dramatic light",
            SceneParams(
                "dark",
                ((58, 56, 56), (40, 38, 38)),
                "slate",
                ((52, 52, 54), (34, 34, 36)),
                horizon=0.62,
                light_x=0.8,
                warmth=0.2,
                brightness=0.95,
                shadow=0.7,
                vignette=0.5,
                reflection=0.12,
                props=("candle", "stones"),
            ),
        ),
    ]
}

DEFAULT_STYLE = "marble_counter"
AUTO_STYLE = "auto"

# Checked in order against the lower-cased category; the first keyword found wins.
_CATEGORY_DEFAULTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("bath", "beauty", "cosmetic", "skin", "soap", "body", "hair", "spa"), "bathroom_shelf"),
    (("shoe", "sneaker", "boot", "footwear"), "concrete_loft"),
    (("apparel", "clothing", "fashion", "shirt", "tee", "dress", "jacket", "wear", "hoodie"), "model_worn"),
    (("bag", "backpack", "luggage", "wallet"), "concrete_loft"),
    (("garden", "outdoor", "patio", "camping", "sport", "bike"), "outdoor_sunlight"),
    (("mug", "kitchen", "cook", "tea", "coffee", "tableware", "drink", "bottle", "food"), "marble_counter"),
    (("light", "lamp", "home", "decor", "furniture", "living", "office", "desk", "candle"), "oak_table"),
    (("watch", "jewel", "accessor", "tech", "electronic", "gadget"), "dark_moody"),
    (("toy", "kid", "baby", "gift", "stationery"), "pastel_studio"),
    (("textile", "linen", "bedding", "pillow", "towel"), "linen_backdrop"),
)


def default_style(category: str) -> str:
    """The preset that suits a product category best (marble counter when nothing matches)."""
    c = (category or "").lower()
    for words, style in _CATEGORY_DEFAULTS:
        if any(w in c for w in words):
            return style
    return DEFAULT_STYLE


def resolve_style(style: str, category: str = "") -> str:
    """Turn "auto" (or an empty choice) into the category's default; refuse unknown preset names."""
    if not style or style == AUTO_STYLE:
        return default_style(category)
    if style not in PRESETS:
        raise InputError(f"Unknown style {style!r}. Choose one of: {', '.join(PRESETS)}.")
    return style


# Product data -> plain words ------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def plain(text: str | None, limit: int | None = None) -> str:
    """HTML tags and entities removed, whitespace collapsed, cut at a word boundary with an ellipsis."""
    if not text:
        return ""
    # Block tags become spaces so "<p>a</p><p>b</p>" does not glue words together.
    s = _TAG.sub(" ", str(text))
    s = html.unescape(s)
    s = _TAG.sub(" ", s)  # entities like &lt;b&gt; decode to tags: strip those too
    s = s.replace("<", " ").replace(">", " ")
    s = _SPACE.sub(" ", s).strip()
    if limit and len(s) > limit:
        cut = s[: limit - 1]
        if " " in cut[limit // 2 :]:
            cut = cut[: cut.rfind(" ")]
        s = cut.rstrip(" ,;:-") + "…"
    return s


def product_info(product: Product, variation_id: str | None = None) -> ProductInfo:
    """What prompts and alt texts may say about a product (or one of its variations), in plain words."""
    name = plain(product.name, 120)
    attributes = {plain(k, 40): plain(v, 80) for k, v in product.attributes.items() if plain(k) and plain(v)}
    sku = product.sku
    if variation_id is not None:
        var = product.variation(variation_id)
        vattrs = {plain(k, 40): plain(v, 80) for k, v in var.attributes.items() if plain(k) and plain(v)}
        attributes.update(vattrs)
        sku = var.sku or sku
        suffix = ", ".join(vattrs.values()) or plain(var.name, 60)
        if suffix and suffix.lower() not in name.lower():
            name = f"{name} – {suffix}"
    return ProductInfo(
        name=name,
        sku=plain(sku, 60),
        category=plain(product.category, 60),
        description=plain(product.short_description, 300),
        attributes=attributes,
    )


KEEP_PRODUCT = (
    "Keep the product from the reference photo exactly as it is: the same shape, proportions, colours, "
    "materials, label, logo and any text printed on it. Do not redraw, restyle, recolour or resize it."
)
RULES = (
    "Do not add any text, letters, watermarks, logos, borders or extra products. "
    "Photorealistic, natural perspective and lighting that matches the scene, realistic contact shadow, "
    "sharp focus on the product, high-end e-commerce lifestyle photography."
)


def build_prompt(info: ProductInfo, style: str, extra: str = "") -> str:
    """The full prompt for an image model: scene, the keep-the-product rule, then the product in plain words."""
    preset = PRESETS[resolve_style(style, info.category)]
    name = plain(info.name, 120) or "the product"
    lines = [
        f"Create a lifestyle product photo of the product shown in the reference image ({name}), {preset.scene}.",
        KEEP_PRODUCT,
        RULES,
    ]
    facts = [f"Product: {name}."]
    if info.category:
        facts.append(f"Category: {plain(info.category, 60)}.")
    if info.description:
        desc = plain(info.description, 300)
        facts.append(f"Description: {desc}" + ("" if desc[-1] in ".!?…" else "."))
    attrs = "; ".join(
        f"{plain(k, 40)}: {plain(v, 80)}" for k, v in list(info.attributes.items())[:8] if plain(k) and plain(v)
    )
    if attrs:
        facts.append(f"Attributes: {attrs}.")
    lines.append(" ".join(facts))
    extra_plain = plain(extra, 400)
    if extra_plain:
        lines.append(f"Additional direction: {extra_plain}")
    return "\n".join(lines)


REFERENCE_NOTE = (
    "The second image is an approved earlier photo of this same product: match its setting, props, lighting and "
    "colour mood so the two read as one series, but take the product itself from the first image."
)


def with_reference(prompt: str) -> str:
    """The prompt for a request that also carries an approved earlier shot (lib.worker.pipeline): without
    this line the model cannot tell which image is the product and which the look to keep."""
    return f"{prompt}\n{REFERENCE_NOTE}"


def alt_text(info: ProductInfo, style: str) -> str:
    """Alt text from a template: what the product is and where it stands, at most 125 characters."""
    preset = PRESETS[resolve_style(style, info.category)]
    phrase = preset.alt_phrase
    name = plain(info.name) or "Product"
    room = 125 - len(phrase) - 1
    if len(name) > room:
        name = plain(name, room)
    text = f"{name} {phrase}"
    return text[:125]
