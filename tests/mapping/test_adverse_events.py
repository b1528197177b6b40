"""Adverse events -> AdverseEvent with CTCAE grade, seriousness, outcome and causality (HL7 CTCAE IG)."""

from __future__ import annotations

from mapping_support import NCIT, assert_round_trip, case_data, codes, ext

CTCAE_GRADE = "http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade"
GRADE_SYSTEM = "http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system"
CAUSALITY = "http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess"
REGIMENS = [
    {"id": "isapd", "name": "IsaPd", "category": "salvage", "start": "2022-03-14", "cycles": 1,
     "cycle_length_days": 28, "drugs": [
         {"drug": "isatuximab", "dose": 10, "unit": "mg/kg", "route": "IV", "days": "1,8,15,22"},
         {"drug": "pomalidomide", "dose": 4, "unit": "mg", "route": "PO", "days": "1-21"},
         {"drug": "dexamethasone", "dose": 40, "unit": "mg", "days": "1,8,15,22"}]},
    {"id": "other", "name": "Other isatuximab course", "category": "salvage", "start": "2021-01-04",
     "drugs": [{"drug": "isatuximab", "dose": 10, "unit": "mg/kg", "route": "IV", "days": "1"}]},
]


def test_grade_term_version_seriousness_outcome(map_case) -> None:
    ae = {"term": "инфузионная реакция", "ctcae_version": "4.03", "grade": 3, "onset": "day 1@isapd",
          "serious": True, "outcome": "разрешилось", "actions": ["drug stopped", "ОРИТ"], "icu_days": 2,
          "note": "dyspnoea, hypotension"}
    event = map_case(case_data(regimens=REGIMENS, adverse_events=[ae])).one("AdverseEvent")
    # a CTCAE v4.03 event carries its v4.03 MedDRA code only, never a v5.0 NCIt code
    assert event["event"]["coding"] == [{"system": "http://terminology.hl7.org/CodeSystem/MDRAE", "code": "10051792",
                                         "display": "Infusion related reaction", "version": "4.03"}]
    assert event["event"]["text"] == "инфузионная реакция"
    assert codes(ext(event, CTCAE_GRADE)[0]) >= {(GRADE_SYSTEM, "3"), (NCIT, "C41340")}
    assert event["date"] == "2022-03-14"
    assert event["_date"]["extension"][0]["valueString"] == "day 1@isapd"
    assert event["actuality"] == "actual"
    assert codes(event["seriousness"]) >= {("http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
                                            "Serious")}
    assert codes(event["outcome"]) == {("http://terminology.hl7.org/CodeSystem/adverse-event-outcome", "resolved")}
    assert [a["coding"][0]["code"] for a in ext(event, "adverse-event-action")] == [
        "action-drug-stopped", "action-icu-admission"]
    assert ext(event, "adverse-event-icu-days") == [{"value": 2, "unit": "d", "system": "http://unitsofmeasure.org",
                                                     "code": "d"}]
    assert ext(event, "note") == [{"text": "dyspnoea, hypotension"}]


def test_suspect_entity_is_the_named_drug_of_the_named_regimen_only(map_case) -> None:
    ae = {"term": "neutropenia", "ctcae_version": "4.03", "grade": 3, "onset": "2022-03-28",
          "suspected_causes": [{"regimen": "isapd", "drug": "помалидомид", "causality": "probably"}]}
    m = map_case(case_data(regimens=REGIMENS, adverse_events=[ae]))
    suspects = m.one("AdverseEvent")["suspectEntity"]
    # pomalidomide days 1-15 of IsaPd (onset on day 15); not isatuximab, not dexamethasone, and not
    # days 16-21, given after the onset
    assert len(suspects) == 15
    assert max(m.get(s["instance"])["effectiveDateTime"] for s in suspects) == "2022-03-28"
    for s in suspects:
        ma = m.get(s["instance"])
        assert ma["medicationCodeableConcept"]["coding"][0]["display"] == "pomalidomide"
        assert ext(ma, "regimen")[0]["reference"] == m.ref(m.all("CarePlan")[0])
        assert codes(s["causality"][0]["assessment"]) >= {(CAUSALITY, "Probably-Likely")}


def test_drug_given_in_two_regimens_is_narrowed_to_the_named_regimen(map_case) -> None:
    ae = {"term": "infusion related reaction", "grade": 2, "onset": "2022-03-14",
          "suspected_causes": [{"regimen": "isapd", "drug": "isatuximab"}]}
    m = map_case(case_data(regimens=REGIMENS, adverse_events=[ae]))
    suspects = m.one("AdverseEvent")["suspectEntity"]
    # only the dose of the named regimen given by the onset (day 1); the 2021 course was given
    # before the onset too, but is not the named regimen
    assert [m.get(s["instance"])["effectiveDateTime"] for s in suspects] == ["2022-03-14"]
    assert all("causality" not in s for s in suspects)


def test_whole_regimen_and_hsct_as_causes(map_case) -> None:
    data = case_data(
        regimens=REGIMENS[:1],
        hsct=[{"id": "allo", "type": "allogeneic", "date": "2022-03-20"}],
        adverse_events=[{"term": "VOD/SOS", "onset": "D+21", "suspected_causes": [
            {"regimen": "isapd"}, {"hsct": "allo", "causality": "possibly"}]}])
    m = map_case(data)
    suspects = m.one("AdverseEvent")["suspectEntity"]
    targets = [m.get(s["instance"])["resourceType"] for s in suspects]
    assert targets.count("MedicationAdministration") == 4 + 21 + 4  # all given by the onset
    assert targets[-1] == "Procedure"
    assert m.one("AdverseEvent")["date"] == "2022-04-10"  # D+21


def test_acute_gvhd_grade_and_organ(map_case) -> None:
    data = case_data(
        hsct=[{"id": "allo", "type": "allogeneic", "date": "2016-05-18"}],
        regimens=[{"id": "mp", "name": "Methylprednisolone", "category": "supportive", "start": "D+24"}],
        adverse_events=[{"term": "острая РТПХ", "gvhd_grade": 2, "gvhd_organs": ["кожа"], "onset": "D+24",
                         "treated_with": ["mp"], "suspected_causes": [{"hsct": "allo"}]}])
    m = map_case(data)
    event = m.one("AdverseEvent")
    assert ext(event, "gvhd-grade")[0]["coding"][0]["code"] == "gvhd-grade-2"
    assert ext(event, "gvhd-organ")[0]["coding"][0]["code"] == "gvhd-skin"
    assert m.get(ext(event, "adverse-event-treatment")[0])["title"] == "Methylprednisolone"
    assert ext(event, CTCAE_GRADE) == []  # an overall GVHD grade is not a CTCAE grade


def test_resolved_date_extension(map_case) -> None:
    ae = {"term": "fever", "grade": 1, "onset": "2019-09-02", "resolved": "04.09.2019"}
    event = map_case(case_data(adverse_events=[ae])).one("AdverseEvent")
    resolved = [e for e in event["extension"]
                if e["url"] == "http://hl7.org/fhir/us/ctcae/StructureDefinition/adverse-event-resolved-date"]
    assert resolved[0]["valueDateTime"] == "2019-09-04"


def test_grade_given_as_a_range_keeps_the_words_and_counts_the_highest(map_case) -> None:
    data = case_data(adverse_events=[{"term": "mucositis oral", "grade_range": "I-II", "onset": "2021-03"}])
    m = map_case(data)
    event = m.one("AdverseEvent")
    assert codes(ext(event, CTCAE_GRADE)[0]) >= {(GRADE_SYSTEM, "2")}
    rng = next(e for e in event["extension"] if e["url"].endswith("ctcae-grade-range"))
    assert [(x["url"], next(v for k, v in x.items() if k.startswith("value"))) for x in rng["extension"]] == [
        ("low", 1), ("high", 2), ("as-written", "I-II")]
    assert_round_trip(m, data)


def test_grade_and_grade_range_together_or_backwards_are_refused() -> None:
    import pytest

    from fhir_onco.case import CaseError, parse_case
    for ae, says in (({"grade": 2, "grade_range": "1-2"}, "not both"), ({"grade_range": "3-2"}, "lower to a higher")):
        with pytest.raises(CaseError) as info:
            parse_case(case_data(adverse_events=[{"term": "fever", "onset": "2021", **ae}]))
        assert any(says in msg for _, msg in info.value.issues)
