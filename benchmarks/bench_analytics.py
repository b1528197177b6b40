"""Peak memory and time of `export` and `report` over N synthetic patients (one bundle file each).

    python benchmarks/bench_analytics.py                   # N = 1,000 and 4,000
    python benchmarks/bench_analytics.py --n 10000         # one size
    python benchmarks/bench_analytics.py --n 1000 --keep DIR   # keep the generated input

The input is generated, never committed: one rich case (benchmarks/bench_map.py's synthetic
patient: ~25 resources in every domain) is mapped once, and each further patient is that bundle
with its ids and identifier replaced (fast, so large N are cheap to make). Each command runs in a
fresh process (`fhir-onco export|report --input DIR`); its peak RSS comes from the OS
(wait4 rusage), its time is wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_map import synthetic_case

from fhir_onco import map_case

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def generate(n: int, directory: Path) -> None:
    template = json.dumps(map_case(synthetic_case(0)))
    ids = sorted(set(UUID.findall(template)))
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        text = template.replace('"value": "p0"', f'"value": "p{i}"')
        if i:
            ns = uuid.uuid5(uuid.NAMESPACE_URL, f"bench-{i}")
            for old in ids:
                text = text.replace(old, str(uuid.uuid5(ns, old)))
        (directory / f"p{i:07d}.json").write_text(text, encoding="utf-8")


def measure(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a command in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def run(n: int, keep: Path | None) -> list[dict[str, object]]:
    work = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    src = keep or work / "in"
    try:
        if not (src / f"p{n - 1:07d}.json").exists():
            generate(n, src)
        cli = [sys.executable, "-m", "fhir_onco"]
        out = []
        for name, args in (("export csv", [*cli, "export", "--input", str(src), "-o", str(work / "csv")]),
                           ("export parquet", [*cli, "export", "--input", str(src), "-o", str(work / "pq"),
                                               "-f", "parquet"]),
                           ("report", [*cli, "report", "--input", str(src), "-f", "json", "-o",
                                       str(work / "r.json")])):
            wall, rss = measure(args)
            out.append({"command": name, "patients": n, "wall_s": round(wall, 1),
                        "patients_per_s": round(n / wall), "peak_rss_mb": round(rss, 1)})
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="patients (repeatable; default 1,000 and 4,000)")
    parser.add_argument("--keep", type=Path, help="generate the input here and keep it (reused when present)")
    args = parser.parse_args()
    print(f"{'command':>15} {'patients':>9} {'wall s':>8} {'patients/s':>10} {'peak RSS MB':>11}")
    for n in args.n or [1_000, 4_000]:
        for r in run(n, args.keep):
            print(f"{r['command']:>15} {r['patients']:>9} {r['wall_s']:>8} {r['patients_per_s']:>10} "
                  f"{r['peak_rss_mb']:>11}", flush=True)


if __name__ == "__main__":
    main()
