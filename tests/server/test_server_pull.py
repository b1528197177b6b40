"""pull against a real FHIR server: $everything and the search fallback agree with what was pushed."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_onco.server.client import FhirClient
from fhir_onco.server.errors import PatientError
from fhir_onco.server.inputs import from_bundle
from fhir_onco.server.pull import pull_patient
from fhir_onco.server.push import push
from fhir_onco.server.synthetic import MRN_SYSTEM, entry, patient_bundle, rid


def pushed_patient(client: FhirClient, key: str, observations: int = 3) -> dict[str, Any]:
    b = patient_bundle(key, observations=observations)
    org = {"resourceType": "Organization", "id": rid(key, "Organization"), "name": "Onco Clinic"}
    doc = {"resourceType": "Practitioner", "id": rid(key, "Practitioner"), "active": True}
    b["entry"][0]["resource"]["managingOrganization"] = {"reference": f"Organization/{org['id']}"}
    b["entry"][2]["resource"]["performer"] = [{"actor": {"reference": f"Practitioner/{doc['id']}"}}]
    b["entry"] += [entry(org), entry(doc)]
    assert push(client, [from_bundle(b, key)]).ok
    return b


@pytest.mark.parametrize("use_everything", [None, False], ids=["auto", "search-fallback"])
def test_pull_returns_exactly_what_was_pushed(client: FhirClient, run_key: str, use_everything: bool | None) -> None:
    b = pushed_patient(client, run_key)
    pushed_patient(client, f"{run_key}-other")  # must not leak into the result
    result = pull_patient(client, rid(run_key, "Patient"), use_everything=use_everything)
    got = [f"{r['resourceType']}/{r['id']}" for r in result.resources]
    assert got[0] == f"Patient/{rid(run_key, 'Patient')}"
    assert sorted(got) == sorted(e["request"]["url"] for e in b["entry"])
    if use_everything is False or not client.server_info().patient_everything:
        assert result.method == "search"
    else:
        assert result.method == "everything"
    sent = {e["request"]["url"]: e["resource"] for e in b["entry"]}
    for r in result.resources:
        ours = sent[f"{r['resourceType']}/{r['id']}"]
        assert {k: v for k, v in r.items() if k != "meta"} == ours
    bundle = result.to_bundle()
    assert bundle["type"] == "collection" and len(bundle["entry"]) == len(got)
    assert result.counts()["Observation"] == 3


def test_pull_by_identifier(client: FhirClient, run_key: str) -> None:
    pushed_patient(client, run_key, observations=1)
    result = pull_patient(client, f"{MRN_SYSTEM}|{run_key}")
    assert result.patient == rid(run_key, "Patient")


def test_pull_unknown_patient(client: FhirClient, run_key: str) -> None:
    with pytest.raises(PatientError, match="no Patient has that server id or identifier value"):
        pull_patient(client, rid(run_key, "nobody"))
    with pytest.raises(PatientError) as info:
        pull_patient(client, f"{MRN_SYSTEM}|{run_key}-secret-mrn")
    assert "secret-mrn" not in str(info.value)
