"""Jobs page: history newest first with filters, a job's detail, retry of failed items, totals and the per-day chart;
the sidebar's count of running jobs."""

from __future__ import annotations

from lib import jobs
from lib.models import ItemStatus, JobItem
from tests.ui.conftest import app, assert_ok, make_job, many_jobs, page


def test_history_is_newest_first_and_filters_by_state(home, rt) -> None:
    many_jobs(rt, 40)
    newest = make_job(rt, ["1"])
    at = page("jobs").run()
    assert_ok(at)
    history = at.dataframe[0].value
    ids = list(history["Job"])
    assert ids[0] == newest and ids == sorted(ids, reverse=True) and len(ids) == 20  # one page
    at.selectbox(key="jobs_status").set_value("cancelled").run()
    assert_ok(at)
    history = at.dataframe[0].value
    assert len(history) == 10 and set(history["Status"]) == {"cancelled"}
    assert any("10 jobs" in m.value for m in at.markdown)


def test_detail_shows_parameters_items_and_requests(home, rt) -> None:
    job_id = make_job(rt, ["1", "2"], variants=2)
    at = page("jobs").run()
    params = dict(zip(at.dataframe[1].value["Setting"], at.dataframe[1].value["Value"], strict=True))
    assert (params["Provider"], params["Variants per product"], params["Aspect ratio"]) == (
        "Studio engine (offline)",
        "2",
        "1:1",
    )
    items = at.dataframe[2].value
    assert list(items.columns) == [
        "Item",
        "Product",
        "SKU",
        "Variation",
        "Variant",
        "State",
        "Stage",
        "Attempts",
        "Latency",
        "Cost",
        "Error",
    ]
    assert len(items) == 4 and set(items["Attempts"]) == {1} and all(items["Latency"])
    assert len(at.dataframe[3].value) == len(jobs.job_events(rt.db, job_id, limit=500))


def test_retry_failed_items(home, rt) -> None:
    job_id = make_job(rt, ["1", "2"])
    first = jobs.job_items(rt.db, job_id)[0]
    with rt.db.transaction() as s:  # as the worker records a failure
        item = s.get(JobItem, first.id)
        item.status, item.error_message = ItemStatus.FAILED, "The provider refused the request."
        s.add(item)
    at = page("jobs").run()
    assert at.button(key="jobs_retry").label == "Retry 1 failed"
    assert "The provider refused the request." in set(at.dataframe[2].value["Error"])
    at.button(key="jobs_retry").click().run()
    assert_ok(at)
    assert jobs.job_items(rt.db, job_id)[0].status == ItemStatus.QUEUED
    assert any("1 item queued again" in s.value for s in at.success)


def test_totals_and_the_chart_of_images_and_cost_per_day(home, rt) -> None:
    make_job(rt, ["1", "2", "3"])
    at = page("jobs").run()
    assert [m.value for m in at.metric[:2]] == ["3", "100%"]
    assert at.metric[3].value == "free"
    assert len(at.get("vega_lite_chart")) == 2  # images per day and cost per day


def test_sidebar_counts_running_jobs(home, rt) -> None:
    make_job(rt, ["1"], run=False)
    make_job(rt, ["2"], run=False)
    at = app().run()
    assert_ok(at)
    assert any("2 jobs running" in m.value for m in at.sidebar.markdown)
