"""Gemini jobs end to end: lib.jobs + lib.worker + GeminiProvider (real SDK) against the loopback emulator."""

from __future__ import annotations

import pytest
from sqlmodel import select

from lib import jobs
from lib.config import Settings
from lib.connections import save_connection
from lib.models import Event, ItemStatus, Job, JobItem, JobStatus
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.worker import batch, run_until_idle
from tests.emulators.gemini import GeminiEmulator, b64decode_any
from tests.generation.conftest import items_of, job_of, tick

MODEL = "gemini-2.5-flash-image"


def runtime(home, emu, **kw) -> Runtime:
    fields = dict(
        secrets_file=None,
        imagegecko_home=home,
        gemini_api_key="test-key",
        gemini_base_url=emu.url,
        rate_limits={"gemini": 0},
        backoff_base_seconds=0.05,
        backoff_max_seconds=1.0,
        worker_concurrency=4,
        poll_seconds=0.05,
    )
    fields.update(kw)
    return Runtime.build(Settings.load(**fields))


@pytest.fixture
def rt(tmp_path, emu):
    return runtime(tmp_path, emu)


def products(rt: Runtime, n: int):
    items = rt.source("demo").list_products(ProductQuery(per_page=100)).items[:n]
    assert len(items) == n
    return items


def make_job(rt: Runtime, n: int, variants: int = 1, *, mode: str = "online", use_reference: bool = False) -> Job:
    spec = jobs.JobSpec(
        source_kind="demo",
        provider="gemini",
        model=MODEL,
        style="marble_counter",
        variants=variants,
        mode=mode,
        use_reference=use_reference,
    )
    return jobs.create_job(rt, spec=spec, selections=[jobs.Selection(p) for p in products(rt, n)])


def events_of(rt: Runtime, job_id: int) -> list[Event]:
    with rt.db.session() as s:
        return list(s.exec(select(Event).where(Event.job_id == job_id).order_by(Event.id)).all())


def images_sent(emu: GeminiEmulator) -> list[list[bytes]]:
    """The input images of each image-generation request the emulator received, in order."""
    return [
        [b64decode_any(p["inlineData"]["data"]) for p in body["contents"][0]["parts"] if "inlineData" in p]
        for model, body in emu.bodies
        if model == MODEL
    ]


def prompts_sent(emu: GeminiEmulator) -> list[str]:
    return [
        p["text"] for model, body in emu.bodies if model == MODEL for p in body["contents"][0]["parts"] if "text" in p
    ]


def approve(rt: Runtime, item: JobItem) -> bytes:
    """Approve an item's image as the gallery does; returns the image."""
    assert jobs.set_review(rt.db, asset_ids=[item.result_asset_id], state="approved") == 1
    [asset] = [a for entry in jobs.gallery(rt.db, item.job_id) for a in entry.assets if a.id == item.result_asset_id]
    return rt.blobs.get(asset.sha256)


def image_faults(emu: GeminiEmulator) -> list[int]:
    return [
        status for _m, path, status in emu.log if path.endswith(f"{MODEL}:generateContent") and status in (429, 503)
    ]


# Online ------------------------------------------------------------------------------------------


def test_twenty_items_online_through_injected_faults(rt, emu):
    emu.fault_ratio = 0.3
    emu.retry_delay = "1s"
    job = make_job(rt, 5, variants=4)
    assert job.item_count == 20

    run_until_idle(rt)

    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    assert job_of(rt, job.id).status == JobStatus.SUCCEEDED
    faults = image_faults(emu)
    assert faults, "the fault ratio injected no 429/503 on image calls"

    # every retry waited at least what the server asked for (RetryInfo 1s), as recorded in the job log
    retries = [e for e in events_of(rt, job.id) if e.kind == "transition" and e.data.get("delay") is not None]
    assert len(retries) == len(faults)
    for e in retries:
        assert e.data["retry_after"] == 1.0
        assert e.data["delay"] >= e.data["retry_after"]
        assert e.data["kind"] in ("ProviderQuota", "ProviderRetryable")
    assert sum(i.attempts for i in items) == 20 + len(faults)

    # ... and in wall-clock time: an item's next call started at least 1 s after the 429/503 answer arrived
    calls: dict[int, list[Event]] = {}
    for e in events_of(rt, job.id):
        if e.kind == "request" and e.url.endswith(f"{MODEL}:generateContent"):
            calls.setdefault(e.item_id, []).append(e)
    waits = []
    for series in calls.values():
        for failed, nxt in zip(series, series[1:], strict=False):
            if failed.status_code in (429, 503):
                started = nxt.at.timestamp() - (nxt.duration_ms or 0) / 1000
                waits.append(started - failed.at.timestamp())
    assert len(waits) == len(faults) and min(waits) >= 1.0 - 0.05  # (event times are taken a hair after the call)

    # costs add up: item = its tokens × the price; job = the sum of its items
    price = rt.settings.price(MODEL)
    usage_by_item = {
        e.item_id: e.data["usage"] for e in events_of(rt, job.id) if e.kind == "request" and e.data.get("usage")
    }
    for item in items:
        usage = usage_by_item[item.id]
        assert usage["output_tokens"] == 1290
        assert item.cost == pytest.approx(
            price.from_usage(input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"]), abs=1e-6
        )
    assert job_of(rt, job.id).actual_cost == pytest.approx(sum(i.cost for i in items), abs=1e-5)
    assert job_of(rt, job.id).actual_cost == pytest.approx(20 * 0.039, rel=0.02)


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        ("blocked", "Gemini refused the request for this product"),
        ("image_safety", "Gemini's safety filter refused to make this image"),
        ("no_image", "Gemini answered without making an image"),
        ("text_only", "Gemini replied with text instead of an image"),
        ("400", "Gemini refused the request: Request contains an invalid argument"),
    ],
)
def test_a_permanent_answer_fails_its_item_with_the_reason(rt, emu, outcome, words):
    bad, *_ = products(rt, 3)
    emu.on_prompt(f"Product: {bad.name}.", outcome)
    job = make_job(rt, 3)

    run_until_idle(rt)

    by_product = {i.product_id: i for i in items_of(rt, job.id)}
    failed = by_product.pop(bad.id)
    assert failed.status == ItemStatus.FAILED and failed.attempts == 1
    assert failed.error_message.startswith(words)
    assert {i.status for i in by_product.values()} == {ItemStatus.SUCCEEDED}
    final = job_of(rt, job.id)
    assert final.status == JobStatus.FINISHED
    assert final.actual_cost == pytest.approx(sum(i.cost for i in by_product.values()), abs=1e-5)


def test_a_rejected_key_pauses_the_job_until_a_good_one_is_saved(tmp_path, emu):
    rt = runtime(tmp_path, emu, gemini_api_key="not-a-key")
    job = make_job(rt, 3)

    run_until_idle(rt)

    paused = job_of(rt, job.id)
    assert paused.status == JobStatus.PAUSED
    assert "rejected this Gemini API key" in paused.error
    assert {i.status for i in items_of(rt, job.id)} == {ItemStatus.QUEUED}
    assert len(image_faults(emu)) == 0 and emu.counts["generateContent"] <= 4  # no retry storm

    save_connection(rt.db, rt.vault, kind="gemini", name="Gemini", secret={"api_key": "test-key"})
    jobs.resume_job(rt.db, job_id=job.id)
    run_until_idle(rt)
    assert job_of(rt, job.id).status == JobStatus.SUCCEEDED


@pytest.mark.parametrize(("code", "words"), [("401", "rejected this Gemini API key"), ("403", "permission denied")])
def test_a_401_or_403_pauses_the_job_and_resuming_finishes_it(rt, emu, code, words):
    emu.queue(code, n=10)  # more than the job's calls: any retry storm would show
    job = make_job(rt, 3)

    run_until_idle(rt)

    paused = job_of(rt, job.id)
    assert paused.status == JobStatus.PAUSED and words in paused.error
    assert {i.status for i in items_of(rt, job.id)} == {ItemStatus.QUEUED}
    assert emu.counts["generateContent"] <= 4  # in flight when the first answer came back, nothing more

    emu.clear_queue()  # the key works again
    jobs.resume_job(rt.db, job_id=job.id)
    run_until_idle(rt)
    assert job_of(rt, job.id).status == JobStatus.SUCCEEDED


# Reference shots: later variants see the product's first approved image --------------------------------------


@pytest.mark.parametrize("use_reference", [True, False])
def test_a_variant_regenerated_after_approval_is_sent_the_approved_shot_only_when_asked(rt, emu, use_reference):
    job = make_job(rt, 1, variants=2, use_reference=use_reference)
    run_until_idle(rt)
    first, second = items_of(rt, job.id)
    assert [len(sent) for sent in images_sent(emu)] == [1, 1]  # nothing was approved yet: the photo alone
    approved = approve(rt, first)
    emu.reset_counts()

    jobs.regenerate_item(rt, item_id=second.id)
    run_until_idle(rt)

    [sent] = images_sent(emu)
    [prompt] = prompts_sent(emu)
    if use_reference:
        assert len(sent) == 2 and sent[1] == approved  # the product photo first, then the approved shot
        assert "approved earlier photo of this same product" in prompt
    else:
        assert len(sent) == 1 and "approved earlier photo" not in prompt
    assert job_of(rt, job.id).status == JobStatus.SUCCEEDED


def test_a_new_job_sends_later_variants_the_first_approved_shot_and_does_not_reuse_plain_results(rt, emu):
    earlier = make_job(rt, 1, variants=2)
    run_until_idle(rt)
    first, second = items_of(rt, earlier.id)
    jobs.regenerate_item(rt, item_id=second.id, prompt_extra="on a sunny windowsill")  # a shot that looks different
    run_until_idle(rt)
    *_, redone = items_of(rt, earlier.id)
    reference = approve(rt, redone)  # approved before variant 0 was: the reference, though made later
    assert approve(rt, first) != reference
    emu.reset_counts()

    job = make_job(rt, 1, variants=3, use_reference=True)
    run_until_idle(rt)

    # variant 0 asks exactly what the earlier job asked: reused, no call. Variants 1 and 2 now carry the approved
    # shot, so the earlier job's variant 1 (made without it) is not reused in their place.
    sent = images_sent(emu)
    assert sorted(len(images) for images in sent) == [2, 2] and all(images[1] == reference for images in sent)
    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    assert [i.cost == 0 for i in items] == [True, False, False]


# Batch, through the worker --------------------------------------------------------------------------


def test_a_batch_job_runs_through_the_worker(rt, emu, monkeypatch):
    monkeypatch.setattr(batch, "POLL_MIN_SECONDS", 0.01)
    emu.batch_auto = True  # each poll moves the batch on: pending -> running -> succeeded
    job = make_job(rt, 3, variants=2, mode="batch")

    run_until_idle(rt)

    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    assert emu.counts["batches.create"] == 1
    assert not [p for _m, p, _s in emu.log if p.endswith(f"{MODEL}:generateContent")]  # nothing online
    assert all(i.cost == pytest.approx(0.0195, abs=0.0005) for i in items)
    assert job_of(rt, job.id).actual_cost == pytest.approx(sum(i.cost for i in items), abs=1e-5)


def test_a_batch_job_sends_later_variants_the_approved_shot_too(rt, emu, monkeypatch):
    monkeypatch.setattr(batch, "POLL_MIN_SECONDS", 0.01)
    emu.batch_auto = True
    earlier = make_job(rt, 1)
    run_until_idle(rt)
    reference = approve(rt, items_of(rt, earlier.id)[0])

    job = make_job(rt, 1, variants=2, mode="batch", use_reference=True)
    run_until_idle(rt)

    assert {i.status for i in items_of(rt, job.id)} == {ItemStatus.SUCCEEDED}
    [sent] = emu.batches.values()
    [request] = sent.requests  # variant 0 is the earlier job's request again: reused, not sent
    parts = request["request"]["contents"][0]["parts"]
    images = [b64decode_any(p["inlineData"]["data"]) for p in parts if "inlineData" in p]
    assert len(images) == 2 and images[1] == reference


def test_an_expired_batch_finishes_online(rt, emu):
    job = make_job(rt, 3, mode="batch")
    tick(rt)
    emu.advance(to="expired")
    for item in items_of(rt, job.id):  # the next poll is due now
        with rt.db.transaction() as s:
            row = s.get(JobItem, item.id)
            row.next_attempt_at = row.created_at
            s.add(row)

    run_until_idle(rt)

    items = items_of(rt, job.id)
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    assert emu.counts["batches.create"] == 1
    assert len([p for _m, p, s in emu.log if p.endswith(f"{MODEL}:generateContent") and s == 200]) == 3
    assert all(i.cost == pytest.approx(0.039, abs=0.001) for i in items)  # online price
