"""lib/ui.py helpers that need no running app."""

from __future__ import annotations

import gc

import pytest
from streamlit.testing.v1 import AppTest

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


def _paged_script() -> None:
    """A page like the Gallery's: each run loads rows and draws widgets keyed per row, whose callback is defined in
    the page (so it holds the run's namespace), and Next/Previous buttons."""
    import weakref

    import streamlit as st

    from lib import ui

    ui.forget_gone_widgets()

    class Rows(list):  # type: ignore[type-arg]  # a list that can be weakly referenced
        pass

    rows = Rows(range(10_000))  # what this run loaded
    st.session_state.setdefault("loaded", []).append(weakref.ref(rows))
    page = st.session_state.setdefault("page", 1)

    def review(row: int) -> None:
        st.session_state["reviewed"] = (row, len(rows))

    def go(delta: int) -> None:
        st.session_state["page"] += delta

    for row in range(page * 10, page * 10 + 10):
        st.button("Approve", key=f"ok_{row}", on_click=review, args=(row,))
        st.text_input("Alt text", key=f"alt_{row}")
    st.button("Previous", key="prev", on_click=go, args=(-1,))
    st.button("Next", key="next", on_click=go, args=(1,))


def test_paging_frees_the_pages_left_and_their_widgets_still_work() -> None:
    """Issue 17: a session paging through a gallery kept every page's data (the server grew for good). The pages
    left are freed, except the one just left; the widgets on the page shown still call back and keep what was
    typed, also on a page seen before."""
    at = AppTest.from_function(_paged_script, default_timeout=30).run()
    for _ in range(8):
        at.button(key="next").click().run()
    gc.collect()
    loaded = at.session_state["loaded"]
    assert len(loaded) == 9
    assert sum(ref() is not None for ref in loaded) <= 2  # this page and the one just left

    at.button(key="prev").click().run()  # page 8: seen before, its widgets register again
    at.text_input(key="alt_85").input("A mug on a shelf").run()
    at.button(key="ok_85").click().run()
    assert at.session_state["reviewed"] == (85, 10_000)
    assert at.text_input(key="alt_85").value == "A mug on a shelf"
    assert not at.exception
