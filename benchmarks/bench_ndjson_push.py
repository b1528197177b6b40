"""Peak memory of `fhir-onco push` and `sync` over NDJSON as the number of patients grows (it must stay flat).

    python benchmarks/bench_ndjson_push.py                          # 1000 and 10000 patients, every step
    python benchmarks/bench_ndjson_push.py -n 1000 -n 10000 -n 50000 --steps push-dry,resync,removal
    python benchmarks/bench_ndjson_push.py --cli-python /other/tree/.venv/bin/python   # another tree's CLI

For each N: synthetic patients (``fhir_onco.server.synthetic``, ``observations + 4`` resources
each) are written as NDJSON, one file per type as ``fhir-onco map --format ndjson`` does, and
each step runs ``fhir-onco ... --json`` in a child process against a fresh local sekmet-fhir (the
JSON report goes to a file, so it is written whole, as a caller would read it). Steps:

* ``push-dry``: ``push DIR --dry-run``: every patient read back from the server and compared;
* ``sync``: ``sync DIR``: every patient written (server-bound: the slow step), recorded in the store;
* ``resync``: the same again: every patient skipped by its content hash, no request at all;
* ``removal``: ``sync`` of a source holding the first half of the patients, ``--on-removed keep``:
  half the store streamed through the removal step.

Printed per step: patients, resources, wall time, and the child's peak RSS (``ru_maxrss`` of the
command, taken by a small launcher so this script's own size never counts). The command's report is
checked: every patient is in it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fhir_onco.pipeline import NdjsonWriter
from fhir_onco.server.synthetic import patient_bundle
from fhir_onco.server.testserver import SekmetServer

# Linux counts the peak RSS of a process that forks and execs into the exec'd command's ru_maxrss,
# so the command starts from a small launcher whose wait4 is the figure.
LAUNCHER = (
    "import os, subprocess, sys; out = open(sys.argv[2], 'w'); p = subprocess.Popen(sys.argv[3:], stdout=out); "
    "_, st, u = os.wait4(p.pid, 0); open(sys.argv[1], 'w').write(f'{os.waitstatus_to_exitcode(st)} {u.ru_maxrss}')"
)
STEPS = ("push-dry", "sync", "resync", "removal")


def write_ndjson(directory: Path, n: int, observations: int, first: int | None = None) -> int:
    total = 0
    with NdjsonWriter(directory) as writer:
        for i in range(first if first is not None else n):
            b = patient_bundle(f"bench-{n}-{i}", observations=observations, seed=i)
            writer.write_bundle(b)
            total += len(b["entry"])
    return total


def measure(cmd: list[str], report: Path) -> tuple[int, float, float]:
    """(exit code, wall seconds, peak RSS MB) of ``cmd`` in a fresh process, stdout to ``report``."""
    with tempfile.NamedTemporaryFile("r", suffix=".rusage") as figures:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", LAUNCHER, figures.name, str(report), *cmd],
                              stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        code, maxrss_kb = (int(x) for x in (figures.read().split() or ["1", "0"]))
    if proc.returncode != 0:
        raise SystemExit(f"launcher failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}: {proc.stderr.decode(errors='replace')[-2000:]}")
    return code, wall, maxrss_kb / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, action="append", help="patients (repeatable); default 1000 and 10000")
    ap.add_argument("--observations", type=int, default=2)
    ap.add_argument("-j", type=int, default=4)
    ap.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}")
    ap.add_argument("--cli-python", default=sys.executable, help="the Python whose fhir_onco runs the commands")
    ap.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    args = ap.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        ap.error(f"unknown steps: {', '.join(sorted(unknown))}")
    sizes = args.n or [1000, 10000]
    with tempfile.TemporaryDirectory(prefix="bench-ndjson-", dir=args.work) as tmp:
        server = SekmetServer(Path(tmp) / "sekmet").start()
        cli = [args.cli_python, "-m", "fhir_onco", "-q"]
        try:
            print(f"# fhir-onco of {args.cli_python}, -j {args.j}, {args.observations + 4} resources per patient",
                  flush=True)
            print(f"{'step':>9} {'patients':>9} {'resources':>10} {'seconds':>8} {'peak RSS':>10}", flush=True)
            for n in sizes:
                data, half = Path(tmp) / f"nd{n}", Path(tmp) / f"half{n}"
                resources = write_ndjson(data, n, args.observations)
                state = Path(tmp) / f"state{n}.sqlite"
                report = Path(tmp) / "report.json"
                srv = ["--server", server.base_url, "-j", str(args.j), "--json"]
                for step in steps:
                    expect, source, extra = n, data, []
                    if step == "push-dry":
                        cmd = [*cli, "push", str(data), *srv, "--dry-run"]
                    else:
                        if step == "removal":
                            if not half.exists():
                                write_ndjson(half, n, args.observations, first=n // 2)
                            source, expect, extra = half, n // 2, ["--on-removed", "keep"]
                        cmd = [*cli, "sync", str(source), *srv, "--state", str(state), *extra]
                    _, wall, rss = measure(cmd, report)
                    got = json.loads(report.read_text())
                    total = got["totals"]["patients"]["total"]
                    if total != expect or len(got["patients"]) != expect or not got["ok"]:
                        raise SystemExit(f"{step}: expected {expect} patients in an ok report, got {total}")
                    if step == "removal" and len(got["removed"]) != n - n // 2:
                        raise SystemExit(f"removal: expected {n - n // 2} removed, got {len(got['removed'])}")
                    if step == "resync" and got["totals"]["patients"]["skipped_by_state"] != n:
                        raise SystemExit("resync: not every patient was skipped by its content hash")
                    shown = resources if step != "removal" else resources * (n // 2) // n
                    print(f"{step:>9} {expect:>9,} {shown:>10,} {wall:>8.1f} {rss:>8.1f} MB", flush=True)
                    os.remove(report)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
