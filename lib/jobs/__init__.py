"""Jobs and their items: what a job asks for (spec.py), the only writer of their state (transitions.py) and the
reads pages, the CLI and the worker need (queries.py). `from lib.jobs import X` works for every public name.

Item states: queued -> running(stage) -> succeeded | failed | cancelled; an item is made online (one provider call
by the worker) or in a provider's batch (JobItem.mode). The worker (lib/worker/) drives items through these
transitions; nothing else writes Job or JobItem.

Fault semantics (each has a test in tests/jobs/ or tests/worker/):

- Crash: a worker that dies leaves its leases to expire; another worker (or the same one restarted) takes the items
  over. A takeover counts a crash (JobItem.crashes), not an attempt: attempts are only spent by errors. An item that
  was in flight for `settings.max_crashes` crashes is a poison item and fails with a sentence that says so, so it
  cannot take every worker down in turn. Taken-over items wait behind queued ones, fewest crashes first, so a storm
  of kills spreads over the queue instead of hitting its head on every restart. A clean stop (SIGTERM) gives items
  back without spending anything.
- Retryable errors (provider busy or over quota, source unreachable, the image store or the database full, read-only
  or missing) put the item back in the queue with exponential back-off and jitter, never sooner than the server
  asked; after `settings.max_attempts` attempts the item fails with the error's own sentence, stripped of any
  promise to try again, and "Gave up after N attempts." Permanent errors (bad photo, safety block) fail at once; an
  auth error pauses the job without spending an attempt.
- The database itself failing (disk full, read-only, locked for too long) never ends the worker: it waits with
  back-off and carries on when the database takes writes again; an outcome it could not write is written then.
- Outbound provider calls are recorded before they are sent (a request event and the estimated cost on the item,
  so the job's cost has it) and completed after (outcome, duration, actual cost): a call cut off by a crash is in
  the request log and in the job's cost.
- Cancel: queued and running items are cancelled at once. A result that arrives afterwards is kept as an asset of
  its cancelled item (paid for: not lost, not charged twice). A cancelled job can be resumed: items with such a
  result count as succeeded, the others are queued again.
"""

from lib.jobs.queries import (
    FLAGGED,
    GalleryCounts,
    GalleryEntry,
    JobProgress,
    Totals,
    approved_assets,
    approved_ids,
    gallery,
    gallery_counts,
    gallery_page,
    get_job,
    job_events,
    job_items,
    job_progress,
    latest_job_id,
    list_jobs,
    live_publications,
    pending_items,
    store_job_in_flight,
    totals,
)
from lib.jobs.spec import (
    BATCH_PROVIDERS,
    MAX_FIDELITY_RETRIES,
    MAX_VARIANTS,
    REFERENCE_PROVIDERS,
    STUDIO_MODEL,
    JobSpec,
    Selection,
    estimate_cost,
    suggested_mode,
)
from lib.jobs.transitions import (
    ALT_TEXT_TRIES,
    StoreItem,
    approve_all,
    cancel_item,
    cancel_job,
    check_store_job_free,
    claim_items,
    complete_item,
    complete_store_item,
    create_job,
    create_store_job,
    fail_item,
    heartbeat,
    pause_job,
    regenerate_item,
    release_items,
    requeue_item,
    resume_job,
    retry_failed,
    set_alt_text,
    set_review,
    set_stage,
)

__all__ = [
    "ALT_TEXT_TRIES",
    "FLAGGED",
    "GalleryCounts",
    "BATCH_PROVIDERS",
    "MAX_FIDELITY_RETRIES",
    "MAX_VARIANTS",
    "REFERENCE_PROVIDERS",
    "STUDIO_MODEL",
    "GalleryEntry",
    "JobProgress",
    "JobSpec",
    "Selection",
    "Totals",
    "approve_all",
    "approved_assets",
    "approved_ids",
    "gallery_counts",
    "gallery_page",
    "live_publications",
    "cancel_item",
    "cancel_job",
    "check_store_job_free",
    "claim_items",
    "StoreItem",
    "complete_item",
    "complete_store_item",
    "create_job",
    "create_store_job",
    "estimate_cost",
    "fail_item",
    "gallery",
    "get_job",
    "heartbeat",
    "job_events",
    "job_items",
    "job_progress",
    "latest_job_id",
    "list_jobs",
    "pause_job",
    "pending_items",
    "regenerate_item",
    "release_items",
    "requeue_item",
    "resume_job",
    "retry_failed",
    "set_alt_text",
    "set_review",
    "set_stage",
    "store_job_in_flight",
    "suggested_mode",
    "totals",
]
