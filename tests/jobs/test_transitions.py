"""Job creation, user actions and the queries pages rely on."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from lib import jobs
from lib.errors import InputError, JobError
from lib.models import Asset, Job, JobItem
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.worker import run_until_idle
from tests.conftest import ScriptedProvider


def _products(rt: Runtime, n: int):
    return rt.source("demo").list_products(ProductQuery(per_page=100)).items[:n]


def _job_count(rt: Runtime) -> int:
    with rt.db.session() as s:
        return s.exec(select(func.count()).select_from(Job)).one()


def test_create_job_makes_one_item_per_product_variation_and_variant(rt: Runtime) -> None:
    products = _products(rt, 14)
    variable = next(p for p in products if p.variations)
    simple = [p for p in products if not p.variations][:2]
    selections = [jobs.Selection(p) for p in simple] + [jobs.Selection(variable, v.id) for v in variable.variations]
    job = jobs.create_job(
        rt, spec=jobs.JobSpec(source_kind="demo", variants=3, style="oak_table"), selections=selections
    )
    items = jobs.job_items(rt.db, job.id)
    assert job.item_count == len(items) == 3 * (2 + len(variable.variations))
    assert {(i.product_id, i.variation_id) for i in items} == {(s.product.id, s.variation_id) for s in selections}
    assert sorted({i.variant_index for i in items}) == [0, 1, 2]
    assert all(i.status == "queued" and simple[0].name in i.prompt for i in items if i.product_id == simple[0].id)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (jobs.JobSpec(source_kind="demo", variants=5), "between 1 and 4"),
        (jobs.JobSpec(source_kind="demo", aspect_ratio="7:3"), "not supported"),
        (jobs.JobSpec(source_kind="demo", style="moon_base"), "Unknown style"),
        (jobs.JobSpec(source_kind="nowhere"), "Unknown product source"),
        (jobs.JobSpec(source_kind="demo", provider="gemini", model="gpt-image"), "not configured"),
        (jobs.JobSpec(source_kind="demo", use_reference=True), "Reference shots are only used by Gemini"),
    ],
)
def test_bad_job_settings_are_refused_and_change_nothing(rt: Runtime, spec: jobs.JobSpec, message: str) -> None:
    with pytest.raises(InputError, match=message):
        jobs.create_job(rt, spec=spec, selections=[jobs.Selection(p) for p in _products(rt, 2)])
    assert _job_count(rt) == 0


def test_empty_selection_is_refused(rt: Runtime) -> None:
    with pytest.raises(InputError, match="Select at least one product"):
        jobs.create_job(rt, spec=jobs.JobSpec(source_kind="demo"), selections=[])
    assert _job_count(rt) == 0


def test_cost_estimate_uses_the_price_table(rt: Runtime) -> None:
    spec = jobs.JobSpec(source_kind="demo", provider="gemini", model="gemini-2.5-flash-image", variants=2)
    per_image = rt.settings.price("gemini-2.5-flash-image").per_image()
    assert jobs.estimate_cost(rt, spec, 10) == pytest.approx(per_image * 20, rel=1e-3)
    batch = jobs.JobSpec(
        source_kind="demo", provider="gemini", model="gemini-2.5-flash-image", variants=2, mode="batch"
    )
    assert jobs.estimate_cost(rt, batch, 10) == pytest.approx(per_image * 10, rel=1e-3)
    assert jobs.estimate_cost(rt, jobs.JobSpec(source_kind="demo"), 10) == 0.0


def test_auto_style_uses_each_products_category_default(rt: Runtime) -> None:
    from lib.generation import prompts

    products = _products(rt, 14)
    job = jobs.create_job(
        rt, spec=jobs.JobSpec(source_kind="demo"), selections=[jobs.Selection(p) for p in products if not p.variations]
    )
    for item in jobs.job_items(rt.db, job.id):
        assert item.product["style"] == prompts.default_style(item.product["category"])


def test_progress_review_and_gallery_after_a_run(rt: Runtime) -> None:
    rt.set_provider("studio", ScriptedProvider())
    job = jobs.create_job(
        rt, spec=jobs.JobSpec(source_kind="demo", variants=2), selections=[jobs.Selection(p) for p in _products(rt, 3)]
    )
    before = jobs.job_progress(rt.db, job.id)
    assert (before.total, before.finished, before.counts) == (6, 0, {"queued": 6})
    run_until_idle(rt)
    progress = jobs.job_progress(rt.db, job.id)
    assert (progress.status, progress.finished, progress.fraction, progress.done) == ("succeeded", 6, 1.0, True)
    entries = jobs.gallery(rt.db, job.id)
    assert len(entries) == 3 and all(len(e.assets) == 2 and e.source_sha for e in entries)
    assert all(a.alt_text and not a.alt_text.lower().startswith("image of") for e in entries for a in e.assets)

    first = entries[0].assets[0]
    assert jobs.set_review(rt.db, asset_ids=[first.id], state="rejected") == 1
    assert jobs.approve_all(rt.db, job_id=job.id) == 5  # the rejected one stays rejected
    assert len(jobs.approved_assets(rt.db, job.id)) == 5
    assert [a.id for e in jobs.gallery(rt.db, job.id, "rejected") for a in e.assets] == [first.id]
    with pytest.raises(InputError):
        jobs.set_review(rt.db, asset_ids=[first.id], state="maybe")
    jobs.set_alt_text(rt.db, asset_id=first.id, text="  Stoneware mug on   a marble counter ")
    with rt.db.session() as s:
        assert s.get(Asset, first.id).alt_text == "Stoneware mug on a marble counter"


def test_regenerate_adds_one_item_with_the_edited_prompt_and_skips_the_cache(rt: Runtime) -> None:
    provider = ScriptedProvider()
    rt.set_provider("studio", provider)
    job = jobs.create_job(
        rt, spec=jobs.JobSpec(source_kind="demo"), selections=[jobs.Selection(p) for p in _products(rt, 2)]
    )
    run_until_idle(rt)
    first = jobs.job_items(rt.db, job.id)[0]
    new = jobs.regenerate_item(rt, item_id=first.id, prompt_extra="with a sprig of rosemary")
    items = jobs.job_items(rt.db, job.id)
    assert len(items) == 3 and new.parent_item_id == first.id and "rosemary" in new.prompt
    calls = provider.calls
    run_until_idle(rt)
    assert provider.calls == calls + 1
    assert jobs.get_job(rt.db, job.id).status == "succeeded"
    assert len(jobs.gallery(rt.db, job.id)[0].assets) == 2


def test_list_jobs_pages_newest_first_and_filters(rt: Runtime) -> None:
    products = _products(rt, 1)
    ids = [
        jobs.create_job(rt, spec=jobs.JobSpec(source_kind="demo"), selections=[jobs.Selection(products[0])]).id
        for _ in range(25)
    ]
    jobs.cancel_job(rt.db, job_id=ids[0])
    page1, total = jobs.list_jobs(rt.db, page=1, per_page=10)
    page3, _ = jobs.list_jobs(rt.db, page=3, per_page=10)
    assert total == 25 and [j.id for j in page1] == ids[::-1][:10] and len(page3) == 5
    cancelled, n = jobs.list_jobs(rt.db, status="cancelled")
    assert n == 1 and cancelled[0].id == ids[0]
    assert jobs.list_jobs(rt.db, source_kind="woocommerce") == ([], 0)
    assert jobs.latest_job_id(rt.db) == ids[-1]


def test_cancel_and_retry_rules(rt: Runtime) -> None:
    job = jobs.create_job(
        rt, spec=jobs.JobSpec(source_kind="demo"), selections=[jobs.Selection(p) for p in _products(rt, 3)]
    )
    item = jobs.job_items(rt.db, job.id)[0]
    jobs.cancel_item(rt.db, item_id=item.id)
    with pytest.raises(JobError):
        jobs.cancel_item(rt.db, item_id=item.id)
    assert jobs.cancel_job(rt.db, job_id=job.id) == 2
    assert {i.status for i in jobs.job_items(rt.db, job.id)} == {"cancelled"}
    with pytest.raises(JobError, match="cancelled"):
        jobs.retry_failed(rt.db, job_id=job.id)
    with pytest.raises(JobError, match="does not exist"):
        jobs.cancel_job(rt.db, job_id=999)


def test_totals_count_images_cost_and_days(rt: Runtime) -> None:
    rt.set_provider("studio", ScriptedProvider(cost=0.5))
    jobs.create_job(rt, spec=jobs.JobSpec(source_kind="demo"), selections=[jobs.Selection(p) for p in _products(rt, 4)])
    run_until_idle(rt)
    t = jobs.totals(rt.db)
    assert (t.images, t.success_rate, t.cost) == (4, 1.0, pytest.approx(2.0))
    assert len(t.per_day) == 1 and t.per_day[0][1:] == (4, pytest.approx(2.0))
    with rt.db.session() as s:
        assert s.exec(select(func.sum(JobItem.cost))).one() == pytest.approx(2.0)
