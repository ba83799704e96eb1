"""Findings, their severity and the image's verdict.

A check reports findings, never one opaque number: each says what changed, where, by how much, in words a
merchant reads on a gallery card. The verdict follows from the worst finding: no finding is "faithful", a minor
one "check it", a major one "redrawn".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    FAITHFUL = "faithful"
    CHECK = "check"  # "check it": something may have changed
    REDRAWN = "redrawn"  # the product was redrawn: do not publish without a look

    @property
    def label(self) -> str:
        return {"faithful": "Faithful", "check": "Check it", "redrawn": "Redrawn"}[self.value]


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"


class Check(StrEnum):
    """What a finding is about (one value per check)."""

    NOT_FOUND = "not_found"
    COLOUR = "colour"
    TEXT = "text"
    SHAPE = "shape"
    MISSING = "missing"
    ADDED = "added"


CHECK_TITLES = {
    Check.NOT_FOUND: "Product not found",
    Check.COLOUR: "Colour changed",
    Check.TEXT: "Label text changed",
    Check.SHAPE: "Shape changed",
    Check.MISSING: "Part missing",
    Check.ADDED: "Something added",
}


@dataclass(frozen=True)
class Finding:
    check: Check
    severity: Severity
    message: str  # plain words: "the top is blue in the photo, green here"
    score: float  # the measure divided by its flag threshold (1.0 = just flagged)
    # Where, as fractions (x0, y0, x1, y1) of the generated image; None when the whole product is meant.
    region: tuple[float, float, float, float] | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return CHECK_TITLES[self.check]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["check"], d["severity"] = self.check.value, self.severity.value
        d["region"] = list(self.region) if self.region else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Finding:
        region = d.get("region")
        return cls(
            check=Check(d["check"]),
            severity=Severity(d["severity"]),
            message=str(d.get("message", "")),
            score=float(d.get("score", 0.0)),
            region=(float(region[0]), float(region[1]), float(region[2]), float(region[3])) if region else None,
            data=dict(d.get("data") or {}),
        )


@dataclass(frozen=True)
class Report:
    verdict: Verdict
    findings: tuple[Finding, ...]
    measures: dict[str, float]  # raw measures, for the benchmark and the job log
    notes: tuple[str, ...] = ()  # checks that could not run ("label text not read: OCR is not installed")
    seconds: float = 0.0

    @property
    def summary(self) -> str:
        """One line for a card, a CSV cell or the CLI."""
        if not self.findings:
            return "Faithful to the product photo."
        return "; ".join(f.message for f in self.findings)


def grade(measure: float, flag: float, major: float) -> Severity | None:
    """The severity of a measure against its flag and major thresholds (None: not flagged)."""
    if measure >= major:
        return Severity.MAJOR
    if measure >= flag:
        return Severity.MINOR
    return None


def verdict_of(findings: list[Finding] | tuple[Finding, ...]) -> Verdict:
    if any(f.severity == Severity.MAJOR for f in findings):
        return Verdict.REDRAWN
    if findings:
        return Verdict.CHECK
    return Verdict.FAITHFUL
