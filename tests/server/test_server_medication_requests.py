"""Medication requests through a real FHIR server: an mCODE Extraction Framework extract with the
cancer-related-medication-request file is mapped, pushed, pulled back and read into the very case the
reader built - every column of the file survives the trip, and the orders stay MedicationRequests."""

from __future__ import annotations

from pathlib import Path

from fhir_onco.analytics.flatten import flatten
from fhir_onco.analytics.reader import read_server
from fhir_onco.mappings.reverse import case_from_resources
from fhir_onco.server.client import FhirClient
from fhir_onco.server.inputs import from_bundle
from fhir_onco.server.pull import pull_patient
from fhir_onco.server.push import push
from fhir_onco.tabular import McodeReader, map_tables

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "mcode-sample"


def test_mcode_requests_push_pull_read_back_exactly(client: FhirClient, run_key: str, tmp_path: Path) -> None:
    for path in sorted(SAMPLE.glob("*.csv")):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    options = {"regimen_category": "induction", "mrn_system": f"urn:test:{run_key}"}
    first = next(iter(map_tables(tmp_path, **options)))
    assert first.ok, first.report.to_text()
    bundle = from_bundle(first.bundle, "mcode-extract")
    assert push(client, [bundle]).ok
    refs = [f"{r['resourceType']}/{r['id']}" for r in bundle.resources]
    pulled = pull_patient(client, bundle.key, known=refs)
    types = [r["resourceType"] for r in pulled.resources]
    assert types.count("MedicationRequest") == 2 and types.count("MedicationAdministration") == 1
    with McodeReader(tmp_path, **options) as reader:
        expected = next(iter(reader)).case
    assert expected is not None and len(expected.medication_requests) == 2
    assert case_from_resources(pulled.resources) == expected
    # pulled without the ids we know: the search by patient finds the orders too
    unaided = {f"{r['resourceType']}/{r['id']}" for r in pull_patient(client, bundle.key).resources}
    assert {ref for ref in refs if ref.startswith("MedicationRequest/")} <= unaided
    # report / export read the server type by type: the orders are among what they read
    store = read_server(client.base_url, patient_id=bundle.key, client=client)
    rows = flatten(store, "medication_requests")
    assert sorted((r["drug"], r["status"], r["request_intent"]) for r in rows) == [
        ("bortezomib", "completed", "order"), ("ondansetron", "active", "plan")]
