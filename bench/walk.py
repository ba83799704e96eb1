"""A walk of one item through the code: which lib modules it visits, and how often it enters the job package.

    python -m bench.walk

Runs one studio item with a worker while a profiler notes every call into a lib module made by the thread that runs
the item (the claim loop's polling is left out: how often it polls depends on the machine). Prints the modules in
the order first visited, how many distinct ones, how many times control entered the job package (lib.jobs*) from
another module, and how many of those entries came from below: from a module the job package itself had called into
(a "climb back")."""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from lib import jobs
from lib.config import Settings
from lib.runtime import Runtime
from lib.sources.base import ProductQuery


def _module(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__", ""))


def _is_jobs(module: str) -> bool:
    return module == "lib.jobs" or module.startswith("lib.jobs.")


class Tracer:
    def __init__(self) -> None:
        self.visited: list[str] = []
        self.entries = 0
        self.climbs = 0
        self.lock = threading.Lock()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or not threading.current_thread().name.startswith("gecko-item"):
            return
        module = _module(frame)
        if not module.startswith("lib.") or module == "lib.models":
            return
        caller = frame.f_back
        caller_module = _module(caller) if caller is not None else ""
        with self.lock:
            if module not in self.visited:
                self.visited.append(module)
            if _is_jobs(module) and caller_module.startswith("lib.") and not _is_jobs(caller_module):
                self.entries += 1
                # a climb: some frame further down the stack is already in the job package
                f = caller
                while f is not None:
                    if _is_jobs(_module(f)):
                        self.climbs += 1
                        break
                    f = f.f_back


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=Path(d), poll_seconds=0.02))
        product = rt.source("demo").list_products(ProductQuery(per_page=5)).items[0]
        jobs.create_job(rt, spec=jobs.JobSpec(source_kind="demo"), selections=[jobs.Selection(product)])
        from lib.worker import Worker

        tracer = Tracer()
        threading.setprofile(tracer)
        sys.setprofile(tracer)
        try:
            Worker(rt, concurrency=1).run(until_idle=True)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
    lib_modules = [m for m in tracer.visited if m.startswith("lib.") and not m.startswith("lib.drawing")]
    print("modules visited (first visit order; the studio engine's drawing modules left out):")
    for m in lib_modules:
        print(f"  {m}")
    rows = [
        ("modules visited", str(len(lib_modules))),
        ("entries into the job package from another module", str(tracer.entries)),
        ("of which climbs back (job package already on the stack)", str(tracer.climbs)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  value")
    print("-" * (width + 8))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
