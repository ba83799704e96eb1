"""The job log's schema: WAL, Alembic revisions on SQLite and PostgreSQL, and opening a data directory made by an
older version (before Alembic too)."""

from __future__ import annotations

import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import SQLModel, select

from lib.db import Database, database_error, init_db, open_database, postgres_driver
from lib.errors import ConfigError
from lib.models import Asset, Job, JobItem, Publication
from lib.schema import alembic_config, current_revision, head_revision
from tests.servers import PostgresCluster

# The v1 schema as the first release wrote it (no fidelity, no after_images, no uploads/demo tables).
V1_SCHEMA = """
CREATE TABLE connection (id INTEGER PRIMARY KEY, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, base_url VARCHAR,
  secret_blob BLOB, settings JSON NOT NULL, is_active BOOLEAN NOT NULL, created_at DATETIME NOT NULL,
  verified_at DATETIME, last_error VARCHAR);
CREATE TABLE job (id INTEGER PRIMARY KEY, source_kind VARCHAR NOT NULL, connection_id INTEGER,
  provider VARCHAR NOT NULL,
  model VARCHAR NOT NULL, style VARCHAR NOT NULL, prompt_extra VARCHAR NOT NULL, aspect_ratio VARCHAR NOT NULL,
  output_size INTEGER NOT NULL, variants INTEGER NOT NULL, mode VARCHAR NOT NULL, options JSON NOT NULL,
  status VARCHAR NOT NULL, item_count INTEGER NOT NULL, estimated_cost FLOAT NOT NULL, actual_cost FLOAT NOT NULL,
  error VARCHAR, created_at DATETIME NOT NULL, started_at DATETIME, finished_at DATETIME);
CREATE TABLE jobitem (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES job(id), product_id VARCHAR NOT NULL,
  variation_id VARCHAR, variant_index INTEGER NOT NULL, product JSON NOT NULL, prompt VARCHAR NOT NULL,
  regenerate BOOLEAN NOT NULL, parent_item_id INTEGER, status VARCHAR NOT NULL, stage VARCHAR,
  attempts INTEGER NOT NULL, next_attempt_at DATETIME NOT NULL, lease_owner VARCHAR, lease_expires_at DATETIME,
  source_sha VARCHAR, fingerprint VARCHAR, result_asset_id INTEGER, error_kind VARCHAR, error_message VARCHAR,
  latency_ms FLOAT, cost FLOAT NOT NULL, created_at DATETIME NOT NULL, started_at DATETIME, finished_at DATETIME);
CREATE TABLE asset (id INTEGER PRIMARY KEY, sha256 VARCHAR NOT NULL, kind VARCHAR NOT NULL, mime VARCHAR NOT NULL,
  size_bytes INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, job_id INTEGER, item_id INTEGER,
  product_id VARCHAR, variation_id VARCHAR, alt_text VARCHAR NOT NULL, review_state VARCHAR NOT NULL,
  fingerprint VARCHAR, created_at DATETIME NOT NULL, reviewed_at DATETIME);
CREATE TABLE publication (id INTEGER PRIMARY KEY, asset_id INTEGER NOT NULL REFERENCES asset(id), job_id INTEGER,
  store_kind VARCHAR NOT NULL, connection_id INTEGER, product_id VARCHAR NOT NULL, variation_id VARCHAR,
  role VARCHAR NOT NULL, remote_media_id VARCHAR, remote_filename VARCHAR, before_images JSON NOT NULL,
  before_variation_image VARCHAR, state VARCHAR NOT NULL, error VARCHAR, created_at DATETIME NOT NULL,
  updated_at DATETIME);
CREATE TABLE event (id INTEGER PRIMARY KEY, at DATETIME NOT NULL, job_id INTEGER, item_id INTEGER,
  kind VARCHAR NOT NULL,
  service VARCHAR, method VARCHAR, url VARCHAR, status_code INTEGER, duration_ms FLOAT, request_id VARCHAR,
  message VARCHAR NOT NULL, data JSON NOT NULL);
INSERT INTO job VALUES (1,'demo',NULL,'studio','studio-v1','oak_table','', '1:1',1024,1,'online','{}','succeeded',1,
  0.0,0.0,NULL,'2025-01-02 10:00:00.000000',NULL,NULL);
INSERT INTO jobitem (id, job_id, product_id, variant_index, product, prompt, regenerate, status, attempts,
  next_attempt_at, cost, created_at) VALUES (1,1,'3',0,'{"id": "3", "name": "Mug"}','a mug',0,'succeeded',1,
  '2025-01-02 10:00:00.000000',0.0,'2025-01-02 10:00:00.000000');
INSERT INTO asset (id, sha256, kind, mime, size_bytes, width, height, job_id, item_id, product_id, alt_text,
  review_state, created_at) VALUES (1,'ab','generated','image/jpeg',10,1024,1024,1,1,'3','A mug','approved',
  '2025-01-02 10:00:00.000000');
INSERT INTO publication (id, asset_id, job_id, store_kind, product_id, role, before_images, state, created_at)
  VALUES (1,1,1,'demo','3','featured','["demo-3-0"]','done','2025-01-02 10:00:00.000000');
"""


def test_fresh_database_is_wal_and_current(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/j.db")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert current_revision(conn) == head_revision()


def test_v1_data_directory_opens_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    db = open_database(f"sqlite:///{path}")
    with db.session() as s:
        job = s.exec(select(Job)).one()
        item = s.exec(select(JobItem)).one()
        asset = s.exec(select(Asset)).one()
        pub = s.exec(select(Publication)).one()
    assert (job.style, job.status, job.created_at.tzinfo is not None) == ("oak_table", "succeeded", True)
    assert item.product == {"id": "3", "name": "Mug"}
    assert (asset.alt_text, asset.review_state, asset.fidelity) == ("A mug", "approved", None)
    assert asset.alt_tries_left == 0  # v4: an old alt text is not asked for again
    assert (pub.before_images, pub.after_images) == (["demo-3-0"], [])
    # and the upgraded database takes new rows in the new columns
    with db.transaction() as s:
        s.add(Publication(asset_id=1, product_id="3", after_images=["m1", "demo-3-0"]))
    with db.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    # the upgraded database enforces what a fresh one does: one generated asset per item
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(Asset(sha256="cd", item_id=1, kind="generated", job_id=1))
    # opening again is a no-op
    open_database(f"sqlite:///{path}")


def test_an_old_database_that_already_breaks_a_new_constraint_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute(
            "INSERT INTO asset (id, sha256, kind, mime, size_bytes, width, height, job_id, item_id, alt_text, "
            "review_state, created_at) VALUES (2,'cd','generated','image/jpeg',10,1024,1024,1,1,'','pending',"
            "'2025-01-02 10:00:00.000000')"
        )
    db = open_database(f"sqlite:///{path}")
    with db.session() as s:
        assert sorted(a.sha256 for a in s.exec(select(Asset)).all()) == ["ab", "cd"]  # nothing lost


def test_a_database_from_a_newer_release_is_refused_with_a_sentence(job_log_url: str) -> None:
    db = open_database(job_log_url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num='9999_from_the_future'")
    with pytest.raises(ConfigError, match="newer ImageGecko"):
        open_database(job_log_url)
    db.dispose()


def test_a_pre_alembic_database_of_a_newer_hand_written_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.executescript(
            "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);"
            "INSERT INTO meta VALUES ('schema_version', '99');"
        )
    with pytest.raises(ConfigError, match="newer ImageGecko"):
        open_database(f"sqlite:///{path}")


def test_migrations_build_exactly_the_tables_the_models_declare(job_log_url: str) -> None:
    # A fresh database is made from the models; an old one through the revisions. They must not differ: a model
    # change without its revision fails here (make migration m="..." writes one).
    db = Database(job_log_url)
    with db.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    db.dispose()
    assert diffs == []


def test_every_revision_upgrades_a_v1_database_step_by_step(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    db = Database(f"sqlite:///{path}")
    revisions = [s.revision for s in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))]
    for revision in revisions:
        with db.engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
            assert current_revision(conn) == revision
    assert init_db(db) == head_revision()
    with db.session() as s:
        assert s.exec(select(Job)).one().style == "oak_table"


def test_two_processes_opening_a_new_job_log_at_once_both_succeed(job_log_url: str) -> None:
    # Two workers started together on an empty PostgreSQL database must not both create the tables.
    dbs = [Database(job_log_url) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        revisions = list(pool.map(init_db, dbs))
    assert revisions == [head_revision(), head_revision()]
    for db in dbs:
        db.dispose()


def test_a_revision_0005_database_gets_batch_name_split_into_mode_token_and_name(tmp_path: Path) -> None:
    """Up to 0005 JobItem.batch_name meant four things; 0006 gives each its column and keeps every item's route."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
    with db.engine.begin() as conn:
        job = "INSERT INTO job (id, source_kind, provider, model, style, prompt_extra, aspect_ratio, output_size, "
        job += "variants, mode, options, status, item_count, estimated_cost, actual_cost, created_at) VALUES "
        job += "(?, 'demo', 'gemini', 'm', 'auto', '', '1:1', 1024, 1, ?, '{}', 'running', 1, 0, 0, '2026-01-01')"
        conn.exec_driver_sql(job, (2, "online"))
        conn.exec_driver_sql(job, (3, "batch"))
        item = "INSERT INTO jobitem (id, job_id, product_id, variant_index, product, prompt, regenerate, status, "
        item += "attempts, next_attempt_at, cost, created_at, batch_name) VALUES "
        item += "(?, ?, '3', 0, '{}', 'p', 0, ?, 1, '2026-01-01', 0, '2026-01-01', ?)"
        conn.exec_driver_sql(item, (2, 2, "queued", None))  # an online job's item
        conn.exec_driver_sql(item, (3, 3, "queued", None))  # a batch job's item waiting for a batch
        conn.exec_driver_sql(item, (4, 3, "queued", "online"))  # a batch item sent to the online queue
        conn.exec_driver_sql(item, (5, 3, "running", "pending:0123456789abcdef"))  # a batch being created
        conn.exec_driver_sql(item, (6, 3, "running", "batches/42"))  # in a Gemini batch
    assert init_db(db) == head_revision()
    with db.session() as s:
        items = {i.id: i for i in s.exec(select(JobItem)).all()}
    assert {i: (items[i].mode, items[i].batch_token, items[i].batch_name) for i in items} == {
        1: ("online", None, None),  # the v1 database's own item (an online job)
        2: ("online", None, None),
        3: ("batch", None, None),
        4: ("online", None, None),
        5: ("batch", "0123456789abcdef", None),
        6: ("batch", None, "batches/42"),
    }
    assert {i.crashes for i in items.values()} == {0}
    db.dispose()


def test_a_postgresql_server_out_of_connections_is_a_fault_to_wait_out(postgres: PostgresCluster) -> None:
    """A server at its connection limit (eight workers' pools, or a role's limit) is a passing fault the worker waits
    out, with a sentence that says so, not a bug that stops the worker."""
    role = f"capped_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_driver(postgres.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    admin.dispose()
    db = Database(postgres.url.replace(f"//{postgres.user}@", f"//{role}@"))
    with pytest.raises(OperationalError) as refused:
        with db.session() as s:
            s.exec(select(Job)).all()
    db.dispose()
    err = database_error(refused.value)
    assert err is not None and err.retryable
    assert "has no free connection" in err.message and "carries on" in err.message
