"""Benchmark inputs written to disk: registry extracts (both layouts) and case files, light and heavy.

Every generator is deterministic (patient i always gets the same rows) and writes the inputs the
CLI reads, so a benchmark measures the path users run: files in, NDJSON out.

- registry-light: our registry layout, ~20 resources per patient (diagnosis, stage, finding,
  paraprotein, a two-cycle regimen with 10 administrations, response, MRD, an adverse event);
- registry-heavy: the bundled examples/registry extract (3 patients, ~300 resources each: HSCT,
  long treatment histories) repeated under new patient ids;
- mcode-light: the mCODE Extraction Framework layout, the sample patient of tests/data/mcode-sample
  with ten more administrations (~20 resources);
- cases-light: case YAML files of benchmarks/bench_map.py's synthetic patient (~25 resources);
- cases-heavy: seed-004 cohort patients (IsaPd until progression, ~380 resources each), one cohort
  per seed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


REGISTRY_HEADERS = {
    "patients": "patient_id,id_system,sex,birth_date,age_years,age_at,deceased,death_date,death_cause,death_note,note",
    "diagnoses": "patient_id,diagnosis_id,kind,condition,morphology,immunophenotype,onset,body_sites,related_to,"
                 "therapy_related,status,paraprotein,prior_lines,note",
    "stages": "patient_id,diagnosis_id,stage_id,system,value,date",
    "findings": "patient_id,diagnosis_id,finding_id,target,result,value_percent,method,date,note",
    "regimens": "patient_id,regimen_id,name,protocol,category,intensity,intent,diagnosis_id,part_of,start,end,"
                "hsct_relative,cycles,cycle_length_days,status,stop_reason,note",
    "drugs": "patient_id,regimen_id,drug_id,drug,dose,unit,dose_basis,route,days,times_per_day,every_days,"
             "continuous,cycles,status,stop_reason,stop_day,note",
    "responses": "patient_id,response_id,date,response,criteria,best,regimen_id,diagnosis_id,note",
    "mrd": "patient_id,mrd_id,date,value_percent,negative,below_percent,method,specimen,sensitivity,diagnosis_id,note",
    "adverse_events": "patient_id,ae_id,term,ctcae_version,grade,gvhd_grade,gvhd_organs,onset,resolved,serious,"
                      "outcome,actions,icu_days,treated_with,note",
    "ae_causes": "patient_id,ae_id,regimen_id,drug,hsct_id,causality",
}


def registry_light(directory: Path, n: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[list[str]]] = {k: [] for k in REGISTRY_HEADERS}
    for i in range(n):
        p = f"P{i:07d}"
        year = 2010 + i % 10
        month = 1 + i % 9
        first = date(year, month, 1)
        start = first.isoformat()

        def d(days: int, first: date = first) -> str:
            return (first + timedelta(days=days)).isoformat()

        rows["patients"].append([p, "urn:bench:registry", "female" if i % 2 else "male", f"{1940 + i % 40}-03-14",
                                 "", "", "", "", "", "", ""])
        rows["diagnoses"].append([p, "mm", "", "multiple myeloma", "plasma cell myeloma", "", f"{year}-0{month}",
                                  "", "", "", "active", "IgG", "", ""])
        rows["stages"].append([p, "mm", "", "iss", ["I", "II", "III"][i % 3], f"{year}-0{month}"])
        rows["findings"].append([p, "mm", "", "del(17p)", "detected", "", "FISH", f"{year}-0{month}", ""])
        rows["regimens"].append([p, "isapd", "IsaPd", "", "salvage", "", "palliative", "", "", start, "", "",
                                 "2", "28", "", "", ""])
        for drug, dose, unit, route, days in (("isatuximab", "10", "mg/kg", "IV", "1,15"),
                                              ("pomalidomide", "4", "mg", "PO", "1-2"),
                                              ("dexamethasone", "40", "mg", "PO", "1")):
            rows["drugs"].append([p, "isapd", "", drug, dose, unit, "", route, days, "", "", "", "", "", "", "",
                                  ""])
        rows["responses"].append([p, "", d(60), ["CR", "VGPR", "PR", "SD"][i % 4], "", "yes", "isapd", "", ""])
        rows["mrd"].append([p, "", d(70), "0.01", "", "", "flow cytometry", "bone marrow", "", "", ""])
        rows["adverse_events"].append([p, "ae1", "neutrophil count decreased", "4.03", "3", "", "", d(20), "", "",
                                       "", "", "", "", ""])
        rows["ae_causes"].append([p, "ae1", "isapd", "pomalidomide", "", ""])
    for name, header in REGISTRY_HEADERS.items():
        _write(directory / f"{name}.csv", header.split(","), rows[name])


def _read_any(path: Path) -> tuple[str, str, str]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    delimiter = ";" if ";" in text.splitlines()[0] else ","
    return text, encoding, delimiter


def replicate(source: Path, directory: Path, copies: int, id_columns: dict[str, tuple[int, ...]]) -> None:
    """Every CSV of source repeated ``copies`` times, patient ids (column 0) and the columns named in
    id_columns (file stem -> column indexes) suffixed with the copy number; encoding and delimiter kept."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.csv")):
        text, encoding, delimiter = _read_any(path)
        table = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        header, body = table[0], [r for r in table[1:] if r]
        # streamed to the file (100k copies of the mCODE sample are ~300 MB of text, once held in memory)
        with (directory / path.name).open("w", encoding="utf-8" if encoding == "utf-8-sig" else encoding,
                                          newline="") as handle:
            w = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
            w.writerow(header)
            cols = (0, *id_columns.get(path.stem, ()))
            for k in range(copies):
                for row in body:
                    w.writerow([f"{c}-c{k}" if j in cols and c else c for j, c in enumerate(row)])


def registry_heavy(directory: Path, n: int) -> None:
    replicate(ROOT / "examples" / "registry", directory, max(1, n // 3), {"identifiers": (2,)})


def mcode_light(directory: Path, n: int) -> None:
    sample = ROOT / "tests" / "data" / "mcode-sample"
    tmp = directory.with_name(directory.name + "-template")
    tmp.mkdir(parents=True, exist_ok=True)
    for path in sorted(sample.glob("*.csv")):
        if path.stem == "cancer-related-medication-request-information":
            continue  # added to the sample later: left out so mcode-light stays the workload the README measured
        text, _, _ = _read_any(path)
        table = list(csv.reader(io.StringIO(text)))
        body = [r for r in table[1:] if r and r[0] == "mrn-1"]
        if path.stem == "cancer-related-medication-administration-information":
            first = body[0]
            for k in range(2, 12):  # ten more administrations of the same drug, weekly
                day = 1 + 7 * (k - 1)
                date = f"2019-{6 + day // 28:02d}-{1 + day % 28:02d}"
                body.append([first[0], f"med-{k}", *first[2:5], date, date, *first[7:]])
        _write(tmp / path.name, table[0], body)
    replicate(tmp, directory, n, {
        "condition-information": (1,), "staging-information": (1,), "cancer-disease-status-information": (1,),
        "cancer-related-medication-administration-information": (1,), "procedure-information": (1, 2),
        "ctc-adverse-event-information": (1, 7),
    })


def _case_dumper() -> Callable[[Any], str]:
    """`fhir_onco.case.dump_case` with libyaml's emitter when PyYAML has it: the same bytes (checked
    here on the first case of every run) at ~1 ms a case instead of ~75 ms - 100k case files took
    ~2 hours with the pure-Python emitter."""
    import yaml

    from fhir_onco.case import dump_case

    dumper = getattr(yaml, "CSafeDumper", None)
    if dumper is None:
        return dump_case
    checked = False

    def dump(case: Any) -> str:
        nonlocal checked
        text = yaml.dump(case.model_dump(mode="json", exclude_defaults=True), Dumper=dumper, allow_unicode=True,
                         sort_keys=False, width=100)
        if not checked:
            if text != dump_case(case):
                raise RuntimeError("libyaml's emitter writes this case differently from dump_case")
            checked = True
        return text

    return dump


def cases_light(directory: Path, n: int) -> None:
    from benchmarks.bench_map import synthetic_case

    dump_case = _case_dumper()
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (directory / f"case{i:07d}.yaml").write_text(dump_case(synthetic_case(i)), encoding="utf-8")


def cases_heavy(directory: Path, n: int) -> None:
    from fhir_onco.cohort import generate, load_spec

    dump_case = _case_dumper()
    directory.mkdir(parents=True, exist_ok=True)
    spec = load_spec(ROOT / "examples" / "cohorts" / "seed004-isapd.yaml")
    written, seed = 0, 0
    while written < n:
        for case in generate(spec, seed):
            if written == n:
                break
            (directory / f"s{seed:04d}-{case.patient.identifiers[0].value}.yaml").write_text(
                dump_case(case), encoding="utf-8")
            written += 1
        seed += 1


WORKLOADS: dict[str, Callable[[Path, int], None]] = {
    "registry-light": registry_light,
    "registry-heavy": registry_heavy,
    "mcode-light": mcode_light,
    "cases-light": cases_light,
    "cases-heavy": cases_heavy,
}
# the CLI command that reads each workload's inputs
COMMANDS = {name: "map" if name.startswith("cases") else "map-tables" for name in WORKLOADS}
