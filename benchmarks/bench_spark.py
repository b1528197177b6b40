"""Spark local mode vs the single-process `map-tables` on a generated registry extract.

    .venv/bin/python benchmarks/bench_spark.py --patients 10000 50000

For each N: a registry extract with ``detail="full"`` (~14 resources a patient: diagnosis, stage or
finding, regimen with its administrations, MRD, response, adverse event) is generated, then mapped to
NDJSON with profile validation by (a) `fhir-onco map-tables -f ndjson` and (b) `fhir-onco spark
map-tables` with ``--master local[1]`` and ``local[2]``, each in a fresh process. Printed: wall time,
resources/s, CPU seconds of the process tree and resources per CPU-second (the fair figure on a
shared machine), and peak resident memory: of the single process, and for Spark of the driver JVM and of
the largest Python worker (in local mode the executor is the driver JVM plus its Python workers;
the Python workers are where mapping happens). Memory is sampled from /proc every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from fhir_onco.tabular.synthetic import write_registry_extract

CLI = [sys.executable, "-m", "fhir_onco"]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def measure(cmd: list[str], ndjson_out: Path | None = None) -> dict[str, float]:
    """Run cmd; wall seconds, peak RSS (MB) of the whole tree, of java, of the largest Python worker."""
    peaks = {"tree": 0, "java": 0, "python_worker": 0, "main": 0}
    ticks: dict[int, int] = {}  # pid -> CPU ticks (user + system) last seen
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree = 0
            for pid in _descendants(proc.pid):
                ticks[pid] = max(ticks.get(pid, 0), _cpu_ticks(pid))
                rss = _rss_kb(pid)
                tree += rss
                line = _cmdline(pid)
                if pid == proc.pid:
                    peaks["main"] = max(peaks["main"], rss)
                elif "java" in line.split(" ")[0]:
                    peaks["java"] = max(peaks["java"], rss)
                elif "pyspark" in line or "daemon" in line or "worker" in line:
                    peaks["python_worker"] = max(peaks["python_worker"], rss)
            peaks["tree"] = max(peaks["tree"], tree)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    # CPU of the whole process tree (JVM and Python workers included): on a shared machine wall time
    # measures the neighbours too, CPU time measures us.
    cpu = sum(ticks.values()) / os.sysconf("SC_CLK_TCK")
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    if ndjson_out is not None:  # map-tables: one resource per line of its NDJSON files
        resources = sum(_lines(path) for path in ndjson_out.glob("*.ndjson") if path.name != "OperationOutcome.ndjson")
    else:  # spark map-tables --json: totals per type
        resources = sum(json.loads(stdout[stdout.index("{"):])["resources"].values())
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "resources": resources,
            **{f"{k}_mb": round(v / 1024, 1) for k, v in peaks.items()}}


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def single_process(extract: Path, out: Path) -> dict[str, float]:
    # No --json: its per-patient summaries would be held for the final print, which is not the memory
    # of a mapping run (100k patients: 331 MB with them); the resources are counted from the output.
    return measure([*CLI, "map-tables", str(extract), "-o", str(out), "-f", "ndjson"], out)


def spark(extract: Path, out: Path, cores: int) -> dict[str, float]:
    # The default partitioning (one partition per 1 MB of input), as a user runs it.
    return measure([*CLI, "spark", "map-tables", str(extract), "-o", str(out), "--master", f"local[{cores}]",
                    "--json"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--skip-single", action="store_true", help="only the Spark runs")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2], help="local[N] runs")
    args = parser.parse_args()
    print(f"{'runner':>22} {'patients':>9} {'resources':>10} {'wall s':>8} {'res/s':>7} {'CPU s':>7} {'res/CPU-s':>9} "
          f"{'main MB':>8} {'JVM MB':>7} {'py worker MB':>12}", flush=True)
    for n in args.patients:
        with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
            extract = write_registry_extract(Path(tmp) / "extract", n, detail="full")
            runs: list[tuple[str, int]] = [] if args.skip_single else [("map-tables (1 process)", 0)]
            runs += [(f"spark local[{c}]", c) for c in args.cores]
            for label, cores in runs:
                out = Path(tmp) / f"out-{cores}"
                r = spark(extract, out, cores) if cores else single_process(extract, out)
                per_s, per_cpu_s = round(r["resources"] / r["wall_s"]), round(r["resources"] / r["cpu_s"])
                print(f"{label:>22} {n:>9} {r['resources']:>10} {r['wall_s']:>8} {per_s:>7} {r['cpu_s']:>7} "
                      f"{per_cpu_s:>9} {r['main_mb']:>8} {r['java_mb']:>7} {r['python_worker_mb']:>12}", flush=True)
    print(f"cpu cores: {os.cpu_count()}; load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
