"""mCODE Extraction Framework CSV layout: published file and column names -> case model -> FHIR."""

from __future__ import annotations

from pathlib import Path

from fhir_onco.tabular import McodeReader, detect_layout, map_tables
from fhir_onco.validation.report import Report

# Synthetic rows under the framework's published headers: tests/data/mcode-sample (see its README).
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "mcode-sample"
FILES = {p.name: p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("*.csv"))}


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
    # TNM rows and surgery have a home (issue 8): TNM staging and procedures
    assert [(t.type, t.t, t.n, t.m, t.stage_group, t.edition, t.date) for t in dx.tnm] == [
        ("clinical", "cT3", "cN3", "cM0", "3C", "AJCC 7", "2019-05-02")]  # SNOMED 443830009
    assert [(p.id, p.procedure, p.date, p.diagnosis, p.note) for p in case.procedures] == [
        ("proc-2", "surgery", "2019-12-05", "cond-1", "Total mastectomy (SNOMED CT 172043006)")]
    assert dx.verification == "confirmed"
    assert (case.adverse_events[1].ctcae_version, case.adverse_events[1].note) == ("5.0", "code version 20.0")
    assert "cancer-disease-status-information.csv:4:diseaseStatusCode" in rows
    # a clinical status outside the case model is a located error for that patient only
    assert p2.case is None
    assert "condition-information.csv:3:clinicalStatus: expected active" in p2.report.to_text()


def test_mcode_extract_maps_to_fhir(tmp_path: Path) -> None:
    file_report = Report()
    results = list(map_tables(_extract(tmp_path), regimen_category="induction", file_report=file_report))
    assert results[0].ok, results[0].report.to_text()
    assert results[0].resource_counts()["AdverseEvent"] == 2
    assert results[0].resource_counts()["Procedure"] == 2  # the HSCT and the mastectomy
    assert not results[1].ok


def test_without_a_category_the_regimen_is_text_only(tmp_path: Path) -> None:
    results = list(map_tables(_extract(tmp_path)))
    text = results[0].report.to_text()
    assert "cancer-related-medication-administration-information.csv:2:code: unknown regimen terms term" in text
    first, _ = map_tables(tmp_path, allow_text_only=True)
    assert first.ok
