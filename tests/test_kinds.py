"""Kind: the stored strings, the screen names, and a clear sentence for anything else."""

from __future__ import annotations

import pytest

from lib.errors import InputError
from lib.kinds import Kind


def test_a_kind_is_the_string_the_database_holds() -> None:
    assert Kind.WOOCOMMERCE == "woocommerce" and f"{Kind.DRIVE}" == "drive"
    assert Kind.parse("gemini") is Kind.GEMINI
    assert {Kind.DEMO: 1}["demo"] == 1  # same hash: dicts keyed by Kind answer to stored strings


def test_labels_and_which_kinds_need_saved_credentials() -> None:
    assert Kind.DRIVE.label == "Google Drive" and Kind.STUDIO.label == "Studio engine (offline)"
    assert {k for k in Kind if k.saved} == {Kind.WOOCOMMERCE, Kind.SHOPIFY, Kind.DRIVE, Kind.GEMINI}


def test_an_unknown_kind_is_a_sentence() -> None:
    with pytest.raises(InputError, match="Unknown product source 'nowhere'"):
        Kind.parse("nowhere", "product source")
