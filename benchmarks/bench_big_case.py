"""One patient with very many MRD values: reading and mapping time per MB (must be linear), and the
size limit that refuses a 50 MB case.

    .venv/bin/python benchmarks/bench_big_case.py [N_MRD ...]

Prints, per size: file MB, seconds to read (parse + case model) and to map to FHIR, and s/MB.
Validation is left out: its cost per resource is measured by bench_map.py.
"""

from __future__ import annotations

import datetime
import sys
import tempfile
import time
from pathlib import Path

from fhir_onco.case import CaseError, load_case
from fhir_onco.documents import max_document_bytes
from fhir_onco.mappings import map_case_to_bundle

ROOT = Path(__file__).resolve().parents[1]


def write_case(path: Path, n_mrd: int) -> None:
    head = (ROOT / "examples" / "seed000-b-all.yaml").read_text(encoding="utf-8").split("\nmrd:\n")[0]
    start = datetime.date(2000, 1, 1)
    with path.open("w", encoding="utf-8") as out:
        out.write(head + "\nmrd:\n")
        for i in range(n_mrd):
            day = start + datetime.timedelta(days=i % 8000)
            out.write(f"  - {{date: {day.isoformat()}, value_percent: 0.0{i % 90 + 10}, method: flow cytometry, "
                      "specimen: bone marrow}\n")


def main(sizes: list[int]) -> None:
    print(f"limit per document: {max_document_bytes() / 1048576:.0f} MB")
    print(f"{'MRD values':>10} {'MB':>6} {'read s':>7} {'map s':>7} {'read s/MB':>9} {'map s/MB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"case-{n}.yaml"
            write_case(path, n)
            mb = path.stat().st_size / 1048576
            t0 = time.perf_counter()
            try:
                case = load_case(path)
            except CaseError as exc:
                print(f"{n:>10} {mb:>6.1f} refused: {exc.issues[0][1]}")
                continue
            t1 = time.perf_counter()
            map_case_to_bundle(case, source=str(path))
            t2 = time.perf_counter()
            print(f"{n:>10} {mb:>6.1f} {t1 - t0:>7.1f} {t2 - t1:>7.1f} {(t1 - t0) / mb:>9.2f} {(t2 - t1) / mb:>9.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 40_000, 600_000])
