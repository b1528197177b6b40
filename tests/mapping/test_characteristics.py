"""Paraprotein, prior lines, marker expression and an unstated CTCAE version: content and round trip."""

from __future__ import annotations

from mapping_support import case_data, codes

from fhir_onco.case import parse_case
from fhir_onco.mappings.reverse import case_from_bundle

OBS = "https://fhir-onco.org/fhir/CodeSystem/observation-codes"


def _myeloma() -> dict[str, object]:
    return case_data(
        diagnoses=[{"id": "mm", "condition": "multiple myeloma", "paraprotein": "Бенс-Джонс", "prior_lines": 3,
                    "findings": [{"target": "CD19", "result": "expressed", "value_percent": 100}]}],
        adverse_events=[{"term": "anemia", "grade": 3, "onset": "2021-02-01", "ctcae_version": None}])


def test_paraprotein_and_prior_lines_are_observations_on_the_diagnosis(map_case) -> None:
    m = map_case(_myeloma())
    condition = m.one("Condition")
    chars = m.all("Observation", "onco-disease-characteristic")
    by_code = {next(iter(codes(o["code"])))[1]: o for o in chars}
    assert set(by_code) == {"paraprotein-type", "prior-lines"}
    assert ("https://fhir-onco.org/fhir/CodeSystem/regimen-terms", "paraprotein-bence-jones") in codes(
        by_code["paraprotein-type"]["valueCodeableConcept"])
    assert by_code["paraprotein-type"]["valueCodeableConcept"]["text"] == "Бенс-Джонс"
    assert by_code["prior-lines"]["valueInteger"] == 3
    assert all(m.get(o["focus"][0]) is condition for o in chars)


def test_marker_expression_has_its_own_code(map_case) -> None:
    finding = map_case(_myeloma()).one("Observation", "onco-genomic-finding")
    assert codes(finding["code"]) == {(OBS, "cd19-expression")}
    assert finding["valueQuantity"]["value"] == 100 and finding["valueQuantity"]["code"] == "%"


def test_unstated_ctcae_version_has_no_coding_version(map_case) -> None:
    ae = map_case(_myeloma()).one("AdverseEvent")
    assert all("version" not in c for c in ae["event"]["coding"])


def test_round_trip(map_case) -> None:
    data = _myeloma()
    m = map_case(data)
    assert case_from_bundle(m.bundle).model_dump() == parse_case(data).model_dump()
