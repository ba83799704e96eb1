"""The Jobs screen (the job log): totals, history with filters, one job's parameters, items and request log;
retry, cancel and resume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib import jobs
from lib.formatting import fmt_cost, fmt_ms, fmt_when
from lib.kinds import SOURCES
from lib.labels import job_title, kind_label, state_label, style_label
from lib.models import TERMINAL_JOB, Event, Job, JobItem, JobStatus
from lib.screens.progress import ProgressView, progress_view

if TYPE_CHECKING:
    from lib.runtime import Runtime


def job_rows(page: list[Job]) -> list[dict[str, Any]]:
    return [
        {
            "Job": job.id,
            "Created": job.created_at,
            "Status": state_label(job.status),
            "Source": kind_label(job.source_kind),
            "Provider": kind_label(job.provider),
            "Model": job.model,
            "Style": style_label(job.style),
            "Images": job.item_count,
            "Cost": fmt_cost(job.actual_cost),  # "free" for the studio engine, as everywhere
        }
        for job in page
    ]


def item_rows(items: list[JobItem]) -> list[dict[str, Any]]:
    return [
        {
            "Item": it.id,
            "Product": str(it.product.get("name", it.product_id)),
            "SKU": str(it.product.get("sku", "")),
            "Variation": it.variation_id or "",
            "Variant": it.variant_index + 1,
            "State": state_label(it.status),
            "Stage": it.stage or "",
            "Attempts": it.attempts,
            "Latency": fmt_ms(it.latency_ms) if it.latency_ms is not None else "",
            "Cost": fmt_cost(it.cost),
            "Error": it.error_message or "",
        }
        for it in items
    ]


def event_rows(events: list[Event]) -> list[dict[str, Any]]:
    """The request log's rows. A missing item or status code is None (an empty cell), never "": each column
    keeps one type, so the table goes to Arrow as it is."""
    return [
        {
            "At": ev.at,
            "Kind": ev.kind,
            "Item": ev.item_id,
            "Service": ev.service or "",
            "Request": f"{ev.method or ''} {ev.url or ''}".strip(),
            "Status": ev.status_code,
            "Duration": fmt_ms(ev.duration_ms) if ev.duration_ms is not None else "",
            "Message": ev.message,
        }
        for ev in events
    ]


def job_parameters(job: Job) -> dict[str, str]:
    return {
        "Source": kind_label(job.source_kind),
        "Provider": kind_label(job.provider),
        "Model": job.model,
        "Style": style_label(job.style),
        "Extra prompt": job.prompt_extra or "—",
        "Aspect ratio": job.aspect_ratio,
        "Output size": f"{job.output_size} px",
        "Variants per product": str(job.variants),
        "Mode": job.mode,
        "Estimated cost": fmt_cost(job.estimated_cost),
        "Actual cost": fmt_cost(job.actual_cost),
        "Started": fmt_when(job.started_at),
        "Finished": fmt_when(job.finished_at) if job.finished_at else "not yet",
    }


def per_day_rows(per_day: list[tuple[Any, int, float]]) -> list[dict[str, Any]]:
    return [{"Day": str(day), "Images": int(n), "Cost (USD)": round(float(cost), 4)} for day, n, cost in per_day]


@dataclass(frozen=True)
class JobState:
    """One job as its detail panel shows it."""

    job: Job
    title: str
    progress: ProgressView
    failed: int  # items that can be retried
    finished: bool  # done, failed or cancelled: nothing to cancel
    paused: bool
    cancelled: bool


class JobsScreen:
    STATUSES = ("", *[s.value for s in JobStatus])  # "" = any state
    SOURCES = ("", *SOURCES)  # "" = any source

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # jobs.Totals and history

    def totals(self) -> jobs.Totals:
        return jobs.totals(self.runtime.db)

    @staticmethod
    def per_day_rows(totals: jobs.Totals) -> list[dict[str, Any]]:
        return per_day_rows(totals.per_day)

    @staticmethod
    def status_label(status: str) -> str:
        return state_label(status).capitalize() if status else "Any state"

    @staticmethod
    def source_label(kind: str) -> str:
        return kind_label(kind) if kind else "Any source"

    def history(self, *, page: int, per_page: int, status: str, source: str) -> tuple[list[Job], int]:
        return jobs.list_jobs(
            self.runtime.db, page=page, per_page=per_page, status=status or None, source_kind=source or None
        )

    @staticmethod
    def rows(page: list[Job]) -> list[dict[str, Any]]:
        return job_rows(page)

    # One job

    def state(self, job_id: int) -> JobState:
        """Raises InputError when the job does not exist."""
        job = jobs.get_job(self.runtime.db, job_id)
        progress = jobs.job_progress(self.runtime.db, job_id)
        return JobState(
            job=job,
            title=job_title(job),
            progress=progress_view(progress),
            failed=int(progress.counts.get("failed", 0)),
            finished=job.status in TERMINAL_JOB,
            paused=job.status == JobStatus.PAUSED,
            cancelled=job.status == JobStatus.CANCELLED,
        )

    @staticmethod
    def parameters(job: Job) -> dict[str, str]:
        return job_parameters(job)

    def item_rows(self, job_id: int) -> list[dict[str, Any]]:
        return item_rows(jobs.job_items(self.runtime.db, job_id))

    def event_rows(self, job_id: int, *, limit: int = 500) -> list[dict[str, Any]]:
        return event_rows(jobs.job_events(self.runtime.db, job_id, limit=limit))

    def retry_failed(self, *, job_id: int) -> int:
        return jobs.retry_failed(self.runtime.db, job_id=job_id)

    def cancel(self, *, job_id: int) -> int:
        return jobs.cancel_job(self.runtime.db, job_id=job_id)

    def resume(self, *, job_id: int) -> None:
        jobs.resume_job(self.runtime.db, job_id=job_id)
