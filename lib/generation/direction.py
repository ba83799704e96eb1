"""What the offline studio engine can take from a free-text extra direction ("warmer, sage green backdrop, with a
plant"): a mood, a backdrop colour and props from its own set. Everything else (people, new objects, a different
room, changing the product) needs an AI model; `CANNOT` says so in plain words for the pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from lib.generation.prompts import SceneParams

RGB = tuple[int, int, int]
_DIRECTION_LINE = re.compile(r"^Additional direction:\s*(.*)$", re.MULTILINE)

MOODS: dict[str, tuple[str, ...]] = {
    "warm": ("warm", "warmer", "cosy", "cozy", "golden", "sunset", "autumn"),
    "cool": ("cool", "cooler", "cold", "crisp", "winter", "fresh"),
    "bright": ("bright", "brighter", "airy", "light and airy", "high key", "sunny"),
    "dark": ("dark", "darker", "moody", "low key", "night", "evening"),
    "soft": ("soft", "softer", "diffuse", "gentle", "calm"),
    "dramatic": ("dramatic", "contrast", "contrasty", "hard light", "punchy"),
}
COLOURS: dict[str, RGB] = {
    "white": (242, 240, 236),
    "cream": (238, 228, 206),
    "beige": (222, 206, 182),
    "sand": (220, 200, 166),
    "grey": (180, 180, 178),
    "gray": (180, 180, 178),
    "charcoal": (60, 60, 62),
    "black": (38, 38, 40),
    "sage": (176, 192, 164),
    "green": (150, 180, 140),
    "olive": (146, 148, 104),
    "mint": (196, 226, 208),
    "blue": (170, 194, 222),
    "navy": (52, 64, 96),
    "sky": (200, 222, 240),
    "pink": (240, 204, 206),
    "blush": (236, 206, 200),
    "peach": (244, 208, 180),
    "terracotta": (200, 120, 90),
    "rust": (176, 96, 64),
    "yellow": (244, 222, 150),
    "mustard": (214, 176, 86),
    "lavender": (214, 204, 236),
    "lilac": (210, 190, 226),
    "purple": (150, 120, 170),
    "red": (196, 80, 72),
    "orange": (236, 160, 96),
    "brown": (140, 104, 76),
}
PROP_WORDS: dict[str, tuple[str, ...]] = {
    "plant": ("plant", "plants", "greenery", "leaves", "foliage"),
    "cup": ("cup", "coffee", "espresso"),
    "book": ("book", "books"),
    "vase": ("vase", "flowers", "dried flowers"),
    "towel": ("towel", "towels"),
    "soap": ("soap",),
    "stones": ("stone", "stones", "pebble", "pebbles", "rocks"),
    "fruit": ("fruit", "lemon", "lemons", "orange", "oranges", "apple", "apples"),
    "candle": ("candle", "candles"),
    "bowl": ("bowl",),
    "board": ("board", "chopping board", "cutting board", "tray"),
    "notebook": ("notebook", "notepad", "pen"),
    "jar": ("jar", "jars"),
}
_NO_PROPS = ("no props", "without props", "no clutter", "nothing else", "product only", "minimal", "clean")

CAN = (
    "The offline studio engine takes from this a mood (warm, cool, bright, dark, soft, dramatic), a backdrop colour "
    "and props from its set (plant, cup, books, vase, towel, soap, stones, fruit, candle, bowl, board, notebook, jar) "
    "or “no props”; every new picture also gets a new scene."
)
CANNOT = (
    "It cannot add people or hands, invent other objects or rooms, change the camera angle or alter the product: "
    "for those, use the Gemini engine."
)


@dataclass(frozen=True)
class Direction:
    text: str = ""
    moods: tuple[str, ...] = ()
    colour: str | None = None
    props: tuple[str, ...] = ()
    no_props: bool = False

    @property
    def understood(self) -> list[str]:
        """What was taken from the text, in words a page can show."""
        out = list(self.moods)
        if self.colour:
            out.append(f"{self.colour} backdrop")
        out += list(self.props)
        if self.no_props:
            out.append("no props")
        return out


def _has(text: str, phrase: str) -> bool:
    return re.search(r"\b" + re.escape(phrase) + r"\b", text) is not None


def parse(prompt: str) -> Direction:
    """The extra direction found in a built prompt (lib.generation.prompts.build_prompt puts it on its own line)."""
    m = _DIRECTION_LINE.search(prompt or "")
    if not m:
        return Direction()
    text = m.group(1).strip()
    low = text.lower()
    moods = tuple(mood for mood, words in MOODS.items() if any(_has(low, w) for w in words))
    if "warm" in moods and "cool" in moods:
        moods = tuple(x for x in moods if x != "cool")
    colour = next((name for name in COLOURS if _has(low, name)), None)
    props = tuple(p for p, words in PROP_WORDS.items() if any(_has(low, w) for w in words))
    if colour == "orange" and "fruit" in props:  # "with oranges" names fruit, not a colour
        colour = next((name for name in COLOURS if name != "orange" and _has(low, name)), None)
    no_props = any(_has(low, w) for w in _NO_PROPS) and not props
    return Direction(text=text, moods=moods, colour=colour, props=props, no_props=no_props)


def apply(params: SceneParams, d: Direction) -> SceneParams:
    """The preset's scene adjusted by the direction (a new, hashable SceneParams: backgrounds cache per value)."""
    p = params
    if "warm" in d.moods:
        p = replace(p, warmth=min(1.0, p.warmth + 0.45))
    if "cool" in d.moods:
        p = replace(p, warmth=max(-1.0, p.warmth - 0.45))
    if "bright" in d.moods:
        p = replace(p, brightness=p.brightness * 1.07, vignette=p.vignette * 0.6, shadow=p.shadow * 0.85)
    if "dark" in d.moods:
        p = replace(
            p, brightness=p.brightness * 0.84, vignette=min(0.6, p.vignette + 0.2), shadow=min(0.8, p.shadow + 0.1)
        )
    if "soft" in d.moods:
        p = replace(p, shadow=p.shadow * 0.75, light_x=p.light_x * 0.6)
    if "dramatic" in d.moods:
        p = replace(p, shadow=min(0.85, p.shadow + 0.15), vignette=min(0.6, p.vignette + 0.15))
    if d.colour:
        base = COLOURS[d.colour]
        p = replace(p, wall_colors=(base, tuple(int(c * 0.94) for c in base)), palette=(base,))  # type: ignore[arg-type]
    if d.no_props:
        p = replace(p, props=())
    return p
