"""The Gallery's reads in SQL: one page of products under each filter, and the counts over the whole job, agree with
reading the whole job (on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import select

from lib import jobs
from lib.fidelity import Report, Verdict
from lib.fidelity import records as fidelity_records
from lib.jobs import queries
from lib.models import Asset, ItemStatus, JobItem, Publication, PublicationState
from lib.runtime import Runtime
from lib.sources.base import ProductQuery


def _made(rt: Runtime, job_id: int) -> None:
    """Each queued item finished with a generated image, as the worker leaves it (without running the provider or
    the fidelity check, so the test says which images are flagged)."""
    with rt.db.transaction() as s:
        for item in s.exec(select(JobItem).where(JobItem.job_id == job_id, JobItem.status == ItemStatus.QUEUED)):
            asset = Asset(
                sha256=f"{item.id:064x}", job_id=job_id, item_id=item.id, product_id=item.product_id,
                variation_id=item.variation_id,
            )  # fmt: skip
            s.add(asset)
            s.flush()
            item.status, item.result_asset_id, item.source_sha = ItemStatus.SUCCEEDED, asset.id, "0" * 64
            s.add(item)


def _job(rt: Runtime) -> int:
    """Simple products with two variants each, every variation of a variable product, then one product's first
    image regenerated (a later item of an early product)."""
    products = rt.source("demo").list_products(ProductQuery(per_page=100)).items
    variable = next(p for p in products if p.variations)
    simple = [p for p in products if not p.variations][:5]
    selections = [jobs.Selection(p) for p in simple] + [jobs.Selection(variable, v.id) for v in variable.variations]
    job = jobs.create_job(rt, spec=jobs.JobSpec(source_kind="demo", variants=2), selections=selections)
    assert job.id is not None
    _made(rt, job.id)
    jobs.regenerate_item(rt, item_id=jobs.job_items(rt.db, job.id)[0].id or 0, prompt_extra="brighter")
    _made(rt, job.id)
    return job.id


def _shape(entries: list[jobs.GalleryEntry]) -> list[tuple[str, str | None, list[int | None], list[int | None]]]:
    return [(e.product_id, e.variation_id, [i.id for i in e.items], [a.id for a in e.assets]) for e in entries]


def _pages(rt: Runtime, job_id: int, review_state: str | None, per_page: int) -> tuple[list[jobs.GalleryEntry], int]:
    out: list[jobs.GalleryEntry] = []
    totals = set()
    for offset in range(0, 40, per_page):
        page, total = jobs.gallery_page(rt.db, job_id, review_state=review_state, offset=offset, limit=per_page)
        out += page
        totals.add(total)
    assert len(totals) == 1
    return out, totals.pop()


def _keep(entries: list[jobs.GalleryEntry], wanted: set[int | None]) -> list[jobs.GalleryEntry]:
    """The whole-job gallery as a filter shows it: products with a wanted image, only those images."""
    kept = [replace(e, assets=[a for a in e.assets if a.id in wanted]) for e in entries]
    return [e for e in kept if e.assets]


def test_pages_of_the_gallery_under_each_filter_match_the_whole_job(rt: Runtime) -> None:
    job_id = _job(rt)
    whole = jobs.gallery(rt.db, job_id)
    assets = [a for e in whole for a in e.assets]
    # The regenerated product keeps its place (first), with both its images.
    assert len(whole[0].items) == 3 and len(whole[0].assets) == 3
    assert any(e.variation_id for e in whole)

    first, second, third, fourth = assets[0], assets[1], assets[4], assets[-1]
    jobs.set_review(rt.db, asset_ids=[first.id or 0, third.id or 0], state="approved")
    jobs.set_review(rt.db, asset_ids=[fourth.id or 0], state="rejected")
    for asset, verdict in ((second, Verdict.REDRAWN), (first, Verdict.CHECK), (third, Verdict.FAITHFUL)):
        fidelity_records.record(
            rt.db, asset_id=asset.id or 0, job_id=job_id, report=Report(verdict, (), {}, ())
        )  # fmt: skip
    whole = jobs.gallery(rt.db, job_id)
    states = {a.id: a.review_state for e in whole for a in e.assets}

    for per_page in (1, 3, 8):
        paged, total = _pages(rt, job_id, None, per_page)
        assert _shape(paged) == _shape(whole) and total == len(whole)
        for state in ("pending", "approved", "rejected"):
            expected = _keep(whole, {a for a, s in states.items() if s == state})
            paged, total = _pages(rt, job_id, state, per_page)
            assert _shape(paged) == _shape(expected) and total == len(expected)
        # Needs a look: flagged by the fidelity check and not reviewed yet (the approved "check" one is not).
        paged, total = _pages(rt, job_id, jobs.FLAGGED, per_page)
        assert _shape(paged) == _shape(_keep(whole, {second.id})) and total == 1

    assert [e.product_id for e in _pages(rt, job_id, "approved", 8)[0]] == [whole[0].product_id, whole[1].product_id]
    assert jobs.gallery_page(rt.db, job_id, offset=100, limit=8) == ([], len(whole))


def test_gallery_counts_over_the_whole_job(rt: Runtime) -> None:
    job_id = _job(rt)
    whole = jobs.gallery(rt.db, job_id)
    assets = [a for e in whole for a in e.assets]
    variation = next(a for a in assets if a.variation_id)
    jobs.set_review(rt.db, asset_ids=[assets[0].id or 0, assets[1].id or 0], state="rejected")
    fidelity_records.record(
        rt.db, asset_id=assets[2].id or 0, job_id=job_id, report=Report(Verdict.REDRAWN, (), {}, ())
    )
    fidelity_records.record(
        rt.db, asset_id=assets[0].id or 0, job_id=job_id, report=Report(Verdict.REDRAWN, (), {}, ())
    )
    counts = jobs.gallery_counts(rt.db, job_id)
    assert counts.products == len(whole)
    assert counts.images == {"pending": len(assets) - 2, "rejected": 2}
    assert counts.flagged_waiting == 1  # the rejected redrawn image has had its look
    assert not counts.approved_variations
    assert (counts.published_images, counts.published_products) == (0, 0)

    jobs.set_review(rt.db, asset_ids=[variation.id or 0, assets[3].id or 0], state="approved")
    with rt.db.transaction() as s:  # two live images on one store product, one rolled back elsewhere
        for asset, product, state in (
            (variation, "700", PublicationState.DONE),
            (assets[3], "700", PublicationState.DONE),
            (assets[3], "701", PublicationState.ROLLED_BACK),
        ):
            s.add(Publication(asset_id=asset.id or 0, job_id=job_id, product_id=product, state=state))
    counts = jobs.gallery_counts(rt.db, job_id)
    assert counts.approved_variations and counts.images["approved"] == 2
    assert (counts.published_images, counts.published_products) == (2, 1)
    live = jobs.live_publications(rt.db, job_id, product_ids=[], asset_ids=[assets[3].id or 0])
    assert [(p.asset_id, p.product_id) for p in live] == [(assets[3].id, "700")]
    assert jobs.approved_ids(rt.db, job_id) == sorted([variation.id or 0, assets[3].id or 0])


def test_the_worker_poll_sees_batch_work_among_online_items(rt: Runtime) -> None:
    products = rt.source("demo").list_products(ProductQuery(per_page=100)).items
    job = jobs.create_job(rt, spec=jobs.JobSpec(source_kind="demo"), selections=[jobs.Selection(products[0])])
    assert job.id is not None
    assert not queries.has_batch_work(rt.db)  # only online items are queued

    def set_first(**values: object) -> None:
        with rt.db.transaction() as s:
            item = s.exec(select(JobItem).where(JobItem.job_id == job.id).order_by(JobItem.id)).first()
            assert item is not None
            for name, value in values.items():
                setattr(item, name, value)
            s.add(item)

    set_first(mode="batch")
    assert queries.has_batch_work(rt.db)  # a batch item to submit
    set_first(status=ItemStatus.CANCELLED, stage="batch_submitted")
    assert queries.has_batch_work(rt.db)  # cancelled, but still in a batch the provider is working on
    set_first(stage=None)
    assert not queries.has_batch_work(rt.db)
