"""Batch mode (lib/worker/batch.py; its Gemini calls in lib/generation/gemini_batch.py) through lib.jobs
and the real SDK against the loopback emulator.

No sleeping: tick(rt, now=...) is called with later clocks, and the emulator's batches are moved by hand.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from lib import jobs
from lib.config import Settings
from lib.generation import gemini_batch
from lib.models import Asset, Event, ItemStatus, Job, JobItem, JobStatus, Stage, utcnow
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.worker import batch
from tests.emulators.gemini import GeminiEmulator
from tests.generation.conftest import items_of, job_of, tick

MODEL = "gemini-2.5-flash-image"


def runtime(home, emu, **kw) -> Runtime:
    fields = dict(secrets_file=None, imagegecko_home=home, gemini_api_key="test-key", gemini_base_url=emu.url)
    fields.update(kw)
    return Runtime.build(Settings.load(**fields))


@pytest.fixture
def rt(tmp_path, emu):
    return runtime(tmp_path, emu)


def make_job(
    rt: Runtime, products: int, variants: int, *, mode: str = "batch", provider: str = "gemini", model: str = MODEL
) -> Job:
    items = rt.source("demo").list_products(ProductQuery(per_page=100)).items[:products]
    assert len(items) == products
    spec = jobs.JobSpec(
        source_kind="demo", provider=provider, model=model, style="marble_counter", variants=variants, mode=mode
    )
    return jobs.create_job(rt, spec=spec, selections=[jobs.Selection(p) for p in items])


def later(minutes: float):
    return utcnow() + timedelta(minutes=minutes)


def finish(rt, emu, job_id, *, minutes: float = 60) -> None:
    emu.advance(to="succeeded")
    tick(rt, now=later(minutes))


# The whole path ------------------------------------------------------------------------------------


def test_a_batch_that_fits_goes_inline_at_half_price(rt, emu):
    # 26 items: the demo photos are photo-like (0.15-0.6 MB), so 26 of them pass the 19 MB inline limit and go
    # through a file (tested below).
    job = make_job(rt, 13, 2)
    assert job.item_count == 26

    assert tick(rt) == 26
    assert emu.counts["batches.create"] == 1 and emu.counts["files.upload.start"] == 0
    (rec,) = emu.batches.values()
    assert rec.from_file is None and len(rec.requests) == 26
    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.RUNNING}
    assert {i.stage for i in items} == {Stage.BATCH_SUBMITTED}
    assert {i.batch_name for i in items} == {f"batches/{rec.id}"}
    assert sorted(r["metadata"]["key"] for r in rec.requests) == sorted(str(i.id) for i in items)
    assert rec.display_name.endswith("#" + batch.digest([i.id for i in items]))

    assert tick(rt) == 0  # not due yet: no poll, no second batch
    assert emu.counts["batches.get"] == 0 and emu.counts["batches.create"] == 1

    tick(rt, now=later(5))
    assert emu.counts["batches.get"] == 1
    assert {i.stage for i in items_of(rt, job.id)} == {Stage.BATCH_SUBMITTED}
    emu.advance(to="running")
    assert tick(rt, now=later(10)) == 26
    assert {i.stage for i in items_of(rt, job.id)} == {Stage.BATCH_RUNNING}

    emu.advance(to="succeeded")
    assert tick(rt, now=later(30)) == 26
    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    assert emu.counts["batches.create"] == 1
    # no image was made online; each result got its alt text from the text model, as online items do
    called = [model for model, _body in emu.bodies]
    assert MODEL not in called and called.count(rt.settings.gemini_text_model) == 26
    with rt.db.session() as s:
        stages = [
            e.data.get("stage")
            for e in s.exec(select(Event).where(Event.job_id == job.id)).all()
            if e.kind == "transition" and e.data.get("stage")
        ]
    assert stages == [Stage.BATCH_RUNNING, Stage.STORE]  # batch_submitted -> batch_running -> store

    # costs add up: each item = its tokens at the batch price; the job = the sum of its items
    price = rt.settings.price(MODEL)
    for item in items:
        assert item.cost == pytest.approx(
            price.from_usage(input_tokens=_prompt_tokens(emu, item), output_tokens=1290, batch=True), abs=1e-6
        )
        assert item.cost == pytest.approx(0.0195, abs=0.0005)
        assert item.fingerprint and item.result_asset_id
    final = job_of(rt, job.id)
    assert final.status == JobStatus.SUCCEEDED
    assert final.actual_cost == pytest.approx(sum(i.cost for i in items), abs=1e-5)
    assert final.actual_cost == pytest.approx(price.per_image(batch=True) * 26, rel=0.05)
    with rt.db.session() as s:
        assets = s.exec(select(Asset).where(Asset.job_id == job.id)).all()
    assert len(assets) == 26 and all(rt.blobs.exists(a.sha256) for a in assets)
    names = {i.id: i.product["name"] for i in items}
    assert all(a.alt_text == f"{names[a.item_id]} on a light stone counter beside a window" for a in assets)


def _prompt_tokens(emu: GeminiEmulator, item: JobItem) -> int:
    """What the emulator billed for this item's request (its promptTokenCount)."""
    rec = next(iter(emu.batches.values()))
    for entry in rec.output["inlinedResponses"]["inlinedResponses"]:
        if entry["metadata"]["key"] == str(item.id):
            return entry["response"]["usageMetadata"]["promptTokenCount"]
    raise AssertionError(item.id)


def test_batch_through_a_jsonl_file_when_over_the_inline_limit(rt, emu, monkeypatch):
    monkeypatch.setattr(gemini_batch, "INLINE_LIMIT_BYTES", 100_000)
    job = make_job(rt, 13, 4)
    assert tick(rt) == 52
    assert emu.counts["files.upload.start"] == 1 and emu.counts["batches.create"] == 1
    (rec,) = emu.batches.values()
    assert rec.from_file and len(rec.requests) == 52
    assert sorted(r["key"] for r in rec.requests) == sorted(str(i.id) for i in items_of(rt, job.id))

    finish(rt, emu, job.id)
    assert emu.counts["files.download"] == 1
    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    assert all(i.cost == pytest.approx(0.0195, abs=0.0005) for i in items)
    assert job_of(rt, job.id).status == JobStatus.SUCCEEDED


# Restarts --------------------------------------------------------------------------------------------


def test_a_restart_mid_batch_polls_the_same_batch(tmp_path, emu):
    first = runtime(tmp_path, emu)
    job = make_job(first, 3, 2)
    assert tick(first) == 6
    first.db.dispose()

    again = runtime(tmp_path, emu)  # a new process: new engine, new provider, same job log
    tick(again, now=later(5))
    finish(again, emu, job.id)
    assert {i.status for i in items_of(again, job.id)} == {ItemStatus.SUCCEEDED}
    assert emu.counts["batches.create"] == 1


def test_a_crash_between_create_and_record_adopts_the_batch(rt, emu, monkeypatch):
    job = make_job(rt, 3, 2)
    real_mark = batch._mark

    def crash_when_recording(*args, **kw):
        if kw.get("batch_name"):
            raise RuntimeError("killed")
        return real_mark(*args, **kw)

    monkeypatch.setattr(batch, "_mark", crash_when_recording)
    tick(rt)  # the batch is created at Gemini, its name never reaches the job log
    monkeypatch.setattr(batch, "_mark", real_mark)
    assert emu.counts["batches.create"] == 1
    items = items_of(rt, job.id)
    assert all(i.batch_name is None and i.batch_token == batch.digest([i.id for i in items]) for i in items)

    tick(rt, now=later(1))  # the submitter's lease has not expired: leave it alone
    assert emu.counts["batches.list"] == 0

    tick(rt, now=later(batch.SUBMIT_LEASE_SECONDS / 60 + 1))
    assert emu.counts["batches.list"] == 1 and emu.counts["batches.create"] == 1
    (rec,) = emu.batches.values()
    assert {i.batch_name for i in items_of(rt, job.id)} == {f"batches/{rec.id}"}
    finish(rt, emu, job.id, minutes=batch.SUBMIT_LEASE_SECONDS / 60 + 30)
    assert {i.status for i in items_of(rt, job.id)} == {ItemStatus.SUCCEEDED}
    assert emu.counts["batches.create"] == 1


def test_a_create_whose_answer_is_lost_is_found_not_resubmitted(rt, emu):
    job = make_job(rt, 2, 2)
    emu.queue("hangup", route="batches.create")
    tick(rt)
    assert emu.counts["batches.create"] == 1 and len(emu.batches) == 1
    tick(rt, now=later(1))
    (rec,) = emu.batches.values()
    assert {i.batch_name for i in items_of(rt, job.id)} == {f"batches/{rec.id}"}
    finish(rt, emu, job.id)
    assert {i.status for i in items_of(rt, job.id)} == {ItemStatus.SUCCEEDED}
    assert emu.counts["batches.create"] == 1


def test_items_claimed_but_never_submitted_go_back_and_are_submitted_once(rt, emu, monkeypatch):
    job = make_job(rt, 2, 1)

    def crash(*a, **kw):
        raise RuntimeError("killed before create")

    monkeypatch.setattr(gemini_batch, "inline_requests", crash)
    tick(rt)
    monkeypatch.undo()
    assert emu.counts["batches.create"] == 0
    tick(rt, now=later(1))  # nothing to adopt: the items are queued again and submitted
    assert emu.counts["batches.list"] == 1 and emu.counts["batches.create"] == 1
    finish(rt, emu, job.id, minutes=60)
    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    assert {i.attempts for i in items} == {1}


# Cancel, expiry, failures ------------------------------------------------------------------------------


def test_cancelling_the_job_cancels_the_batch(rt, emu):
    job = make_job(rt, 3, 1)
    tick(rt)
    jobs.cancel_job(rt.db, job_id=job.id)
    tick(rt, now=later(1))
    (rec,) = emu.batches.values()
    assert emu.counts["batches.cancel"] == 1 and rec.state == "BATCH_STATE_CANCELLED"
    tick(rt, now=later(60))
    assert emu.counts["batches.cancel"] == 1 and emu.counts["batches.get"] == 0
    assert {i.status for i in items_of(rt, job.id)} == {ItemStatus.CANCELLED}


@pytest.mark.parametrize("state", ["expired", "failed", "cancelled"])
def test_a_batch_that_ends_without_results_sends_its_items_online(rt, emu, state):
    job = make_job(rt, 3, 1)
    tick(rt)
    emu.advance(to=state)
    assert tick(rt, now=later(5)) == 3
    items = items_of(rt, job.id)
    assert {(i.status, i.mode, i.batch_name, i.stage) for i in items} == {(ItemStatus.QUEUED, "online", None, None)}
    claimed = jobs.claim_items(rt.db, owner="worker-1", limit=10, lease_seconds=60)  # the online worker takes them now
    assert sorted(i.id for i in claimed) == [i.id for i in items]
    tick(rt, now=later(10))
    assert emu.counts["batches.create"] == 1  # never submitted to a batch again


def test_per_item_refusals_fail_and_overloads_go_online(rt, emu):
    products = rt.source("demo").list_products(ProductQuery(per_page=100)).items[:4]
    emu.on_prompt(f"Product: {products[0].name}.", "blocked")
    emu.on_prompt(f"Product: {products[1].name}.", "image_safety")
    emu.on_prompt(f"Product: {products[2].name}.", "503")
    job = make_job(rt, 4, 1)
    tick(rt)
    finish(rt, emu, job.id)
    by_product = {i.product_id: i for i in items_of(rt, job.id)}
    blocked, unsafe, busy, fine = (by_product[p.id] for p in products)
    assert blocked.status == ItemStatus.FAILED and "refused the request" in blocked.error_message
    assert unsafe.status == ItemStatus.FAILED and "safety filter" in unsafe.error_message
    assert (busy.status, busy.mode, busy.batch_name) == (ItemStatus.QUEUED, "online", None)
    assert fine.status == ItemStatus.SUCCEEDED


# Errors at submission ----------------------------------------------------------------------------------


def test_a_rate_limited_create_waits_and_resubmits(rt, emu):
    emu.retry_delay = "45s"
    emu.queue("429", route="batches.create")
    job = make_job(rt, 2, 1)
    before = utcnow()
    tick(rt)
    items = items_of(rt, job.id)
    assert {(i.status, i.mode, i.batch_name) for i in items} == {(ItemStatus.QUEUED, "batch", None)}
    assert all(i.next_attempt_at >= before + timedelta(seconds=45) for i in items)
    tick(rt, now=later(2))
    assert emu.counts["batches.create"] == 2 and len(emu.batches) == 1
    assert {i.attempts for i in items_of(rt, job.id)} == {1}


def test_a_bad_key_pauses_the_job_and_keeps_its_items(tmp_path, emu):
    rt = runtime(tmp_path, emu, gemini_api_key="wrong")
    job = make_job(rt, 2, 1)
    tick(rt)
    assert job_of(rt, job.id).status == JobStatus.PAUSED
    assert "rejected this Gemini API key" in job_of(rt, job.id).error
    assert {(i.status, i.mode, i.batch_name) for i in items_of(rt, job.id)} == {(ItemStatus.QUEUED, "batch", None)}


def test_no_key_pauses_without_claiming(tmp_path, emu):
    rt = runtime(tmp_path, emu, gemini_api_key=None)
    job = make_job(rt, 2, 1)
    tick(rt)
    assert job_of(rt, job.id).status == JobStatus.PAUSED
    assert emu.counts["batches.create"] == 0
    assert {i.status for i in items_of(rt, job.id)} == {ItemStatus.QUEUED}


def test_batch_mode_for_a_provider_without_a_batch_api_runs_online(rt, emu):
    job = make_job(rt, 2, 1, provider="studio", model="studio-v1")
    assert tick(rt) == 2
    assert {(i.mode, i.batch_name) for i in items_of(rt, job.id)} == {("online", None)}
    assert emu.counts["batches.create"] == 0


def test_display_name_names_the_item_set():
    name = batch.display_name(7, [5, 3, 4, 9, 10, 11, 20])
    assert name.startswith("imagegecko job 7 items 3-5,9-11,20 #")
    assert name.endswith(batch.digest([20, 11, 10, 9, 5, 4, 3]))
    assert len(batch.display_name(1, list(range(1, 2000, 2)))) < 128


def test_a_job_cancelled_while_its_batch_is_made_cancels_that_batch(rt, emu, monkeypatch):
    job = make_job(rt, 2, 1)
    real_mark = batch._mark

    def cancel_first(*args, **kw):
        if kw.get("batch_name"):
            jobs.cancel_job(rt.db, job_id=job.id)  # the user presses Cancel while the batch is being created
        return real_mark(*args, **kw)

    monkeypatch.setattr(batch, "_mark", cancel_first)
    tick(rt)
    (rec,) = emu.batches.values()
    assert emu.counts["batches.cancel"] == 1 and rec.state == "BATCH_STATE_CANCELLED"
    assert {i.status for i in items_of(rt, job.id)} == {ItemStatus.CANCELLED}


def test_preparation_is_time_boxed_and_the_rest_waits_for_the_next_batch(rt, emu, monkeypatch):
    monkeypatch.setattr(batch, "PREPARE_BUDGET_SECONDS", 0.0)  # one item per tick
    monkeypatch.setattr(batch, "PREPARE_THREADS", 1)
    job = make_job(rt, 3, 1)
    assert tick(rt) == 1
    queued = [i for i in items_of(rt, job.id) if i.status == ItemStatus.QUEUED]
    assert len(queued) == 2 and {(i.mode, i.batch_name, i.batch_token, i.attempts) for i in queued} == {
        ("batch", None, None, 0)
    }
    tick(rt)
    tick(rt)
    assert emu.counts["batches.create"] == 3
    finish(rt, emu, job.id)
    assert {i.status for i in items_of(rt, job.id)} == {ItemStatus.SUCCEEDED}


def test_the_workers_tick_submits_in_the_background(rt, emu):
    job = make_job(rt, 2, 1)
    assert batch.tick(rt) == 0  # returns at once: the submission runs in its own thread
    batch.wait_for_submissions(rt, timeout=60)
    assert emu.counts["batches.create"] == 1
    assert {i.stage for i in items_of(rt, job.id)} == {"batch_submitted"}
    batch.tick(rt)  # nothing left to submit: no second batch
    batch.wait_for_submissions(rt, timeout=60)
    assert emu.counts["batches.create"] == 1


def test_batch_alt_text_falls_back_to_the_template_past_its_budget_or_on_error(rt, emu, monkeypatch):
    from lib.generation import prompts
    from lib.sources.base import Product

    job = make_job(rt, 3, 1)
    tick(rt)
    emu.queue("503")  # the first alt text call fails: that item gets the template
    monkeypatch.setattr(batch, "ALT_TEXT_THREADS", 1)
    finish(rt, emu, job.id)
    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    with rt.db.session() as s:
        alts = {a.item_id: a.alt_text for a in s.exec(select(Asset).where(Asset.job_id == job.id)).all()}

    def template(item):
        return prompts.alt_text(
            prompts.product_info(Product.from_dict(item.product), item.variation_id),
            item.product.get("style") or "marble_counter",
        )

    assert alts[items[0].id] == template(items[0])
    assert [alts[i.id] for i in items[1:]] == [
        f"{i.product['name']} on a light stone counter beside a window" for i in items[1:]
    ]

    job2 = make_job(rt, 3, 2)  # other variants: new requests
    tick(rt, now=later(61))
    monkeypatch.setattr(batch, "ALT_TEXT_BUDGET_SECONDS", 0.0)  # no time for alt texts: all templates, no calls
    calls = emu.counts["generateContent"]
    finish(rt, emu, job2.id, minutes=120)
    assert emu.counts["generateContent"] == calls
    fresh = [i for i in items_of(rt, job2.id) if i.status == ItemStatus.SUCCEEDED]
    assert len(fresh) == 6
    with rt.db.session() as s:
        alts = {a.item_id: a.alt_text for a in s.exec(select(Asset).where(Asset.job_id == job2.id)).all()}
    assert all(alts[i.id] == template(i) for i in fresh)


def test_polls_back_off_as_the_batch_ages(rt, emu):
    assert [batch.poll_delay(age) for age in (0, 50, 600, 3000, 86_400)] == [
        batch.POLL_MIN_SECONDS,
        batch.POLL_MIN_SECONDS,
        60.0,
        batch.POLL_MAX_SECONDS,
        batch.POLL_MAX_SECONDS,
    ]
    job = make_job(rt, 2, 1)
    tick(rt)
    gaps = []
    clock = utcnow()
    for _ in range(8):  # each poll finds the batch still pending; the next one is scheduled further out
        due = min(i.next_attempt_at for i in items_of(rt, job.id))
        clock = max(clock, due) + timedelta(minutes=10)
        polls = emu.counts["batches.get"]
        tick(rt, now=clock)
        assert emu.counts["batches.get"] == polls + 1
        gaps.append((min(i.next_attempt_at for i in items_of(rt, job.id)) - clock).total_seconds())
    assert gaps == sorted(gaps) and gaps[0] > batch.POLL_MIN_SECONDS and gaps[-1] == batch.POLL_MAX_SECONDS


def test_a_slow_text_model_cannot_hold_up_storing_the_results(rt, emu, monkeypatch):
    monkeypatch.setattr(batch, "ALT_TEXT_BUDGET_SECONDS", 1.0)
    emu.text_gate = threading.Event()  # the text model answers nothing until the results are stored
    job = make_job(rt, 3, 1)
    tick(rt)
    try:
        finish(rt, emu, job.id)
        assert emu.text_answered == 0  # stored while every alt-text call was still unanswered
    finally:
        emu.text_gate.set()
    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    with rt.db.session() as s:
        alts = [a.alt_text for a in s.exec(select(Asset).where(Asset.job_id == job.id)).all()]
    assert len(alts) == 3 and not any("light stone counter" in a for a in alts)  # templates
