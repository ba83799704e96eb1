"""The Products screen: the first-run hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.config import Settings
from lib.models import Job
from lib.runtime import Runtime
from lib.screens.products import first_run


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


def test_first_run(rt: Runtime) -> None:
    assert first_run(rt)
    with rt.db.transaction() as s:
        s.add(Job(source_kind="demo", provider="studio", model="studio-v1", style="auto"))
    assert not first_run(rt)
