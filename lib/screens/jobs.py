"""The Jobs screen (the job log): totals, history with filters, one job's parameters, items and request log;
retry, cancel and resume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib import actions, jobs, store_jobs, workers_seen
from lib.auth import audit, budgets
from lib.auth.roles import Actor, Permission
from lib.auth.tables import AuditEntry, JobShare
from lib.display_text import plain
from lib.formatting import fmt_cost, fmt_ms, fmt_when, plural
from lib.kinds import SOURCES
from lib.labels import job_title, kind_label, state_label, style_label
from lib.models import TERMINAL_JOB, Event, Job, JobItem, JobStatus
from lib.screens.progress import ProgressView, progress_view
from lib.workers_seen import WorkerHealth

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
    items: int  # all of the job's items (the item table shows a page of them)
    failed: int  # items that can be retried
    finished: bool  # done, failed or cancelled: nothing to cancel
    paused: bool
    cancelled: bool


@dataclass(frozen=True)
class Health:
    """The workers line above the history: who is working, on how many items."""

    line: str
    stalled: str  # "" unless items are waiting and no worker is alive to take them


def health_line(workers: list[WorkerHealth], waiting: int = 0) -> Health:
    if not workers:
        stalled = (
            f"{plural(waiting, 'item')} waiting, and no worker is running to take them: start one (make worker)."
            if waiting
            else ""
        )
        return Health("No worker seen in the last minute.", stalled)
    parts = []
    for w in workers:
        state = " stopping" if w.stopping else ""
        parts.append(f"{w.host} pid {w.pid}{state}: {plural(w.in_flight, 'item')} (seen {w.seen_ago:.0f} s ago)")
    return Health(f"{plural(len(workers), 'worker')} seen in the last minute · " + " · ".join(parts), "")


ITEMS_PER_PAGE = 200  # rows of a job's item table per page


class JobsScreen:
    STATUSES = ("", *[s.value for s in JobStatus])  # "" = any state
    ITEMS_PER_PAGE = ITEMS_PER_PAGE
    SOURCES = ("", *SOURCES)  # "" = any source

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def health(self) -> Health:
        db = self.runtime.db
        return health_line(workers_seen.live_workers(db), jobs.pending_items(db))

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
            items=progress.total,
            failed=int(progress.counts.get("failed", 0)),
            finished=job.status in TERMINAL_JOB,
            paused=job.status == JobStatus.PAUSED,
            cancelled=job.status == JobStatus.CANCELLED,
        )

    @staticmethod
    def parameters(job: Job) -> dict[str, str]:
        return job_parameters(job)

    def item_rows(self, job_id: int, *, page: int = 1, per_page: int | None = None) -> list[dict[str, Any]]:
        """One page of the job's items, read in SQL (never the whole job)."""
        per_page = per_page or self.ITEMS_PER_PAGE
        offset = (max(1, page) - 1) * per_page
        return item_rows(jobs.job_items(self.runtime.db, job_id, offset=offset, limit=per_page))

    def event_rows(self, job_id: int, *, limit: int = 500) -> list[dict[str, Any]]:
        return event_rows(jobs.job_events(self.runtime.db, job_id, limit=limit))

    def retry_failed(self, *, actor: Actor, job_id: int) -> int:
        return actions.retry_failed(self.runtime, actor=actor, job_id=job_id)

    def cancel(self, *, actor: Actor, job_id: int) -> int:
        return actions.cancel_job(self.runtime, actor=actor, job_id=job_id)

    def resume(self, *, actor: Actor, job_id: int) -> None:
        actions.resume_job(self.runtime, actor=actor, job_id=job_id)

    # Who launched a job, its budget share, who did what (the audit trail)

    @staticmethod
    def gallery_job(job: Job) -> int | None:
        """The job the Gallery shows for `job`: a publish, rollback or export job opens the job it worked on."""
        if store_jobs.is_store_job(job):
            source = job.options.get("source_job_id")
            return int(source) if source is not None else None
        return job.id

    def share(self, job_id: int) -> JobShare | None:
        return budgets.share(self.runtime.db, job_id)

    @staticmethod
    def share_caption(share: JobShare, job: Job) -> str:
        cap = "no limit" if share.cap_usd is None else budgets.usd(share.cap_usd)
        who = share.launched_email or share.launched_by
        return f"Launched by {who}; budget share {cap}; cost so far: {fmt_cost(job.actual_cost)}."

    @staticmethod
    def may_set_budgets(actor: Actor) -> bool:
        return actor.can(Permission.BUDGETS)

    def raise_share_and_resume(self, *, actor: Actor, job_id: int, cap_usd: float) -> None:
        budgets.raise_job_share(self.runtime.db, actor=actor, job_id=job_id, cap_usd=cap_usd)
        actions.resume_job(self.runtime, actor=actor, job_id=job_id)

    usd = staticmethod(budgets.usd)

    def trail(self, job_id: int) -> list[AuditEntry]:
        return audit.job_entries(self.runtime.db, job_id)

    @staticmethod
    def trail_rows(entries: list[AuditEntry]) -> list[dict[str, Any]]:
        """The audit table; names, products and details come from people and stores: plain text, cut."""
        return [{k: plain(v, 300) if isinstance(v, str) else v for k, v in row.items()} for row in audit.rows(entries)]

    @staticmethod
    def trail_csv(entries: list[AuditEntry]) -> bytes:
        return audit.to_csv(entries)

    # Spend per person and month, and the budgets

    def spend(self) -> list[budgets.SpendRow]:
        return budgets.spend_by_person(self.runtime.db)

    def budgets(self) -> dict[str, float]:
        return budgets.budgets(self.runtime.db)

    def budget_lines(self, actor: Actor) -> list[str]:
        """What is left of the budgets that apply to this person this month, one sentence each."""
        out = []
        for left in budgets.what_is_left(self.runtime.db, actor.name):
            whose = "The team's" if left.scope == budgets.DEPLOYMENT else "Your"
            out.append(
                f"{whose} budget this month: {budgets.usd(left.limit)}, {budgets.usd(left.left)} left "
                f"({budgets.usd(left.committed)} spent or committed to running jobs)."
            )
        return out

    def set_budget(self, *, actor: Actor, monthly_usd: float, person: str | None) -> None:
        budgets.set_budget(self.runtime.db, actor=actor, monthly_usd=monthly_usd, person=person)
