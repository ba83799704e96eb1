"""Print the wiring figures of issue 13 as a table: how tangled the imports and kinds are.

    .venv/bin/python scripts/wiring_figures.py

Counts, all by parsing the code with `ast` (comments and docstrings never count):
- lib names per page: distinct `lib` names a page uses (`from lib.x import a` counts `a`; `from lib import m`
  counts every `m.attr` the page reads, or `m` itself when it reads none);
- importorskip of our modules: `pytest.importorskip("lib…"/"tests…")` calls;
- ImportError guards: `try` blocks importing our modules with an `except ImportError` handler;
- function-level imports of our modules: `import lib…`/`from lib… import` inside a function;
- bare kind strings: string literals equal to a kind name ("woocommerce", "drive", ...) outside lib/kinds.py.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("lib", "tests", "pages", "bench", "scripts")
KIND_NAMES = ("demo", "upload", "woocommerce", "drive", "gemini", "studio", "shopify")


def python_files() -> list[Path]:
    skip = {".venv", ".git", "node_modules"}
    return sorted(
        p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts) and "wt" not in p.parts[:1]
    )


def ours(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in OURS  # type: ignore[union-attr]


def imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def page_lib_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    modules: dict[str, str] = {}  # local alias -> lib module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lib":
            for alias in node.names:
                if node.module == "lib":
                    modules[alias.asname or alias.name] = f"lib.{alias.name}"
                else:
                    names.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "lib":
                    modules[alias.asname or alias.name] = alias.name
    used: dict[str, set[str]] = {alias: set() for alias in modules}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            used[node.value.id].add(node.attr)
    for alias, attrs in used.items():
        if alias == "ui":  # lib/ui.py is the page toolkit, not a lib name to count
            continue
        names |= {f"{modules[alias]}.{a}" for a in attrs} or {modules[alias]}
    return names


def in_function_imports(tree: ast.Module) -> int:
    count = 0
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                count += sum(1 for m in imported_modules(node) if ours(m))
    return count


def import_guards(tree: ast.Module) -> int:
    count = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        catches = any(
            h.type is not None
            and any(
                isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in ast.walk(h.type)
            )
            for h in node.handlers
        )
        body_imports = [m for stmt in node.body for n in ast.walk(stmt) for m in imported_modules(n)]
        dunder = [
            n
            for stmt in node.body
            for n in ast.walk(stmt)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "__import__"
        ]
        if catches and (any(ours(m) for m in body_imports) or dunder):
            count += 1
    return count


def importorskips(tree: ast.Module) -> int:
    count = 0
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "importorskip"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and ours(str(node.args[0].value))
        ):
            count += 1
    return count


def main() -> int:
    pages: list[tuple[str, int]] = []
    totals = {"importorskip": 0, "guards": 0, "fn_imports": 0}
    kinds: dict[str, tuple[int, set[str]]] = {k: (0, set()) for k in KIND_NAMES}
    for path in python_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "scripts/wiring_figures.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if rel.startswith("pages/"):
            pages.append((rel, len(page_lib_names(tree))))
        totals["importorskip"] += importorskips(tree)
        totals["guards"] += import_guards(tree)
        totals["fn_imports"] += in_function_imports(tree)
        if rel != "lib/kinds.py" and not rel.startswith("tests/"):
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in KIND_NAMES:
                    n, files = kinds[node.value]
                    kinds[node.value] = (n + 1, files | {rel})
    print("| page | lib names used |\n|---|---|")
    for rel, n in pages:
        print(f"| {rel} | {n} |")
    print()
    print("| figure | count |\n|---|---|")
    print(f"| pytest.importorskip of our modules | {totals['importorskip']} |")
    print(f"| try/except ImportError around our modules | {totals['guards']} |")
    print(f"| imports of our modules inside functions | {totals['fn_imports']} |")
    print()
    print("| bare kind string (outside lib/kinds.py and tests/) | literals | files |\n|---|---|---|")
    for kind, (n, files) in kinds.items():
        print(f'| "{kind}" | {n} | {len(files)} |')
    return 0


if __name__ == "__main__":
    sys.exit(main())
