"""Surgery and other procedures: code, site with laterality, date, intent, outcome (mCODE
CancerRelatedSurgicalProcedure alignment)."""

from __future__ import annotations

from mapping_support import MCODE, SCT, assert_round_trip, case_data

DATA = case_data(
    diagnoses=[{"id": "nb", "condition": "нейробластома", "onset": "2021-02", "body_sites": ["надпочечник"],
                "laterality": "right"}],
    procedures=[
        {"procedure": "биопсия", "date": "2021-02", "body_site": "надпочечник", "laterality": "справа",
         "intent": "diagnostic", "outcome": "получен диагностический материал"},
        {"id": "op1", "procedure": "resection", "date": "15.07.2021", "body_site": "adrenal gland",
         "laterality": "right", "intent": "curative", "outcome": "GTR", "note": "nephrectomy avoided"},
        {"procedure": "ЦВК", "date": "unknown", "status": "completed"},
        {"procedure": "трепанобиопсия", "date": "2021-02-10", "body_site": "bone", "laterality": "bilateral"}])


def test_procedures_map_with_site_laterality_intent_and_outcome(map_case) -> None:
    m = map_case(DATA)
    procedures = m.all("Procedure", "onco-procedure")
    assert len(procedures) == 4
    biopsy, resection, line, trephine = procedures
    assert resection["performedDateTime"] == "2021-07-15"
    assert resection["bodySite"][0]["extension"][0]["url"] == MCODE + "mcode-laterality-qualifier"
    assert resection["bodySite"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "24028007"
    assert resection["extension"][0] == {"url": MCODE + "mcode-procedure-intent", "valueCodeableConcept": {
        "coding": [{"system": SCT, "code": "373808002", "display": "Curative - procedure intent"}],
        "text": "curative"}}
    assert resection["outcome"]["coding"][0]["code"] == "outcome-gross-total"
    assert m.get(resection["reasonReference"][0])["resourceType"] == "Condition"
    assert biopsy["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "261004008"
    assert "performedDateTime" not in line and line["_performedDateTime"]["extension"][1]["valueCode"] == "unknown"
    assert trephine["code"]["coding"][0] == {"system": SCT, "code": "234326005", "display": "Bone marrow sampling"}


def test_procedures_validate_and_round_trip(map_case) -> None:
    m = map_case(DATA)
    assert_round_trip(m, DATA)


def test_unknown_procedure_and_laterality_without_site_are_located(map_errors) -> None:
    errors = map_errors(case_data(procedures=[{"procedure": "лоботомия", "date": "2020", "laterality": "left"}]))
    assert [loc for loc, _ in errors] == ["procedures[0].laterality", "procedures[0].procedure"]
