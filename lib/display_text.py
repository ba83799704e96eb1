"""Text from outside (a store, Drive, an upload's file name, a model) made safe to show.

Streamlit renders Markdown in labels, captions, headings, options, help tooltips and dialog titles: a product
named `[Login](http://evil)` would become a live link and `![t](http://evil/t.png)` would make every visitor's
browser fetch a remote image. Backslash escapes alone are not enough: GitHub-flavoured autolinks (`http://…`,
`www.…`, `a@b.example`) are found in the text *after* escapes are resolved, so they are broken with an invisible
word joiner instead. Bidi controls (which make `\u202egpj.exe` read as `exe.jpg`) and NUL/control bytes are removed,
and long text is shortened, the whole of it kept for the hover (`help=`).

- `clean(s)`: one line of plain text, nothing invisible or reversing in it (for storing, and for places that do not
  render Markdown: the CLI, `st.text`, table cells).
- `safe_text(s, limit=...)`: a `Shown` pair for Markdown-rendering widgets: `.text` (short) and `.help` (the full
  text, also escaped, or None when nothing was cut).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

LABEL_LIMIT = 80  # a checkbox or button label
CAPTION_LIMIT = 160  # a caption or heading under a card
ELLIPSIS = "…"
WORD_JOINER = "\u2060"  # invisible, not a word character: no autolink pattern matches across it

# Left-to-right/right-to-left marks, embeddings, overrides and isolates, and the Arabic letter mark.
BIDI_CONTROLS = _BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_REMOVE = re.compile("[" + _BIDI + "\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufeff\ufff9-\ufffb]")
_SPACE = re.compile(r"\s+")
# Characters that start Markdown anywhere in a line: code, emphasis, links and images (an escaped `[` also stops
# `![`, `:red[…]` and `[…](…)`), HTML and angle autolinks, LaTeX, tables, strikethrough, the escape itself.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>$|~])")
# ...and at the start of a line: headings, lists, block quotes.
_LINE_START = re.compile(r"^(\s*)(?:([-+#>=])|(\d+)([.)]))")
# An HTML entity (`&#x202e;` would bring a bidi override back, `&lt;` a tag).
_ENTITY = re.compile(r"&(?=#\d+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")
# Where a GFM autolink literal (`scheme://`, `www.`, the `@` of an e-mail address) could match in the text once
# escapes are resolved.
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)(?=\w)")


def clean(value: Any) -> str:
    """`value` as one line of plain text: controls, NULs and bidi characters removed, whitespace collapsed."""
    text = unicodedata.normalize("NFC", "" if value is None else str(value))
    text = _REMOVE.sub("", text)
    return _SPACE.sub(" ", text).strip()


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with an ellipsis when cut (at a word boundary if one is
    near)."""
    if limit < 2 or len(text) <= limit:
        return text[: max(limit, 0)] if limit < 2 else text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def plain(value: Any, limit: int | None = None) -> str:
    """Clean text for places that show text as is (CLI, `st.text`, table cells), shortened to `limit`."""
    text = clean(value)
    return shorten(text, limit) if limit else text


def inert_markdown(text: str) -> str:
    """`text` (already clean) that Markdown shows character for character: no link, image, emphasis, heading,
    list, HTML, entity, LaTeX or autolink."""
    # The joiner goes in first: it is not Markdown punctuation, so escaping leaves it where it is.
    out = _MARKDOWN.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, text))
    out = _ENTITY.sub(r"\\&", out)
    return _LINE_START.sub(
        lambda m: m.group(1) + ("\\" + m.group(2) if m.group(2) else m.group(3) + "\\" + m.group(4)), out
    )


@dataclass(frozen=True)
class Shown:
    """What a Markdown-rendering widget gets: `text` for the label, `help` (the whole text) for its tooltip."""

    text: str
    help: str | None
    full: str  # the clean, unescaped whole text (for comparisons and plain-text places)

    def __str__(self) -> str:
        return self.text


def safe_text(value: Any, limit: int = CAPTION_LIMIT, *, empty: str = "") -> Shown:
    """`value` ready for a label, caption, heading, option, dialog or tooltip: Markdown and autolinks inert, bidi
    controls and NULs removed, cut to `limit` characters with the whole text in `help`."""
    full = clean(value) or empty
    short = shorten(full, limit)
    return Shown(
        text=inert_markdown(short),
        help=inert_markdown(full) if short != full else None,
        full=full,
    )


def md(value: Any, limit: int = CAPTION_LIMIT) -> str:
    """Just the short, inert text of `safe_text` (where no tooltip can be attached, e.g. inside a sentence)."""
    return safe_text(value, limit).text
