"""lib/ui.py helpers that need no running app."""

from __future__ import annotations

import pytest

from lib.ui import escape_md


@pytest.mark.parametrize(
    "text, shown",
    [
        ("<b>Bold</b>", "\\<b\\>Bold\\</b\\>"),
        ("**not bold** [not](a link)", "\\*\\*not bold\\*\\* \\[not\\](a link)"),
        ("- not a list", "\\- not a list"),
        ("1. not a list", "1\\. not a list"),
        ("# not a heading", "\\# not a heading"),
        ("GK-MUG-001 · Kitchen & Home", "GK-MUG-001 · Kitchen & Home"),  # ordinary text stays readable
    ],
)
def test_escape_md(text: str, shown: str) -> None:
    assert escape_md(text) == shown
