"""The Jobs screen: the request log table."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa

from lib.models import Job
from lib.screens.jobs import JobsScreen, event_rows


def test_request_log_rows_keep_one_type_per_column() -> None:
    """Streamlit sends tables as Arrow: a column mixing numbers and "" fails to convert (and logs a traceback)."""
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    events = [
        SimpleNamespace(
            at=now,
            kind="transition",
            item_id=None,
            service=None,
            method=None,
            url=None,
            status_code=None,
            duration_ms=None,
            message="job created",
        ),
        SimpleNamespace(
            at=now,
            kind="request",
            item_id=7,
            service="gemini",
            method="POST",
            url="/v1beta/models",
            status_code=200,
            duration_ms=812.0,
            message="generateContent",
        ),
    ]
    rows = event_rows(events)
    assert rows[0]["Item"] is None and rows[1]["Item"] == 7 and rows[1]["Status"] == 200
    assert rows[1]["Request"] == "POST /v1beta/models" and rows[1]["Duration"] == "812 ms"
    pa.Table.from_pandas(pd.DataFrame(rows))  # raises ArrowTypeError on a mixed column


def test_jobs_tables_name_styles_and_say_free_for_the_studio_engine() -> None:
    from lib.labels import style_label
    from lib.screens.jobs import job_rows

    assert style_label("marble_counter") == "Marble counter"
    assert style_label("auto").startswith("Auto")
    job = SimpleNamespace(
        id=1,
        created_at=None,
        status="succeeded",
        source_kind="demo",
        provider="studio",
        model="studio-v1",
        style="dark_moody",
        item_count=4,
        actual_cost=0.0,
    )
    [row] = job_rows([job])  # type: ignore[list-item]
    assert row["Style"] == "Dark & moody" and row["Cost"] == "free" and row["Provider"] == "Studio engine (offline)"


def test_open_in_gallery_shows_the_job_a_store_job_worked_on() -> None:
    publishing = Job(id=8, source_kind="demo", provider="store", model="publish", options={"source_job_id": 7})
    assert JobsScreen.gallery_job(publishing) == 7  # store jobs have no images of their own to review
    assert JobsScreen.gallery_job(Job(id=3, source_kind="demo", provider="studio", model="studio-v1")) == 3
