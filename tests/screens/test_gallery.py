"""The Gallery screen: paging, the stamp that says when to reread, review filters, the full-resolution compare."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib import jobs
from lib.config import Settings
from lib.models import Asset, AssetKind, ItemStatus, Job, JobItem, ReviewState
from lib.runtime import Runtime
from lib.screens.gallery import GalleryScreen, compare_window, flagged_view, gallery_stamp, page_of


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


def _gradient(size: tuple[int, int]) -> bytes:
    """A picture whose every pixel says where it is: red grows left to right, green top to bottom."""
    w, h = size
    xs, ys = np.meshgrid(np.linspace(0, 255, w), np.linspace(0, 255, h))
    arr = np.stack([xs, ys, np.full_like(xs, 128)], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def test_compare_shows_both_pictures_whole_then_the_same_window_at_full_resolution(rt: Runtime) -> None:
    photo, made = _gradient((1600, 1600)), _gradient((2048, 1536))
    photo_sha, made_sha = rt.blobs.put(photo), rt.blobs.put(made)
    screen = GalleryScreen(rt)

    whole = screen.compare(source_sha=photo_sha, sha=made_sha, zoom=1)
    assert (whole.source, whole.generated) == (photo, made)  # the stored files, not thumbnails

    near = screen.compare(source_sha=photo_sha, sha=made_sha, zoom=4, across=0.25, down=0.75)
    assert near.window == (0.125, 0.625, 0.375, 0.875)
    assert near.source is not None
    src, gen = Image.open(io.BytesIO(near.source)), Image.open(io.BytesIO(near.generated))
    assert src.size == (400, 400) and gen.size == (512, 384)  # a quarter of each side, pixel for pixel
    # The same place in both: their centre pixel is the one a quarter across and three quarters down.
    for im in (src, gen):
        r, g, _ = im.convert("RGB").getpixel((im.width // 2, im.height // 2))
        assert abs(r - 0.25 * 255) < 6 and abs(g - 0.75 * 255) < 6

    edge = screen.compare(source_sha=photo_sha, sha=made_sha, zoom=2, across=1.0, down=0.0)
    assert edge.window == (0.5, 0.0, 1.0, 0.5)  # moved back inside the picture, never smaller


def test_a_flagged_region_opens_zoomed_on_it_with_a_margin() -> None:
    zoom, across, down = flagged_view((0.40, 0.50, 0.50, 0.60))  # a tenth of each side
    assert zoom == 4 and (round(across, 2), round(down, 2)) == (0.45, 0.55)
    x0, y0, x1, y1 = compare_window(zoom, across, down)
    assert x0 <= 0.40 and y0 <= 0.50 and x1 >= 0.50 and y1 >= 0.60  # the whole region is in the window
    assert flagged_view((0.0, 0.0, 0.9, 0.5))[0] == 1  # too big to zoom on: the whole picture


def test_on_the_flagged_part_the_photo_is_cut_where_the_check_found_that_part(rt: Runtime) -> None:
    photo_sha, made_sha = rt.blobs.put(_gradient((1200, 1200))), rt.blobs.put(_gradient((1024, 1024)))
    screen = GalleryScreen(rt)
    flagged, in_photo = (0.40, 0.50, 0.50, 0.60), (0.10, 0.10, 0.20, 0.20)  # the product sits elsewhere there
    zoom, across, down = flagged_view(flagged)

    def centres(view) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
        out = []
        for data in (view.source, view.generated):
            im = Image.open(io.BytesIO(data)).convert("RGB")
            out.append(im.getpixel((im.width // 2, im.height // 2))[:2])
        return out

    on_it = screen.compare(
        source_sha=photo_sha, sha=made_sha, zoom=zoom, across=across, down=down, flagged=flagged, flagged_photo=in_photo
    )
    (pr, pg), (gr, gg) = centres(on_it)
    assert abs(pr - 0.15 * 255) < 6 and abs(pg - 0.15 * 255) < 6  # the photo around where the part is there
    assert abs(gr - 0.45 * 255) < 6 and abs(gg - 0.55 * 255) < 6  # the new picture around the flagged part
    assert "The flagged part of the product in each picture" in on_it.note

    moved = screen.compare(
        source_sha=photo_sha, sha=made_sha, zoom=zoom, across=0.3, down=down, flagged=flagged, flagged_photo=in_photo
    )
    (pr, _), (gr, _) = centres(moved)
    assert abs(pr - gr) < 6  # moved away: both cut at the same place again
