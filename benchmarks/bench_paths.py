"""End-to-end throughput of the paths users run: `map-tables` and `map` with full profile validation
and NDJSON output, light and heavy patients; prints resources per CPU-second and peak RSS.

    python benchmarks/bench_paths.py                       # the default plan (see PLAN below)
    python benchmarks/bench_paths.py --quick               # 1k patients of each path only
    python benchmarks/bench_paths.py --run registry-light:10000:2   # one run: workload:patients:jobs

Each run is the installed `fhir-onco` CLI in a fresh process (inputs are generated beforehand and
not timed; the package is byte-compiled first, as pip leaves an installed one). CPU seconds are
user + system of the CLI and its worker processes (wait4), so "resources per CPU-second" is per
core whatever -j is; wall seconds show the -j speed-up.
Peak RSS is that of the largest single process (the CLI, or one worker). This process stays small
(inputs are generated and the floor measured in subprocesses): a forked child's peak RSS counts
the parent's pages it starts with.

The floor, measured in the same run on the same output: serialising those resources with plain
stdlib `json.dumps` (compact) and with orjson, nothing else - the ratio shows how far from pure
serialisation the whole map+validate path is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.workloads import COMMANDS

CLI = str(Path(sys.executable).with_name("fhir-onco"))
FLOOR_SAMPLE = 200_000  # resources loaded for the floor (bounded, so the benchmark's memory is)

# (workload, patients, jobs): light paths at 1k, 10k and 100k patients, heavy ones (~300-380 resources
# per patient) at 1k and 10k, and -j 2 next to -j 1
PLAN: list[tuple[str, int, int]] = [
    ("registry-light", 1_000, 1), ("registry-light", 10_000, 1), ("registry-light", 10_000, 2),
    ("registry-light", 100_000, 1),
    ("mcode-light", 1_000, 1), ("mcode-light", 10_000, 1), ("mcode-light", 100_000, 1),
    ("cases-light", 1_000, 1), ("cases-light", 10_000, 1), ("cases-light", 10_000, 2), ("cases-light", 100_000, 1),
    ("registry-heavy", 1_000, 1), ("registry-heavy", 10_000, 1),
    ("cases-heavy", 1_000, 1), ("cases-heavy", 1_000, 2), ("cases-heavy", 10_000, 1),
]
QUICK = [(w, n, j) for w, n, j in PLAN if n <= 1_000]


def byte_compile() -> None:
    """Byte-compile the installed package, as pip does when it installs one. With
    PYTHONDONTWRITEBYTECODE set (this machine sets it) and an editable install, every CLI run
    otherwise compiled ~50 modules from source: 0.3-0.5 CPU-s per run that no installed copy pays."""
    import compileall
    import importlib.util

    for name in ("fhir_onco", "fhir_onco.cli", "fhir_onco.mappings"):
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            compileall.compile_dir(folder, quiet=1)


def inputs(work: Path, workload: str, n: int) -> Path:
    """The workload's inputs in ``work``, generated once: into a side folder renamed when complete, so
    an interrupted generation (100k case files take minutes) is redone, never reused half-written."""
    where = work / f"{workload}-{n}"
    if not where.exists():
        partial = work / f"{workload}-{n}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(work / f"{workload}-{n}.partial-template", ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", workload, str(n), str(partial)], check=True)
        partial.rename(where)
        print(f"# generated {where} in {time.perf_counter() - t0:.0f} s, {_size_mb(where):.0f} MB", flush=True)
    return where


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 1048576


def _bigger_stack() -> None:
    """Runs in the CLI's process before exec: Linux allows arguments up to a quarter of the stack
    limit (8 MB -> 2 MB, at most 6 MB), and `map` with 100k case-file names passes ~2.5 MB of them."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = 256 * 1024 * 1024
    if soft != resource.RLIM_INFINITY and soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
        resource.setrlimit(resource.RLIMIT_STACK, (want, hard))


def run(work: Path, workload: str, n: int, jobs: int) -> dict[str, object]:
    command = COMMANDS[workload]
    src = inputs(work, workload, n)
    out = work / f"out-{workload}-{n}-j{jobs}-{os.getpid()}"  # own folder: runs may share --work
    shutil.rmtree(out, ignore_errors=True)
    args = [CLI, command]
    cwd = None
    if command == "map":  # names relative to the inputs' folder: 100k absolute paths are over the limit
        cwd = src
        args += sorted(p.name for p in src.glob("*.yaml"))
    else:
        args += [str(src), "--regimen-category", "salvage"]
    args += ["-o", str(out.resolve()), "-f", "ndjson", "-j", str(jobs)]
    wall0 = time.perf_counter()
    big = sum(len(a) + 9 for a in args) > 1_000_000
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd,
                            preexec_fn=_bigger_stack if big else None)  # this process runs no threads
    assert proc.stdout is not None
    tail = proc.stdout.read().decode("utf-8", "replace").strip().splitlines()[-1:]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - wall0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{workload} {n}: the CLI failed: {tail}")
    resources = 0
    for f in out.glob("*.ndjson"):
        with f.open("rb") as handle:
            resources += sum(1 for _ in handle)
    cpu = usage.ru_utime + usage.ru_stime
    floor_figures = json.loads(subprocess.run([sys.executable, __file__, "--floor", str(out)], check=True,
                                              capture_output=True, text=True).stdout)
    result = {"workload": workload, "command": command, "patients": n, "jobs": jobs, "resources": resources,
              "per_patient": round(resources / n, 1), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
              "res_per_cpu_s": round(resources / cpu), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
              **floor_figures}
    shutil.rmtree(out, ignore_errors=True)
    return result


def floor(out: Path) -> dict[str, int]:
    """Plain serialisation of (up to FLOOR_SAMPLE of) the same resources: stdlib compact and orjson."""
    import orjson

    resources = []
    for f in sorted(out.glob("*.ndjson")):
        with f.open("rb") as handle:
            for line in handle:
                resources.append(orjson.loads(line))
                if len(resources) >= FLOOR_SAMPLE:
                    break
    t0 = time.process_time()
    for r in resources:
        json.dumps(r, ensure_ascii=False, separators=(",", ":"))
    stdlib = time.process_time() - t0
    t0 = time.process_time()
    for r in resources:
        orjson.dumps(r)
    fast = time.process_time() - t0
    return {"floor_json_res_per_s": round(len(resources) / stdlib), "floor_orjson_res_per_s":
            round(len(resources) / fast)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the runs with at most 1,000 patients")
    parser.add_argument("--run", action="append", default=[], metavar="WORKLOAD:N:JOBS",
                        help=f"one run (repeatable); workloads: {', '.join(COMMANDS)}")
    parser.add_argument("--work", type=Path, help="where inputs are generated and kept (default: a temp dir)")
    parser.add_argument("--jsonl", type=Path, help="also append every result as a JSON line here")
    parser.add_argument("--generate", nargs=3, metavar=("WORKLOAD", "N", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--floor", type=Path, metavar="NDJSON_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        from benchmarks.workloads import WORKLOADS

        workload, n, where = args.generate
        WORKLOADS[workload](Path(where), int(n))
        return
    if args.floor:
        print(json.dumps(floor(args.floor)))
        return
    plan = [(w, int(n), int(j)) for w, n, j in (r.split(":") for r in args.run)] or (QUICK if args.quick else PLAN)
    work = args.work or Path(tempfile.mkdtemp(prefix="fhir-onco-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    byte_compile()
    print(f"{'workload':<15} {'command':<10} {'patients':>8} {'-j':>2} {'resources':>9} {'res/pt':>6} "
          f"{'CPU s':>7} {'wall s':>7} {'res/CPU-s':>9} {'RSS MB':>6} {'floor json':>10} {'floor orjson':>12}",
          flush=True)
    try:
        for workload, n, jobs in plan:
            r = run(work, workload, n, jobs)
            print(f"{r['workload']:<15} {r['command']:<10} {r['patients']:>8} {r['jobs']:>2} {r['resources']:>9} "
                  f"{r['per_patient']:>6} {r['cpu_s']:>7} {r['wall_s']:>7} {r['res_per_cpu_s']:>9} "
                  f"{r['peak_rss_mb']:>6} {r['floor_json_res_per_s']:>10} {r['floor_orjson_res_per_s']:>12}",
                  flush=True)
            if args.jsonl:
                with args.jsonl.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(r) + "\n")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
