"""Medication requests (orders, prescriptions): MedicationRequest aligned with mCODE STU4
CancerRelatedMedicationRequest, never a MedicationAdministration; read back exactly."""

from __future__ import annotations

import pytest
from mapping_support import MCODE, SCT, UCUM, assert_round_trip, case_data

from fhir_onco.case import CaseError, parse_case
from fhir_onco.validation import validate_bundle

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
DATA = case_data(
    diagnoses=[{"id": "mm", "condition": "multiple myeloma", "onset": "2019-05-02"},
               {"id": "mds", "condition": "МДС", "onset": "2019-07"}],
    regimens=[{"id": "vrd", "name": "VRd", "category": "induction", "start": "2019-06-01",
               "drugs": [{"drug": "bortezomib", "dose": 1.3, "unit": "mg/m2", "days": "1,4,8,11"}]}],
    medication_requests=[
        {"id": "rq1", "drug": "бортезомиб", "diagnosis": "mds", "intent": "curative", "status": "completed",
         "request_intent": "original-order", "authored": "30.05.2019", "requester": "prac-17", "regimen": "vrd",
         "dose": 1.3, "unit": "мг/м2", "dose_rate_type": "calculated", "route": "п/к", "timing_code": "BID",
         "timing_event": "day 4@vrd", "note": "cycle 1"},
        {"drug": {"system": ATC, "code": "M05BA08", "display": "zoledronic acid"},
         "reason": {"system": SCT, "code": "999000", "display": "Mixed islet cell and exocrine adenocarcinoma"},
         "status": "active", "request_intent": "plan", "authored": "2019-06",
         "route": {"system": SCT, "code": "46713006"},
         "as_needed": {"system": SCT, "code": "422587007", "display": "Nausea"}},
        {"drug": "ondansetron", "reason": "multiple myeloma", "as_needed": True, "authored": "unknown"},
        {"drug": "ondansetron", "as_needed": False},
        {"drug": "ondansetron", "as_needed": False},  # the same order twice, no ids: kept apart by place
    ])


def test_requests_map_to_medication_requests_not_administrations(map_case) -> None:
    m = map_case(DATA)
    requests = m.all("MedicationRequest", "onco-medication-request")
    assert len(requests) == 5 and len({r["id"] for r in requests}) == 5
    assert len(m.all("MedicationAdministration")) == 4  # the regimen's doses only
    full, coded, reason_term, default, _ = requests
    assert (full["status"], full["intent"], full["authoredOn"]) == ("completed", "original-order", "2019-05-30")
    assert full["extension"][0] == {"url": MCODE + "mcode-procedure-intent", "valueCodeableConcept": {
        "coding": [{"system": SCT, "code": "373808002", "display": "Curative - procedure intent"}], "text": "curative"}}
    assert full["medicationCodeableConcept"]["coding"][0] == {"system": RXNORM, "code": "358258",
                                                              "display": "bortezomib"}
    assert full["requester"] == {"type": "Practitioner", "identifier": {"value": "prac-17"}}
    assert m.get(full["basedOn"][0])["resourceType"] == "CarePlan"
    assert m.get(full["reasonReference"][0])["code"]["text"] == "МДС"
    dosage = full["dosageInstruction"][0]
    assert dosage["doseAndRate"] == [{
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/dose-rate-type", "code": "calculated"}]},
        "doseQuantity": {"value": 1.3, "unit": "мг/м2", "system": UCUM, "code": "mg/m2"}}]
    assert dosage["timing"]["event"] == ["2019-06-04"]  # day 4 of the regimen, the expression kept beside it
    assert dosage["timing"]["_event"][0]["extension"][0]["valueString"] == "day 4@vrd"
    assert dosage["route"]["coding"][0]["code"] == "34206005"
    # codes the tables lack are written as the source gave them, without a text
    assert coded["medicationCodeableConcept"] == {"coding": [{"system": ATC, "code": "M05BA08",
                                                              "display": "zoledronic acid"}]}
    assert coded["reasonCode"][0]["coding"][0]["code"] == "999000" and "reasonReference" not in coded
    assert coded["dosageInstruction"][0]["asNeededCodeableConcept"]["coding"][0]["code"] == "422587007"
    assert reason_term["reasonCode"][0]["coding"][0]["system"] == SCT and "reasonReference" not in reason_term
    assert reason_term["_authoredOn"]["extension"][1]["valueCode"] == "unknown"  # data-absent, no invented date
    assert reason_term["status"] == "unknown" and reason_term["intent"] == "order"  # defaults: nothing invented
    assert m.get(default["reasonReference"][0])["code"]["text"] == "multiple myeloma"  # the first diagnosis
    assert default["dosageInstruction"] == [{"asNeededBoolean": False}]


def test_requests_validate_and_round_trip_exactly(map_case) -> None:
    assert_round_trip(map_case(DATA), DATA)


def test_the_profile_requires_a_reason(map_case) -> None:
    m = map_case(DATA)
    request = m.all("MedicationRequest")[0]
    del request["reasonReference"]
    report = validate_bundle(m.bundle, "x")
    assert not report.ok and "onco-mr-reason" in report.to_text()


def test_bad_requests_are_located(map_errors) -> None:
    errors = map_errors(case_data(medication_requests=[
        {"drug": "unobtainium"},  # unknown drug, and no diagnosis to be for
        {"drug": "ondansetron", "diagnosis": "nope", "regimen": "none", "route": "в ухо", "timing_event": "unknown"},
    ]))
    locations = [loc for loc, _ in errors]
    assert "medication_requests[0].drug" in locations
    assert "medication_requests[0].reason" in locations  # mCODE: reasonCode or reasonReference
    assert {"medication_requests[1].diagnosis", "medication_requests[1].regimen", "medication_requests[1].route",
            "medication_requests[1].timing_event"} <= set(locations)


@pytest.mark.parametrize(("item", "where"), [
    ({"drug": "ondansetron", "dose": 8}, "medication_requests[0]"),  # a dose needs its unit
    ({"drug": "ondansetron", "status": "finished"}, "medication_requests[0].status"),
    ({"drug": "ondansetron", "timing_code": "twice daily"}, "medication_requests[0].timing_code"),
    ({"drug": {"system": RXNORM}}, "medication_requests[0].drug"),
])
def test_schema_errors_name_the_field(item: dict, where: str) -> None:
    with pytest.raises(CaseError) as info:
        parse_case(case_data(medication_requests=[item]))
    assert any(loc == where or loc.startswith(where + ".") for loc, _ in info.value.issues), info.value.issues


def test_an_order_before_birth_is_implausible(map_case) -> None:
    data = case_data(diagnoses=[{"condition": "multiple myeloma"}],
                     medication_requests=[{"drug": "ondansetron", "authored": "2001-01-01"}])
    data["patient"]["birth_date"] = "2010-05"
    report = validate_bundle(map_case(data).bundle, "x")
    assert any(i.rule == "plausibility.before-birth" and i.location.endswith("authoredOn") for i in report.errors)


def test_an_mcode_request_of_another_producer_stays_an_order() -> None:
    """As the mCODE STU4 IG's gefitinib example writes it: read as a medication request, never a regimen."""
    from fhir_onco.case import Coded
    from fhir_onco.mappings.reverse import read_resources

    patient = {"resourceType": "Patient", "id": "p1", "gender": "male",
               "identifier": [{"system": "urn:test:mrn", "value": "x1"}]}
    request = {
        "resourceType": "MedicationRequest", "id": "mr1",
        "meta": {"profile": [MCODE + "mcode-cancer-related-medication-request"]},
        "extension": [{"url": MCODE + "mcode-procedure-intent", "valueCodeableConcept": {
            "coding": [{"system": SCT, "code": "373808002", "display": "Curative - procedure intent"}]}}],
        "status": "active", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "349472",
                                                  "display": "gefitinib 250 MG Oral Tablet"}]},
        "subject": {"reference": "Patient/p1"}, "authoredOn": "2019-04-01T10:00:00Z",
        "requester": {"reference": "Practitioner/kyle"},
        "reasonCode": [{"coding": [{"system": SCT, "code": "254637007",
                                    "display": "Non-small cell lung cancer (disorder)"}]}],
        "dosageInstruction": [{"text": "250mg orally once daily", "timing": {
            "event": ["2019-04-01"], "repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "route": {"coding": [{"system": SCT, "code": "26643006", "display": "Oral use"}]},
            "doseAndRate": [{"doseQuantity": {"value": 250, "unit": "mg", "system": UCUM, "code": "mg"}}]}],
    }
    result = read_resources([patient, request])
    assert result.case.regimens == []
    (mr,) = result.case.medication_requests
    assert mr.drug == Coded(system=RXNORM, code="349472", display="gefitinib 250 MG Oral Tablet")
    assert mr.reason == Coded(system=SCT, code="254637007", display="Non-small cell lung cancer (disorder)")
    assert (mr.intent, mr.status, mr.authored, mr.requester, mr.dose, mr.unit, mr.timing_event, mr.note) == (
        "Curative - procedure intent", "active", "2019-04-01", "Practitioner/kyle", 250, "mg", "2019-04-01",
        "250mg orally once daily")
    assert mr.route == Coded(system=SCT, code="26643006", display="Oral use")
    assert result.warnings == ["MedicationRequest/mr1: read with a loss: the dosage's repeat pattern and further "
                               "doses or times are not kept (its text is kept as the note)"]
