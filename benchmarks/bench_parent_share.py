"""How much of a `-j N` run the parent process does itself (the serial part that caps the speed-up).

    python benchmarks/bench_parent_share.py map-tables DIR --regimen-category salvage -o OUT -f ndjson -j 2

Runs the CLI in this process with the given arguments, then prints the CPU seconds of this process
(reading, pickling, writing) and of its worker processes (RUSAGE_CHILDREN), and the wall time.
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time

from fhir_onco.cli.app import app


def main() -> None:
    t0 = time.perf_counter()
    with contextlib.suppress(SystemExit):
        app(sys.argv[1:], standalone_mode=False)
    wall = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    parent, workers = me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime
    print(f"parent {parent:.2f} CPU-s, workers {workers:.2f} CPU-s "
          f"({parent / (parent + workers):.0%} in the parent), wall {wall:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
