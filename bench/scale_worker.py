"""`python -m bench.scale_worker N`: lib.worker's own entry point, with the demo catalogue widened to N products
(the benchmark's job names products the standard 16-product catalogue does not have). Only for bench/scale.py."""

from __future__ import annotations

import sys

from lib.sources import demo
from lib.worker.__main__ import main

if __name__ == "__main__":
    size = int(sys.argv[1])
    demo.open_source = lambda runtime, connection=None: demo.DemoSource(runtime, size=size, image_size=256)
    raise SystemExit(main([]))
