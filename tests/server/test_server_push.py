"""push against a real FHIR server: idempotency, edits, atomicity, concurrency."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from typing import Any

import pytest
import requests

from fhir_onco.server.client import FhirClient
from fhir_onco.server.inputs import PatientBundle, from_bundle
from fhir_onco.server.push import PatientWork, fetch_current, push, push_many
from fhir_onco.server.synthetic import MRN_SYSTEM, entry, patient_bundle, rid


def pb(key: str, observations: int = 2, **kw: Any) -> PatientBundle:
    return from_bundle(patient_bundle(key, observations=observations, **kw), f"{key}.json")


def refs(b: PatientBundle) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in b.resources]


def versions(client: FhirClient, b: PatientBundle) -> dict[str, str | None]:
    cur = fetch_current(client, refs(b))
    return {k: (v or {}).get("meta", {}).get("versionId") for k, v in cur.items()}


def n_observations(client: FhirClient, key: str) -> int:
    return client.count("Observation", {"subject": f"Patient/{rid(key, 'Patient')}"})


def test_push_then_repush_changes_nothing(client: FhirClient, run_key: str) -> None:
    b = pb(run_key, observations=3)
    first = push(client, [b])
    assert first.ok, first.to_json()
    assert first.totals()["resources"]["created"] == 7
    assert first.patients[0].status == "created"
    assert set(versions(client, b).values()) == {"1"}

    second = push(client, [pb(run_key, observations=3)])
    assert second.ok
    t = second.totals()
    assert t["resources"] == {"created": 0, "updated": 0, "unchanged": 7, "deleted": 0, "failed": 0}
    assert second.patients[0].status == "unchanged"
    assert set(versions(client, b).values()) == {"1"}  # no new versions
    assert n_observations(client, run_key) == 3
    assert client.count("Patient", {"identifier": f"{MRN_SYSTEM}|{run_key}"}) == 1
    json.loads(second.to_json())  # the report is JSON


def test_edit_one_field_updates_exactly_that_resource(client: FhirClient, run_key: str) -> None:
    b = pb(run_key, observations=2)
    assert push(client, [b]).ok
    edited = copy.deepcopy(b)
    obs = edited.bundle["entry"][5]["resource"]
    obs["valueQuantity"]["value"] = 99
    report = push(client, [edited])
    assert report.ok
    assert report.totals()["resources"]["updated"] == 1
    assert report.totals()["resources"]["unchanged"] == 5
    v = versions(client, b)
    edited_ref = f"Observation/{obs['id']}"
    assert v.pop(edited_ref) == "2"
    assert set(v.values()) == {"1"}
    assert report.patients[0].versions[edited_ref] == "2"
    stored = client.read("Observation", obs["id"])
    assert stored is not None and stored["valueQuantity"]["value"] == 99


def test_invalid_entry_leaves_nothing_of_that_patient(client: FhirClient, run_key: str) -> None:
    good = pb(f"{run_key}-good")
    bad = pb(f"{run_key}-bad", observations=3)
    bad_obs = bad.bundle["entry"][-1]["resource"]
    bad_obs["effectiveDateTime"] = "31.12.2020"
    report = push(client, [good, bad], concurrency=2)
    assert not report.ok
    by_key = {p.patient: p for p in report.patients}
    failed = by_key[bad.key]
    assert failed.status == "failed"
    assert f"Patient/{bad.key}" in (failed.error or "")
    assert "HTTP 4" in (failed.error or "")
    # the patient's name and identifier value are not in the message
    assert "Synthetic" not in (failed.error or "") and f"{run_key}-bad" not in (failed.error or "")
    assert by_key[good.key].status == "created"
    assert set(versions(client, bad).values()) == {None}  # all or nothing
    assert set(versions(client, good).values()) == {"1"}


def test_concurrent_patients_no_duplicates(client: FhirClient, run_key: str) -> None:
    org = {"resourceType": "Organization", "id": rid(run_key, "Organization"), "name": "Onco"}
    bundles = []
    for i in range(12):
        b = patient_bundle(f"{run_key}-{i}", observations=2, seed=i)
        b["entry"].append(entry(org))  # shared by every patient
        bundles.append(from_bundle(b, f"p{i}.json"))
    # the same patient twice with different content (same ids): the later input wins, sequentially
    later = from_bundle(patient_bundle(f"{run_key}-0", observations=2, seed=1), "p0-later.json")
    later.bundle["entry"].append(entry(org))
    report = push(client, [*bundles, later], concurrency=6)
    assert report.ok, report.to_json()
    assert len(report.patients) == 12
    assert report.patients[0].sources == ["p0.json", "p0-later.json"]
    for i in range(12):
        key = f"{run_key}-{i}"
        assert client.count("Patient", {"identifier": f"{MRN_SYSTEM}|{key}"}) == 1
        assert n_observations(client, key) == 2
    patient0 = client.read("Patient", rid(f"{run_key}-0", "Patient"))
    assert patient0 is not None and patient0["gender"] == "male"  # seed=1 content
    assert client.count("Organization", {"_id": org["id"]}) == 1
    again = push(client, [*bundles[1:], later], concurrency=6)
    assert again.ok and again.totals()["resources"]["created"] == 0
    assert again.totals()["resources"]["updated"] == 0


def test_dry_run_writes_nothing(client: FhirClient, run_key: str) -> None:
    b = pb(run_key)
    report = push(client, [b], dry_run=True)
    assert report.ok and report.dry_run
    assert report.totals()["resources"]["created"] == 6
    assert set(versions(client, b).values()) == {None}


def test_batch_mode_is_per_entry(client: FhirClient, run_key: str) -> None:
    b = pb(run_key, observations=2)
    b.bundle["entry"][-1]["resource"]["effectiveDateTime"] = "yesterday"
    report = push(client, [b], mode="batch")
    p = report.patients[0]
    assert p.status == "failed" and p.failed == 1 and p.created == 5
    assert p.resource == refs(b)[-1]
    v = versions(client, b)
    assert v.pop(refs(b)[-1]) is None
    assert set(v.values()) == {"1"}


class TrackingSession(requests.Session):
    """Counts transactions in flight per patient (and overall); the server is untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.per_patient: dict[str, int] = {}
        self.max_per_patient = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.transactions = 0

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        body = kwargs.get("data") or b""
        patients = set(re.findall(rb"Patient/([0-9a-f-]{36})", body)) if b'"transaction"' in body else set()
        with self.lock:
            for p in patients:
                self.per_patient[p.decode()] = self.per_patient.get(p.decode(), 0) + 1
                self.max_per_patient = max(self.max_per_patient, self.per_patient[p.decode()])
            if patients:
                self.transactions += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if patients:
                time.sleep(0.02)  # widen the window in which an overlap would show
            return super().request(method, url, *args, **kwargs)
        finally:
            with self.lock:
                for p in patients:
                    self.per_patient[p.decode()] -= 1
                if patients:
                    self.in_flight -= 1


def test_never_two_writes_of_one_patient_at_once(fhir_base_url: str, run_key: str) -> None:
    session = TrackingSession()
    client = FhirClient(fhir_base_url, auth=None, session=session)
    keys = [f"{run_key}-{i}" for i in range(6)]
    work = []
    for round_ in range(3):  # every patient three times, with different content each time
        for i, k in enumerate(keys):
            b = from_bundle(patient_bundle(k, observations=1, seed=i + round_), f"{k}-{round_}")
            work.append(PatientWork(b.key, [b]))
    # push() refuses a second input of a patient; push_many (what sync and push run on) must still
    # serialise several work items of one patient, in order, when a caller gives them
    results = push_many(client, iter(work), concurrency=6)
    assert len(results) == 6 and all(r.status != "failed" for r in results)
    assert all(len(r.sources) == 3 for r in results)
    assert session.max_in_flight > 1  # patients really did overlap...
    assert session.max_per_patient == 1  # ...but never two transactions of the same patient
    for i, k in enumerate(keys):
        p = client.read("Patient", rid(k, "Patient"))
        assert p is not None and p["birthDate"] == patient_bundle(k, seed=i + 2)["entry"][0]["resource"]["birthDate"]


def test_large_history_stays_one_transaction(fhir_base_url: str, run_key: str) -> None:
    session = TrackingSession()
    client = FhirClient(fhir_base_url, auth=None, session=session)
    b = pb(run_key, observations=450)  # 454 resources
    report = push(client, [b])
    assert report.ok, report.to_json()
    assert report.totals()["resources"]["created"] == 454
    # one /metadata, three read-only batches of at most 200 GETs, and a single transaction
    assert report.requests == 5
    assert session.transactions == 1
    assert n_observations(client, run_key) == 450


def test_interruption_starts_no_further_patient(client: FhirClient, run_key: str) -> None:
    keys = [f"{run_key}-{i}" for i in range(10)]
    seen: list[str] = []

    def interrupt(result: object) -> None:
        seen.append("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        push(client, [pb(k, observations=1) for k in keys], concurrency=2, on_result=interrupt)
    on_server = [k for k in keys if client.read("Patient", rid(k, "Patient")) is not None]
    # the finished one plus at most the one still in flight; every patient is whole or absent
    assert 1 <= len(on_server) <= 3
    for k in keys:
        v = set(versions(client, pb(k, observations=1)).values())
        assert v in ({"1"}, {None})
