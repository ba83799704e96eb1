"""Numbers, durations and times as the screens write them ("free", "1 min 15 s", "5 min ago", "2,000 images")."""

from __future__ import annotations

from datetime import UTC, datetime


def fmt_cost(usd: float | None) -> str:
    usd = float(usd or 0.0)
    if usd == 0:
        return "free"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def fmt_updated(age_seconds: float) -> str:
    """How long ago live figures last changed: "updated just now", "updated 12 s ago"."""
    age = max(0, int(age_seconds))
    if age < 2:
        return "updated just now"
    return f"updated {age} s ago" if age < 60 else f"updated {fmt_duration(age)} ago"


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
