"""SKU matching as a real store's lookup: exact spelling first, then ignoring case; ambiguity in one sentence."""

from __future__ import annotations

import pytest

from lib.errors import InputError
from lib.sku_match import SkuHit, label, pick

MUG = SkuHit("17", None, "Red Mug", "WCR-MUG-RED")
TEE_RED = SkuHit("21", "22", "Classic Tee - Red, S", "WCR-TEE-RED-S")
SHOUTY = SkuHit("40", None, "Red Mug (old)", "wcr-mug-red")


def test_exact_spelling_wins_then_case_is_ignored():
    assert pick("WCR-MUG-RED", [SHOUTY, MUG]) == MUG
    assert pick("wcr-tee-red-s", [MUG, TEE_RED]) == TEE_RED
    assert pick("WCR-MUG", [MUG, TEE_RED]) is None


def test_an_ambiguous_sku_is_said_in_one_sentence_naming_each_candidate():
    with pytest.raises(InputError) as err:
        pick("Wcr-Mug-Red", [MUG, SHOUTY])
    assert err.value.message == (
        "SKU Wcr-Mug-Red matches 2 items in the store (“Red Mug” (WCR-MUG-RED), product 17; “Red Mug (old)” "
        "(wcr-mug-red), product 40), so it is not clear which one is meant. Give each its own SKU in the store, "
        "or choose it by id."
    )


def test_labels_name_things_by_name_and_sku():
    assert label("Red Mug", "WCR-MUG-RED") == "“Red Mug” (WCR-MUG-RED)" and label("Lamp") == "“Lamp”"
