"""De-identify N synthetic patients from NDJSON to NDJSON; print resources/s per core and peak RSS.

    python benchmarks/bench_deidentify.py            # N = 1,000 and 10,000, each in a fresh process
    python benchmarks/bench_deidentify.py --n 500    # one run

The input is the synthetic cohort of bench_map.py (~25 resources per patient, every domain), mapped
to NDJSON first (not timed). The timed part is `deidentify_paths` on that directory: streaming,
one resource at a time, so peak memory should not grow with N (the k-anonymity summary keeps four
short strings per patient). Single process, so resources/s is per core.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_map import cases

from fhir_onco.mappings import map_case_to_bundle
from fhir_onco.pipeline import NdjsonWriter

KEY = b"benchmark-key-0123456789abcdef"


def prepare(n: int, directory: Path) -> int:
    with NdjsonWriter(directory) as writer:
        for case in cases(n):
            bundle, _ = map_case_to_bundle(case)
            writer.write_bundle(bundle)
        return writer.counts.total()


def run(n: int, directory: Path) -> dict[str, float]:
    from fhir_onco.deidentify import deidentify_paths

    with tempfile.TemporaryDirectory() as out:
        t0, wall0 = time.process_time(), time.perf_counter()
        result = deidentify_paths([directory], Path(out), key=KEY, fmt="ndjson")
        cpu, wall = time.process_time() - t0, time.perf_counter() - wall0
    if not result.ok:
        raise SystemExit(result.issues.to_text())
    return {"patients": result.report.patients, "resources": result.report.resources, "cpu_s": round(cpu, 2),
            "wall_s": round(wall, 2), "resources_per_s_per_core": round(result.report.resources / cpu),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, help="one run with N patients (default: 1,000 then 10,000)")
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)  # used by the parent process
    args = parser.parse_args()
    if args.input:
        print(json.dumps(run(args.n, args.input)))
        return
    print(f"{'patients':>9} {'resources':>10} {'res/s/core':>10} {'peak RSS MB':>11}")
    for n in [args.n] if args.n else [1_000, 10_000]:
        with tempfile.TemporaryDirectory() as tmp:
            prepare(n, Path(tmp))
            out = subprocess.run([sys.executable, __file__, "--n", str(n), "--input", tmp],  # fresh process
                                 capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        print(f"{r['patients']:>9} {r['resources']:>10} {r['resources_per_s_per_core']:>10} {r['peak_rss_mb']:>11}")


if __name__ == "__main__":
    main()
