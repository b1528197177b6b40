"""Patient (identifiers, sex, birth date / age at event, death with cause) and radiotherapy."""

from __future__ import annotations

from mapping_support import LOINC, UCUM, case_data, codes, ext


def test_patient_identifiers_sex_and_russian_birth_date(map_case) -> None:
    data = case_data()
    data["patient"]["identifiers"].append({"system": "urn:registry", "value": "R-7"})
    data["patient"]["birth_date"] = "03.04.2009"
    patient = map_case(data).one("Patient")
    assert patient["identifier"] == [{"system": "urn:test:mrn", "value": "p1"},
                                     {"system": "urn:registry", "value": "R-7"}]
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "2009-04-03"
    assert patient["_birthDate"]["extension"][0]["valueString"] == "03.04.2009"


def test_age_at_event_when_birth_date_unknown(map_case) -> None:
    data = case_data()
    data["patient"]["age"] = {"years": 6, "at": "2017-10-09"}
    patient = map_case(data).one("Patient")
    age = {e["url"]: e for e in ext(patient, "age-at-event")[0]["extension"]}
    assert age["age"]["valueAge"] == {"value": 6, "unit": "a", "system": UCUM, "code": "a"}
    assert age["date"]["valueDateTime"] == "2017-10-09"
    assert "birthDate" not in patient


def test_death_with_cause(map_case) -> None:
    data = case_data()
    data["patient"]["death"] = {"date": "2023-01", "cause": "COVID-19", "note": "during IsaPd"}
    m = map_case(data)
    assert m.one("Patient")["deceasedDateTime"] == "2023-01"
    cause = m.one("Observation", "onco-cause-of-death")
    assert codes(cause["code"]) == {(LOINC, "69453-9")}
    assert codes(cause["valueCodeableConcept"]) == {("http://hl7.org/fhir/sid/icd-10", "U07.1")}
    assert cause["effectiveDateTime"] == "2023-01"
    assert m.get(cause["subject"])["resourceType"] == "Patient"


def test_death_relative_to_hsct(map_case) -> None:
    data = case_data(hsct=[{"id": "allo", "type": "allogeneic", "date": "2016-05-18"}])
    data["patient"]["death"] = {"date": "D+212", "cause": "прогрессирование"}
    m = map_case(data)
    assert m.one("Patient")["deceasedDateTime"] == "2016-12-16"
    assert m.one("Observation", "onco-cause-of-death")["valueCodeableConcept"]["coding"][0]["code"] == "progression"


def test_death_without_date_is_deceased_boolean(map_case) -> None:
    data = case_data()
    data["patient"]["death"] = {"cause": "unknown"}
    assert map_case(data).one("Patient")["deceasedBoolean"] is True


def test_radiotherapy_total_dose_period_and_regimen(map_case) -> None:
    data = case_data(
        regimens=[{"id": "cond", "name": "TBI/Flu/VP", "category": "conditioning", "start": "2021-12-05"}],
        radiotherapy=[{"kind": "ТОТ", "total_dose_gy": 12, "fractions": 6, "start": "2021-12-05",
                       "end": "2021-12-07", "regimen": "cond"},
                      {"kind": "craniospinal irradiation", "total_dose_gy": 18, "start": "08.06.2020",
                       "body_sites": ["CNS"]}])
    m = map_case(data)
    tbi, csi = m.all("Procedure", "onco-radiotherapy")
    assert tbi["code"]["coding"][0]["code"] == "total-body-irradiation"
    assert ext(tbi, "radiotherapy-total-dose") == [{"value": 12, "unit": "gray", "system": UCUM, "code": "Gy"}]
    assert ext(tbi, "radiotherapy-fractions") == [6]
    assert tbi["performedPeriod"] == {"start": "2021-12-05", "end": "2021-12-07"}
    assert m.get(ext(tbi, "regimen")[0])["title"] == "TBI/Flu/VP"
    assert csi["performedPeriod"]["start"] == "2020-06-08"
    assert codes(csi["bodySite"][0]) == {("http://snomed.info/sct", "21483005")}
