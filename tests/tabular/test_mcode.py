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
    assert [(r.response, r.date) for r in case.responses] == [
        ("VGPR", "2020-01-10"), ("pd", "2021-03-01"), (None, "2021-04-01")]
    rg = case.regimens[0]
    assert (rg.id, rg.category, rg.intent, rg.diagnosis) == ("med-1", "induction", "curative", "cond-1")
    assert rg.drugs[0].drug == "bortezomib"
    assert [(h.type, h.date) for h in case.hsct] == [("autologous", "2019-12-01")]
    ae1, ae2 = case.adverse_events
    assert (ae1.term, ae1.grade, ae1.serious, ae1.resolved) == ("anemia", 3, True, "2019-06-20")
    assert ae1.suspected_causes[0].regimen == "med-1"
    assert (ae2.term, ae2.onset) == ("neutrophil count decreased", "2019-06-12")  # MDRAE code, US date
    # every column of the layout has a home now (issue 8): nothing is reported as dropped
    assert "no home" not in file_report
    pat = case.patient
    assert (pat.name.family, pat.name.given) == ("Doe", ["Jane", "Q"])  # type: ignore[union-attr]
    assert pat.address is not None and (pat.address.lines, pat.address.city, pat.address.state,
                                        pat.address.postal_code, pat.address.country) == (
        ["1 Example Street"], "Springfield", "MA", "01101", None)  # no country invented
    assert (pat.birth_sex, pat.race, pat.ethnicity, pat.language) == (
        "female", ["race-white", "race-asian"], "ethnicity-not-hispanic-or-latino", "en-US")
    assert dx.category == ["problem-list-item"]
    vgpr = case.responses[0]
    assert (vgpr.evidence, vgpr.status, vgpr.recorded) == (
        ["evidence-imaging", "evidence-histopathology"], "final", "2020-01-12")
    assert (ae1.categories, ae1.expected, ae1.study, ae1.recorded) == (
        ["wrong-dose", "product-quality"], True, "NCT00000000", "2019-06-11")
    assert [(p.actor, p.function) for p in ae1.participants] == [("prac-1", "author")]
    assert (ae2.expected, [(p.actor, p.function) for p in ae2.participants]) == (False, [("prac-2", None)])
    p2_case_text = p2.report.to_text()
    assert "Roe" not in p2_case_text and "Rick" not in p2_case_text  # names never reach a message
    rows = p1.report.to_text()
    # TNM rows and surgery have a home (issue 8): TNM staging and procedures
    assert [(t.type, t.t, t.n, t.m, t.stage_group, t.edition, t.date) for t in dx.tnm] == [
        ("clinical", "cT3", "cN3", "cM0", "3C", "AJCC 7", "2019-05-02")]  # SNOMED 443830009
    assert [(p.id, p.procedure, p.date, p.diagnosis, p.note) for p in case.procedures] == [
        ("proc-2", "surgery", "2019-12-05", "cond-1", "Total mastectomy (SNOMED CT 172043006)")]
    assert dx.verification == "confirmed"
    assert (case.adverse_events[1].ctcae_version, case.adverse_events[1].note) == ("5.0", "code version 20.0")
    assert "diseaseStatusCode" not in rows  # not-asked is kept as a data-absent status, not dropped
    assert [(r.date, r.response, r.data_absent) for r in case.responses[2:]] == [("2021-04-01", None, "not-asked")]
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


def test_mcode_demographics_and_ae_context_reach_fhir_and_read_back(tmp_path: Path) -> None:
    """Name, address, US Core race / ethnicity / birth sex, language, AE category, expectation, study and
    participant: mapped, validated against the profiles, and read back as the reader built them."""
    from fhir_onco.fhir import urls
    from fhir_onco.mappings.reverse import case_from_bundle

    first, _ = map_tables(_extract(tmp_path), regimen_category="induction")
    assert first.ok, first.report.to_text()
    resources = [e["resource"] for e in first.bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    race = next(e for e in patient["extension"] if e["url"] == urls.EXT_US_CORE_RACE)
    assert [e["valueCoding"]["code"] for e in race["extension"] if e["url"] == "ombCategory"] == ["2106-3", "2028-9"]
    assert patient["communication"][0]["language"]["coding"][0] == {"system": "urn:ietf:bcp:47", "code": "en-US"}
    assert patient["name"] == [{"family": "Doe", "given": ["Jane", "Q"]}]
    ae = next(r for r in resources if r["resourceType"] == "AdverseEvent" and r["identifier"]["value"] == "ae-1")
    assert [c["coding"][0]["code"] for c in ae["category"]] == ["wrong-dose", "product-quality"]
    assert ae["study"] == [{"type": "ResearchStudy", "identifier": {"value": "NCT00000000"}}]
    status = next(r for r in resources if r["resourceType"] == "Observation" and r.get("extension")
                  and any(e["url"] == urls.EXT_MCODE_EVIDENCE_TYPE for e in r["extension"]))
    assert [e["valueCodeableConcept"]["coding"][0]["code"] for e in status["extension"]
            if e["url"] == urls.EXT_MCODE_EVIDENCE_TYPE] == ["363679005", "252416005"]
    with McodeReader(tmp_path, regimen_category="induction") as reader:
        case = next(iter(reader)).case
    assert case_from_bundle(first.bundle) == case


def _replace_row(tmp_path: Path, name: str, header_row: str) -> None:
    path = tmp_path / name
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0], header_row]) + "\n", encoding="utf-8")


def test_bad_demographic_and_ae_cells_are_located_and_never_quoted(tmp_path: Path) -> None:
    _extract(tmp_path)
    _replace_row(tmp_path, "patient-information.csv",
                 "mrn-1,Secretname,Given,female,X,1958-06-21,,,english please,Hidden Street 5,Town,MA,01101")
    _replace_row(tmp_path, "condition-information.csv",
                 "mrn-1,cond-1,http://snomed.info/sct,109989006,Multiple myeloma,billing,2019-05-02,active,"
                 "confirmed,,,")
    _replace_row(tmp_path, "ctc-adverse-event-information.csv",
                 "mrn-1,ae-1,C143283,http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl,,Anemia,,,,serious,,,"
                 "wrong-dose|wrong-time,a|b|c,,,2019-06-10,,3,maybe,,,,AUT")
    first, _ = map_tables(tmp_path, regimen_category="induction")
    text = first.report.to_text()
    assert not first.ok
    for where in ("patient-information.csv:2:birthsex: expected M, F or UNK",
                  "patient-information.csv:2:language: expected a BCP-47 language tag",
                  "condition-information.csv:2:category: expected problem-list-item",
                  "ctc-adverse-event-information.csv:2:category: expected as many categoryCodeSystem",
                  "ctc-adverse-event-information.csv:2:expectation: expected NCIt C41333",
                  "ctc-adverse-event-information.csv:2:functionCode: a functionCode needs the actor"):
        assert where in text, text
    for secret in ("Secretname", "Hidden Street", "english please", "billing", "maybe"):
        assert secret not in text
