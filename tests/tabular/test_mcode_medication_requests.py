"""The mCODE Extraction Framework's cancer-related-medication-request file: every column read into
``medication_requests`` (orders, never administrations), mapped to MedicationRequest and read back."""

from __future__ import annotations

from pathlib import Path

from fhir_onco.case import Coded
from fhir_onco.mappings.reverse import case_from_bundle
from fhir_onco.tabular import McodeReader, map_tables
from fhir_onco.validation.report import Report

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "mcode-sample"
REQUESTS = "cancer-related-medication-request-information.csv"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SCT = "http://snomed.info/sct"


def _extract(tmp_path: Path, request_rows: list[str] | None = None) -> Path:
    for path in sorted(SAMPLE.glob("*.csv")):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    if request_rows is not None:
        header = (SAMPLE / REQUESTS).read_text(encoding="utf-8").splitlines()[0]
        (tmp_path / REQUESTS).write_text("\n".join([header, *request_rows]) + "\n", encoding="utf-8")
    return tmp_path


def _requests(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]


def _first_case(directory: Path):  # type: ignore[no-untyped-def]
    with McodeReader(directory, regimen_category="induction") as reader:
        first = next(iter(reader))
        return first, reader.report.to_text()


def test_every_column_has_a_home(tmp_path: Path) -> None:
    first, file_report = _first_case(_extract(tmp_path))
    assert first.case is not None, first.report.to_text()
    assert "medication request" not in file_report and "no home" not in file_report
    known, coded = first.case.medication_requests
    # a code of our drugs table becomes its term; the reason is the patient's own condition (by its code)
    assert (known.id, known.drug, known.diagnosis, known.reason, known.intent, known.status, known.request_intent,
            known.authored, known.requester, known.route, known.as_needed, known.dose_rate_type, known.dose,
            known.unit, known.timing_code, known.timing_event) == (
        "req-1", "bortezomib", "cond-1", None, "curative", "completed", "order", "2019-05-30", "prac-1",
        "subcutaneous", None, "calculated", 1.3, "mg/m2", "BID", "2019-06-01")
    # a reason that is none of the patient's conditions and a PRN reason: kept as given (US dates as the framework)
    assert coded.reason == Coded(system=SCT, code="999000", display="Mixed islet cell and exocrine adenocarcinoma")
    assert coded.as_needed == Coded(system=SCT, code="422587007")
    assert (coded.drug, coded.route, coded.diagnosis, coded.intent, coded.status, coded.request_intent,
            coded.authored, coded.requester, coded.dose_rate_type, coded.dose, coded.unit, coded.timing_code,
            coded.timing_event) == ("ondansetron", "oral", None, "palliative", "active", "plan", "2019-06-15",
                                    "prac-2", "ordered", 8, "mg", "TID", "2019-06-16")
    assert first.case.regimens[0].drugs[0].drug == "bortezomib"  # administrations stay administrations


def test_requests_map_to_medication_requests_and_read_back(tmp_path: Path) -> None:
    file_report = Report()
    first, _ = map_tables(_extract(tmp_path), regimen_category="induction", file_report=file_report)
    assert first.ok, first.report.to_text()
    counts = first.resource_counts()
    assert counts["MedicationRequest"] == 2
    assert counts["MedicationAdministration"] == 1  # the administration file's one row, not the orders
    requests = [e["resource"] for e in first.bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    coded = next(r for r in requests if r["identifier"][0]["value"] == "req-2")
    assert coded["reasonCode"] == [{"coding": [
        {"system": SCT, "code": "999000", "display": "Mixed islet cell and exocrine adenocarcinoma"}]}]
    assert coded["requester"] == {"type": "Practitioner", "identifier": {"value": "prac-2"}}
    dosage = coded["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["type"]["coding"][0]["code"] == "ordered"
    assert dosage["timing"] == {"event": ["2019-06-16"], "code": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "TID"}]}}
    assert not [i for i in file_report.issues if REQUESTS in i.location]
    assert not first.report.issues  # no warning either: the sample's codes are in our tables
    with McodeReader(tmp_path, regimen_category="induction") as reader:
        case = next(iter(reader)).case
    assert case_from_bundle(first.bundle) == case  # exact: every column comes back


def test_bad_request_cells_are_located(tmp_path: Path) -> None:
    rows = [
        "mrn-1,req-1,358258,http://www.nlm.nih.gov/research/umls/rxnorm,,,,,,finished,order,2019-05-30,prac-1,,,,,,,",
        "mrn-1,req-2,358258,http://www.nlm.nih.gov/research/umls/rxnorm,,,,,,active,wish,2019-13-45,,,,fast,1.3x,mg,"
        "twice daily,",
        "mrn-1,req-3,12345,,,,,,,active,order,,prac-3,,,,,,,",
        "mrn-1,req-4,358258,http://www.nlm.nih.gov/research/umls/rxnorm,,,,,,entered-in-error,order,,prac-4,,,,,,,",
    ]
    first, _ = _first_case(_extract(tmp_path, rows))
    text = first.report.to_text()
    assert first.case is None
    assert f"{REQUESTS}:2:status: expected a FHIR MedicationRequest status" in text
    assert f"{REQUESTS}:3:intent: expected a FHIR MedicationRequest intent" in text
    assert f"{REQUESTS}:3:authoredOn: " in text
    assert f"{REQUESTS}:3:requesterId: expected the requester's id (the cell is empty)" in text
    assert f"{REQUESTS}:3:doseRateType: expected calculated or ordered" in text
    assert f"{REQUESTS}:3:doseQuantityValue: " in text
    assert f"{REQUESTS}:4:code: expected a code with its code system" in text
    assert f"{REQUESTS}:5:status: an entered-in-error request records nothing; row not imported" in text
    assert "twice daily" not in text and "1.3x" not in text  # cells are never quoted


def test_a_bad_timing_code_is_located_after_the_schema_check(tmp_path: Path) -> None:
    rows = ["mrn-1,req-1,358258,http://www.nlm.nih.gov/research/umls/rxnorm,,,,,,active,order,,prac-1,,,,,,"
            "twice daily,"]
    first, _ = _first_case(_extract(tmp_path, rows))
    assert first.case is None
    assert f"{REQUESTS}:2:timingCode: " in first.report.to_text()


def test_codes_our_tables_lack_are_kept_as_given(tmp_path: Path) -> None:
    rows = ["mrn-1,req-9,10760,http://www.nlm.nih.gov/research/umls/rxnorm,Triamcinolone Oral Paste,,,,,active,"
            "order,2020-01-01,prac-1,46713006,true,,,,,"]
    first, _ = _first_case(_extract(tmp_path, rows))
    assert first.case is not None, first.report.to_text()
    (mr,) = first.case.medication_requests
    assert mr.drug == Coded(system=RXNORM, code="10760", display="Triamcinolone Oral Paste")
    assert mr.route == Coded(system=SCT, code="46713006")
    assert (mr.as_needed, mr.diagnosis, mr.reason) == (True, None, None)  # no reason: the first condition
    mapped, _ = map_tables(tmp_path, regimen_category="induction")
    assert mapped.ok, mapped.report.to_text()
    (request,) = _requests(mapped.bundle)
    assert request["medicationCodeableConcept"] == {"coding": [
        {"system": RXNORM, "code": "10760", "display": "Triamcinolone Oral Paste"}]}
    assert request["dosageInstruction"][0]["route"] == {"coding": [{"system": SCT, "code": "46713006"}]}
    # outside our extensible value sets: valid, and said (a warning, as FHIR extensible bindings allow)
    assert sorted(i.rule for i in mapped.report.issues) == ["binding.extensible", "binding.extensible"]
    assert case_from_bundle(mapped.bundle) == first.case
