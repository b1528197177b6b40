"""Blasts and blood counts as LOINC-coded laboratory Observations, and back."""

from __future__ import annotations

from mapping_support import LOINC, UCUM, assert_round_trip, case_data

DATA = case_data(
    diagnoses=[{"id": "aml", "condition": "ОМЛ", "onset": "2022-01"}],
    labs=[{"test": "бласты в КМ", "date": "2022-01-10", "value": 64, "unit": "%"},
          {"test": "WBC", "date": "10.01.2022", "value": 48.2, "unit": "×10^9/л"},
          {"test": "Hb", "date": "2022-01-10", "value": 78, "unit": "г/л"},
          {"id": "plt1", "test": "тромбоциты", "date": "2022-01", "value": 21, "unit": "10*9/L", "note": "manual"}])


def test_lab_results_are_coded_observations_with_ucum_quantities(map_case) -> None:
    m = map_case(DATA)
    labs = m.all("Observation", "onco-lab")
    assert [(o["code"]["coding"][0]["system"], o["code"]["coding"][0]["code"]) for o in labs[1:]] == [
        (LOINC, "6690-2"), (LOINC, "718-7"), (LOINC, "777-3")]
    assert labs[0]["valueQuantity"] == {"value": 64, "unit": "%", "system": UCUM, "code": "%"}
    assert labs[1]["valueQuantity"] == {"value": 48.2, "unit": "×10^9/л", "system": UCUM, "code": "10*9/L"}
    assert labs[1]["effectiveDateTime"] == "2022-01-10"
    assert all(o["category"][0]["coding"][0]["code"] == "laboratory" for o in labs)
    assert all(m.get(o["focus"][0])["resourceType"] == "Condition" for o in labs)


def test_labs_validate_and_round_trip(map_case) -> None:
    m = map_case(DATA)
    assert_round_trip(m, DATA)


def test_a_result_without_unit_or_with_an_unknown_test_is_located(map_errors) -> None:
    errors = map_errors(case_data(labs=[{"test": "bilirubin", "date": "2022", "value": 5},
                                        {"test": "WBC", "date": "2022", "value": 5}]))
    assert [loc for loc, _ in errors] == ["labs[0].test", "labs[0].unit", "labs[1].unit"]
