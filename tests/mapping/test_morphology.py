"""Morphology as clinicians write it (WHO 2022 / ICC / FAB classes, shorthand, Russian forms, ICD-O-3
codes) -> ICD-O-3 morphology with behaviour on the Condition; a differentiation or grade (written
apart, inside the morphology term, or as the ICD-O-3 sixth digit) -> the mCODE-aligned histologic
grade Observation; both read back as written."""

from __future__ import annotations

import pytest
from mapping_support import MCODE, NCIT, SCT, assert_round_trip, case_data

from fhir_onco.mappings.reverse import read_bundle

ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
GRADES = "https://fhir-onco.org/fhir/CodeSystem/grades"
HISTOLOGY = MCODE + "mcode-histology-morphology-behavior"


def _dx(morphology: str, grade: str | None = None, condition: str = "AML") -> dict:
    dx = {"id": "dx", "condition": condition, "onset": "2021-03", "morphology": morphology}
    return case_data(diagnoses=[{**dx, "grade": grade}] if grade else [dx])


def _histology(m) -> dict:
    condition = m.one("Condition")
    return next(e["valueCodeableConcept"] for e in condition["extension"] if e["url"] == HISTOLOGY)


@pytest.mark.parametrize(("written", "code"), [
    ("AML M5", "9891/3"), ("ОМЛ М5", "9891/3"), ("ОМЛ M5", "9891/3"),  # Cyrillic and Latin «М»
    ("AML M4eo", "9871/3"), ("ОМЛ М4эо", "9871/3"), ("AML M0", "9872/3"), ("M3v", "9866/3"), ("APL", "9866/3"),
    ("AML with NPM1 mutation", "9877/3"), ("AML-MRC", "9895/3"), ("FAB M7", "9910/3"),
    ("B-ALL", "9811/3"), ("BCP-ALL", "9811/3"), ("В-ОЛЛ", "9811/3"), ("ВCP-ALL", "9811/3"),  # mixed alphabets
    ("9836/3", "9811/3"),  # obsolete code of old records
    ("T-ALL", "9837/3"), ("Т-ОЛЛ", "9837/3"), ("Ph+ ALL", "9812/3"), ("ALL L3", "9826/3"),
    ("DLBCL", "9680/3"), ("ДВКЛ", "9680/3"), ("CMML", "9945/3"),
    ("ganglioneuroblastoma", "9490/3"), ("нейробластома", "9500/3"), ("опухоль Вильмса", "8960/3"),
])
def test_clinicians_terms_resolve_to_icdo3_with_behaviour(map_case, written: str, code: str) -> None:
    m = map_case(_dx(written))
    histology = _histology(m)
    assert histology["coding"][0]["system"] == ICDO3
    assert histology["coding"][0]["code"] == code
    assert histology["text"] == written
    assert m.all("Observation", "onco-histologic-grade") == []  # no grade was written


@pytest.mark.parametrize(("written", "code", "grade", "mcode_grade"), [
    ("NB poorly differentiated", "9500/3", "grade-3", "1155707008"),
    ("нейробластома низкодифференцированная", "9500/3", "grade-3", "1155707008"),
    ("poorly differentiated neuroblastoma", "9500/3", "grade-3", "1155707008"),
    ("аденокарцинома G2", "8140/3", "grade-2", "1286893008"),
    ("adenocarcinoma, well differentiated", "8140/3", "grade-1", "1155708003"),
    ("8140/32", "8140/3", "grade-2", "1286893008"),  # the ICD-O-3 sixth digit
    ("M-9500/34", "9500/3", "grade-4", "1155707008"),
    ("9811/36", "9811/3", "grade-b-cell", None),  # lineage digit of leukaemias: no mCODE tier
])
def test_a_grade_inside_the_morphology_becomes_the_histologic_grade(
        map_case, written: str, code: str, grade: str, mcode_grade: str | None) -> None:
    data = _dx(written, condition="neuroblastoma")
    m = map_case(data)
    assert _histology(m)["coding"][0]["code"] == code
    obs = m.one("Observation", "onco-histologic-grade")
    assert obs["code"]["coding"][0] == {"system": NCIT, "code": "C18000", "display": "Histologic Grade"}
    codings = [(c["system"], c["code"]) for c in obs["valueCodeableConcept"]["coding"]]
    assert codings[0] == (GRADES, grade)
    assert [c for s, c in codings if s == SCT] == ([mcode_grade] if mcode_grade else [])
    assert "text" not in obs["valueCodeableConcept"]  # the grade was written only in the morphology
    condition = m.one("Condition")
    assert obs["focus"] == [{"reference": f"Condition/{condition['id']}"}]
    assert [e["valueReference"] for e in obs["extension"] if e["url"] == MCODE + "mcode-related-condition"] \
        == obs["focus"]
    assert_round_trip(m, data)  # grade stays inside the morphology


@pytest.mark.parametrize(("morphology", "grade"), [
    ("neuroblastoma", "G3"), ("ganglioneuroblastoma", "низкодифференцированная"), ("8141/3", "high grade"),
    ("NB poorly differentiated", "high grade"),  # agrees: G3 is the high tier
    ("NB poorly differentiated", "poorly differentiated"),
])
def test_a_written_grade_is_kept_as_written(map_case, morphology: str, grade: str) -> None:
    data = _dx(morphology, grade, condition="neuroblastoma")
    m = map_case(data)
    obs = m.one("Observation", "onco-histologic-grade")
    assert obs["valueCodeableConcept"]["text"] == grade
    assert_round_trip(m, data)


def test_an_icdo3_code_outside_the_table_is_kept_as_the_code(map_case) -> None:
    m = map_case(_dx("8141/3"))
    histology = _histology(m)
    assert histology == {"coding": [{"system": ICDO3, "code": "8141/3"}], "text": "8141/3"}
    del histology["text"]  # as de-identification may leave it: the code alone still reads back
    assert read_bundle(m.bundle).case.diagnoses[0].morphology == "8141/3"


def test_a_grade_that_contradicts_the_morphology_is_located(map_errors) -> None:
    errors = map_errors(_dx("NB poorly differentiated", "G1", condition="neuroblastoma"))
    assert [loc for loc, _ in errors] == ["diagnoses[0].grade"]
    assert "contradicts" in errors[0][1] and "poorly differentiated" in errors[0][1]


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("morphology", "AML M9", "diagnoses[0].morphology"),
    ("morphology", "8140/30", "diagnoses[0].morphology"),  # 0 is no ICD-O-3 grade digit
    ("morphology", "8140/5", "diagnoses[0].morphology"),  # 5 is no behaviour
    ("grade", "G7", "diagnoses[0].grade"),
])
def test_unknown_morphology_or_grade_is_located(map_errors, field: str, value: str, expected: str) -> None:
    dx = {"condition": "AML", "morphology": "AML M5", field: value}
    assert [loc for loc, _ in map_errors(case_data(diagnoses=[dx]))] == [expected]


def test_unknown_morphology_suggests_close_terms(map_errors) -> None:
    (_, message), = map_errors(case_data(diagnoses=[{"condition": "AML", "morphology": "ганглионейробластомма"}]))
    assert "closest known" in message and "ганглионейробластома" in message


def test_a_latin_letter_inside_a_russian_word_still_resolves(map_case) -> None:
    # «ганглионейробластомa» with a Latin a at the end: look-alike letters are folded
    assert _histology(map_case(_dx("ганглионейробластомa")))["coding"][0]["code"] == "9490/3"


def test_an_mcode_histologic_grade_is_read_from_its_related_condition() -> None:
    """mCODE STU4's HistologicGrade names the cancer only in the related-condition extension."""
    patient = {"resourceType": "Patient", "id": "p", "gender": "male",
               "identifier": [{"system": "urn:test:mrn", "value": "p"}]}
    condition = {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p"},
                 "meta": {"profile": [MCODE + "mcode-primary-cancer-condition"]},
                 "code": {"text": "lung cancer"}}
    grade = {"resourceType": "Observation", "id": "g", "status": "final", "subject": {"reference": "Patient/p"},
             "meta": {"profile": [MCODE + "mcode-histologic-grade"]},
             "extension": [{"url": MCODE + "mcode-related-condition", "valueReference": {"reference": "Condition/c"}}],
             "code": {"coding": [{"system": NCIT, "code": "C18000"}]},
             "valueCodeableConcept": {"coding": [{"system": SCT, "code": "1286893008"}]}}
    orphan = {**grade, "id": "g2", "extension": [{"url": MCODE + "mcode-related-condition",
                                                   "valueReference": {"reference": "Condition/elsewhere"}}]}
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in (patient, condition, grade, orphan)]}
    result = read_bundle(bundle)
    assert result.case.diagnoses[0].grade == "intermediate-grade"
    assert [w for w in result.warnings if "Observation/g2" in w]  # never dropped silently
