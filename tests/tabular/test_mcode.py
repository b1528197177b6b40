"""mCODE Extraction Framework CSV layout: published file and column names -> case model -> FHIR."""

from __future__ import annotations

from pathlib import Path

from fhir_onco.tabular import McodeReader, detect_layout, map_tables
from fhir_onco.validation.report import Report

# Synthetic rows under the framework's published headers (src/helpers/schemas/csv.js).
FILES = {
    "patient-mrns.csv": "mrn\nmrn-1\nmrn-2\n",
    "patient-information.csv": (
        "mrn,familyName,givenName,gender,birthsex,dateOfBirth,race,ethnicity,language,addressLine,city,state,zip\n"
        "mrn-1,Doe,Jane,female,female,1958-06-21,,,,,,,\n"
        "mrn-2,Roe,Rick,male,male,11/08/1956,,,,,,,\n"),
    "condition-information.csv": (
        "mrn,conditionId,codeSystem,code,displayName,category,dateOfDiagnosis,clinicalStatus,verificationStatus,"
        "bodySite,laterality,histology\n"
        "mrn-1,cond-1,http://snomed.info/sct,109989006,Multiple myeloma,problem-list-item,2019-05-02,active,"
        "confirmed,,,\n"
        "mrn-2,cond-2,http://snomed.info/sct,109989006,Multiple myeloma,problem-list-item,2018-01-10,inactive,"
        "confirmed,,,\n"),
    "staging-information.csv": (
        "mrn,conditionId,stageGroup,t,n,m,type,stagingSystem,stagingCodeSystem,effectiveDate\n"
        "mrn-1,cond-1,C70660,,,,Clinical,C139007,http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl,2019-05-02\n"
        "mrn-1,cond-1,3C,cT3,cN3,cM0,Clinical,443830009,'http://snomed.info/sct',2019-05-02\n"),
    "cancer-disease-status-information.csv": (
        "mrn,conditionId,diseaseStatusCode,diseaseStatusText,dateOfObservation,evidence,observationStatus,"
        "dateRecorded\n"
        "mrn-1,cond-1,268910001,VGPR,2020-01-10,363679005|252416005,final,2020-01-12\n"
        "mrn-1,cond-1,271299001,worsened,2021-03-01,,final,\n"
        "mrn-1,cond-1,not-asked,,2021-04-01,,,\n"),
    "cancer-related-medication-administration-information.csv": (
        "mrn,medicationId,code,codeSystem,displayText,startDate,endDate,treatmentReasonCode,"
        "treatmentReasonCodeSystem,treatmentReasonDisplayText,treatmentIntent,status\n"
        "mrn-1,med-1,358258,http://www.nlm.nih.gov/research/umls/rxnorm,Bortezomib,2019-06-01,2019-06-01,"
        "109989006,http://snomed.info/sct,Multiple myeloma,373808002,completed\n"),
    "procedure-information.csv": (
        "mrn,procedureId,conditionId,status,code,codeSystem,displayName,reasonCode,reasonCodeSystem,"
        "reasonDisplayName,effectiveDate,bodySite,laterality,treatmentIntent\n"
        "mrn-1,proc-1,cond-1,completed,autologous-hsct,https://fhir-onco.org/fhir/CodeSystem/procedures,"
        "Autologous HSCT,,,,2019-12-01,,,\n"
        "mrn-1,proc-2,cond-1,completed,172043006,http://snomed.info/sct,Total mastectomy,,,,2019-12-05,,,\n"),
    "ctc-adverse-event-information.csv": (
        "mrn,adverseEventId,adverseEventCode,adverseEventCodeSystem,adverseEventCodeVersion,adverseEventDisplayText,"
        "adverseEventText,suspectedCauseId,suspectedCauseType,seriousness,seriousnessCodeSystem,"
        "seriousnessDisplayText,category,categoryCodeSystem,categoryDisplayText,studyId,effectiveDate,recordedDate,"
        "grade,expectation,resolvedDate,seriousnessOutcome,actor,functionCode\n"
        "mrn-1,ae-1,C143283,http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl,,Anemia,,med-1,"
        "MedicationAdministration,serious,,,,,,,2019-06-10,,3,,2019-06-20,resolved,,\n"
        "mrn-1,ae-2,10029366,http://terminology.hl7.org/CodeSystem/MDRAE,20.0,,,,,non-serious,,,,,,,"
        "06-12-2019,,2,,,,,\n"),
}


def _extract(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_layout_is_detected(tmp_path: Path) -> None:
    assert detect_layout(_extract(tmp_path)) == "mcode"


def test_mcode_rows_land_in_the_case_model(tmp_path: Path) -> None:
    with McodeReader(_extract(tmp_path), regimen_category="induction") as reader:
        p1, p2 = list(reader)
        file_report = reader.report.to_text()
    assert p1.case is not None, p1.report.to_text()
    case = p1.case
    assert case.patient.sex == "female" and case.patient.birth_date == "1958-06-21"
    dx = case.diagnoses[0]
    assert (dx.id, dx.condition, dx.onset) == ("cond-1", "multiple myeloma", "2019-05-02")
    assert [(s.system, s.value) for s in dx.stages] == [("iss", "3")]
    assert [(r.response, r.date) for r in case.responses] == [("VGPR", "2020-01-10"), ("pd", "2021-03-01")]
    rg = case.regimens[0]
    assert (rg.id, rg.category, rg.intent, rg.diagnosis) == ("med-1", "induction", "curative", "cond-1")
    assert rg.drugs[0].drug == "bortezomib"
    assert [(h.type, h.date) for h in case.hsct] == [("autologous", "2019-12-01")]
    ae1, ae2 = case.adverse_events
    assert (ae1.term, ae1.grade, ae1.serious, ae1.resolved) == ("anemia", 3, True, "2019-06-20")
    assert ae1.suspected_causes[0].regimen == "med-1"
    assert (ae2.term, ae2.onset) == ("neutrophil count decreased", "2019-06-12")  # MDRAE code, US date
    # what has no home is said once per file or row, never silently dropped
    assert "patient-information.csv:1: columns with no home in the case model" in file_report
    assert "familyName" in file_report
    rows = p1.report.to_text()
    assert "staging-information.csv:3:stagingSystem: only ISS" in rows
    assert "procedure-information.csv:3:code: only HSCT procedures have a home" in rows
    assert "cancer-disease-status-information.csv:4:diseaseStatusCode" in rows
    # a clinical status outside the case model is a located error for that patient only
    assert p2.case is None
    assert "condition-information.csv:3:clinicalStatus: expected active" in p2.report.to_text()


def test_mcode_extract_maps_to_fhir(tmp_path: Path) -> None:
    file_report = Report()
    results = list(map_tables(_extract(tmp_path), regimen_category="induction", file_report=file_report))
    assert results[0].ok, results[0].report.to_text()
    assert results[0].resource_counts()["AdverseEvent"] == 2
    assert not results[1].ok


def test_without_a_category_the_regimen_is_text_only(tmp_path: Path) -> None:
    results = list(map_tables(_extract(tmp_path)))
    text = results[0].report.to_text()
    assert "cancer-related-medication-administration-information.csv:2:code: unknown regimen terms term" in text
    first, _ = map_tables(tmp_path, allow_text_only=True)
    assert first.ok
