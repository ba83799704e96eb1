"""What the sidebar says on every page: the active store, the AI provider, jobs running."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import col, select

from lib.connections import active_connection
from lib.kinds import Kind
from lib.models import Job, JobStatus

if TYPE_CHECKING:
    from lib.runtime import Runtime


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


def sidebar_status(runtime: Runtime) -> SidebarStatus:
    store = active_connection(runtime.db, Kind.WOOCOMMERCE)
    gemini = active_connection(runtime.db, Kind.GEMINI)
    if gemini is not None or runtime.settings.gemini_api_key is not None:
        named = gemini is not None and gemini.name.strip().lower() not in ("gemini", "google gemini")
        provider = Kind.GEMINI.label + (f" ({gemini.name})" if named and gemini is not None else "")
    else:
        provider = Kind.STUDIO.label
    return SidebarStatus(
        store=f"{store.name} ({Kind.WOOCOMMERCE.label})" if store is not None else Kind.DEMO.label,
        provider=provider,
        running_jobs=running_jobs(runtime),
    )
