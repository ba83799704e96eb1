"""Page-facing formatting and queries: what the live progress panel shows, ZIP names, sidebar status."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from lib import views
from lib.config import Settings
from lib.models import Job, JobStatus
from lib.runtime import Runtime


@dataclass
class Progress:  # the fields of lib.jobs.JobProgress the panel reads
    status: str
    total: int
    finished: int
    fraction: float
    stage: str
    eta_seconds: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    cost: float = 0.0
    job_id: int = 1


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


def test_progress_of_a_running_job() -> None:
    view = views.progress_view(
        Progress(
            status="running",
            total=30,
            finished=12,
            fraction=0.4,
            stage="generate",
            eta_seconds=130,
            counts={"queued": 16, "running": 2, "succeeded": 11, "failed": 1},
            errors=["Mug: too small"],
            cost=0.468,
        )
    )
    assert view.fraction == pytest.approx(0.4)
    assert view.text == "Generating images — 12 of 30 done"
    assert view.counts == "16 queued · 2 running · 11 done · 1 failed"
    assert view.eta == "about 2 min 10 s left"
    assert view.errors == ("Mug: too small",)
    assert view.cost == "$0.47"
    assert not view.done and not view.paused


def test_progress_of_finished_paused_and_empty_jobs() -> None:
    done = views.progress_view(Progress("succeeded", 3, 3, 1.0, "succeeded", eta_seconds=0, counts={"succeeded": 3}))
    assert done.done and done.eta == "" and done.cost == "free" and done.text.startswith("Finished")
    paused = views.progress_view(Progress("paused", 5, 1, 0.2, "paused", eta_seconds=50, counts={"queued": 4}))
    assert paused.paused and not paused.done and paused.eta == ""
    empty = views.progress_view(Progress("queued", 0, 0, 0.0, "queued"))
    assert empty.fraction == 0.0 and empty.counts == "no items"


def test_formatting() -> None:
    assert views.fmt_cost(0) == "free"
    assert views.fmt_cost(0.0039) == "$0.0039"
    assert views.fmt_cost(12.5) == "$12.50"
    assert views.fmt_duration(0.25) == "250 ms"
    assert views.fmt_duration(75) == "1 min 15 s"
    assert views.fmt_duration(7300) == "2 h 01 min"
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert views.fmt_when(now - timedelta(seconds=5), now) == "just now"
    assert views.fmt_when(now - timedelta(minutes=5), now) == "5 min ago"
    assert views.fmt_when(now - timedelta(days=3), now) == "2025-12-30 12:00 UTC"
    assert views.fmt_when(None) == "never"
    assert views.state_label("finished") == "done with errors"
    assert views.plural(1, "image") == "1 image" and views.plural(2_000, "image") == "2,000 images"


def test_zip_names_use_the_sku_and_stay_unique() -> None:
    used: set[str] = set()
    product = {"name": "Stoneware Mug", "sku": "GK/MUG 001", "variations": [{"id": "9-1", "sku": "GK-MUG-RED"}]}
    a = SimpleNamespace(product_id="9", variation_id=None, mime="image/jpeg")
    assert views.zip_name(a, product, used) == "GK-MUG-001-1.jpg"
    assert views.zip_name(a, product, used) == "GK-MUG-001-2.jpg"
    v = SimpleNamespace(product_id="9", variation_id="9-1", mime="image/webp")
    assert views.zip_name(v, product, used) == "GK-MUG-001-GK-MUG-RED-1.webp"
    nosku = SimpleNamespace(product_id="3", variation_id=None, mime="image/jpeg")
    assert views.zip_name(nosku, {"name": "../../etc/passwd"}, used) == "etc-passwd-1.jpg"


def test_page_slice_clamps() -> None:
    items = list(range(25))
    assert views.page_slice(items, 3, 10) == ([20, 21, 22, 23, 24], 3, 3)
    assert views.page_slice(items, 9, 10)[1] == 3
    assert views.page_slice([], 1, 10) == ([], 1, 1)


def test_sidebar_status_on_an_empty_data_dir(rt: Runtime) -> None:
    status = views.sidebar_status(rt)
    assert status.store == "Demo store"
    assert status.provider == "Studio engine (offline)"
    assert status.running_jobs == 0


def test_sidebar_counts_running_jobs_and_names_the_active_store(rt: Runtime) -> None:
    from lib.connections import save_connection

    save_connection(rt.db, rt.vault, kind="woocommerce", name="Acme", secret={"consumer_key": "ck_x"})
    save_connection(rt.db, rt.vault, kind="gemini", name="Gemini", secret={"api_key": "k"})
    with rt.db.transaction() as s:
        for status in (JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.SUCCEEDED):
            s.add(Job(source_kind="demo", provider="studio", model="studio-v1", style="auto", status=status))
    status = views.sidebar_status(rt)
    assert status.store == "Acme (WooCommerce)"
    assert status.provider.startswith("Google Gemini")
    assert status.running_jobs == 2
    assert [p.available for p in views.provider_choices(rt)] == [True, True]


def test_gemini_is_offered_only_with_a_key(rt: Runtime) -> None:
    studio, gemini = views.provider_choices(rt)
    assert studio.available and not gemini.available
    assert "Connect page" in gemini.note


def test_approved_zip(rt: Runtime) -> None:
    from lib.models import Asset, AssetKind, JobItem, ReviewState

    sha = rt.blobs.put(b"\xff\xd8fake-jpeg")
    with rt.db.transaction() as s:
        job = Job(source_kind="demo", provider="studio", model="studio-v1", style="auto")
        s.add(job)
        s.flush()
        for i, state in enumerate([ReviewState.APPROVED, ReviewState.REJECTED, ReviewState.APPROVED]):
            item = JobItem(
                job_id=job.id, product_id="1", variant_index=i, product={"id": "1", "name": "Mug", "sku": "MUG-1"}
            )
            s.add(item)
            s.flush()
            s.add(
                Asset(
                    sha256=sha,
                    kind=AssetKind.GENERATED,
                    job_id=job.id,
                    item_id=item.id,
                    product_id="1",
                    review_state=state,
                    alt_text=f"Mug {i}",
                )
            )
        job_id = job.id
    data, n = views.approved_zip(rt, job_id)
    assert n == 2
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["MUG-1-1.jpg", "MUG-1-2.jpg", "alt-text.csv"]
        assert zf.read("MUG-1-1.jpg") == b"\xff\xd8fake-jpeg"
        assert "Mug 2" in zf.read("alt-text.csv").decode()


def test_gallery_stamp_moves_when_the_gallery_would_change(rt: Runtime) -> None:
    from lib import jobs
    from lib.models import Asset, AssetKind, ItemStatus, JobItem, ReviewState

    with rt.db.transaction() as s:
        job = Job(source_kind="demo", provider="studio", model="studio-v1", style="auto")
        s.add(job)
        s.flush()
        item = JobItem(job_id=job.id, product_id="1", product={"id": "1", "name": "Mug"})
        s.add(item)
        s.flush()
        job_id, item_id = job.id, item.id
    first = views.gallery_stamp(rt, job_id)
    assert views.gallery_stamp(rt, job_id) == first  # nothing changed, nothing to reread
    with rt.db.transaction() as s:
        it = s.get(JobItem, item_id)
        it.status = ItemStatus.SUCCEEDED
        s.add(it)
        s.add(Asset(sha256="0" * 64, kind=AssetKind.GENERATED, job_id=job_id, item_id=item_id, product_id="1"))
    done = views.gallery_stamp(rt, job_id)
    assert done != first
    [asset] = [a for e in jobs.gallery(rt.db, job_id) for a in e.assets]
    jobs.set_review(rt.db, asset_ids=[asset.id], state=ReviewState.APPROVED)
    assert views.gallery_stamp(rt, job_id) != done

    entries = jobs.gallery(rt.db, job_id)
    assert len(views.filter_entries(entries, "approved")) == 1
    assert views.filter_entries(entries, "rejected") == []
    assert views.filter_entries(entries, "all") is entries


def test_first_run(rt: Runtime) -> None:
    assert views.first_run(rt)
    with rt.db.transaction() as s:
        s.add(Job(source_kind="demo", provider="studio", model="studio-v1", style="auto"))
    assert not views.first_run(rt)


def test_request_log_rows_keep_one_type_per_column() -> None:
    """Streamlit sends tables as Arrow: a column mixing numbers and "" fails to convert (and logs a traceback)."""
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
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
    rows = views.event_rows(events)
    assert rows[0]["Item"] is None and rows[1]["Item"] == 7 and rows[1]["Status"] == 200
    assert rows[1]["Request"] == "POST /v1beta/models" and rows[1]["Duration"] == "812 ms"
    pa.Table.from_pandas(pd.DataFrame(rows))  # raises ArrowTypeError on a mixed column


def test_live_progress_read_from_the_job_log(rt: Runtime) -> None:
    """What the Generate page's fragment shows, from a real job log: bar, stage, counts, ETA, errors."""
    from lib import jobs
    from lib.models import ItemStatus, JobItem, utcnow

    with rt.db.transaction() as s:
        job = Job(
            source_kind="demo",
            provider="studio",
            model="studio-v1",
            style="auto",
            status=JobStatus.RUNNING,
            started_at=utcnow() - timedelta(seconds=60),
            item_count=4,
        )
        s.add(job)
        s.flush()
        for i, (status, stage, error) in enumerate(
            [
                (ItemStatus.SUCCEEDED, "store", None),
                (ItemStatus.FAILED, "validate", "Stoneware Mug: this photo is too small (300×300 px)."),
                (ItemStatus.RUNNING, "generate", None),
                (ItemStatus.QUEUED, None, None),
            ]
        ):
            s.add(
                JobItem(
                    job_id=job.id,
                    product_id=str(i + 1),
                    product={"id": str(i + 1), "name": f"P{i}"},
                    status=status,
                    stage=stage,
                    error_message=error,
                )
            )
        job_id = job.id
    view = views.progress_view(jobs.job_progress(rt.db, job_id))
    assert view.fraction == pytest.approx(0.5)
    assert view.text == "Generating images — 2 of 4 done"
    assert view.counts == "1 queued · 1 running · 1 done · 1 failed"
    assert view.eta.startswith("about ") and view.eta.endswith(" left")  # 60 s for 2 done: about a minute more
    assert view.errors == ("Stoneware Mug: this photo is too small (300×300 px).",)
    assert not view.done
