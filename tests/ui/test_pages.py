"""Every page renders without an exception on an empty data directory and on a populated one."""

from __future__ import annotations

import pytest

from lib import ui
from tests.ui.conftest import app, assert_ok, make_job, many_jobs, page

PAGES = ["connect", "products", "generate", "gallery", "jobs"]


@pytest.mark.parametrize("name", PAGES)
def test_page_on_an_empty_data_dir(home, name: str) -> None:
    at = page(name).run()
    assert_ok(at)
    assert at.title[0].value  # every page says what it is


def test_empty_states_say_what_to_do_next(home) -> None:
    for name, expected in [("generate", "Nothing selected yet"), ("gallery", "No images yet"), ("jobs", "No jobs yet")]:
        at = page(name).run()
        assert_ok(at)
        assert expected in [s.value for s in at.subheader], name


def test_app_entry_point_with_navigation_and_sidebar(home) -> None:
    at = app().run()
    assert_ok(at)
    assert at.title[0].value == "Choose products"  # the default page
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Demo store" in sidebar and "Studio engine (offline)" in sidebar
    at.switch_page("pages/jobs.py").run()
    assert_ok(at)
    assert at.title[0].value == "Jobs"


@pytest.fixture
def populated(home, rt):
    many_jobs(rt, 300)
    job_id = make_job(rt, ["1", "2"], variants=2, variation=("12", "12-2"))
    return rt, job_id


@pytest.mark.parametrize("name", PAGES)
def test_page_on_a_populated_data_dir(populated, name: str) -> None:
    at = page(name).run()
    assert_ok(at)


def test_jobs_page_pages_through_hundreds_of_jobs(populated) -> None:
    rt, job_id = populated
    at = page("jobs").run()
    assert any("301 jobs" in m.value and "of **16**" in m.value for m in at.markdown)
    assert at.metric[0].value == "6"  # images made: 2 products x 2 variants + 1 variation x 2
    at.button(key="jobs_next").click().run()
    assert_ok(at)
    assert any("page **2** of **16**" in m.value for m in at.markdown)
    at.selectbox(key="jobs_source").set_value("upload").run()
    assert_ok(at)
    assert any("100 jobs" in m.value for m in at.markdown)


def test_jobs_detail_shows_items_and_the_request_log(populated) -> None:
    rt, job_id = populated
    at = page("jobs", jobs_detail=job_id).run()
    assert_ok(at)
    items = at.dataframe[2].value  # parameters, items, events (after the history table)
    assert len(items) == 6 and set(items["State"]) == {"done"}
    events = at.dataframe[3].value
    assert "claimed" in set(events["Message"])


def test_gallery_shows_the_latest_job_by_default(populated) -> None:
    rt, job_id = populated
    at = page("gallery").run()
    assert_ok(at)
    assert at.selectbox(key=ui.GALLERY_JOB).value == job_id
    assert at.metric[0].value == "3"  # 2 products + 1 variation
    assert any(m.value.startswith("#### Classic Tee") for m in at.markdown)
