"""Text from outside passes through lib.display_text before a widget shows it: Markdown and autolinks inert, bidi
controls and NULs gone, long text shortened with the whole of it on hover."""

from __future__ import annotations

import re

import pytest

from lib.display_text import CAPTION_LIMIT, WORD_JOINER, clean, plain, safe_text
from tests.security.corpus import BIDI, FILE_NAMES, TEXT

# What CommonMark + GFM would turn into markup if it were left unescaped: a bracket, angle bracket, emphasis mark,
# backtick, dollar, pipe or tilde anywhere, a heading/list/quote marker at the start, an entity.
UNESCAPED = re.compile(r"(?<!\\)[\[\]<>*_`$|~]|^\s*[-+#>=]|^\s*\d+[.)]|(?<!\\)&(#|\w+;)")


def unescape(markdown: str) -> str:
    """The characters Markdown shows for `markdown` when every backslash escape is resolved (as remark does)."""
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.mark.parametrize("text", [t for _, t in TEXT + FILE_NAMES], ids=[k for k, _ in TEXT + FILE_NAMES])
def test_every_hostile_text_is_shown_as_inert_characters(text):
    shown = safe_text(text)
    for part in filter(None, (shown.text, shown.help)):
        assert not UNESCAPED.search(part), part  # every Markdown character is escaped
        resolved = unescape(part)
        assert not re.search(r"(?i)https?://|www\.|@\w", resolved), resolved  # no autolink survives unescaping
        assert not set(resolved) & set(BIDI + "\x00")
    # ...and it still reads as the same characters: the label a prefix of the text, the tooltip all of it.
    assert shown.full.startswith(unescape(shown.text).replace(WORD_JOINER, "").removesuffix("…").rstrip())
    if shown.help is not None:
        assert unescape(shown.help).replace(WORD_JOINER, "") == shown.full


def test_what_a_person_reads_is_the_same_text():
    shown = safe_text("[Login here](http://evil.example/phish)")
    assert unescape(shown.text).replace(WORD_JOINER, "") == "[Login here](http://evil.example/phish)"
    assert shown.help is None  # short enough: no tooltip needed


def test_a_right_to_left_override_cannot_reverse_a_name():
    assert clean("Invoice\u202egpj.exe") == "Invoicegpj.exe"
    assert safe_text("\u2066Mug\u2069\u200f").full == "Mug"


def test_nul_bytes_and_control_characters_are_removed():
    assert clean("Mug\x00\x00 with nul") == "Mug with nul"
    assert clean("Mug\x1b[31mred\x07\x7f") == "Mug[31mred"


def test_a_10k_character_name_is_shortened_with_the_whole_name_on_hover():
    name = "Mug " * 2500
    shown = safe_text(name)
    assert len(unescape(shown.text)) <= CAPTION_LIMIT and shown.text.endswith("…")
    assert shown.help is not None and unescape(shown.help) == name.strip()


def test_plain_text_for_the_cli_has_no_backslashes_but_is_clean_and_short():
    assert plain("Mug\u202e\x00 *bold*", 80) == "Mug *bold*"
    assert len(plain("x" * 10_000, 50)) == 50


def test_empty_and_missing_text_show_the_fallback():
    assert safe_text(None, empty="(no name)").text == "(no name)"
    assert safe_text("\u202e\x00").full == ""
