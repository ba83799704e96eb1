"""What the studio engine knows about a product from its name and category: its real-world size and how it sits
in a scene (stands on the surface, hangs on the wall, hangs on a rail, lies flat), and which props would be odd
beside it (a cup next to a mug).

Matched by keyword, name first (a "Canvas Tote Bag" is a bag whatever its category), then category. Sizes are
typical heights in centimetres as the product appears upright in its photo (for flat items: the long side).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STAND, WALL, HANG, FLAT = "stand", "wall", "hang", "flat"


@dataclass(frozen=True)
class Kind:
    key: str
    height_cm: float
    placement: str = STAND
    not_props: tuple[str, ...] = ()  # props of the product's own kind


# Checked in order; the first keyword found (as a word prefix) wins. Longer, more specific words come first.
_TABLE: tuple[tuple[tuple[str, ...], Kind], ...] = (
    (("wall clock", "clock"), Kind("clock", 30, WALL)),
    (("mirror",), Kind("mirror", 60, WALL)),
    (("poster", "print", "wall art", "frame", "canvas art"), Kind("art", 50, WALL)),
    (("wristwatch", "watch"), Kind("watch", 22, FLAT)),
    (("bracelet", "necklace", "ring", "earring", "jewel"), Kind("jewellery", 8, FLAT)),
    (("wallet", "purse", "cardholder"), Kind("wallet", 11, FLAT)),
    (("sunglasses", "glasses"), Kind("glasses", 15, FLAT)),
    (("notebook", "journal", "diary"), Kind("notebook", 21, FLAT, ("notebook", "book"))),
    (("phone case", "phone"), Kind("phone", 15, FLAT)),
    (
        ("t-shirt", "tee", "shirt", "dress", "jacket", "hoodie", "sweater", "coat", "blouse", "cardigan"),
        Kind("garment", 70, HANG),
    ),
    (("backpack", "rucksack", "daypack"), Kind("backpack", 45)),
    (("tote", "bag", "handbag"), Kind("bag", 38)),
    (("sneaker", "trainer", "shoe", "loafer"), Kind("shoe", 12)),
    (("boot",), Kind("boot", 25)),
    (("desk lamp", "table lamp", "lamp"), Kind("lamp", 45)),
    (("planter", "plant pot", "plant"), Kind("planter", 32, STAND, ("plant",))),
    (("vase",), Kind("vase", 25, STAND, ("vase",))),
    (("candle",), Kind("candle", 10, STAND, ("candle",))),
    (("teapot", "kettle"), Kind("teapot", 14, STAND, ("cup",))),
    (("pitcher", "jug", "carafe"), Kind("jug", 20, STAND, ("cup", "jar"))),
    (("mug", "cup"), Kind("mug", 10, STAND, ("cup",))),
    (("serum", "dropper"), Kind("dropper", 11, STAND, ("soap",))),
    (("glass bottle", "olive oil", "vinegar", "wine"), Kind("bottle", 28, STAND, ("jar",))),
    (("bottle", "flask", "tumbler"), Kind("bottle", 26, STAND)),
    (("bowl",), Kind("bowl", 8, STAND, ("bowl", "fruit"))),
    (("jar", "canister"), Kind("jar", 14, STAND, ("jar",))),
    (("board",), Kind("board", 35, STAND, ("board",))),
    (("soap pump", "dispenser", "pump"), Kind("pump", 19, STAND, ("soap",))),
    (("soap",), Kind("soap", 6, STAND, ("soap",))),
    (("towel",), Kind("towel", 10, STAND, ("towel",))),
    (("cream", "lotion", "balm"), Kind("cosmetic", 9, STAND, ("soap",))),
    (("perfume", "fragrance"), Kind("perfume", 12)),
    (("book",), Kind("book", 24, STAND, ("book", "notebook"))),
    (("headphone",), Kind("headphones", 20)),
    (("speaker",), Kind("speaker", 18)),
    (("hat", "cap"), Kind("hat", 14)),
    (("pillow", "cushion"), Kind("cushion", 45)),
    (("chair", "stool"), Kind("chair", 80)),
    (("toy", "plush"), Kind("toy", 22)),
)
# Categories when the name says nothing.
_CATEGORY_TABLE: tuple[tuple[tuple[str, ...], Kind], ...] = (
    (("apparel", "clothing", "fashion", "wear"), Kind("garment", 70, HANG)),
    (("jewel",), Kind("jewellery", 8, FLAT)),
    (("footwear", "shoe"), Kind("shoe", 12)),
    (("bath", "beauty", "cosmetic", "skin"), Kind("cosmetic", 14)),
    (("kitchen", "tableware", "drink"), Kind("kitchenware", 16)),
    (("light",), Kind("lamp", 40)),
)
DEFAULT = Kind("product", 20)

# Props suited to a category (the preset's own props come first; these fill in).
CATEGORY_PROPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("kitchen", "tableware", "coffee", "tea", "food", "drink"), ("board", "fruit", "bowl", "jar", "plant", "cup")),
    (("bath", "beauty", "cosmetic", "skin", "spa"), ("towel", "soap", "stones", "plant", "candle")),
    (("home", "decor", "light", "living", "furniture"), ("book", "vase", "plant", "candle", "bowl")),
    (("apparel", "bag", "shoe", "footwear", "fashion"), ("plant", "book", "stones", "notebook")),
    (("watch", "jewel", "accessor", "tech", "gadget"), ("notebook", "stones", "book", "plant")),
    (("garden", "outdoor", "sport"), ("fruit", "cup", "plant", "stones")),
)
GENERAL_PROPS = ("plant", "book", "vase", "stones", "cup", "candle", "notebook", "bowl")


def _has(text: str, word: str) -> bool:
    """The word (or its plural) in the text: "watch" finds "Watches", not "Watchful"."""
    return re.search(r"\b" + re.escape(word) + r"(e?s)?\b", text) is not None


def product_kind(name: str, category: str = "") -> Kind:
    name_l, cat_l = name.lower(), category.lower()
    for words, kind in _TABLE:
        if any(_has(name_l, w) for w in words):
            return kind
    for words, kind in _CATEGORY_TABLE:
        if any(w in cat_l for w in words):
            return kind
    for words, kind in _TABLE:  # "Wall Clocks", "Mugs & Cups" as categories
        if any(_has(cat_l, w) for w in words):
            return kind
    return DEFAULT


def props_for(category: str, preset_props: tuple[str, ...], kind: Kind) -> tuple[str, ...]:
    """Candidate props in order of preference, never of the product's own kind."""
    cat = category.lower()
    extra: tuple[str, ...] = GENERAL_PROPS
    for words, props in CATEGORY_PROPS:
        if any(w in cat for w in words):
            extra = props
            break
    seen: list[str] = []
    for p in (*preset_props, *extra):
        if p not in seen and p not in kind.not_props:
            seen.append(p)
    return tuple(seen)
