"""The Gallery screen: paging, the stamp that says when to reread, review filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib import jobs
from lib.config import Settings
from lib.models import Asset, AssetKind, ItemStatus, Job, JobItem, ReviewState
from lib.runtime import Runtime
from lib.screens.gallery import GalleryScreen, gallery_stamp, page_of


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


def test_page_of_clamps() -> None:
    assert page_of(25, 3, 10) == (3, 3)
    assert page_of(25, 9, 10) == (3, 3)
    assert page_of(25, 0, 10) == (1, 3)
    assert page_of(0, 1, 10) == (1, 1)


def test_gallery_stamp_moves_when_the_gallery_would_change(rt: Runtime) -> None:
    with rt.db.transaction() as s:
        job = Job(source_kind="demo", provider="studio", model="studio-v1", style="auto")
        s.add(job)
        s.flush()
        item = JobItem(job_id=job.id, product_id="1", product={"id": "1", "name": "Mug"})
        s.add(item)
        s.flush()
        job_id, item_id = job.id, item.id
    first = gallery_stamp(rt, job_id)
    assert gallery_stamp(rt, job_id) == first  # nothing changed, nothing to reread
    with rt.db.transaction() as s:
        it = s.get(JobItem, item_id)
        it.status = ItemStatus.SUCCEEDED
        s.add(it)
        s.add(Asset(sha256="0" * 64, kind=AssetKind.GENERATED, job_id=job_id, item_id=item_id, product_id="1"))
    done = gallery_stamp(rt, job_id)
    assert done != first
    [asset] = [a for e in jobs.gallery(rt.db, job_id) for a in e.assets]
    jobs.set_review(rt.db, asset_ids=[asset.id], state=ReviewState.APPROVED)
    assert gallery_stamp(rt, job_id) != done

    screen = GalleryScreen(rt)
    approved = screen.view(job_id, "approved", 1, 8)
    assert [a.id for e in approved.entries for a in e.assets] == [asset.id]
    assert (approved.shown, approved.images("approved"), approved.counts.products) == (1, 1, 1)
    assert screen.view(job_id, "rejected", 1, 8).entries == []
    everything = screen.view(job_id, "all", 5, 8)  # past the end: the last page
    assert (everything.page, everything.pages, len(everything.entries)) == (1, 1, 1)
