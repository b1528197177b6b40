"""FhirClient against a real FHIR server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fhir_onco.server.client import FhirClient, bundle_is_idempotent
from fhir_onco.server.errors import (
    AuthenticationError,
    CapabilityError,
    ClientError,
    ConfigurationError,
    NotFoundError,
    UnauthorizedError,
)
from fhir_onco.server.synthetic import patient_bundle, rid
from fhir_onco.server.testserver import SekmetServer


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


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SekmetServer]:
    """A private server that requires basic, static bearer or SMART client-credentials auth."""
    settings = {
        "server_auth": {
            "types": ["basic", "bearer", "smart"],
            "users": {"alice": "s3cret"},
            "tokens": ["tok-123"],
            "smart_clients": [{"client_id": "onco", "client_secret": "shh", "scopes": "system/*.*"}],
        }
    }
    with SekmetServer(tmp_path_factory.mktemp("auth"), extra_settings=settings) as server:
        yield server


def test_bearer_and_basic_auth(auth_server: SekmetServer, monkeypatch: pytest.MonkeyPatch) -> None:
    base = auth_server.base_url
    with FhirClient(base, auth=None) as anon, pytest.raises(UnauthorizedError):
        anon.read("Patient", "x")
    monkeypatch.setenv("FHIR_ONCO_TOKEN", "tok-123")
    with FhirClient(base) as c:
        assert c.read("Patient", "x") is None
    monkeypatch.setenv("FHIR_ONCO_TOKEN", "tok-wrong")
    with FhirClient(base) as c, pytest.raises(UnauthorizedError):
        c.read("Patient", "x")
    monkeypatch.delenv("FHIR_ONCO_TOKEN")
    monkeypatch.setenv("FHIR_ONCO_USERNAME", "alice")
    monkeypatch.setenv("FHIR_ONCO_PASSWORD", "s3cret")
    with FhirClient(base) as c:
        assert c.read("Patient", "x") is None
    monkeypatch.setenv("FHIR_ONCO_PASSWORD", "wrong")
    with FhirClient(base) as c, pytest.raises(UnauthorizedError):
        c.read("Patient", "x")


def test_client_credentials_from_file(
    auth_server: SekmetServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds.json"
    creds.write_text('{"client_id": "onco", "client_secret": "shh", "scope": "system/*.*"}')
    creds.chmod(0o600)
    monkeypatch.setenv("FHIR_ONCO_CREDENTIALS_FILE", str(creds))
    with FhirClient(auth_server.base_url) as c:  # token endpoint found via smart-configuration
        c.transaction(patient_bundle("cc1", observations=1))
        assert c.read("Patient", rid("cc1", "Patient")) is not None
        assert c.auth is not None and "shh" not in repr(c.auth)
    creds.write_text('{"client_id": "onco", "client_secret": "wrong"}')
    with FhirClient(auth_server.base_url) as c, pytest.raises(AuthenticationError, match="refused"):
        c.read("Patient", "x")


def test_credentials_precedence_and_file_checks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from requests.auth import HTTPBasicAuth

    from fhir_onco.server.auth import BearerAuth, ClientCredentialsAuth, auth_from_env

    assert auth_from_env({}) is None
    both = {"FHIR_ONCO_TOKEN": "t", "FHIR_ONCO_USERNAME": "u", "FHIR_ONCO_PASSWORD": "p"}
    assert isinstance(auth_from_env(both), BearerAuth)
    assert isinstance(auth_from_env({"FHIR_ONCO_USERNAME": "u", "FHIR_ONCO_PASSWORD": "p"}), HTTPBasicAuth)
    with pytest.raises(ConfigurationError, match="FHIR_ONCO_PASSWORD"):
        auth_from_env({"FHIR_ONCO_USERNAME": "u"})
    cc = auth_from_env({"FHIR_ONCO_CLIENT_ID": "c", "FHIR_ONCO_CLIENT_SECRET": "xyzzy-secret"})
    assert isinstance(cc, ClientCredentialsAuth) and "xyzzy" not in repr(cc)

    f = tmp_path / "creds.json"
    f.write_text('{"username": "u", "password": "p"}')
    f.chmod(0o644)
    with caplog.at_level("WARNING", logger="fhir_onco"):
        assert isinstance(auth_from_env({"FHIR_ONCO_CREDENTIALS_FILE": str(f)}), HTTPBasicAuth)
    assert "readable by other users" in caplog.text
    f.write_text("not json")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        auth_from_env({"FHIR_ONCO_CREDENTIALS_FILE": str(f)})
    f.write_text('{"user": "typo"}')
    with pytest.raises(ConfigurationError, match="expected"):
        auth_from_env({"FHIR_ONCO_CREDENTIALS_FILE": str(f)})
    with pytest.raises(ConfigurationError, match="cannot read"):
        auth_from_env({"FHIR_ONCO_CREDENTIALS_FILE": str(tmp_path / "missing.json")})
