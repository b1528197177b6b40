"""Validation layers on mapped bundles with one known defect each."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from fhir_onco import load_case
from fhir_onco.mappings import map_case_to_bundle
from fhir_onco.validation import validate_bundle

SEED000 = Path(__file__).resolve().parents[1] / "examples" / "seed000-b-all.yaml"


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return map_case_to_bundle(load_case(SEED000))[0]


def _first(bundle: dict[str, Any], rtype: str, profile_suffix: str = "") -> tuple[int, dict[str, Any]]:
    for i, e in enumerate(bundle["entry"]):
        r = e["resource"]
        if r["resourceType"] == rtype and r["meta"]["profile"][0].endswith(profile_suffix):
            return i, r
    raise AssertionError(rtype)


def _rules(report: Any) -> set[str]:
    return {i.rule for i in report.errors}


def test_mapped_example_is_valid(bundle: dict[str, Any]) -> None:
    assert validate_bundle(bundle, "seed000").ok


def test_duplicate_full_url(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    b["entry"][2]["fullUrl"] = b["entry"][1]["fullUrl"]
    report = validate_bundle(b, "x")
    assert "bundle.fullUrl-unique" in _rules(report)
    assert any("entry[2].fullUrl" in i.location for i in report.errors)


def test_missing_request(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    del b["entry"][3]["request"]
    assert "bundle.request" in _rules(validate_bundle(b, "x"))


def test_dangling_reference(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    _, ma = _first(b, "MedicationAdministration")
    ma["subject"]["reference"] = "Patient/nobody"
    report = validate_bundle(b, "x")
    assert "bundle.reference-resolves" in _rules(report)
    assert any(i.location.endswith(".subject") for i in report.errors)


@pytest.mark.parametrize("profiles", [True, False])
def test_structure_error_is_located_without_cascading(bundle: dict[str, Any], profiles: bool) -> None:
    b = copy.deepcopy(bundle)
    i, patient = _first(b, "Patient")
    patient["gender"] = {"not": "a code"}
    report = validate_bundle(b, "x", profiles=profiles)
    # exactly one error, at the broken element: resources pointing at the patient are not blamed
    assert [(e.rule.split(".")[0], e.location) for e in report.errors] == [
        ("structure", f"x: Bundle.entry[{i}].resource.gender")]


def test_profile_violation_is_reported_with_profile_and_element(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    _, ma = _first(b, "MedicationAdministration")
    del ma["extension"][0]  # the regimen extension is 1..1 in onco-medication-administration
    errors = validate_bundle(b, "x").errors
    assert any(e.profile and e.profile.endswith("/onco-medication-administration") and e.element
               for e in errors), [e.to_text() for e in errors]
    assert validate_bundle(b, "x", profiles=False).ok  # base R4 has no such rule


def test_mrd_out_of_range(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    _, mrd = _first(b, "Observation", "/onco-mrd")
    mrd["valueQuantity"]["value"] = 140
    assert "plausibility.percent-range" in _rules(validate_bundle(b, "x"))


def test_period_backwards(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    _, plan = _first(b, "CarePlan")
    plan["period"] = {"start": "2020-05-01", "end": "2020-04-01"}
    assert "plausibility.date-order" in _rules(validate_bundle(b, "x"))


def test_event_after_death(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    _, patient = _first(b, "Patient")
    patient["deceasedDateTime"] = "2019-01-01"
    assert "plausibility.after-death" in _rules(validate_bundle(b, "x"))


def test_dose_must_be_positive_with_ucum_unit(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    ma = next(r for r in (e["resource"] for e in b["entry"])
              if r["resourceType"] == "MedicationAdministration" and "dose" in r.get("dosage", {}))
    ma["dosage"]["dose"] = {"value": -1, "unit": "spoons"}
    rules = _rules(validate_bundle(b, "x"))
    assert {"plausibility.dose-positive", "plausibility.dose-unit"} <= rules


def test_grade_zero_adverse_event_rejected(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    _, ae = _first(b, "AdverseEvent")
    ae["extension"][0]["valueCodeableConcept"]["coding"] = [
        {"system": "http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system", "code": "0"}]
    assert "plausibility.ae-grade" in _rules(validate_bundle(b, "x"))
