"""Drug classes when a source names classes only ("vinca alkaloids, platinum compounds" in a named
protocol): coded ATC classes on the regimen, no administrations, and back."""

from __future__ import annotations

from mapping_support import SD, assert_round_trip, case_data

ATC = "http://www.whocc.no/atc"
DATA = case_data(
    diagnoses=[{"id": "nb", "condition": "neuroblastoma", "onset": "2014"}],
    regimens=[{"name": "Rapid COJEC", "protocol": "HR-NBL1", "category": "induction", "start": "2014-03",
               "drug_classes": ["vinca alkaloids and analogues", "препараты платины"],
               "drugs": [{"drug": "etoposide", "route": "IV"}]}])


def test_classes_are_coded_activities_without_administrations(map_case) -> None:
    m = map_case(DATA)
    careplan = m.one("CarePlan")
    drug, *classes = careplan["activity"]
    assert "outcomeReference" in drug
    assert [c["detail"]["productCodeableConcept"]["coding"][0]["system"] for c in classes] == [ATC, ATC]
    assert all(c["detail"]["extension"] == [{"url": SD + "drug-class-only", "valueBoolean": True}]
               and "outcomeReference" not in c for c in classes)
    assert len(m.all("MedicationAdministration")) == 1  # only etoposide's


def test_classes_validate_and_round_trip(map_case) -> None:
    m = map_case(DATA)
    assert_round_trip(m, DATA)
