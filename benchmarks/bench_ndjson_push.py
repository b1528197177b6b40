"""Peak memory of `fhir-onco push` over NDJSON as the number of patients grows (it must stay flat).

    python benchmarks/bench_ndjson_push.py                    # 1000 and 10000 patients, --dry-run
    python benchmarks/bench_ndjson_push.py -n 2000 -n 20000 --observations 20
    python benchmarks/bench_ndjson_push.py --write -n 1000    # real writes (server-bound, slow)

For each N: synthetic patients (``fhir_onco.server.synthetic``, about ``observations + 5``
resources each) are written as NDJSON, one file per type as ``fhir-onco map --format ndjson`` does,
and ``fhir-onco push DIR`` runs in a child process against a fresh local sekmet-fhir. Printed:
patients, resources, wall time, resources/s, and the child's peak RSS (``ru_maxrss``). ``--dry-run``
(the default) still reads every patient's resources from the server and compares them, so it
exercises the whole streaming path except the writes.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fhir_onco.pipeline import NdjsonWriter
from fhir_onco.server.synthetic import patient_bundle
from fhir_onco.server.testserver import SekmetServer

MEASURE = (
    "import resource, subprocess, sys, json; p = subprocess.run(sys.argv[1:], capture_output=True); "
    "print(json.dumps({'rc': p.returncode, 'rss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
    "'out': p.stdout.decode()[-2000:], 'err': p.stderr.decode()[-2000:]}))"
)


def write_ndjson(directory: Path, n: int, observations: int) -> int:
    total = 0
    with NdjsonWriter(directory) as writer:
        for i in range(n):
            b = patient_bundle(f"bench-{n}-{i}", observations=observations, seed=i)
            writer.write_bundle(b)
            total += len(b["entry"])
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, action="append", help="patients (repeatable); default 1000 and 10000")
    ap.add_argument("--observations", type=int, default=20)
    ap.add_argument("-j", type=int, default=4)
    ap.add_argument("--write", action="store_true", help="really write (default: --dry-run)")
    args = ap.parse_args()
    sizes = args.n or [1000, 10000]
    with tempfile.TemporaryDirectory(prefix="bench-ndjson-") as tmp:
        server = SekmetServer(Path(tmp) / "sekmet").start()
        try:
            print(f"{'patients':>9} {'resources':>10} {'seconds':>8} {'res/s':>8} {'peak RSS':>10}")
            for n in sizes:
                data = Path(tmp) / f"nd{n}"
                resources = write_ndjson(data, n, args.observations)
                cmd = [sys.executable, "-m", "fhir_onco", "push", str(data), "--server", server.base_url,
                       "-j", str(args.j)]
                if not args.write:
                    cmd.append("--dry-run")
                started = time.perf_counter()
                got = json.loads(subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True,
                                                text=True, check=True).stdout)
                seconds = time.perf_counter() - started
                if got["rc"] != 0:
                    raise SystemExit(f"push failed ({got['rc']}): {got['err']}")
                m = re.search(r"patients: (\d+)", got["out"])
                if not m or int(m.group(1)) != n:
                    raise SystemExit(f"expected {n} patients in the report: {got['out'][-300:]}")
                print(f"{n:>9,} {resources:>10,} {seconds:>8.1f} {resources / seconds:>8,.0f} "
                      f"{got['rss_kb'] / 1024:>8.1f} MB")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
