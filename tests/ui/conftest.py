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


def make_job(
    rt: Runtime,
    product_ids: list[str],
    *,
    variants: int = 1,
    run: bool = True,
    variation: tuple[str, str] | None = None,
) -> int:
    """A demo-store job made with the studio engine, optionally run to the end by the inline worker."""
    from lib.jobs import JobSpec, Selection, create_job
    from lib.sources.demo import DemoSource

    src = DemoSource(rt)
    selections = [Selection(src.get_product(pid)) for pid in product_ids]
    if variation:
        selections.append(Selection(src.get_product(variation[0]), variation[1]))
    job = create_job(rt, spec=JobSpec(source_kind="demo", variants=variants), selections=selections)
    if run:
        from lib.worker import run_until_idle

        run_until_idle(rt)
    assert job.id is not None
    return job.id


def many_jobs(rt: Runtime, n: int) -> None:
    """n finished job rows (history, paging and totals at scale; no images needed)."""
    from datetime import timedelta

    from lib.models import Job, JobStatus, utcnow

    now = utcnow()
    states = [JobStatus.SUCCEEDED, JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED]
    with rt.db.transaction() as s:
        for i in range(n):
            s.add(
                Job(
                    source_kind="demo" if i % 3 else "upload",
                    provider="studio",
                    model="studio-v1",
                    style="auto",
                    status=states[i % 4],
                    item_count=4,
                    created_at=now - timedelta(hours=i),
                    finished_at=now - timedelta(hours=i),
                )
            )
