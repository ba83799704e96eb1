"""The sidebar: active store, AI provider, jobs running."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.config import Settings
from lib.connections import save_connection
from lib.models import Job, JobStatus
from lib.runtime import Runtime
from lib.screens.generate import provider_choices
from lib.screens.sidebar import sidebar_status


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


def test_sidebar_status_on_an_empty_data_dir(rt: Runtime) -> None:
    status = sidebar_status(rt)
    assert status.store == "Demo store"
    assert status.provider == "Studio engine (offline)"
    assert status.running_jobs == 0


def test_sidebar_counts_running_jobs_and_names_the_active_store(rt: Runtime) -> None:
    save_connection(rt.db, rt.vault, kind="woocommerce", name="Acme", secret={"consumer_key": "ck_x"})
    save_connection(rt.db, rt.vault, kind="gemini", name="Gemini", secret={"api_key": "k"})
    with rt.db.transaction() as s:
        for status in (JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.SUCCEEDED):
            s.add(Job(source_kind="demo", provider="studio", model="studio-v1", style="auto", status=status))
    status = sidebar_status(rt)
    assert status.store == "Acme (WooCommerce)"
    assert status.provider.startswith("Google Gemini")
    assert status.running_jobs == 2
    assert [p.available for p in provider_choices(rt)] == [True, True]
