"""The job log's request history for Gemini jobs: each call the server saw is there once, linked to its item."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import pytest
from sqlmodel import select

from lib import jobs
from lib.config import Settings
from lib.models import Event, ItemStatus
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.worker import run_until_idle
from tests.emulators.gemini import GeminiEmulator

MODEL = "gemini-2.5-flash-image"


@pytest.fixture
def emu():
    with GeminiEmulator(image_side=384, retry_delay="0.05s") as e:
        e.use_studio = False
        yield e


@pytest.fixture
def rt(tmp_path, emu):
    runtime = Runtime.build(
        Settings.load(
            secrets_file=None,
            imagegecko_home=tmp_path,
            gemini_api_key="test-key",
            gemini_base_url=emu.url,
            rate_limits={"gemini": 0},
            backoff_base_seconds=0.05,
            backoff_max_seconds=1.0,
            worker_concurrency=2,
            poll_seconds=0.05,
        )
    )
    yield runtime
    runtime.db.dispose()


def gemini_job(rt: Runtime, n: int) -> tuple[int, set[int]]:
    products = [p for p in rt.source("demo").list_products(ProductQuery(per_page=100)).items if not p.variations]
    job = jobs.create_job(
        rt,
        spec=jobs.JobSpec(source_kind="demo", provider="gemini", model=MODEL, style="marble_counter"),
        selections=[jobs.Selection(p) for p in products[:n]],
    )
    assert job.id is not None
    return job.id, {i.id for i in jobs.job_items(rt.db, job.id) if i.id is not None}


def request_events(rt: Runtime) -> list[Event]:
    with rt.db.session() as s:
        return list(s.exec(select(Event).where(Event.kind == "request")).all())


def calls_logged(events: list[Event]) -> Counter[tuple[str, int | None]]:
    return Counter((urlsplit(e.url or "").path, e.status_code) for e in events)


def calls_served(emu: GeminiEmulator) -> Counter[tuple[str, int | None]]:
    return Counter((path, status) for _method, path, status in emu.log if path.endswith(":generateContent"))


def test_each_gemini_call_is_logged_once_with_its_job_and_item(rt, emu):
    job_id, item_ids = gemini_job(rt, 3)

    run_until_idle(rt)

    assert {i.status for i in jobs.job_items(rt.db, job_id)} == {ItemStatus.SUCCEEDED}
    events = request_events(rt)
    assert calls_logged(events) == calls_served(emu)  # one line per call the server answered, no more
    image_calls = [e for e in events if e.url and e.url.endswith(f"{MODEL}:generateContent")]
    alt_calls = [e for e in events if e.message.startswith("alt text")]
    assert len(image_calls) == 3 and len(alt_calls) == 3 and len(events) == 6
    for calls in (image_calls, alt_calls):
        assert {e.job_id for e in calls} == {job_id}
        assert sorted(e.item_id for e in calls) == sorted(item_ids)
    assert all(e.service == "gemini" for e in events)
    # the log still tells what each image cost, per item
    assert all(e.data["usage"]["output_tokens"] == 1290 and e.data["cost"] > 0 for e in image_calls)


def test_a_retried_call_is_logged_once_per_attempt(rt, emu):
    job_id, [item_id] = gemini_job(rt, 1)
    emu.queue("503")  # the first image call is refused; the worker retries it

    run_until_idle(rt)

    [item] = jobs.job_items(rt.db, job_id)
    assert item.status == ItemStatus.SUCCEEDED and item.attempts == 2
    events = request_events(rt)
    assert calls_logged(events) == calls_served(emu)
    image_calls = sorted(
        (e for e in events if e.url and e.url.endswith(f"{MODEL}:generateContent")), key=lambda e: e.id or 0
    )
    assert [e.status_code for e in image_calls] == [503, 200]
    assert {(e.job_id, e.item_id) for e in events} == {(job_id, item_id)}
