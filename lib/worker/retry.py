"""How long to wait before trying again, and what to say when giving up."""

from __future__ import annotations

import random
import re


def backoff_delay(
    attempts: int, *, base: float, cap: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter; never shorter than what the server asked for."""
    rng = rng or random.Random()
    exp = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = exp * (0.5 + rng.random() / 2)
    return max(delay, retry_after or 0.0)


_PROMISE = re.compile(
    r"(?:[;,]\s*|\s+|^)(?:we will |we'll |it will )?(?:wait and )?(?:try again|retry|be retried)\b[^.;]*[.;]?",
    re.IGNORECASE,
)


def gave_up(message: str, attempts: int) -> str:
    """The last error's sentence without its promise to try again, then how many attempts were made."""
    text = _PROMISE.sub("", message).strip().rstrip(";,")
    if text and not text.endswith((".", "!", "?")):
        text += "."
    return f"{text} Gave up after {attempts} attempts.".strip()
