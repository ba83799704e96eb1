"""The worker: one runner (runner.py) that claims items and drives them through the item pipeline (pipeline.py),
the batch mode (batch.py) and the pending alt texts (alt_texts.py). `python -m lib.worker` runs it standalone; the
app embeds one per process (`start_embedded`). State changes go through lib.jobs.transitions."""

from lib.worker.retry import backoff_delay, gave_up
from lib.worker.runner import (
    EmbeddedWorker,
    Worker,
    WorkerStats,
    run_until_idle,
    start_embedded,
)

__all__ = [
    "EmbeddedWorker",
    "Worker",
    "WorkerStats",
    "backoff_delay",
    "gave_up",
    "run_until_idle",
    "start_embedded",
]
