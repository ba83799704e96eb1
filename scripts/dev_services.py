"""`make services`: a throw-away PostgreSQL cluster and an S3-compatible server on 127.0.0.1 for trying the
several-machines setup on one computer. Prints the settings to export, runs until Ctrl-C, then deletes both."""

from __future__ import annotations

import signal
import threading

from tests.servers import PostgresCluster, S3Server

BUCKET = "imagegecko"


def main() -> None:
    with PostgresCluster() as pg, S3Server() as s3:
        s3.make_bucket(BUCKET)
        print("PostgreSQL and an S3-compatible server are running. In each shell that runs the app or a worker:")
        print(f"  export DATABASE_URL='{pg.url}'")
        print(f"  export BLOB_STORE_URL='s3://{BUCKET}/dev' S3_ENDPOINT_URL='{s3.url}'")
        print("  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test  # the dev server accepts any key")
        print("Ctrl-C stops both and deletes their data.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
