"""Two "machines": worker processes with separate data folders that share only a PostgreSQL job log and an
S3-compatible image store (both real servers on loopback), SIGKILLed again and again during one job. Every item
ends once, no image is stored twice, and a dead worker's leased items are taken over."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import boto3
from sqlmodel import select

from lib import jobs
from lib.models import Asset, Event, JobItem
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from tests.conftest import make_runtime
from tests.servers import PostgresCluster, S3Server

ROOT = Path(__file__).resolve().parents[2]
KILLS = 10


def _settings(database_url: str, s3: S3Server, bucket: str) -> dict[str, object]:
    return {
        "database_url": database_url,
        "blob_store_url": f"s3://{bucket}/shop",
        "s3_endpoint_url": s3.url,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }


def _start(home: Path, settings: dict[str, object]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **{k.upper(): str(v) for k, v in settings.items()},  # secrets by environment, never on a command line
        "IMAGEGECKO_HOME": str(home),
        "LEASE_SECONDS": "3",
        "WORKER_CONCURRENCY": "2",
        "POLL_SECONDS": "0.05",
        "MAX_CRASHES": "20",  # this test is about takeover, not about setting a poison item aside
    }
    return subprocess.Popen(
        [sys.executable, "-m", "lib.worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_for(predicate, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _items(rt: Runtime, job_id: int) -> list[JobItem]:
    return jobs.job_items(rt.db, job_id)


def test_two_machines_sharing_postgres_and_s3_survive_ten_kills(
    tmp_path: Path, postgres: PostgresCluster, s3_server: S3Server, bucket: str
) -> None:
    settings = _settings(postgres.create_database(f"m_{uuid.uuid4().hex[:12]}"), s3_server, bucket)
    rt = make_runtime(tmp_path / "lead", lease_seconds=3, poll_seconds=0.05, **settings)
    products = [p for p in rt.source("demo").list_products(ProductQuery(per_page=100)).items if not p.variations]
    job = jobs.create_job(
        rt, spec=jobs.JobSpec(source_kind="demo", variants=2), selections=[jobs.Selection(p) for p in products[:12]]
    )
    assert job.id is not None
    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]
    procs = [_start(home, settings) for home in homes]
    orphaned: set[int] = set()
    kills = 0
    try:
        while kills < KILLS:
            victim = kills % 2
            pid = procs[victim].pid
            done_before = sum(i.status == "succeeded" for i in _items(rt, job.id))

            def holds_work(pid: int = pid, done_before: int = done_before) -> bool:
                items = _items(rt, job.id)
                mine = [i for i in items if i.status == "running" and f":{pid}:" in (i.lease_owner or "")]
                done = sum(i.status == "succeeded" for i in items)
                return bool(mine) and done > done_before  # progress since the last kill, and work in its hands

            _wait_for(holds_work, f"worker {victim} to hold an item (kill {kills + 1})")
            orphaned |= {
                i.id for i in _items(rt, job.id) if i.status == "running" and f":{pid}:" in (i.lease_owner or "")
            }
            procs[victim].kill()
            procs[victim].wait(30)
            kills += 1
            if sum(i.status == "succeeded" for i in _items(rt, job.id)) == len(_items(rt, job.id)):
                break
            procs[victim] = _start(homes[victim], settings)
        _wait_for(lambda: all(i.status == "succeeded" for i in _items(rt, job.id)), "the job to finish")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    assert kills == KILLS, f"the job finished after {kills} kills; make it longer"

    items = _items(rt, job.id)
    assert len(items) == 24 and {i.status for i in items} == {"succeeded"}
    with rt.db.session() as s:
        assets = s.exec(select(Asset).where(Asset.job_id == job.id)).all()
        events = s.exec(select(Event).where(Event.job_id == job.id)).all()
    assert Counter(a.item_id for a in assets) == Counter({i.id: 1 for i in items})  # one image per item, no duplicate
    succeeded = Counter(e.item_id for e in events if e.message.startswith("succeeded"))
    assert set(succeeded.values()) == {1} and len(succeeded) == 24
    taken_over = {e.item_id for e in events if e.message == "taken over after lease expiry"}
    assert orphaned and orphaned <= taken_over  # no dead worker's item was lost

    # The image store holds each image once, under its content address, and nothing in either machine's folder.
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    originals = [k.rsplit("/", 1)[-1] for k in keys if "/thumbs/" not in k]
    assert len(originals) == len(set(originals))
    assert {a.sha256 for a in assets} | {i.source_sha for i in items} <= set(originals)
    local = [p for home in homes for p in home.rglob("*") if re.fullmatch(r"[0-9a-f]{64}(\.\w+)?", p.name)]
    assert local == []  # the machines keep no image of their own
