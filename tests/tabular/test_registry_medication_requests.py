"""Our registry layout's medication_requests.csv: orders read into the case model (terms, Russian too),
mapped to MedicationRequests (never administrations) and read back; bad cells located file:row:column."""

from __future__ import annotations

import shutil
from pathlib import Path

from fhir_onco.mappings.reverse import case_from_bundle
from fhir_onco.tabular import RegistryReader, map_tables

REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "registry"
HEADER = ("patient_id;request_id;drug;diagnosis_id;reason;intent;status;request_intent;authored;requester;"
          "regimen_id;dose;unit;dose_rate_type;route;as_needed;timing_code;timing_event;note")


def _extract(tmp_path: Path, rows: list[str]) -> Path:
    root = tmp_path / "extract"
    shutil.copytree(REGISTRY, root)
    (root / "medication_requests.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="cp1251")
    return root


def test_orders_are_read_mapped_and_read_back(tmp_path: Path) -> None:
    root = _extract(tmp_path, [
        "MM-002;rx1;помалидомид;;;паллиативная;completed;order;01.02.2022;prac-9;;4;мг;ordered;внутрь;нет;QD;"
        "02.02.2022;курс 1",
        "MM-002;;ондансетрон;;;;;;2022-02;;;8;mg;;PO;да;TID;;",
    ])
    with RegistryReader(root) as reader:
        cases = {p.source: p for p in reader}
    mm = next(p for p in cases.values() if p.case and p.case.patient.identifiers[0].value == "MM-002")
    first, second = mm.case.medication_requests  # type: ignore[union-attr]
    assert (first.id, first.drug, first.intent, first.status, first.authored, first.requester, first.dose,
            first.unit, first.dose_rate_type, first.route, first.as_needed, first.timing_code, first.timing_event,
            first.note) == ("rx1", "помалидомид", "паллиативная", "completed", "2022-02-01", "prac-9", 4, "мг",
                            "ordered", "внутрь", False, "QD", "2022-02-02", "курс 1")
    assert (second.status, second.request_intent, second.as_needed) == ("unknown", "order", True)
    results = {r.source: r for r in map_tables(root)}
    mapped = next(r for r in results.values() if r.bundle and any(
        e["resource"].get("identifier", [{}])[0].get("value") == "MM-002" for e in r.bundle["entry"]
        if e["resource"]["resourceType"] == "Patient"))
    assert mapped.ok, mapped.report.to_text()
    assert mapped.resource_counts()["MedicationRequest"] == 2
    assert case_from_bundle(mapped.bundle) == mm.case  # type: ignore[arg-type]


def test_bad_order_cells_are_located(tmp_path: Path) -> None:
    root = _extract(tmp_path, ["MM-002;rx1;;;;;done;;32.13.2022;;;много;mg;;;;;;"])
    results = list(map_tables(root))
    text = "\n".join(r.report.to_text() for r in results)
    assert "medication_requests.csv:2:drug: expected a drug (the cell is empty)" in text
    assert "medication_requests.csv:2:authored: " in text
    assert "medication_requests.csv:2:dose: expected a number" in text
    assert "много" not in text
