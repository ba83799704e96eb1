"""House rules checked on the code itself, by parsing it with `ast` (so a comment or a string never counts):

- only app.py, pages/ and lib/ui.py import streamlit (everything else in lib/ runs and is tested without it);
- no test skips itself when one of our modules fails to import (an importorskip of a `lib...` module): an import
  error in our code must fail the suite, not shrink it;
- lib/, pages/ and app.py import our modules by name: no importlib, no `except ImportError` around them.

Each rule is also run on a small bad example, so the check itself is known to catch what it is for.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("lib", "tests", "pages", "bench", "scripts", "app")
MAY_IMPORT_STREAMLIT = ("app.py", "lib/ui.py", "pages/")
HARNESSES = ("tests/", "bench/")  # AppTest drives pages from here: streamlit.testing, not the app


def python_files(*under: str) -> Iterator[tuple[str, ast.Module]]:
    for top in under:
        base = ROOT / top
        for path in [base] if base.is_file() else sorted(base.rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            yield rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel)


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            yield node.lineno, str(node.args[0].value)


def ours(module: str) -> bool:
    return module.split(".")[0] in OURS


def streamlit_imports(rel: str, tree: ast.AST) -> list[str]:
    if rel.startswith(MAY_IMPORT_STREAMLIT) or rel.startswith(HARNESSES):
        return []
    return [f"{rel}:{line} imports {mod}" for line, mod in imported_modules(tree) if mod.split(".")[0] == "streamlit"]


def first_party_importorskips(rel: str, tree: ast.AST) -> list[str]:
    return [
        f"{rel}:{node.lineno} importorskip({node.args[0].value!r})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "importorskip"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and ours(str(node.args[0].value))
    ]


def hidden_imports(rel: str, tree: ast.AST) -> list[str]:
    """importlib's import machinery (importlib.resources, for package data, is fine), and try blocks that import our
    modules and catch ImportError."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "importlib"]
        elif isinstance(node, ast.ImportFrom) and node.module == "importlib":
            names = [f"importlib.{a.name}" for a in node.names]
        else:
            continue
        found += [f"{rel}:{node.lineno} imports {name}" for name in names if name != "importlib.resources"]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        catches = any(
            isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
            if h.type is not None
            for n in ast.walk(h.type)
        )
        guarded = [mod for stmt in node.body for _, mod in imported_modules(stmt) if ours(mod)]
        if catches and guarded:
            found.append(f"{rel}:{node.lineno} guards the import of {', '.join(guarded)} with except ImportError")
    return found


def test_only_the_ui_layer_imports_streamlit() -> None:
    problems = [
        p for rel, tree in python_files("lib", "pages", "app.py", "scripts") for p in streamlit_imports(rel, tree)
    ]
    assert problems == []


def test_no_test_skips_when_our_own_module_fails_to_import() -> None:
    problems = [p for rel, tree in python_files("tests", "bench") for p in first_party_importorskips(rel, tree)]
    assert problems == []


def test_our_modules_are_imported_by_name_and_never_guarded() -> None:
    problems = [p for rel, tree in python_files("lib", "pages", "app.py") for p in hidden_imports(rel, tree)]
    assert problems == []


BAD = """
import importlib
from importlib import resources
import streamlit.components.v1 as components
import pytest

try:
    from lib import publish
except ImportError:
    publish = None

pytest.importorskip(OURS)
pytest.importorskip("pyarrow")
""".replace("OURS", repr("lib" + ".images"))  # spelled apart, so a text search of the tests finds no such call


def test_the_checks_catch_a_bad_module() -> None:
    tree = ast.parse(BAD)
    assert streamlit_imports("lib/catalog.py", tree) == ["lib/catalog.py:4 imports streamlit.components.v1"]
    assert streamlit_imports("lib/ui.py", tree) == [] and streamlit_imports("pages/x.py", tree) == []
    assert first_party_importorskips("tests/test_x.py", tree) == [
        "tests/test_x.py:12 importorskip(" + repr("lib" + ".images") + ")"
    ]
    assert sorted(hidden_imports("lib/x.py", tree)) == [
        "lib/x.py:2 imports importlib",
        "lib/x.py:7 guards the import of lib with except ImportError",
    ]
