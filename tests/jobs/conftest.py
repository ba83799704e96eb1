"""The job-log tests run on each backend the app supports: SQLite and a real PostgreSQL server."""

from __future__ import annotations

import pytest


@pytest.fixture
def rt_settings(job_log_url: str) -> dict[str, object]:
    return {"poll_seconds": 0.05, "backoff_base_seconds": 0.0, "database_url": job_log_url}
