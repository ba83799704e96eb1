"""Behaviour by widget key: select -> launch -> job; review; regenerate; publish to the demo store; rollback.

The worker runs inline (lib.worker.run_until_idle); AppTest never fires the progress fragment's timer, so
the progress logic itself is tested in tests/screens/test_progress.py.
"""

from __future__ import annotations

import pytest

from lib import jobs, publish, ui
from lib.catalog import SelectionBook
from lib.connections import save_connection
from lib.errors import PublishError
from lib.generation import prompts
from lib.models import ItemStatus, Publication, ReviewState
from lib.sources import upload
from lib.sources.demo import DemoSource, open_target
from lib.worker import run_until_idle
from tests.ui.conftest import assert_ok, make_job, page


def _run_worker(rt) -> None:
    run_until_idle(rt)


def test_select_products_then_launch_makes_a_job_with_the_right_items(home, rt) -> None:
    at = page("products", prod_per_page=48).run()
    for pid in ("1", "4"):
        at.checkbox(key=f"prod_pick_demo_{pid}").check().run()
    at.checkbox(key="prod_pick_demo_12/12-3").check().run()  # one variation of the tee
    at.button(key="prod_go").click().run()
    assert_ok(at)
    assert at.session_state[ui.NAV_TARGET] == "generate"
    book = at.session_state[ui.SELECTIONS]

    gen = page("generate", **{ui.SELECTIONS: book}).run()
    assert_ok(gen)
    assert "2 products and 1 variation selected" in gen.markdown[0].value
    gen.number_input(key="gen_variants").set_value(2).run()
    gen.pills(key="gen_style").set_value("oak_table").run()
    gen.text_area(key="gen_extra").input("a sprig of rosemary").run()
    gen.selectbox(key="gen_aspect").set_value("4:5").run()
    assert gen.metric[0].value == "6"  # images to make
    assert gen.metric[1].value == "free"
    gen.button(key="gen_launch").click().run()
    assert_ok(gen)

    job_id = gen.session_state[ui.CURRENT_JOB]
    job = jobs.get_job(rt.db, job_id)
    assert (job.style, job.aspect_ratio, job.variants, job.provider) == ("oak_table", "4:5", 2, "studio")
    items = jobs.job_items(rt.db, job_id)
    assert sorted((i.product_id, i.variation_id, i.variant_index) for i in items) == [
        ("1", None, 0),
        ("1", None, 1),
        ("12", "12-3", 0),
        ("12", "12-3", 1),
        ("4", None, 0),
        ("4", None, 1),
    ]
    assert all("rosemary" in i.prompt for i in items)
    assert any("started" in s.value for s in gen.success)

    _run_worker(rt)
    gen.run()
    assert_ok(gen)
    assert gen.get("progress")[0].value == 100 or gen.get("progress")[0].proto.value == 100
    gen.button(key="gen_review").click().run()
    assert gen.session_state[ui.NAV_TARGET] == "gallery"
    assert gen.session_state[ui.GALLERY_JOB] == job_id


def test_skipping_problem_photos_leaves_them_out(home, rt) -> None:
    big_white = _jpeg(800, (255, 255, 255))
    on_grey = _jpeg(800, (120, 120, 120))
    added = upload.add_uploads(rt, [("white.jpg", big_white), ("grey.jpg", on_grey)])
    book = SelectionBook(current="upload")
    src = rt.source("upload")
    for p in added:
        book.active.add(src.get_product(str(p.id)))
    gen = page("generate", **{ui.SELECTIONS: book}).run()
    assert_ok(gen)
    assert "1 photo may give poor results" in gen.warning[0].value
    assert gen.checkbox(key="gen_skip").value is True
    gen.button(key="gen_launch").click().run()
    items = jobs.job_items(rt.db, gen.session_state[ui.CURRENT_JOB])
    assert [i.product["name"] for i in items] == ["White"]


def _jpeg(side: int, colour: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buf, "JPEG")
    return buf.getvalue()


def test_cancel_from_the_jobs_page(home, rt) -> None:
    job_id = make_job(rt, ["1", "2", "3"], run=False)
    at = page("jobs").run()
    at.button(key="jobs_cancel").click().run()
    assert_ok(at)
    assert jobs.get_job(rt.db, job_id).status == "cancelled"
    assert {i.status for i in jobs.job_items(rt.db, job_id)} == {ItemStatus.CANCELLED}


def test_review_approve_reject_and_alt_text(home, rt) -> None:
    job_id = make_job(rt, ["1", "2"])
    at = page("gallery").run()
    assets = [a for e in jobs.gallery(rt.db, job_id) for a in e.assets]
    first, second = assets
    at.button(key=f"gallery_ok_{first.id}").click().run()
    at.button(key=f"gallery_no_{second.id}").click().run()
    assert_ok(at)
    states = {a.id: a.review_state for e in jobs.gallery(rt.db, job_id) for a in e.assets}
    assert states == {first.id: ReviewState.APPROVED, second.id: ReviewState.REJECTED}

    alt = at.text_input(key=f"gallery_alt_{first.id}")
    assert alt.value  # prefilled from the product and the style
    kitchen = prompts.PRESETS[prompts.default_style("Kitchen")]  # the auto style of both products' category
    name = {"1": "Stoneware Mug", "2": "Insulated Steel Bottle"}[first.product_id]
    assert alt.value == f"{name} {kitchen.alt_phrase}"
    alt.input("Blue stoneware mug on a marble counter").run()
    assert [a.alt_text for a in jobs.approved_assets(rt.db, job_id)] == ["Blue stoneware mug on a marble counter"]

    at.segmented_control(key="gallery_filter").set_value("approved").run()
    assert_ok(at)
    assert at.metric[2].value == "1"
    assert [m.value for m in at.markdown if m.value.startswith("####")] == ["#### Stoneware Mug"]


def test_regenerate_makes_one_new_item(home, rt) -> None:
    job_id = make_job(rt, ["1", "2"])
    before = jobs.job_items(rt.db, job_id)
    target = before[0]
    at = page("gallery").run()
    at.text_area(key=f"gallery_rp_{target.id}").input("warmer light, a linen napkin").run()
    at.button(key=f"gallery_regen_{target.id}").click().run()
    assert_ok(at)
    after = jobs.job_items(rt.db, job_id)
    assert len(after) == len(before) + 1
    new = after[-1]
    assert (new.product_id, new.parent_item_id, new.status) == (target.product_id, target.id, ItemStatus.QUEUED)
    assert "linen napkin" in new.prompt
    _run_worker(rt)
    at.run()
    assert_ok(at)
    assert len([a for e in jobs.gallery(rt.db, job_id) for a in e.assets]) == 3


def test_approve_all_publish_to_demo_store_and_roll_back(home, rt) -> None:
    store = open_target(rt, None)
    job_id = make_job(rt, ["1", "2"])
    before = {pid: store.product_image_ids(pid) for pid in ("1", "2")}

    at = page("gallery").run()
    at.button(key="gallery_approve_all").click().run()
    assert len(jobs.approved_assets(rt.db, job_id)) == 2
    at.radio(key="gallery_role").set_value("featured").run()
    at.button(key="gallery_publish").click().run()
    assert_ok(at)
    dialog = at.get("dialog")
    assert dialog, "a confirmation dialog opens before anything changes"
    assert {pid: store.product_image_ids(pid) for pid in ("1", "2")} == before  # nothing changed yet
    assert any("will change in the Demo store" in m.value for m in at.markdown)

    at.button(key="gallery_publish_confirm").click().run()
    assert_ok(at)
    assert {pid: store.product_image_ids(pid) for pid in ("1", "2")} == before  # queued: the worker publishes
    assert any("Publishing 2 images to the Demo store as job" in s.value for s in at.success)
    run_until_idle(rt)
    at.run()
    assert_ok(at)
    after = {pid: store.product_image_ids(pid) for pid in ("1", "2")}
    for pid in ("1", "2"):
        assert after[pid][0] not in before[pid], "the new image is the main image"
        assert after[pid][1:] == before[pid], "the old images stay in the gallery"
    assert any("Published 2 images" in s.value for s in at.success)

    at.button(key="gallery_rollback_job").click().run()
    assert_ok(at)
    assert any("Rolling back 2 products as job" in s.value for s in at.success)
    run_until_idle(rt)
    at.run()
    assert_ok(at)
    assert {pid: store.product_image_ids(pid) for pid in ("1", "2")} == before
    assert any("Restored the old images of 2 products" in s.value for s in at.success)


def test_rollback_of_one_product(home, rt) -> None:
    store = open_target(rt, None)
    job_id = make_job(rt, ["1", "2"])
    before = {pid: store.product_image_ids(pid) for pid in ("1", "2")}
    jobs.approve_all(rt.db, job_id=job_id)
    publish.publish_job(rt, job_id, "gallery")
    at = page("gallery").run()
    at.button(key="gallery_rb_2_None").click().run()
    assert_ok(at)
    run_until_idle(rt)
    at.run()
    assert_ok(at)
    assert store.product_image_ids("2") == before["2"]
    assert store.product_image_ids("1") != before["1"]


def test_gemini_offers_a_cost_estimate_and_batch_mode_once_a_key_is_saved(home, rt) -> None:
    book = SelectionBook()
    for pid in ("1", "2"):
        book.active.add(DemoSource(rt).get_product(pid))
    gen = page("generate", **{ui.SELECTIONS: book}).run()
    assert "Google Gemini" in gen.radio(key="gen_provider").options
    gen.radio(key="gen_provider").set_value("gemini").run()
    assert gen.button(key="gen_launch").disabled  # no key yet: the page says where to add one
    assert any("Connect page" in i.value for i in gen.info)

    save_connection(rt.db, rt.vault, kind="gemini", name="Gemini", secret={"api_key": "k"})
    gen = page("generate", **{ui.SELECTIONS: book}).run()
    gen.radio(key="gen_provider").set_value("gemini").run()
    assert_ok(gen)
    online = gen.metric[1].value
    assert online.startswith("$") and online != "$0.00"
    gen.toggle(key="gen_batch").set_value(True).run()
    batch = gen.metric[1].value
    assert float(batch.lstrip("$")) == pytest.approx(float(online.lstrip("$")) / 2, rel=0.05)
    gen.button(key="gen_launch").click().run()
    job = jobs.get_job(rt.db, gen.session_state[ui.CURRENT_JOB])
    assert (job.provider, job.mode, job.model) == ("gemini", "batch", rt.settings.gemini_models[0])


def test_gallery_and_generate_while_a_job_is_still_queued(home, rt) -> None:
    job_id = make_job(rt, ["1", "2"], run=False)
    gal = page("gallery").run()
    assert_ok(gal)
    assert "0 of 2 done" in gal.get("progress")[0].proto.text
    assert any("Not made yet" in c.value for c in gal.caption)

    book = SelectionBook()
    book.active.add(DemoSource(rt).get_product("3"))
    gen = page("generate", **{ui.SELECTIONS: book, ui.CURRENT_JOB: job_id}).run()
    assert_ok(gen)
    assert f"Job #{job_id}" in gen.info[0].value  # another selection: the form, and a line about the running job
    assert gen.button(key="gen_launch")


def test_rollback_conflict_asks_before_overwriting(home, rt) -> None:
    store = open_target(rt, None)
    job_id = make_job(rt, ["2"])
    before = store.product_image_ids("2")
    jobs.approve_all(rt.db, job_id=job_id)
    publish.publish_job(rt, job_id, "featured")
    edited = list(reversed(store.product_image_ids("2")))  # someone reorders the images in the store meanwhile
    store.set_product_images("2", edited)

    at = page("gallery").run()
    at.button(key="gallery_rollback_job").click().run()
    assert_ok(at)
    run_until_idle(rt)  # the worker tries, finds the edit, and leaves the product alone
    at.run()
    assert_ok(at)
    assert at.get("dialog"), "a conflict asks first"
    assert store.product_image_ids("2") == edited  # nothing overwritten yet
    at.button(key="gallery_force_cancel").click().run()
    run_until_idle(rt)
    assert store.product_image_ids("2") == edited

    at.button(key="gallery_rollback_job").click().run()
    run_until_idle(rt)
    at.run()
    at.button(key="gallery_force").click().run()
    assert_ok(at)
    run_until_idle(rt)
    at.run()
    assert_ok(at)
    assert store.product_image_ids("2") == before


def test_rollback_store_errors_are_shown_beside_the_conflicts(home, rt, monkeypatch) -> None:
    job_id = make_job(rt, ["2", "3"])
    jobs.approve_all(rt.db, job_id=job_id)
    publish.publish_job(rt, job_id, "featured")  # the job's rollback button shows once something is published

    def rollback(rt, *, publication_ids, force=False, **kw):  # the store's answer for each product
        with rt.db.session() as s:
            [product_id] = {s.get(Publication, i).product_id for i in publication_ids}
        if product_id == "3":
            raise PublishError("The store had an internal error (HTTP 500).")
        return publish.RollbackReport(conflicts=[("2", "Its images were changed in the store after publishing.")])

    monkeypatch.setattr(publish, "rollback", rollback)

    at = page("gallery").run()
    at.button(key="gallery_rollback_job").click().run()
    assert_ok(at)
    run_until_idle(rt)  # the worker rolls back each product on its own
    at.run()
    assert_ok(at)
    assert at.get("dialog"), "the conflict still asks first"
    assert [e.value for e in at.error] == ["Product 3 was not rolled back: The store had an internal error (HTTP 500)."]
