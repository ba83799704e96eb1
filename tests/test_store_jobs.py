"""Publishing and rollback as jobs the worker runs (lib/store_jobs.py), on the WooCommerce emulator through the real
clients: queued with the plan's checks, run by the worker, resumed after a crash without a second upload, cancelled
between products, with progress like generation."""

from __future__ import annotations

import re

import pytest

from lib import actions, jobs, publish, store_jobs
from lib.auth.roles import local_admin
from lib.errors import InputError, JobError
from lib.jobs import job_progress
from lib.models import ItemStatus, PublicationState
from lib.worker import run_until_idle
from tests import test_publish
from tests.test_publish import Killed, ids, make_job, uploads

# The publish tests' fixtures: a store connection, its products, retry waits recorded instead of slept.
conn, woo, waits, rt_settings = test_publish.conn, test_publish.woo, test_publish.waits, test_publish.rt_settings


def test_a_publish_job_is_queued_then_run_by_the_worker(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["19"], None), (woo["17"], None)])
    queued = store_jobs.queue_publish(rt, job_id=job_id, role="gallery")
    assert queued.item_count == 2 and uploads(woo_emu) == 0  # one item per product; nothing sent yet
    assert job_progress(rt.db, queued.id).label == "0/2 · queued"
    run_until_idle(rt, job_id=queued.id)
    report = store_jobs.report(rt, queued.id)
    assert [p.state for p in report.publications] == [PublicationState.DONE] * 3 and report.failures == []
    mug = [p.remote_media_id for p in report.publications if p.product_id == "17"]
    assert ids(woo_emu, 17) == ["10", *mug] and len(mug) == 2  # in order, one after the other
    assert job_progress(rt.db, queued.id).done and jobs.get_job(rt.db, queued.id).status == "succeeded"

    back = store_jobs.queue_rollback(rt, job_id=job_id)
    run_until_idle(rt, job_id=back.id)
    assert {i.status for i in jobs.job_items(rt.db, back.id)} == {ItemStatus.SUCCEEDED}
    assert ids(woo_emu, 17) == ["10"] and ids(woo_emu, 19) == ["12", "13"]


def test_nothing_that_fits_is_refused_when_queueing(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    with pytest.raises(InputError, match="^Nothing was published. Image #1 of “Red Mug”"):
        store_jobs.queue_publish(rt, job_id=job_id, role="variation")


def test_a_job_killed_mid_way_resumes_without_a_second_upload(rt, woo_emu, conn, woo, monkeypatch):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["18"], None)])
    queued = store_jobs.queue_publish(rt, job_id=job_id, role="featured")

    def die(pub, media_id):
        raise Killed  # the process dies after the store took the upload, before it was recorded

    monkeypatch.setitem(publish.HOOKS, "after_upload", die)
    worker_items = jobs.claim_items(rt.db, owner="doomed", limit=1, lease_seconds=0.0)  # a worker takes an item ...
    [item] = worker_items
    with pytest.raises(Killed):
        store_jobs.run_item(rt, jobs.get_job(rt.db, queued.id), item, stage=lambda s: True, cancelled=lambda: False)
    publish.HOOKS.clear()  # ... and dies; its lease is already expired
    run_until_idle(rt, job_id=queued.id)
    report = store_jobs.report(rt, queued.id)
    assert [p.state for p in report.publications] == [PublicationState.DONE] * 2
    assert uploads(woo_emu) == 2 and len(woo_emu.media_named("wcr-")) == 2  # one per image, none twice


def test_cancel_stops_before_the_next_product(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["18"], None)])
    queued = store_jobs.queue_publish(rt, job_id=job_id, role="gallery")
    jobs.cancel_job(rt.db, job_id=queued.id)
    run_until_idle(rt, job_id=queued.id)
    assert uploads(woo_emu) == 0 and ids(woo_emu, 17) == ["10"]
    assert jobs.get_job(rt.db, queued.id).status == "cancelled"


def test_a_conflict_fails_the_rollback_item_with_its_sentence(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    publish.publish_job(rt, job_id, "featured")
    woo_emu.products[17]["image_ids"].append(12)
    back = store_jobs.queue_rollback(rt, job_id=job_id)
    run_until_idle(rt, job_id=back.id)
    [item] = jobs.job_items(rt.db, back.id)
    assert item.status == ItemStatus.FAILED and item.error_kind == "PublishConflict"
    assert item.error_message.startswith("“Red Mug” (WCR-MUG-RED): changed in the store after we published")


def test_a_second_store_job_on_the_same_job_waits_for_the_first(rt, woo_emu, conn, woo):
    """Two store jobs on one job would race each other's image lists: lib refuses the second, in a sentence, until
    the first has finished or been cancelled."""
    admin = local_admin("local")
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    first = actions.queue_publish(rt, actor=admin, job_id=job_id, role="gallery")
    busy = f"Job {job_id} already has a publishing job (job #{first.id}) queued or running. Wait for it to finish"
    with pytest.raises(JobError, match=re.escape(busy)):
        actions.queue_publish(rt, actor=admin, job_id=job_id, role="featured")
    with pytest.raises(JobError, match=re.escape(busy)):
        actions.queue_rollback(rt, actor=admin, job_id=job_id)
    assert [j.id for j in jobs.list_jobs(rt.db)[0] if j.provider == "store"] == [first.id]  # nothing else queued

    run_until_idle(rt, job_id=first.id)
    back = actions.queue_rollback(rt, actor=admin, job_id=job_id)  # finished: the next one may start
    jobs.cancel_job(rt.db, job_id=back.id)
    again = actions.queue_publish(rt, actor=admin, job_id=job_id, role="gallery")  # cancelled counts as finished
    assert again.id != back.id
