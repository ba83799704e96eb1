"""The type-check gate of `make test`: mypy over the configured files (pyproject.toml), failing when it reports more
errors than `MYPY_BASELINE` (mypy-baseline.txt, one number). The baseline only goes down: at 0 the tree is clean and
any new error fails the build. Prints mypy's own report."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BASELINE = Path(__file__).resolve().parents[1] / "mypy-baseline.txt"


def main() -> int:
    proc = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True)
    sys.stdout.write(proc.stdout[-20000:])
    sys.stderr.write(proc.stderr)
    found = re.search(r"Found (\d+) errors?", proc.stdout)
    errors = int(found.group(1)) if found else (0 if proc.returncode == 0 else -1)
    allowed = int(BASELINE.read_text().split()[0]) if BASELINE.exists() else 0
    if errors < 0:
        print("mypy did not run; see above.", file=sys.stderr)
        return 1
    if errors > allowed:
        print(f"mypy: {errors} errors, more than the {allowed} of {BASELINE.name}. Fix the new ones.", file=sys.stderr)
        return 1
    if errors < allowed:
        print(f"mypy: {errors} errors, fewer than {allowed}: lower {BASELINE.name} to {errors}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
