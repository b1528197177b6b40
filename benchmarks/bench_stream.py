"""Peak RSS and wall time of `export`, `report` (and `map-tables`) as the number of patients grows.

    python benchmarks/bench_stream.py --n 10000 --n 100000            # export + report
    python benchmarks/bench_stream.py --n 100000 --map-tables          # + map-tables on a CSV extract
    python benchmarks/bench_stream.py --n 1000 --keep /tmp/in          # keep (and reuse) the input
    python benchmarks/bench_stream.py --n 100000 --only map-tables     # map-tables alone
    python benchmarks/bench_stream.py --n 1000 --n 10000 --only map-tables-json --only validate-json

The input is generated on the fly, never committed: Bulk-Data-style NDJSON, one file per resource
type, so every patient's resources are spread over seven files and `export` / `report` must
regroup them (the hardest input for bounded memory). Forty-one template patients (myeloma, B-ALL
with an allogeneic HSCT, AML; each mapped once by fhir-onco, with varied sex, birth year, start
dates, stages, responses, adverse-event grades, deaths) are written again under new ids per
patient: string templating, so a million patients take minutes to write, not hours to map.
`map-tables` reads a registry extract of benchmarks/workloads.py (registry-light);
`map-tables-json` is `map-tables -f ndjson --json -j 1` on the same extract (its JSON summary is
streamed to stdout, issue 11), and `validate-json` is `validate --json` of N light case files
(workloads cases-light, named on the command line).

Each command runs in a fresh process (`python -m fhir_onco ...`) started by a small launcher;
peak RSS comes from the OS (the launcher's wait4 rusage: the largest resident set of the command or
one of its workers; ~11 MB is the floor, the launcher's own size, which a child's figure includes),
wall time is the clock. Prints one line
per command and size, then the wall time per 1,000 patients (linear in N when that stays flat).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # workloads imports benchmarks.bench_map

from fhir_onco import map_case, parse_case
from fhir_onco.pipeline import NdjsonWriter

TEMPLATES = 41  # prime: patient i gets template i % 41, so neighbours differ
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def template_case(j: int) -> dict:
    """A light patient (~12 resources): diagnosis, stage, finding, a two-drug regimen, response,
    adverse event; every 5th died, every 4th is B-ALL with a conditioning regimen and an allogeneic HSCT."""
    start = date(2012, 1, 1) + timedelta(days=97 * j)

    def d(offset: int) -> str:
        return (start + timedelta(days=offset)).isoformat()

    hsct = j % 4 == 1
    case: dict = {
        "patient": {"identifiers": [{"system": "urn:bench", "value": f"t{j}"}],
                    "sex": "female" if j % 2 else "male", "birth_date": f"{1940 + j % 50}-0{1 + j % 9}-1{j % 10}"},
        "diagnoses": [{"id": "dx", "condition": "B-ALL" if hsct else ("multiple myeloma" if j % 3 else
                                                                      "acute myeloid leukemia"),
                       "onset": d(0),
                       "stages": [] if hsct or j % 3 == 0 else [{"system": "iss", "value": ["I", "II", "III"][j % 3],
                                                                  "date": d(0)}],
                       "findings": [{"target": "del(17p)", "result": "detected" if j % 7 else "not-detected",
                                     "date": d(0)}]}],
        "regimens": [{"id": "r1", "name": "IsaPd", "category": "salvage", "intent": "palliative", "start": d(10),
                      "cycles": 1, "cycle_length_days": 28, "drugs": [
                          {"drug": "isatuximab", "dose": 10, "unit": "mg/kg", "route": "IV", "days": "1"},
                          {"drug": "dexamethasone", "dose": 40, "unit": "mg", "route": "PO", "days": "1"}]}],
        "responses": [{"date": d(60 + j), "response": ["CR", "VGPR", "PR", "SD", "PD"][j % 5], "regimen": "r1",
                       "best": True}],
        "adverse_events": [{"term": ["neutrophil count decreased", "anemia", "fever"][j % 3], "ctcae_version": "5.0",
                            "grade": 1 + j % 5, "onset": d(20 + j % 30)}],
    }
    if j % 5 == 0:
        case["patient"]["death"] = {"date": d(300 + 11 * j), "cause": "progression"}
    if hsct:
        case["regimens"].append({"id": "cond", "name": "TBI/Cy", "category": "conditioning", "start": "D-6",
                                 "hsct_relative": "allo", "drugs": [
                                     {"drug": "cyclophosphamide", "dose": 60, "unit": "mg/kg", "route": "IV",
                                      "days": "-6"}]})
        case["hsct"] = [{"id": "allo", "type": "allogeneic", "date": d(120), "graft_source": "PBSC",
                         "donor": {"match": "matched unrelated"}, "conditioning": ["cond"],
                         "engraftment": [{"kind": "neutrophil", "day": 14 + j % 9}]}]
    return case


def templates(work: Path) -> list[dict[str, list[str]]]:
    """Per template: resource type -> its NDJSON lines, ids replaced by {0}, {1}, ... placeholders."""
    out = []
    for j in range(TEMPLATES):
        bundle = map_case(parse_case(template_case(j), source=f"template-{j}"))
        directory = work / f"t{j}"
        with NdjsonWriter(directory) as writer:
            writer.write_bundle(bundle)
        lines: dict[str, list[str]] = {}
        ids: dict[str, int] = {}

        def placeholder(m: re.Match[str], ids: dict[str, int] = ids) -> str:
            return f"{{{ids.setdefault(m.group(0), len(ids))}}}"

        for path in sorted(directory.glob("*.ndjson")):
            for line in path.read_text(encoding="utf-8").splitlines():
                line = ID.sub(placeholder, line.replace("{", "{{").replace("}", "}}"))
                line = line.replace(f'"value":"t{j}"', '"value":"{p}"')
                lines.setdefault(path.stem, []).append(line)
        shutil.rmtree(directory)
        out.append({"lines": lines, "ids": len(ids)})  # type: ignore[dict-item]
    return out


def generate(n: int, directory: Path) -> int:
    """N patients as NDJSON per type; returns the number of resources written."""
    directory.mkdir(parents=True, exist_ok=True)
    tpl = templates(directory)
    types = sorted({t for x in tpl for t in x["lines"]})  # type: ignore[union-attr]
    handles = {t: (directory / f"{t}.ndjson").open("w", encoding="utf-8") for t in types}
    written = 0
    try:
        for i in range(n):
            x = tpl[i % TEMPLATES]
            ids = [f"{i:08x}-{k:04x}-4000-8000-{i * 131 % 1_000_003:012x}" for k in range(x["ids"])]  # type: ignore[arg-type]
            for rtype, lines in x["lines"].items():  # type: ignore[union-attr]
                handle = handles[rtype]
                for line in lines:
                    handle.write(line.format(*ids, p=f"p{i}"))
                    handle.write("\n")
                    written += 1
    finally:
        for h in handles.values():
            h.close()
    return written


# Linux counts the peak RSS of a process that forks and execs a command into that command's
# ru_maxrss: started from this script after it generated a large input, `/bin/true` reports this
# script's size. So the command starts from a small launcher, and the launcher's wait4 is the figure.
_LAUNCHER = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL); "
    "_, st, u = os.wait4(p.pid, 0); open(sys.argv[1], 'w').write(f'{os.waitstatus_to_exitcode(st)} {u.ru_maxrss}')"
)


def measure(args: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a command in a fresh process: the largest of the command's
    process and its workers, never this script's own memory."""
    with tempfile.NamedTemporaryFile("r", suffix=".rusage") as figures:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, figures.name, *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        code, maxrss_kb = (int(x) for x in (figures.read().split() or ["1", "0"]))
    if proc.returncode != 0 or code not in ok_codes:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return wall, maxrss_kb / 1024


CLI_PYTHON = [sys.executable]  # --cli-python: the Python whose fhir_onco runs the commands


def run(n: int, keep: Path | None, map_tables: bool, commands: list[str],
        extra: tuple[str, ...] = ()) -> list[dict[str, object]]:
    work = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    src = keep / f"ndjson-{n}" if keep else work / "in"
    cli = [CLI_PYTHON[0], "-m", "fhir_onco", "-q"]
    out: list[dict[str, object]] = []
    try:
        marker = src / ".complete"
        if commands and not marker.exists():
            t0 = time.perf_counter()
            resources = generate(n, src)
            marker.write_text(str(resources))
            print(f"# generated {n} patients, {resources} resources in {time.perf_counter() - t0:.0f} s", flush=True)
        resources = int(marker.read_text()) if commands else 0
        runs = {"export": [*cli, "export", "--input", str(src), "-o", str(work / "csv")],
                "report": [*cli, "report", "--input", str(src), "-f", "json", "-o", str(work / "r.json")]}
        for name in commands:
            wall, rss = measure(runs[name])
            out.append({"command": name, "patients": n, "resources": resources, "wall_s": round(wall, 1),
                        "peak_rss_mb": round(rss, 1)})
            print(_line(out[-1]), flush=True)
            if name == "report":  # the figures are real: every generated patient is counted
                counted = json.loads((work / "r.json").read_text())["n_patients"]
                if counted != n:
                    raise SystemExit(f"report counted {counted} patients, {n} generated")
        if map_tables:
            from workloads import registry_light

            extract = work / "extract"
            registry_light(extract, n)
            wall, rss = measure([*cli, "map-tables", str(extract), "-o", str(work / "mapped"), "-f", "ndjson"])
            out.append({"command": "map-tables", "patients": n, "resources": None, "wall_s": round(wall, 1),
                        "peak_rss_mb": round(rss, 1)})
            print(_line(out[-1]), flush=True)
        if "map-tables-json" in extra:
            from workloads import registry_light

            extract = work / "extract"
            if not extract.exists():
                registry_light(extract, n)
            wall, rss = measure([*cli, "map-tables", str(extract), "-o", str(work / "mapped-json"), "-f", "ndjson",
                                 "--json", "-j", "1"], ok_codes=(0, 1))
            out.append({"command": "mt --json", "patients": n, "resources": None, "wall_s": round(wall, 1),
                        "peak_rss_mb": round(rss, 1)})
            print(_line(out[-1]), flush=True)
        if "validate-json" in extra:
            from workloads import cases_light

            cases = work / "cases"
            cases_light(cases, n)
            files = sorted(str(p) for p in cases.glob("*.yaml"))
            if len(files) != n:
                raise SystemExit(f"expected {n} case files, found {len(files)}")
            wall, rss = measure([*cli, "validate", "--json", *files], ok_codes=(0, 1))
            out.append({"command": "val --json", "patients": n, "resources": None, "wall_s": round(wall, 1),
                        "peak_rss_mb": round(rss, 1)})
            print(_line(out[-1]), flush=True)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _line(r: dict[str, object]) -> str:
    per_k = 1000 * float(r["wall_s"]) / int(r["patients"])  # type: ignore[arg-type]
    return (f"{r['command']:>10} {r['patients']:>9} {r['resources'] or '-'!s:>10} {r['wall_s']:>9} "
            f"{per_k:>13.1f} {r['peak_rss_mb']:>11}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="patients (repeatable; default 10,000 and 100,000)")
    parser.add_argument("--keep", type=Path, help="generate the input under this directory and keep it")
    parser.add_argument("--map-tables", action="store_true", help="also map-tables a registry extract of N patients")
    parser.add_argument("--only", choices=["export", "report", "map-tables", "map-tables-json", "validate-json"],
                        action="append",
                        help="run only this command (repeatable; default export and report)")
    parser.add_argument("--cli-python", default=sys.executable,
                        help="the Python whose fhir_onco runs the commands (e.g. another tree's venv)")
    args = parser.parse_args()
    CLI_PYTHON[0] = args.cli_python
    print(f"{'command':>10} {'patients':>9} {'resources':>10} {'wall s':>9} {'s/1k patients':>13} "
          f"{'peak RSS MB':>11}", flush=True)
    only = args.only or ["export", "report"]
    for n in args.n or [10_000, 100_000]:
        run(n, args.keep, args.map_tables or "map-tables" in only, [c for c in only if c in ("export", "report")],
            tuple(c for c in only if c.endswith("-json")))


if __name__ == "__main__":
    main()
