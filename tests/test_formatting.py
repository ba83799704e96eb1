"""Numbers, durations, times and state names as the screens write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lib import formatting, labels


def test_formatting() -> None:
    assert formatting.fmt_cost(0) == "free"
    assert formatting.fmt_cost(0.0039) == "$0.0039"
    assert formatting.fmt_cost(12.5) == "$12.50"
    assert formatting.fmt_duration(0.25) == "250 ms"
    assert formatting.fmt_duration(75) == "1 min 15 s"
    assert formatting.fmt_duration(7300) == "2 h 01 min"
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert formatting.fmt_when(now - timedelta(seconds=5), now) == "just now"
    assert formatting.fmt_when(now - timedelta(minutes=5), now) == "5 min ago"
    assert formatting.fmt_when(now - timedelta(days=3), now) == "2025-12-30 12:00 UTC"
    assert formatting.fmt_when(None) == "never"
    assert labels.state_label("finished") == "done with errors"
    assert formatting.plural(1, "image") == "1 image" and formatting.plural(2_000, "image") == "2,000 images"


def test_live_progress_says_how_long_ago_its_figures_moved() -> None:
    assert formatting.fmt_updated(0.4) == "updated just now"
    assert formatting.fmt_updated(12.7) == "updated 12 s ago"
    assert formatting.fmt_updated(185) == "updated 3 min 05 s ago"
