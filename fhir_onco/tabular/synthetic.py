"""Synthetic registry extracts (our CSV layout) of any size, for the Spark tests and benchmarks.

Deterministic in ``(n, detail, seed)``. Patients vary the way real extracts do: two diseases, English and
Russian terms, ISO, partial and day-first Russian dates, Russian sex abbreviations. With ``errors=True``
a few rows are wrong in the ways registries are (an impossible date, an unknown term, a repeated patient
row, rows of a patient missing from patients.csv, a row without a patient id), so the located messages
are exercised too. Nothing here is real patient data.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Literal

Detail = Literal["small", "full"]

_HEADERS = {
    "patients": ["patient_id", "sex", "birth_date", "death_date", "death_cause"],
    "diagnoses": ["patient_id", "diagnosis_id", "condition", "onset", "status", "paraprotein"],
    "stages": ["patient_id", "diagnosis_id", "system", "value", "date"],
    "findings": ["patient_id", "diagnosis_id", "target", "result", "value_percent", "method", "date"],
    "responses": ["patient_id", "date", "response", "criteria", "best", "regimen_id"],
    "regimens": ["patient_id", "regimen_id", "name", "category", "start", "end", "cycles", "cycle_length_days"],
    "drugs": ["patient_id", "regimen_id", "drug", "dose", "unit", "route", "days", "cycles"],
    "mrd": ["patient_id", "date", "value_percent", "negative", "method", "specimen"],
    "adverse_events": ["patient_id", "term", "ctcae_version", "grade", "onset", "resolved"],
}
_SEX = ("male", "female", "М", "ж", "f", "m")


def _day(rng: random.Random, year: int) -> tuple[int, int, int]:
    return year, rng.randint(1, 12), rng.randint(1, 28)


def _written(date: tuple[int, int, int], style: int) -> str:
    """The same date as registries write it: ISO, day-first Russian, or partial (month / year)."""
    y, m, d = date
    return (f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y}", f"{y}-{m:02d}", f"{m:02d}.{y}")[style % 4]


def write_registry_extract(directory: str | Path, n: int, *, detail: Detail = "small", errors: bool = False,
                           seed: int = 0) -> Path:
    """Write ``n`` patients as a registry extract into ``directory``; returns it.

    ``small``: patient, diagnosis, stage or finding, response (~5 resources a patient); ``full`` adds a
    regimen with drugs, MRD and an adverse event (~14 resources a patient).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows: dict[str, list[list[str]]] = {name: [] for name in _HEADERS}
    for i in range(n):
        pid = f"R{i:07d}"
        myeloma = i % 3 != 0
        born = rng.randint(1940, 1975) if myeloma else rng.randint(1995, 2012)
        onset = _day(rng, rng.randint(2015, 2021))
        rows["patients"].append([pid, _SEX[i % len(_SEX)], _written(_day(rng, born), i % 3 if i % 5 else 3),
                                 "", ""])
        style = i % 4
        if myeloma:
            rows["diagnoses"].append([pid, "mm", "ММ" if i % 2 else "multiple myeloma", _written(onset, style),
                                      "active", ("IgG", "IgA", "Bence-Jones")[i % 3]])
            rows["stages"].append([pid, "mm", "iss", ("I", "II", "III")[i % 3], _written(onset, style)])
            response = ("VGPR", "CR", "ЧО", "PR")[i % 4]
        else:
            rows["diagnoses"].append([pid, "all", "В-ОЛЛ", _written(onset, style), "remission", ""])
            rows["findings"].append([pid, "all", "CD19", "expressed", str(rng.randint(60, 100)), "flow cytometry",
                                     _written(onset, style)])
            response = "remission"
        y, m, d = onset
        start = (y, m, d)
        end = (y + 1, m, d)
        rows["responses"].append([pid, f"{y + 1}-{m:02d}-{d:02d}", response, "", "yes",
                                  "r1" if detail == "full" else ""])
        if detail == "full":
            name, category = ("VRd", "induction") if myeloma else ("ALL IC-BFM 2002", "induction")
            cycles = ("1", "21") if myeloma else ("", "")
            rows["regimens"].append([pid, "r1", name, category, _written(start, 0), _written(end, 0), *cycles])
            if myeloma:
                rows["drugs"].append([pid, "r1", "бортезомиб", "1,3", "мг/м2", "SC", "1,4,8,11", ""])
                rows["drugs"].append([pid, "r1", "dexamethasone", "20", "mg", "PO", "1,8", ""])
            else:
                rows["drugs"].append([pid, "r1", "vincristine", "1,5", "mg/m2", "IV", "8,15,22,29", ""])
                rows["drugs"].append([pid, "r1", "дексаметазон", "6", "мг/м2", "PO", "1,8", ""])
            rows["mrd"].append([pid, f"{y}-{m:02d}", "" if i % 2 else "0,01", "yes" if i % 2 else "",
                                "flow cytometry", "bone marrow"])
            rows["adverse_events"].append([pid, ("нейтропения", "anemia")[i % 2], "4.03", str(1 + i % 3),
                                           _written(start, 0), _written(end, 0)])
    if errors and n >= 10:
        # Every kind of mistake once, at positions that do not depend on n beyond its size.
        rows["diagnoses"][n // 2][3] = "31.02.2020"  # impossible date
        rows["diagnoses"][n // 3][2] = "multiple mieloma"  # unknown term (a typo)
        rows["patients"].append(list(rows["patients"][n // 4]))  # the patient row repeated
        rows["stages"].append(["X-NOT-LISTED", "mm", "iss", "II", "2020-01"])  # patient missing from patients.csv
        rows["responses"].append(["", "2020-01-01", "CR", "", "", ""])  # no patient id
    for name, header in _HEADERS.items():
        if rows[name] or name in ("patients", "diagnoses"):
            with (out / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(header)
                writer.writerows(rows[name])
    return out
