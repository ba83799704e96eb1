"""One real generation against Google's Gemini API. Runs only with GEMINI_API_KEY set (pytest -m live)."""

from __future__ import annotations

import os

import pytest

from lib.config import Settings
from lib.generation import gemini
from tests.generation.test_gemini import PRODUCT, make_request

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("GEMINI_API_KEY"), reason="GEMINI_API_KEY is not set"),
]


def test_one_real_generation(tmp_path):
    settings = Settings.load(
        secrets_file=None, imagegecko_home=tmp_path, gemini_api_key=os.environ["GEMINI_API_KEY"], gemini_base_url=None
    )
    provider = gemini.GeminiProvider(settings)
    provider.test_key(os.environ["GEMINI_API_KEY"])
    image = provider.generate(make_request(aspect_ratio="1:1"))
    assert image.data and image.width >= 512 and image.height >= 512
    assert 0 < image.cost < 0.2
    alt = provider.describe(image.data, PRODUCT)
    assert 0 < len(alt) <= 125 and not alt.lower().startswith(("image of", "picture of", "photo of"))
