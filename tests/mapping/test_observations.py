"""MRD measurements and response / disease-status assessments -> Observation."""

from __future__ import annotations

from mapping_support import LOINC, UCUM, case_data, codes, ext

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
HSCT = [{"id": "allo", "type": "allogeneic", "date": "2021-12-15"}]


def test_mrd_negative_below_threshold_has_comparator(map_case) -> None:
    mrd = {"date": "D+30", "negative": True, "below_percent": 0.01, "sensitivity": 0.0001,
           "method": "проточная цитометрия", "specimen": "костный мозг"}
    m = map_case(case_data(diagnoses=[{"condition": "B-ALL"}], hsct=HSCT, mrd=[mrd]))
    obs = m.one("Observation", "onco-mrd")
    assert obs["valueQuantity"] == {"comparator": "<", "value": 0.01, "unit": "percent", "system": UCUM, "code": "%"}
    assert codes(obs["interpretation"][0]) == {(INTERPRETATION, "NEG")}
    assert obs["effectiveDateTime"] == "2022-01-14"
    assert obs["_effectiveDateTime"]["extension"][0]["valueString"] == "D+30"
    assert obs["method"]["coding"][0]["code"] == "flow-cytometry"
    assert ext(obs, "mrd-sensitivity") == [0.0001]
    assert obs["specimen"] == {"reference": "#specimen"}
    assert codes(obs["contained"][0]["type"]) == {("http://snomed.info/sct", "119359002")}
    assert m.get(obs["focus"][0])["resourceType"] == "Condition"
    assert obs["category"][0]["coding"][0]["code"] == "laboratory"


def test_mrd_value_and_plain_negative(map_case) -> None:
    m = map_case(case_data(mrd=[
        {"date": "2021-08", "value_percent": 0.06, "method": "flow cytometry"},
        {"date": "2021-11", "negative": True, "method": "PCR"}]))
    positive, negative = m.all("Observation", "onco-mrd")
    assert positive["valueQuantity"] == {"value": 0.06, "unit": "percent", "system": UCUM, "code": "%"}
    assert positive["effectiveDateTime"] == "2021-08"  # partial date kept partial
    assert codes(positive["interpretation"][0]) == {(INTERPRETATION, "POS")}
    assert codes(negative["valueCodeableConcept"]) == {(LOINC, "LA9634-2")}
    assert "valueQuantity" not in negative
    assert negative["method"]["coding"][0]["code"] == "pcr"


def test_response_best_with_regimen_and_criteria(map_case) -> None:
    data = case_data(
        diagnoses=[{"id": "mm", "condition": "ММ"}],
        regimens=[{"id": "isapd", "name": "IsaPd", "category": "salvage", "start": "2022-03-14"}],
        responses=[{"date": "06.06.2022", "response": "ОХЧО", "criteria": "IMWG 2016", "best": True,
                    "regimen": "isapd"}])
    m = map_case(data)
    obs = m.one("Observation", "onco-disease-status")
    assert codes(obs["code"]) == {(LOINC, "97509-4")}
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == "vgpr"
    assert obs["valueCodeableConcept"]["text"] == "ОХЧО"
    assert obs["effectiveDateTime"] == "2022-06-06"
    assert ext(obs, "best-response") == [True]
    assert ext(obs, "response-criteria") == ["IMWG 2016"]
    assert m.get(ext(obs, "regimen")[0])["title"] == "IsaPd"
    assert m.get(obs["focus"][0])["code"]["text"] == "ММ"
