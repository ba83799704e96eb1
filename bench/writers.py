"""Which modules write the job tables (Job, JobItem)? Goal: one (lib/jobs/transitions.py).

    python -m bench.writers            (prints a table; scans lib/, pages/, app.py and bench/)

A module counts as a writer when it builds a Job or JobItem, runs update()/delete()/insert() on one of them, or
assigns a column that only those tables have (status, stage, attempts, lease_owner, ...) while naming one of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = {"Job", "JobItem"}
# Columns of Job/JobItem that no other table has: assigning one means writing job state.
COLUMNS = {
    "status",
    "stage",
    "attempts",
    "crashes",
    "next_attempt_at",
    "lease_owner",
    "lease_expires_at",
    "batch_name",
    "batch_token",
    "result_asset_id",
    "error_kind",
    "error_message",
    "latency_ms",
    "actual_cost",
    "item_count",
    "finished_at",
}


def write_sites(tree: ast.AST) -> list[str]:
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if not names & TABLES:
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            first = node.args[0] if node.args else None
            if node.func.id in TABLES:
                found.append(f"{node.func.id}(...) line {node.lineno}")
            elif node.func.id in {"update", "delete", "insert"} and isinstance(first, ast.Name) and first.id in TABLES:
                found.append(f"{node.func.id}({first.id}) line {node.lineno}")
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Attribute) and t.attr in COLUMNS and not _is_self(t):
                found.append(f".{t.attr} = line {t.lineno}")
    return found


def _is_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id == "self"


def writers(roots: tuple[str, ...] = ("lib", "pages", "app.py", "bench")) -> dict[str, list[str]]:
    """module path -> the write sites found in it."""
    out: dict[str, list[str]] = {}
    for root in roots:
        base = ROOT / root
        files = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for path in files:
            rel = str(path.relative_to(ROOT))
            if rel in ("lib/models.py", "bench/writers.py"):
                continue
            found = write_sites(ast.parse(path.read_text(), filename=rel))
            if found:
                out[rel] = found
    return out


def main() -> None:
    found = writers()
    lib_writers = [m for m in found if m.startswith(("lib/", "pages/", "app.py"))]
    width = max([len(m) for m in found] + [20])
    print(f"{'module':<{width}}  write sites")
    print("-" * (width + 14))
    for module, sites in found.items():
        print(f"{module:<{width}}  {len(sites)}")
    print(f"\nmodules of the app (lib/, pages/, app.py) that write Job/JobItem: {len(lib_writers)}")
    print(f"bench scripts that write them (set up figures): {len(found) - len(lib_writers)}")


if __name__ == "__main__":
    main()
