"""The one result type of every "Test connection": a list of checks, each a line of the checklist."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    label: str  # what was checked: "API key valid"
    ok: bool
    detail: str = ""  # what was found, in one sentence
    advice: str = ""  # what to do about it, when it failed
    skipped: bool = False  # not run because an earlier check failed


def first_failure(checks: list[Check]) -> Check | None:
    return next((c for c in checks if not c.ok and not c.skipped), None)


def summary(checks: list[Check]) -> str | None:
    """The sentence a connection remembers as its last error (None: every check passed)."""
    failed = first_failure(checks)
    return f"{failed.label}: {failed.detail}" if failed else None
