"""The Generate screen: which providers it offers."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.config import Settings
from lib.runtime import Runtime
from lib.screens.generate import provider_choices


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


def test_gemini_is_offered_only_with_a_key(rt: Runtime) -> None:
    studio, gemini = provider_choices(rt)
    assert studio.available and not gemini.available
    assert "Connect page" in gemini.note
