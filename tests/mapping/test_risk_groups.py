"""Risk groups beyond ALL: INRG pretreatment risk, ELN 2022, myeloma cytogenetic risk."""

from __future__ import annotations

from mapping_support import assert_round_trip, case_data

RG_CS = "https://fhir-onco.org/fhir/CodeSystem/risk-groups"
DATA = case_data(diagnoses=[
    {"id": "nb", "condition": "neuroblastoma", "onset": "2020-03",
     "risk_groups": [{"system": "inrg-risk", "value": "high", "date": "2020-03"}]},
    {"id": "aml", "kind": "secondary", "condition": "t-AML", "onset": "2023-02", "related_to": "nb",
     "risk_groups": [{"system": "eln-2022", "value": "Adverse"}]},
    {"id": "mm", "condition": "multiple myeloma", "onset": "2021",
     "risk_groups": [{"id": "cyto", "system": "mm-cytogenetic", "value": "high", "date": "2021"}]}])


def test_risk_groups_are_coded_within_their_system(map_case) -> None:
    m = map_case(DATA)
    groups = m.all("Observation", "onco-risk-group")
    assert [(o["code"]["coding"][0]["code"], o["valueCodeableConcept"]["coding"][0]["code"],
             o["valueCodeableConcept"]["text"]) for o in groups] == [
        ("system-inrg-risk", "inrg-risk-high", "high"), ("system-eln-2022", "eln-2022-adverse", "Adverse"),
        ("system-mm-cytogenetic", "mm-cytogenetic-high", "high")]
    assert all(o["code"]["coding"][0]["system"] == RG_CS for o in groups)
    assert_round_trip(m, DATA)


def test_a_group_outside_its_system_is_located(map_errors) -> None:
    errors = map_errors(case_data(diagnoses=[{"condition": "AML", "risk_groups": [
        {"system": "eln-2022", "value": "very low"}]}]))
    assert [loc for loc, _ in errors] == ["diagnoses[0].risk_groups[0].value"]
