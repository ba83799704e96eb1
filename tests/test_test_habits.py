"""Habits of the test suite itself, checked by reading its source."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _importorskips_of_our_modules(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "importorskip"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).split(".")[0] in {"lib", "tests", "pages", "bench", "scripts"}
        ):
            found.append(str(node.args[0].value))
    return found


def test_no_test_skips_itself_when_one_of_our_modules_fails_to_import() -> None:
    # Our modules always ship: an import error in one must fail the run, not turn its tests into skips.
    offenders = {
        str(path.relative_to(TESTS)): mods
        for path in sorted(TESTS.rglob("*.py"))
        if (mods := _importorskips_of_our_modules(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_check_finds_an_importorskip_of_our_module() -> None:
    sample = 'import pytest\nx = pytest.importorskip("lib.publish")\npytest.importorskip("pandas")\n'
    assert _importorskips_of_our_modules(sample) == ["lib.publish"]
