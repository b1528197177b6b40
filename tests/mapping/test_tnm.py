"""TNM staging (clinical and pathological T, N, M and stage group, AJCC edition) as mCODE STU4
profiles it, and back."""

from __future__ import annotations

from mapping_support import SCT, assert_round_trip, case_data

DATA = case_data(diagnoses=[{"id": "nb", "condition": "neuroblastoma", "onset": "2021-02", "tnm": [
    {"type": "clinical", "t": "cT3", "n": "cN1", "m": "cM0", "stage_group": "III", "edition": "AJCC 8",
     "date": "2021-02"},
    {"id": "p1", "type": "pathological", "t": "pT2", "stage_group": "IIB"}]}])


def test_tnm_observations_with_mcode_codes_and_members(map_case) -> None:
    m = map_case(DATA)
    clinical, pathological = m.all("Observation", "onco-tnm-stage-group")
    assert clinical["code"]["coding"][0]["code"] == "399537006"
    assert pathological["code"]["coding"][0]["code"] == "399588009"
    assert clinical["valueCodeableConcept"] == {"text": "III"}
    assert clinical["method"]["coding"][0] == {"system": SCT, "code": "897275008", "display": (
        "American Joint Commission on Cancer, Cancer Staging Manual, 8th edition neoplasm staging system")}
    members = [m.get(r) for r in clinical["hasMember"]]
    assert [(o["code"]["coding"][0]["code"], o["valueCodeableConcept"]["text"]) for o in members] == [
        ("399504009", "cT3"), ("399534004", "cN1"), ("399387003", "cM0")]
    assert [m.get(r)["code"]["coding"][0]["code"] for r in pathological["hasMember"]] == ["384625004"]
    assert pathological["_effectiveDateTime"]["extension"][0]["valueCode"] == "unknown"  # no date given
    condition = m.one("Condition")
    assert all(o["focus"] == [{"reference": m.ref(condition)}] for o in [clinical, *members])


def test_tnm_validates_and_round_trips(map_case) -> None:
    m = map_case(DATA)
    assert_round_trip(m, DATA)
