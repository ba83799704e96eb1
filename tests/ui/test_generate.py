"""Generate page: the category default, style previews, the settings a job is made with, and live progress.

AppTest runs the progress fragment once per `run()` (its timer never fires), which is enough to see what it
draws and to press Cancel; the progress arithmetic itself is tested in tests/screens/test_progress.py.
"""

from __future__ import annotations

import pytest

from lib import jobs, ui
from lib.catalog import SelectionBook
from lib.connections import save_connection
from lib.generation import prompts
from lib.models import ItemStatus, JobItem
from lib.sources.demo import DemoSource
from tests.ui.conftest import assert_ok, page


def _book(rt, *product_ids: str) -> SelectionBook:
    book = SelectionBook()
    for pid in product_ids:
        book.active.add(DemoSource(rt).get_product(pid))
    return book


def test_one_category_preselects_its_default_style_and_every_style_has_a_preview(home, rt) -> None:
    gen = page("generate", **{ui.SELECTIONS: _book(rt, "1", "2")}).run()  # two Kitchen products
    assert_ok(gen)
    assert gen.pills(key="gen_style").value == prompts.default_style("Kitchen")
    assert any(c.value.startswith("Preselected for Kitchen") for c in gen.caption)
    assert len(gen.get("image")) == len(prompts.PRESETS)  # a small preview of each preset
    labels = [m.value for m in gen.markdown if m.value.endswith("**")]
    assert [lbl.split("**")[1] for lbl in labels] == [p.label for p in prompts.PRESETS.values()]
    picked = [lbl for lbl in labels if lbl.startswith(":material/check_circle:")]
    assert picked == [f":material/check_circle: **{prompts.PRESETS[prompts.default_style('Kitchen')].label}**"]


def test_mixed_categories_preselect_each_products_own_default(home, rt) -> None:
    gen = page("generate", **{ui.SELECTIONS: _book(rt, "1", "4")}).run()  # Kitchen and Home & Lighting
    assert_ok(gen)
    assert gen.pills(key="gen_style").value == prompts.AUTO_STYLE
    gen.button(key="gen_launch").click().run()
    job = jobs.get_job(rt.db, gen.session_state[ui.CURRENT_JOB])
    assert job.style == prompts.AUTO_STYLE


def test_the_job_is_made_with_the_chosen_size_variants_and_model(home, rt) -> None:
    gen = page("generate", **{ui.SELECTIONS: _book(rt, "5")}).run()
    variants = gen.number_input(key="gen_variants")
    assert (variants.min, variants.max, variants.value) == (1, 4, 1)  # 1–4 variants per product
    gen.selectbox(key="gen_size").set_value(2048).run()
    gen.number_input(key="gen_variants").set_value(4).run()
    assert gen.metric[0].value == "4"
    assert gen.metric[1].value == "free"  # the studio engine costs nothing
    gen.button(key="gen_launch").click().run()
    assert_ok(gen)
    job = jobs.get_job(rt.db, gen.session_state[ui.CURRENT_JOB])
    assert (job.output_size, job.variants, job.model, job.item_count) == (2048, 4, "studio-v1", 4)


def test_live_progress_shows_bar_counts_errors_and_cancels(home, rt) -> None:
    gen = page("generate", **{ui.SELECTIONS: _book(rt, "1", "2", "3")}).run()
    gen.button(key="gen_launch").click().run()
    assert_ok(gen)
    job_id = gen.session_state[ui.CURRENT_JOB]
    first = jobs.job_items(rt.db, job_id)[0]
    with rt.db.transaction() as s:  # as the worker records a permanent failure
        item = s.get(JobItem, first.id)
        item.status, item.stage = ItemStatus.FAILED, "validate"
        item.error_message = "Stoneware Mug: this photo could not be read."
        s.add(item)

    gen.run()
    assert_ok(gen)
    bar = gen.get("progress")[0].proto
    assert bar.value == 33 and "1 of 3 done" in bar.text
    assert any("2 queued · 1 failed" in c.value for c in gen.caption)  # counts per state
    assert [w.value for w in gen.warning] == ["Stoneware Mug: this photo could not be read."]  # errors as they come

    gen.button(key="gen_cancel").click().run()
    assert_ok(gen)
    assert jobs.get_job(rt.db, job_id).status == "cancelled"
    assert {i.status for i in jobs.job_items(rt.db, job_id)} == {ItemStatus.FAILED, ItemStatus.CANCELLED}
    assert any("Cancelled 2 images" in s.value for s in gen.success)
    assert gen.button(key="gen_new")  # finished: the panel offers the next step instead of Cancel


def _gemini_page(rt, *product_ids: str):
    save_connection(rt.db, rt.vault, kind="gemini", name="Gemini", secret={"api_key": "k"})
    gen = page("generate", **{ui.SELECTIONS: _book(rt, *product_ids)}).run()
    gen.radio(key="gen_provider").set_value("gemini").run()
    assert_ok(gen)
    return gen


def test_the_reference_option_is_offered_for_gemini_and_reaches_the_job(home, rt) -> None:
    studio = page("generate", **{ui.SELECTIONS: _book(rt, "1")}).run()
    assert "gen_reference" not in [c.key for c in studio.checkbox]  # the studio engine takes no reference

    gen = _gemini_page(rt, "1")
    box = gen.checkbox(key="gen_reference")
    assert box.value is False and "first approved" in box.help
    box.check().run()
    gen.number_input(key="gen_variants").set_value(2).run()
    gen.button(key="gen_launch").click().run()
    assert_ok(gen)
    job = jobs.get_job(rt.db, gen.session_state[ui.CURRENT_JOB])
    assert (job.provider, job.variants, job.options) == ("gemini", 2, {"use_reference": True})


@pytest.mark.parametrize(("product_ids", "batch"), [(("1", "2", "3"), True), (("1", "2"), False)])
def test_batch_mode_is_on_by_default_from_the_batch_threshold(home, rt, monkeypatch, product_ids, batch) -> None:
    monkeypatch.setenv("BATCH_THRESHOLD", "3")
    gen = _gemini_page(rt, *product_ids)
    assert gen.toggle(key="gen_batch").value is batch
    gen.button(key="gen_launch").click().run()
    assert_ok(gen)
    assert jobs.get_job(rt.db, gen.session_state[ui.CURRENT_JOB]).mode == ("batch" if batch else "online")


def test_once_the_job_has_finished_no_live_panel_is_left_to_redraw_it(home, rt) -> None:
    """The finished view replaces the live panel for good. Ticks of the panel's 1 s timer are still on their way when
    the job finishes; a page run that ended early (st.stop) kept the old panel registered, and each such tick redrew
    the running panel into the finished view and reran the whole page (in chromium with the panel slowed as load
    slows it: two "Finished" panels under "Review in Gallery"). A finished page keeps no live panel for a tick to find.
    (AppTest never fires the timer, so this reads Streamlit's fragment storage, the registry the ticks look up.)"""
    from lib.worker import run_until_idle

    gen = page("generate", **{ui.SELECTIONS: _book(rt, "1", "2", "3")}).run()
    gen.button(key="gen_launch").click().run()
    assert_ok(gen)
    assert any("0 of 3 done" in bar.proto.text for bar in gen.get("progress"))
    assert gen._fragment_storage._fragments, "while the job runs, the live panel polls"

    run_until_idle(rt)
    gen.run()  # the panel's tick that sees the job finished reruns the page
    assert_ok(gen)
    assert [bar.proto.text for bar in gen.get("progress")] == ["Finished — 3 of 3 done"]
    assert gen.button(key="gen_review")
    assert not gen._fragment_storage._fragments, "a timer tick after the finish would redraw the live panel"
