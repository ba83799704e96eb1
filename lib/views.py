"""Page-facing queries and formatting that are not part of the job log API (lib/jobs.py).

Everything here is plain Python: the pages call it and render the result, and tests call it directly. That is
where the logic the live-progress fragment runs lives (`progress_view`), since AppTest never fires timers.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select

from lib.models import TERMINAL_JOB, Job, JobStatus
from lib.spreadsheet import csv_text

if TYPE_CHECKING:
    from lib.runtime import Runtime

# Colours of st.badge per state (items, jobs, review, publications).
STATE_COLORS = {
    "queued": "gray",
    "running": "blue",
    "paused": "orange",
    "succeeded": "green",
    "finished": "orange",
    "failed": "red",
    "cancelled": "gray",
    "pending": "gray",
    "approved": "green",
    "rejected": "red",
    "done": "green",
    "uploaded": "blue",
    "rolled_back": "violet",
}
STATE_LABELS = {"succeeded": "done", "finished": "done with errors", "rolled_back": "rolled back"}
SOURCE_LABELS = {"demo": "Demo store", "woocommerce": "WooCommerce", "drive": "Google Drive", "upload": "Uploads"}
PROVIDER_LABELS = {"studio": "Studio engine (offline)", "gemini": "Google Gemini"}
ROLE_LABELS = {
    "featured": "Make it the main image",  # whether the old one stays in the gallery: a checkbox beside it
    "gallery": "Add it to the product gallery",
    "variation": "Use it as the variation's image",
}


# Formatting -------------------------------------------------------------------------------------


def state_label(state: str | None) -> str:
    state = str(state or "")
    return STATE_LABELS.get(state, state.replace("_", " "))


def fmt_cost(usd: float | None) -> str:
    usd = float(usd or 0.0)
    if usd == 0:
        return "free"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_ms(ms: float | None) -> str:
    return "—" if ms is None else fmt_duration(float(ms) / 1000)


def fmt_when(when: datetime | None, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', else the date (UTC)."""
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (now - when).total_seconds()
    if delta < 0:
        return when.strftime("%Y-%m-%d %H:%M UTC")
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return when.strftime("%Y-%m-%d %H:%M UTC")


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


# Sidebar --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SidebarStatus:
    store: str
    provider: str
    running_jobs: int


def running_jobs(runtime: Runtime) -> int:
    with runtime.db.session() as s:
        n = s.exec(
            select(func.count()).select_from(Job).where(col(Job.status).in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        ).one()
    return int(n)


def first_run(runtime: Runtime) -> bool:
    """No job and no saved connection yet: the pages show their getting-started hints."""
    from lib.models import Connection

    with runtime.db.session() as s:
        return (
            s.exec(select(Job.id).limit(1)).first() is None and s.exec(select(Connection.id).limit(1)).first() is None
        )


def sidebar_status(runtime: Runtime) -> SidebarStatus:
    from lib.connections import active_connection

    store = active_connection(runtime.db, "woocommerce")
    gemini = active_connection(runtime.db, "gemini")
    if gemini is not None or runtime.settings.gemini_api_key is not None:
        named = gemini is not None and gemini.name.strip().lower() not in ("gemini", "google gemini")
        provider = "Google Gemini" + (f" ({gemini.name})" if named else "")
    else:
        provider = PROVIDER_LABELS["studio"]
    return SidebarStatus(
        store=f"{store.name} (WooCommerce)" if store is not None else "Demo store",
        provider=provider,
        running_jobs=running_jobs(runtime),
    )


# Providers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderChoice:
    name: str
    label: str
    models: tuple[str, ...]
    available: bool
    note: str  # why it is unavailable, or a short description


def provider_choices(runtime: Runtime) -> list[ProviderChoice]:
    from lib.connections import active_connection

    has_key = runtime.settings.gemini_api_key is not None or active_connection(runtime.db, "gemini") is not None
    return [
        ProviderChoice(
            "studio",
            PROVIDER_LABELS["studio"],
            ("studio-v1",),
            True,
            "Runs on this machine, no key, no cost. Good for demos and for trying styles.",
        ),
        ProviderChoice(
            "gemini",
            PROVIDER_LABELS["gemini"],
            tuple(runtime.settings.gemini_models),
            has_key,
            "Photo-real results; billed per image by Google."
            if has_key
            else "Add a Gemini API key on the Connect page to use it.",
        ),
    ]


# Live progress (what the Generate page's fragment shows) ---------------------------------------

PROGRESS_ORDER = ("queued", "running", "succeeded", "failed", "cancelled")
STAGE_LABELS = {
    "fetch": "Fetching source photos",
    "validate": "Checking photos",
    "generate": "Generating images",
    "store": "Saving results",
    "batch_submitted": "Sent to the batch service",
    "batch_running": "Batch running",
    "queued": "Waiting in the queue",
    "running": "Working",
    "paused": "Paused",
    "succeeded": "Finished",
    "finished": "Finished with some errors",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


@dataclass(frozen=True)
class ProgressView:
    fraction: float  # 0..1 for st.progress
    text: str  # "Generating images — 12 of 30 done"
    counts: str  # "18 queued · 2 running · 10 succeeded"
    eta: str  # "about 2 min 10 s left" or ""
    errors: tuple[str, ...]
    cost: str
    done: bool
    paused: bool


def progress_view(progress: Any) -> ProgressView:
    """Turn lib.jobs.JobProgress into the strings and numbers the live progress panel renders."""
    status = str(progress.status)
    total = int(progress.total or 0)
    finished = int(progress.finished or 0)
    fraction = float(progress.fraction or 0.0) if total else 0.0
    done = status in {s.value for s in TERMINAL_JOB}
    stage = STAGE_LABELS.get(str(progress.stage), str(progress.stage).replace("_", " ").capitalize())
    text = f"{stage} — {finished:,} of {total:,} done"
    counts = " · ".join(f"{progress.counts[s]:,} {state_label(s)}" for s in PROGRESS_ORDER if progress.counts.get(s))
    eta = ""
    if not done and progress.eta_seconds is not None and status != JobStatus.PAUSED:
        eta = f"about {fmt_duration(progress.eta_seconds)} left"
    return ProgressView(
        min(1.0, max(0.0, fraction)),
        text,
        counts or "no items",
        eta,
        tuple(progress.errors or ()),
        fmt_cost(progress.cost),
        done,
        status == JobStatus.PAUSED,
    )


# Jobs page tables -----------------------------------------------------------------------------


def job_title(job: Job) -> str:
    when = job.created_at.strftime("%b %d, %H:%M") if job.created_at else ""
    source = SOURCE_LABELS.get(job.source_kind, job.source_kind)
    return f"Job #{job.id} · {source} · {plural(job.item_count, 'image')} · {when}"


def job_rows(jobs: list[Job]) -> list[dict[str, Any]]:
    return [
        {
            "Job": job.id,
            "Created": job.created_at,
            "Status": state_label(job.status),
            "Source": SOURCE_LABELS.get(job.source_kind, job.source_kind),
            "Provider": job.provider,
            "Model": job.model,
            "Style": job.style.replace("_", " "),
            "Images": job.item_count,
            "Cost": round(job.actual_cost or 0.0, 4),
        }
        for job in jobs
    ]


def item_rows(items: list[Any]) -> list[dict[str, Any]]:
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
            "Cost": round(it.cost or 0.0, 4),
            "Error": it.error_message or "",
        }
        for it in items
    ]


def event_rows(events: list[Any]) -> list[dict[str, Any]]:
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
        "Source": SOURCE_LABELS.get(job.source_kind, job.source_kind),
        "Provider": PROVIDER_LABELS.get(job.provider, job.provider),
        "Model": job.model,
        "Style": "each product's category default" if job.style == "auto" else job.style.replace("_", " "),
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


# Gallery --------------------------------------------------------------------------------------


def page_slice(entries: list[Any], page: int, per_page: int) -> tuple[list[Any], int, int]:
    """The entries of one page, the page actually shown (clamped) and the number of pages."""
    pages = max(1, -(-len(entries) // per_page))
    page = min(max(1, page), pages)
    return entries[(page - 1) * per_page : page * per_page], page, pages


def gallery_stamp(runtime: Runtime, job_id: int) -> tuple[Any, ...]:
    """Changes whenever the job's gallery would: items added or finished, images added or reviewed, alt texts
    written later by the text model.

    Reading a 2,000-image gallery decodes every item's product snapshot; the page keeps the last read and
    reads again only when this stamp moves (two aggregate queries)."""
    from lib.models import Asset, JobItem

    with runtime.db.session() as s:
        items = tuple(
            sorted(
                s.exec(
                    select(JobItem.status, func.count()).where(JobItem.job_id == job_id).group_by(JobItem.status)
                ).all()
            )
        )
        assets = s.exec(
            select(func.count(), func.max(Asset.id), func.max(Asset.reviewed_at), func.sum(Asset.alt_tries_left)).where(
                Asset.job_id == job_id
            )
        ).one()
    return items, tuple(assets)


def filter_entries(entries: list[Any], review_state: str | None, flagged: Collection[int] = ()) -> list[Any]:
    """Gallery entries keeping only the images in one review state, or ("flagged") the asset ids the fidelity
    check flagged and nobody reviewed yet (entries without any are left out)."""
    if not review_state or review_state == "all":
        return entries
    out = []
    for entry in entries:
        if review_state == "flagged":
            assets = [a for a in entry.assets if a.id in flagged and a.review_state == "pending"]
        else:
            assets = [a for a in entry.assets if a.review_state == review_state]
        if assets:
            out.append(replace(entry, assets=assets))
    return out


def review_counts(entries: list[Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for entry in entries:
        for asset in entry.assets:
            if asset.kind == "generated":
                counts[str(asset.review_state)] += 1
    return counts


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(text: str, fallback: str = "image") -> str:
    name = _SAFE.sub("-", text).strip("-.")[:80]
    return name or fallback


def zip_name(asset: Any, product: dict[str, Any], used: set[str]) -> str:
    """'<SKU>[-<variation>]-<n>.<ext>', unique within the archive; the product name stands in for a missing SKU."""
    base = safe_filename(str(product.get("sku") or product.get("name") or f"product-{asset.product_id}"))
    if asset.variation_id:
        var = next((v for v in product.get("variations", ()) if str(v.get("id")) == str(asset.variation_id)), None)
        base += "-" + safe_filename(str((var or {}).get("sku") or asset.variation_id))
    ext = {"image/webp": "webp", "image/png": "png"}.get(asset.mime, "jpg")
    n = 1
    while f"{base}-{n}.{ext}" in used:
        n += 1
    name = f"{base}-{n}.{ext}"
    used.add(name)
    return name


def approved_zip(runtime: Runtime, job_id: int) -> tuple[bytes, int]:
    """A ZIP of the job's approved images named by SKU, and how many images it holds."""
    from lib.fidelity.records import checks_for
    from lib.jobs import approved_assets, job_items

    assets = approved_assets(runtime.db, job_id)
    checks = checks_for(runtime.db, [a.id for a in assets if a.id is not None])
    products = {it.id: it.product for it in job_items(runtime.db, job_id)}
    buf = io.BytesIO()
    used: set[str] = set()
    rows: list[list[str]] = []
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:  # JPEGs do not compress further
        for asset in assets:
            product = products.get(asset.item_id) or {"name": f"product-{asset.product_id}"}
            name = zip_name(asset, product, used)
            zf.writestr(name, runtime.blobs.get(asset.sha256))
            found = checks.get(asset.id) if asset.id is not None else None
            verdict, findings = (found.verdict.value, found.summary) if found else ("not checked", "")
            row = [name, str(product.get("name", "")), str(product.get("sku", "")), asset.alt_text, verdict, findings]
            rows.append(row)
        if rows:  # alt texts and fidelity findings travel with the images, for whoever uploads them by hand
            header = ["file", "product", "sku", "alt_text", "fidelity", "fidelity_findings"]
            zf.writestr("alt-text.csv", csv_text([header, *rows]))
    return buf.getvalue(), len(assets)
