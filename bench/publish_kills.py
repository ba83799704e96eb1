"""A publishing job SIGKILLed mid-way, again and again: duplicates in the media library, and an exact rollback.

    .venv/bin/python -m bench.publish_kills [--images 60] [--kills 10]

The store is the WooCommerce emulator (in this process); the job is queued here and run by `python -m lib.worker`
processes, each killed with SIGKILL once the store has taken a few more uploads, then a new one started (its lease
short, so the next one takes the items over). Afterwards: uploads and media per image (1.00 means no duplicate), and
after a rollback job, how many products hold exactly their old image ids in their old order.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.publish import _approved_job
from lib import store_jobs
from lib.config import Settings
from lib.models import ItemStatus
from lib.runtime import Runtime
from lib.worker import run_until_idle
from tests.emulators.woocommerce import WooEmulator, image_bytes


def _wait_until(condition, proc: subprocess.Popen[bytes], limit: float = 120.0) -> None:  # type: ignore[type-arg,no-untyped-def]
    deadline = time.monotonic() + limit
    while not condition() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # a bench may poll; tests wait on events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, WooEmulator(seed=False) as emu:
        photo = emu.add_media("photo.jpg", image_bytes((90, 90, 90)))
        pids = [emu.add_product(f"K {i:03d}", sku=f"KILL-{i:03d}", images=[photo]) for i in range(args.images)]
        env = {
            **os.environ,
            "IMAGEGECKO_HOME": tmp,
            "PRIVATE_STORE_HOSTS": '["127.0.0.1"]',
            "LEASE_SECONDS": "1",
            "POLL_SECONDS": "0.1",
            "BACKOFF_BASE_SECONDS": "0",
        }
        rt = Runtime.build(
            Settings.load(secrets_file=None, imagegecko_home=Path(tmp), private_store_hosts=["127.0.0.1"])
        )
        before = {pid: emu.image_ids(pid) for pid in pids}
        job_id = _approved_job(rt, emu, pids)
        queued = store_jobs.queue_publish(rt, job_id=job_id, role="featured")
        step = max(1, args.images // (args.kills + 2))
        kills = 0
        start = time.perf_counter()
        while kills < args.kills:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lib.worker", "--until-idle"], env=env, stderr=subprocess.DEVNULL
            )
            target = emu.counts["uploads"] + step
            _wait_until(lambda target=target: emu.counts["uploads"] >= target, proc)
            if proc.poll() is not None:
                break  # the job finished before this kill
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        last = subprocess.run([sys.executable, "-m", "lib.worker", "--until-idle"], env=env, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        report = store_jobs.report(rt, queued.id)
        done = sum(1 for p in report.publications if p.state == "done")
        stored = sum(1 for m in emu.media.values() if "-ai-" in m["file"])
        back = store_jobs.queue_rollback(rt, job_id=job_id)
        run_until_idle(rt, job_id=back.id)
        restored = sum(1 for i in store_jobs.jobs.job_items(rt.db, back.id) if i.status == ItemStatus.SUCCEEDED)
        exact = sum(1 for pid in pids if emu.image_ids(pid) == before[pid])
        rt.db.dispose()
    print(
        f"{args.images} images, {kills} SIGKILLs of the worker mid-job (last worker exit {last.returncode}); under load"
    )
    print(
        f"{'published':>9} {'seconds':>8} {'uploads/img':>11} {'media/img':>9} {'duplicates':>10} "
        f"{'rolled back':>11} {'exact':>9}"
    )
    print(
        f"{done:>6}/{args.images:<3}{seconds:>8.1f} {emu.counts['uploads'] / args.images:>11.2f} "
        f"{stored / args.images:>9.2f} {stored - args.images:>10} {restored:>11} {exact:>5}/{args.images}"
    )


if __name__ == "__main__":
    main()
