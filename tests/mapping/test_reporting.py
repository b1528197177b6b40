"""Each problem is reported once, at its field, and only given doses can be blamed."""

from __future__ import annotations

from mapping_support import case_data

from fhir_onco.validation import validate_bundle


def _regimen(**drug: object) -> dict[str, object]:
    return {"id": "r", "name": "R", "category": "salvage", "start": "2021-01-04",
            "drugs": [{"route": "IV", "days": "1-5", **drug}]}


def test_unknown_drug_reported_once_not_per_dose(map_errors) -> None:
    errors = map_errors(case_data(regimens=[_regimen(drug="blinatumomb")]))
    assert [loc for loc, _ in errors] == ["regimens[0].drugs[0].drug"]


def test_bad_diagnosis_id_on_a_regimen_reported_once(map_errors) -> None:
    data = case_data(regimens=[{**_regimen(drug="cytarabine"), "diagnosis": "nope"}])
    assert [loc for loc, _ in map_errors(data)] == ["regimens[0].diagnosis"]


def test_not_given_drug_is_not_a_suspected_cause(map_case) -> None:
    regimen = _regimen(drug="cytarabine")
    regimen["drugs"].append({"drug": "etoposide", "route": "IV", "days": "1", "status": "not-done"})
    m = map_case(case_data(regimens=[regimen], adverse_events=[
        {"term": "fever", "grade": 1, "onset": "2021-01-10", "suspected_causes": [{"regimen": "r"}]}]))
    ae = m.one("AdverseEvent")
    suspects = {s["instance"]["reference"] for s in ae["suspectEntity"]}
    given = {f"MedicationAdministration/{r['id']}" for r in m.all("MedicationAdministration")
             if r["status"] != "not-done"}
    assert suspects == given and len(given) == 5


def test_acute_gvhd_graded_by_gvhd_grade_gets_no_missing_grade_warning(map_case) -> None:
    m = map_case(case_data(hsct=[{"id": "h", "type": "allogeneic", "date": "2021-12-15"}],
                           adverse_events=[{"term": "GVHD", "gvhd_grade": 2, "onset": "D+30"}]))
    report = validate_bundle(m.bundle, "x")
    assert [i.to_text() for i in report] == []
    ungraded = map_case(case_data(adverse_events=[{"term": "fever", "onset": "2021-01-05"}]))
    assert "plausibility.ae-grade" in [i.rule for i in validate_bundle(ungraded.bundle, "x", profiles=False)]
