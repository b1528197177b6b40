"""Map + validate N synthetic patients to NDJSON; print resources/s per core and peak RSS.

    python benchmarks/bench_map.py              # N = 1,000 and 10,000, each in a fresh process
    python benchmarks/bench_map.py --n 500      # one run

Each synthetic patient has ~20 resources across all domains (diagnosis with stage and finding,
a relapse, two regimens with administrations, MRD, response, HSCT with engraftment and chimerism,
radiotherapy, an adverse event). The run is single-process, so resources/s is per core.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta

from fhir_onco.case import Case, parse_case
from fhir_onco.pipeline import NdjsonWriter, map_and_validate


def synthetic_case(i: int) -> Case:
    start = date(2015, 1, 1) + timedelta(days=i % 2000)

    def d(offset: int) -> str:
        return (start + timedelta(days=offset)).isoformat()

    return parse_case({
        "patient": {"identifiers": [{"system": "urn:bench", "value": f"p{i}"}],
                    "sex": "female" if i % 2 else "male", "birth_date": f"{1950 + i % 60}-0{1 + i % 9}"},
        "diagnoses": [{"id": "dx", "condition": "multiple myeloma", "onset": d(0),
                       "stages": [{"system": "iss", "value": ["I", "II", "III"][i % 3], "date": d(0)}],
                       "findings": [{"target": "del(17p)", "result": "detected", "date": d(0)}],
                       "relapses": [{"number": 1, "date": d(400), "sites": ["bone marrow"]}]}],
        "regimens": [
            {"id": "isapd", "name": "IsaPd", "category": "salvage", "intent": "palliative", "start": d(10),
             "cycles": 2, "cycle_length_days": 28, "drugs": [
                 {"drug": "isatuximab", "dose": 10, "unit": "mg/kg", "route": "IV", "days": "1,15"},
                 {"drug": "pomalidomide", "dose": 4, "unit": "mg", "route": "PO", "days": "1-2"},
                 {"drug": "dexamethasone", "dose": 40, "unit": "mg", "route": "PO", "days": "1"}]},
            {"id": "cond", "name": "Mel200", "category": "conditioning", "start": "D-2", "hsct_relative": "asct",
             "drugs": [{"drug": "melphalan", "dose": 200, "unit": "mg/m2", "dose_basis": "course-total",
                        "route": "IV", "days": "-2"}]},
        ],
        "radiotherapy": [{"kind": "local radiotherapy", "total_dose_gy": 20, "start": d(300), "end": d(310)}],
        "hsct": [{"id": "asct", "type": "autologous", "date": d(200), "graft_source": "PBSC",
                  "conditioning": ["cond"], "engraftment": [{"kind": "neutrophil", "day": 12}],
                  "chimerism": [{"date": "D+30", "result": "autologous-recovery"}]}],
        "mrd": [{"date": d(180), "value_percent": 0.01, "method": "flow cytometry", "specimen": "bone marrow"}],
        "responses": [{"date": d(90), "response": ["CR", "VGPR", "PR", "SD"][i % 4], "regimen": "isapd",
                       "best": True}],
        "adverse_events": [{"term": "neutrophil count decreased", "ctcae_version": "4.03", "grade": 3,
                            "onset": d(20), "suspected_causes": [{"regimen": "isapd", "drug": "pomalidomide"}]}],
    }, source=f"synthetic-{i}")


def cases(n: int) -> Iterator[Case]:
    for i in range(n):
        yield synthetic_case(i)


def run(n: int, profiles: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out, NdjsonWriter(out) as writer:
        t0 = time.process_time()
        wall0 = time.perf_counter()
        for case in cases(n):  # case construction is the input side, excluded below
            result = map_and_validate(case, "bench", profiles=profiles)
            if not result.ok or result.bundle is None:
                raise SystemExit(result.report.to_text())
            writer.write_bundle(result.bundle)
        cpu = time.process_time() - t0
        wall = time.perf_counter() - wall0
        total = writer.counts.total()
    t1 = time.process_time()
    for _ in cases(n):
        pass
    build_cases = time.process_time() - t1
    ours = cpu - build_cases
    return {"patients": n, "profiles": profiles, "resources": total, "resources_per_patient": total / n,
            "cpu_s": round(ours, 2), "wall_s": round(wall, 2),
            "resources_per_s_per_core": round(total / ours),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, help="one run with N patients (default: 1,000 then 10,000)")
    parser.add_argument("--structure-only", action="store_true", help="with --n: base R4 structure, no profiles")
    args = parser.parse_args()
    if args.n:
        print(json.dumps(run(args.n, profiles=not args.structure_only)))
        return
    print(f"{'validation':>15} {'patients':>9} {'resources':>10} {'res/patient':>11} {'res/s/core':>10} "
          f"{'peak RSS MB':>11}")
    for flags, label in (([], "profiles"), (["--structure-only"], "structure-only")):
        for n in (1_000, 10_000):  # a fresh process each, so peak RSS is per run
            out = subprocess.run([sys.executable, __file__, "--n", str(n), *flags],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout)
            print(f"{label:>15} {r['patients']:>9} {r['resources']:>10} {r['resources_per_patient']:>11.1f} "
                  f"{r['resources_per_s_per_core']:>10} {r['peak_rss_mb']:>11}")


if __name__ == "__main__":
    main()
