"""pytest fixtures for the real servers in tests/servers.py: one PostgreSQL cluster per test process (a fresh
database per test), one S3-compatible server per test process (a fresh bucket per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import PostgresCluster, S3Server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def job_log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty job log on each backend the app supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'joblog.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"images-{uuid.uuid4().hex[:12]}"
    s3_server.make_bucket(name)
    return name
