"""FhirClient against a real FHIR server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fhir_onco.server.client import FhirClient, bundle_is_idempotent
from fhir_onco.server.errors import (
    CapabilityError,
    ClientError,
    ConfigurationError,
    NotFoundError,
    UnauthorizedError,
)
from fhir_onco.server.synthetic import patient_bundle, rid
from fhir_onco.server.testserver import SekmetServer

ServerFactory = Callable[..., SekmetServer]


def test_metadata_is_r4_with_transactions(client: FhirClient) -> None:
    info = client.check_server()
    assert info.fhir_version.startswith("4.0")
    assert info.transaction
    assert client.capabilities()["resourceType"] == "CapabilityStatement"


def test_wrong_base_url_gives_capability_error(fhir_base_url: str) -> None:
    root = fhir_base_url.rsplit("/", 1)[0] + "/no-such-fhir-base"
    with FhirClient(root, auth=None) as c, pytest.raises(CapabilityError, match="metadata"):
        c.check_server()


def test_base_url_must_be_http() -> None:
    with pytest.raises(ConfigurationError):
        FhirClient("ftp://example.org/fhir", auth=None)


def test_transaction_then_read(client: FhirClient, run_key: str) -> None:
    bundle = patient_bundle(run_key, observations=2)
    assert bundle_is_idempotent(bundle)
    answer = client.transaction(bundle)
    assert answer["type"] == "transaction-response"
    statuses = [e["response"]["status"].split()[0] for e in answer["entry"]]
    assert statuses == ["201"] * 6
    patient = client.read("Patient", rid(run_key, "Patient"))
    assert patient is not None
    assert patient["identifier"][0]["value"] == run_key
    assert client.read("Patient", rid(run_key, "nobody")) is None


def test_search_follows_paging(client: FhirClient, run_key: str) -> None:
    client.transaction(patient_bundle(run_key, observations=25))
    pid = rid(run_key, "Patient")
    pages = list(client.pages("Observation", {"subject": f"Patient/{pid}", "_count": "10"}))
    assert len(pages) == 3
    ids = [r["id"] for r in client.search("Observation", {"subject": f"Patient/{pid}", "_count": "10"})]
    assert len(ids) == 25 == len(set(ids))
    assert set(ids) == {rid(run_key, "Observation", i) for i in range(25)}
    assert client.count("Observation", {"subject": f"Patient/{pid}"}) == 25


def test_failed_transaction_leaves_nothing(client: FhirClient, run_key: str) -> None:
    bundle = patient_bundle(run_key, observations=3)
    bundle["entry"][-1]["resource"]["effectiveDateTime"] = "not-a-date"
    with pytest.raises(ClientError) as info:
        client.transaction(bundle)
    assert 400 <= info.value.status < 500
    assert info.value.server_text  # the server's explanation is kept
    for e in bundle["entry"]:
        r = e["resource"]
        assert client.read(r["resourceType"], r["id"]) is None


def test_error_outcome_is_parsed(client: FhirClient, run_key: str) -> None:
    with pytest.raises(ClientError) as info:
        client.put({"resourceType": "Patient", "id": rid(run_key, "p"), "birthDate": "1999-99-99"})
    err = info.value
    assert err.status in (400, 422)
    assert err.issues, "an OperationOutcome was expected"
    assert "Patient/" in str(err) and "HTTP" in str(err)
    assert "1999-99-99" not in err.what  # request description carries no content


def test_read_missing_type_is_an_error(client: FhirClient) -> None:
    with pytest.raises((NotFoundError, ClientError)):
        client.request("GET", "NoSuchType/1")


# ---------------------------------------------------------------- auth against a real server


def test_bearer_and_basic_auth(own_server: ServerFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    server = own_server(
        extra_settings={
            "server_auth": {
                "types": ["basic", "bearer"],
                "users": {"alice": "s3cret"},
                "tokens": ["tok-123"],
            }
        }
    )
    with FhirClient(server.base_url, auth=None) as anon, pytest.raises(UnauthorizedError):
        anon.read("Patient", "x")
    monkeypatch.setenv("FHIR_ONCO_TOKEN", "tok-123")
    with FhirClient(server.base_url) as c:
        assert c.read("Patient", "x") is None
    monkeypatch.delenv("FHIR_ONCO_TOKEN")
    monkeypatch.setenv("FHIR_ONCO_USERNAME", "alice")
    monkeypatch.setenv("FHIR_ONCO_PASSWORD", "s3cret")
    with FhirClient(server.base_url) as c:
        assert c.read("Patient", "x") is None
    monkeypatch.setenv("FHIR_ONCO_PASSWORD", "wrong")
    with FhirClient(server.base_url) as c, pytest.raises(UnauthorizedError):
        c.read("Patient", "x")


def test_client_credentials_from_file(
    own_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = own_server(
        extra_settings={
            "server_auth": {
                "types": ["smart"],
                "smart_clients": [{"client_id": "onco", "client_secret": "shh", "scopes": "system/*.*"}],
            }
        }
    )
    creds = tmp_path / "creds.json"
    creds.write_text('{"client_id": "onco", "client_secret": "shh", "scope": "system/*.*"}')
    creds.chmod(0o600)
    monkeypatch.setenv("FHIR_ONCO_CREDENTIALS_FILE", str(creds))
    with FhirClient(server.base_url) as c:
        c.transaction(patient_bundle("cc1", observations=1))
        assert c.read("Patient", rid("cc1", "Patient")) is not None
        assert c.auth is not None and "shh" not in repr(c.auth)
