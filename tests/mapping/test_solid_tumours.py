"""Diagnosis verification, chains of related cancers, laterality and metastases (mCODE
SecondaryCancerCondition)."""

from __future__ import annotations

from mapping_support import MCODE, SCT, SD, assert_round_trip, case_data

DATA = case_data(diagnoses=[
    {"id": "nb", "condition": "neuroblastoma", "onset": "2014-03", "body_sites": ["adrenal gland"],
     "laterality": "left",
     "metastases": [{"site": "bone marrow", "date": "2014-03"}, {"id": "m2", "site": "bone", "note": "skull"}]},
    {"id": "mds", "kind": "secondary", "condition": "MDS", "onset": "2018-05", "related_to": ["nb"],
     "therapy_related": True, "verification": "suspected"},
    {"id": "aml", "kind": "secondary", "condition": "t-AML", "onset": "2018-11", "related_to": ["mds", "nb"],
     "therapy_related": True},
])


def test_laterality_on_the_primary_site_as_mcode_puts_it(map_case) -> None:
    m = map_case(DATA)
    nb = m.all("Condition", "onco-primary-cancer-condition")[0]
    site = nb["bodySite"][0]
    assert site["extension"] == [{"url": MCODE + "mcode-laterality-qualifier", "valueCodeableConcept": {
        "coding": [{"system": SCT, "code": "7771000", "display": "Left (qualifier value)"}]}}]


def test_metastases_are_secondary_cancer_conditions_of_their_primary(map_case) -> None:
    m = map_case(DATA)
    nb = m.all("Condition", "onco-primary-cancer-condition")[0]
    mets = m.all("Condition", "onco-metastasis")
    assert len(mets) == 2
    for met in mets:
        assert met["code"]["coding"][0]["code"] == "128462008"
        related = [e for e in met["extension"] if "related" in e["url"]]
        assert m.get(related[0]["valueReference"]) is nb
    assert mets[0]["onsetDateTime"] == "2014-03"


def test_verification_status_and_chain_of_related_conditions(map_case) -> None:
    m = map_case(DATA)
    mds, aml = m.all("Condition", "onco-secondary-cancer-condition")
    assert mds["verificationStatus"]["coding"][0]["code"] == "unconfirmed"
    assert aml["verificationStatus"]["coding"][0]["code"] == "confirmed"
    targets = [m.get(e["valueReference"])["id"] for e in aml["extension"] if "related" in e["url"]
               and "valueReference" in e]
    assert len(targets) == 2
    assert {"url": SD + "related-as-list", "valueBoolean": True} in mds["extension"]
    assert_round_trip(m, DATA)


def test_laterality_without_a_site_and_self_relation_are_located(map_errors) -> None:
    errors = map_errors(case_data(diagnoses=[
        {"id": "a", "condition": "neuroblastoma", "laterality": "right"},
        {"id": "b", "kind": "secondary", "condition": "t-AML", "related_to": ["a", "b"]}]))
    assert ("diagnoses[0].laterality", "laterality needs the site it qualifies: give body_sites") in errors
    assert ("diagnoses[1].related_to[1]", "a diagnosis cannot be related to itself") in errors
