"""`python -m lib.worker [--until-idle] [--concurrency N]`: a standalone worker. Any number may share one job log:
a claim is atomic, and an item whose worker died is taken over when its lease expires. SIGTERM/SIGINT finish the
items in flight (until their lease would expire), give the rest back, and exit 0."""

from __future__ import annotations

import argparse
import logging
import signal

from lib.runtime import Runtime
from lib.worker.runner import Worker, log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.worker", description="Run the ImageGecko job queue.")
    parser.add_argument("--until-idle", action="store_true", help="exit when nothing is left to do")
    parser.add_argument("--concurrency", type=int, default=None, help="items in flight (default from settings)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rt = Runtime.build()
    worker = Worker(rt, concurrency=args.concurrency)

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: finishing in-flight items, then stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stats = worker.run(until_idle=args.until_idle)
    log.info("done: %s", stats.as_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
