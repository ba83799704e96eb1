"""A job's live progress as the strings and numbers a progress panel shows (Generate, Gallery, Jobs).

The live-progress fragment's logic lives here, since AppTest never fires its timer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib.formatting import fmt_cost, fmt_duration
from lib.labels import STAGE_LABELS, state_label
from lib.models import TERMINAL_JOB, JobStatus

PROGRESS_ORDER = ("queued", "running", "succeeded", "failed", "cancelled")


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
