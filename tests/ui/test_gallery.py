"""Gallery page: job picker, before/after, what each publish role does (as the dialog says, then in the store),
rollback per product, and product names that stay text."""

from __future__ import annotations

import re

import pytest

from lib import archive, jobs, ui
from lib.jobs import JobSpec, Selection, create_job
from lib.models import Asset
from lib.sources import upload
from lib.sources.demo import open_target
from lib.worker import run_until_idle
from lib.worker.pipeline import process_store_item
from tests.ui.conftest import assert_ok, make_job, page


@pytest.fixture
def store(rt):
    return open_target(rt, None)


def _dialog_lines(at) -> list[str]:
    [dialog] = at.get("dialog")
    return [c.value for c in dialog.caption]


def test_the_latest_job_is_shown_and_another_can_be_picked(home, rt) -> None:
    older = make_job(rt, ["1", "2", "3"])
    latest = make_job(rt, ["4"], variants=2)
    at = page("gallery").run()
    assert at.selectbox(key=ui.GALLERY_JOB).value == latest
    assert at.metric[0].value == "1"
    at.selectbox(key=ui.GALLERY_JOB).set_value(older).run()
    assert_ok(at)
    assert at.metric[0].value == "3"
    assert [m.value for m in at.markdown if m.value.startswith("####")] == [
        "#### Stoneware Mug",
        "#### Insulated Steel Bottle",
        "#### Kyusu Clay Teapot",
    ]


def test_each_product_shows_its_original_beside_its_variants(home, rt) -> None:
    make_job(rt, ["1", "2"], variants=2)
    at = page("gallery").run()
    assert_ok(at)
    captions = [c.value for c in at.caption]
    assert captions.count("Original") == 2
    assert captions.count("Variant 1") == 2 and captions.count("Variant 2") == 2
    assert len(at.get("image")) == 2 + 4  # the two originals and four generated images


def _work(at, rt) -> None:
    """A worker runs the store job the page queued (the tests' app has no embedded worker), then the page reruns."""
    run_until_idle(rt)
    at.run()
    assert_ok(at)


def _publish(at, rt, role: str, *, keep_old: bool = True) -> list[str]:
    """Approve everything, pick the role, open the confirmation dialog, read it, confirm, let the worker publish;
    the dialog's lines."""
    if not at.button(key="gallery_approve_all").disabled:
        at.button(key="gallery_approve_all").click().run()
    at.radio(key="gallery_role").set_value(role).run()
    if role == "featured":
        at.checkbox(key="gallery_keep").set_value(keep_old).run()
    at.button(key="gallery_publish").click().run()
    assert_ok(at)
    lines = _dialog_lines(at)
    at.button(key="gallery_publish_confirm").click().run()
    assert_ok(at)
    _work(at, rt)
    return lines


def test_publish_as_the_main_image_keeping_the_old_one(home, rt, store) -> None:
    make_job(rt, ["1"])
    before = store.product_image_ids("1")
    at = page("gallery").run()
    lines = _publish(at, rt, "featured")
    n = len(before)
    assert (
        f"The new image becomes the featured image; the current one moves into the gallery ({n} images → {n + 1})."
        in lines
    )
    after = store.product_image_ids("1")
    assert after[1:] == before and after[0] not in before


def test_publish_as_the_main_image_replacing_the_old_one(home, rt, store) -> None:
    make_job(rt, ["1"])
    before = store.product_image_ids("1")
    at = page("gallery").run()
    lines = _publish(at, rt, "featured", keep_old=False)
    assert any(line.startswith("The new image replaces the featured image") for line in lines)
    after = store.product_image_ids("1")
    assert after[1:] == before[1:] and after[0] not in before


def test_two_new_main_images_for_one_product_are_refused_plainly(home, rt, store) -> None:
    make_job(rt, ["1"], variants=2)
    before = store.product_image_ids("1")
    at = page("gallery").run()
    lines = _publish(at, rt, "featured", keep_old=False)
    assert len([line for line in lines if line.startswith("The new image replaces the featured image")]) == 1
    after = store.product_image_ids("1")
    assert len(after) == len(before) and after[1:] == before[1:]  # one new main image, nothing uploaded unseen


def test_the_confirmation_says_only_one_image_can_be_the_main_image(home, rt, store) -> None:
    make_job(rt, ["1"], variants=2)
    at = page("gallery").run()
    at.button(key="gallery_approve_all").click().run()
    at.radio(key="gallery_role").set_value("featured").run()
    at.checkbox(key="gallery_keep").set_value(False).run()
    at.button(key="gallery_publish").click().run()
    assert_ok(at)
    [dialog] = at.get("dialog")
    [sentence] = [t.value for t in dialog.text if t.value.startswith("Only one image")]
    assert (
        sentence.startswith("Only one image can be the main image of “Stoneware Mug”") and "(not uploaded)" in sentence
    )


def test_publish_to_the_gallery_then_roll_back_the_product(home, rt, store) -> None:
    make_job(rt, ["1", "2"])
    before = {pid: store.product_image_ids(pid) for pid in ("1", "2")}
    at = page("gallery").run()
    lines = _publish(at, rt, "gallery")
    assert len(lines) == 2 + 1  # one line per product, then the note about rollback
    assert all("added at the end of the gallery" in line for line in lines[:2])
    for pid in ("1", "2"):
        after = store.product_image_ids(pid)
        assert after[:-1] == before[pid] and after[-1] not in before[pid]
    at.button(key="gallery_rb_1_None").click().run()
    assert_ok(at)
    _work(at, rt)
    assert store.product_image_ids("1") == before["1"]
    assert store.product_image_ids("2") != before["2"]  # only that product


def test_publish_as_a_variation_image(home, rt, store) -> None:
    make_job(rt, [], variation=("12", "12-2"))
    before_list = store.product_image_ids("12")
    before_var = store.variation_image_id("12", "12-2")
    at = page("gallery").run()
    at.button(key="gallery_approve_all").click().run()
    assert "Use it as the variation's image" in at.radio(key="gallery_role").options
    lines = _publish(at, rt, "variation")
    assert any(line.startswith("The new image becomes the image of variation") for line in lines)
    assert store.variation_image_id("12", "12-2") not in (None, before_var)
    assert store.product_image_ids("12") == before_list  # the product's own images are untouched
    at.button(key="gallery_rollback_job").click().run()
    assert_ok(at)
    _work(at, rt)
    assert store.variation_image_id("12", "12-2") == before_var


def test_the_variation_role_is_offered_only_for_variation_images(home, rt) -> None:
    make_job(rt, ["1"])
    at = page("gallery").run()
    at.button(key="gallery_approve_all").click().run()
    assert at.radio(key="gallery_role").options == ["Make it the main image", "Add it to the product gallery"]


def test_product_names_in_the_gallery_are_text_not_html(home, rt) -> None:
    import io

    from PIL import Image, ImageDraw

    buf = io.BytesIO()
    photo = Image.new("RGB", (700, 700), (255, 255, 255))
    ImageDraw.Draw(photo).ellipse((200, 200, 500, 500), fill=(40, 90, 160))  # a product on white
    photo.save(buf, "JPEG")
    [row] = upload.add_uploads(rt, [("x.jpg", buf.getvalue())])
    name = '<img src=x onerror="alert(1)"> **Bold** [link](http://x)'
    upload.rename(rt, row.id, name, sku="<b>SKU</b>")
    product = rt.source("upload").get_product(str(row.id))
    create_job(rt, spec=JobSpec(source_kind="upload"), selections=[Selection(product)])
    run_until_idle(rt)

    at = page("gallery").run()
    assert_ok(at)
    rendered = [m.value for m in [*at.markdown, *at.caption]]
    unescaped = re.compile(r"(?<!\\)[<>\[\]*]")  # markup characters without a backslash before them
    assert not [v for v in rendered if "img" in v or "SKU" in v if unescaped.search(v)]
    [heading] = [v for v in rendered if v.startswith("####")]
    assert "\\<img" in heading and "\\*\\*Bold\\*\\*" in heading  # escaped: shown exactly as typed
    job_id = jobs.latest_job_id(rt.db)
    alt = at.text_input(key=f"gallery_alt_{jobs.gallery(rt.db, job_id)[0].assets[0].id}")
    assert alt.value  # prefilled, plain text in an input


def test_zip_of_the_approved_images_named_by_sku(home, rt) -> None:
    import io
    import zipfile

    job_id = make_job(rt, ["1", "2"])
    at = page("gallery").run()
    assert at.get("download_button")[0].proto.disabled  # nothing approved yet
    first = jobs.gallery(rt.db, job_id)[0].assets[0]
    at.button(key=f"gallery_ok_{first.id}").click().run()
    assert not at.get("download_button")[0].proto.disabled
    data, n = archive.approved_zip(rt, job_id)  # what the button serves when clicked
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert (n, sorted(zf.namelist())) == (1, ["GK-MUG-001-1.jpg", "alt-text.csv"])


def test_an_alt_text_gemini_still_owes_says_so_and_an_edit_is_kept(home, rt) -> None:
    from sqlalchemy import update

    job_id = make_job(rt, ["1", "2"])
    waiting, done = (entry.assets[0] for entry in jobs.gallery(rt.db, job_id))
    with rt.db.transaction() as s:  # as the worker leaves it when the text model did not answer
        s.exec(update(Asset).where(Asset.id == waiting.id).values(alt_tries_left=3))
    at = page("gallery").run()
    assert_ok(at)
    assert "Gemini could not write this one yet" in (at.text_input(key=f"gallery_alt_{waiting.id}").help or "")
    assert not at.text_input(key=f"gallery_alt_{done.id}").help

    at.text_input(key=f"gallery_alt_{waiting.id}").input("Blue mug on a shelf").run()
    with rt.db.session() as s:
        saved = s.get(Asset, waiting.id)
        assert saved is not None and (saved.alt_text, saved.alt_tries_left) == ("Blue mug on a shelf", 0)


def _queue_publish(at, role: str = "gallery") -> int:
    """Approve everything and confirm publishing; the id of the store job the page queued (and follows)."""
    at.button(key="gallery_approve_all").click().run()
    at.radio(key="gallery_role").set_value(role).run()
    at.button(key="gallery_publish").click().run()
    at.button(key="gallery_publish_confirm").click().run()
    assert_ok(at)
    return at.session_state["gallery_store_job"][1]


def _progress(at) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def test_publishing_is_a_job_the_worker_runs_while_the_gallery_follows_it(home, rt, store) -> None:
    make_job(rt, ["1", "2"])
    before = {pid: store.product_image_ids(pid) for pid in ("1", "2")}
    at = page("gallery").run()
    store_job = _queue_publish(at)
    assert [s.value for s in at.success] == [
        f"Publishing 2 images to the Demo store as job #{store_job}; you can close this tab, the worker carries on."
    ]
    queued = jobs.get_job(rt.db, store_job)
    assert (queued.provider, queued.model, queued.status) == ("store", "publish", "queued")
    assert {pid: store.product_image_ids(pid) for pid in ("1", "2")} == before  # nothing in the store yet
    at.run()  # a rerun (or a tab opened later) still follows it
    assert_ok(at)
    assert _progress(at) == [f"Publishing (job #{store_job}): Waiting in the queue — 0 of 2 done"]
    assert at.button(key="gallery_store_cancel")

    run_until_idle(rt)  # the worker
    assert all(store.product_image_ids(pid) != before[pid] for pid in ("1", "2"))
    at.run()
    assert_ok(at)
    assert not _progress(at)
    assert [s.value for s in at.success] == ["Published 2 images to the Demo store."]
    assert at.metric[4].value == "2"
    at.run()  # said once
    assert not at.success and not _progress(at)


def test_cancel_stops_publishing_between_products(home, rt, store) -> None:
    make_job(rt, ["1", "2"])
    before = {pid: store.product_image_ids(pid) for pid in ("1", "2")}
    at = page("gallery").run()
    store_job = _queue_publish(at)
    [item] = jobs.claim_items(rt.db, owner="worker-1", limit=1, lease_seconds=60.0)  # a worker does one product
    process_store_item(rt, item, jobs.get_job(rt.db, store_job), owner="worker-1")
    at.run()
    assert_ok(at)
    [progress] = _progress(at)
    assert progress.startswith(f"Publishing (job #{store_job}):") and "1 of 2 done" in progress

    at.button(key="gallery_store_cancel").click().run()
    assert_ok(at)
    assert jobs.get_job(rt.db, store_job).status == "cancelled"
    assert not _progress(at)  # it has finished: what it did instead
    [said] = [w.value for w in at.warning]
    assert said == "Published 1 image to the Demo store. Cancelled: 1 product left as they were."
    run_until_idle(rt)  # nothing is left for a worker
    assert store.product_image_ids(item.product_id) != before[item.product_id]
    [other] = {"1", "2"} - {item.product_id}
    assert store.product_image_ids(other) == before[other]  # left as it was


def test_publish_and_roll_back_wait_while_a_store_job_of_this_job_is_unfinished(home, rt) -> None:
    make_job(rt, ["1", "2"])
    at = page("gallery").run()
    store_job = _queue_publish(at)
    at.run()
    assert_ok(at)
    reason = f"Publishing (job #{store_job}) is still queued or running"
    assert at.button(key="gallery_publish").disabled
    assert reason in at.button(key="gallery_publish").proto.help
    assert any(reason in c.value for c in at.caption)  # said beside the buttons, not only on hover

    run_until_idle(rt)
    at.run()
    assert_ok(at)
    assert not at.button(key="gallery_publish").disabled and not at.button(key="gallery_rollback_job").disabled
    at.button(key="gallery_rollback_job").click().run()
    assert_ok(at)
    at.run()
    back = at.session_state["gallery_store_job"][1]
    waiting = [at.button(key=k) for k in ("gallery_publish", "gallery_rollback_job", "gallery_rb_1_None")]
    assert all(b.disabled and f"A rollback (job #{back})" in b.proto.help for b in waiting)


def test_compare_opens_the_image_beside_its_photo_and_zooms_on_the_same_place(home, rt) -> None:
    job_id = make_job(rt, ["1"])
    [item] = jobs.job_items(rt.db, job_id)
    at = page("gallery").run()
    at.button(key=f"gallery_cmp_{item.result_asset_id}").click().run()
    assert_ok(at)
    [dialog] = at.get("dialog")
    assert [c.value for c in dialog.caption][:2] == ["Product photo", "Generated"]
    assert "Both pictures whole, at full resolution" in " ".join(c.value for c in dialog.caption)
    assert len(dialog.get("image")) == 2
    assert not dialog.get("slider")  # the whole picture: nothing to move

    at.segmented_control(key="gallery_cmp_zoom").set_value(4).run()
    assert_ok(at)
    at.slider(key="gallery_cmp_x").set_value(30).run()
    [dialog] = at.get("dialog")
    assert "The same part of both pictures, 4× closer: 30 % across and 50 % down." in " ".join(
        c.value for c in dialog.caption
    )
    assert len(dialog.get("image")) == 2
    at.button(key="gallery_cmp_close").click().run()
    assert not at.get("dialog")
