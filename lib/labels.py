"""Names the screens give to states, stages, publish roles and jobs, and the badge colour of each state.
Sources and providers are named by their Kind (lib/kinds.py)."""

from __future__ import annotations

from lib.formatting import plural
from lib.generation.prompts import PRESETS
from lib.kinds import Kind
from lib.models import Job

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
STATE_LABELS = {
    "succeeded": "done",
    "finished": "done with errors",
    "rolled_back": "rolled back",
    "pending": "to review",  # an image nobody has approved or rejected yet (review state)
}
ROLE_LABELS = {
    "featured": "Make it the main image",  # whether the old one stays in the gallery: a checkbox beside it
    "gallery": "Add it to the product gallery",
    "variation": "Use it as the variation's image",
}
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


def state_label(state: str | None) -> str:
    state = str(state or "")
    return STATE_LABELS.get(state, state.replace("_", " "))


def style_label(style: str) -> str:
    """A preset's name as the style picker shows it ("Marble counter"), not its key."""
    if not style or style == "auto":
        return "Auto (each product's category default)"
    preset = PRESETS.get(style)
    return preset.label if preset else style.replace("_", " ")


def kind_label(value: str) -> str:
    """The screen name of a stored source or provider kind; the stored text itself for one we no longer know."""
    try:
        return Kind(value).label
    except ValueError:
        return value


def job_title(job: Job) -> str:
    when = job.created_at.strftime("%b %d, %H:%M") if job.created_at else ""
    return f"Job #{job.id} · {kind_label(job.source_kind)} · {plural(job.item_count, 'image')} · {when}"
