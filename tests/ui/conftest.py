"""AppTest fixtures: every test gets its own data directory and a fresh cached runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lib import catalog
from lib.config import Settings
from lib.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("IMAGEGECKO_HOME", str(tmp_path))
    monkeypatch.setenv("EMBEDDED_WORKER", "false")  # tests run the worker inline, deterministically
    monkeypatch.chdir(ROOT)  # pages are found relative to the repo; no secrets.toml is read from here
    st.cache_resource.clear()
    catalog.clear_caches()
    yield tmp_path
    st.cache_resource.clear()


@pytest.fixture
def rt(home: Path) -> Runtime:
    """A Runtime on the same data directory the pages use."""
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, embedded_worker=False))


def page(name: str, **state: object) -> AppTest:
    """AppTest of one page file, with session state seeded before the first run."""
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    return at


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
