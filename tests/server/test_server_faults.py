"""Fault injection with `responses` (only here: everything else talks to a real server)."""

from __future__ import annotations

import email.utils
import json
import random
import time
from typing import Any

import pytest
import requests
import responses
from urllib3.exceptions import NewConnectionError

from fhir_onco.server.auth import ClientCredentialsAuth
from fhir_onco.server.client import FhirClient, RetryPolicy, describe_url
from fhir_onco.server.errors import (
    CapabilityError,
    ClientError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from fhir_onco.server.synthetic import patient_bundle

BASE = "http://fhir.test/fhir"
OK_PATIENT = {"resourceType": "Patient", "id": "p1"}
OO = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "exception", "diagnostics": "database is on fire"}],
}
HTML_502 = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
    + "<p>nginx</p>" * 200
    + "</body></html>"
)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fc(sleeps: Sleeps) -> FhirClient:
    return FhirClient(
        BASE,
        auth=None,
        retry=RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_max=4.0),
        sleep=sleeps,
        rng=random.Random(7),
    )


def tx_response(n: int) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": {"status": "201 Created"}}] * n,
    }


@responses.activate
def test_429_retry_after_seconds_is_honoured(fc: FhirClient, sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": "3"})
    responses.get(f"{BASE}/Patient/p1", json=OK_PATIENT)
    assert fc.read("Patient", "p1") == OK_PATIENT
    assert sleeps == [3.0]
    assert fc.stats.retries == 1


@responses.activate
def test_429_retry_after_http_date(fc: FhirClient, sleeps: Sleeps) -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    responses.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": when})
    responses.get(f"{BASE}/Patient/p1", json=OK_PATIENT)
    assert fc.read("Patient", "p1") == OK_PATIENT
    assert len(sleeps) == 1 and 3.0 <= sleeps[0] <= 5.5


@responses.activate
def test_429_retry_after_too_long_is_not_waited_for(fc: FhirClient, sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(ClientError) as info:
        fc.read("Patient", "p1")
    assert info.value.status == 429 and info.value.retry_after == 3600
    assert sleeps == []


@responses.activate
def test_429_on_non_idempotent_post_is_retried(fc: FhirClient, sleeps: Sleeps) -> None:
    bundle = patient_bundle("k", observations=0)
    bundle["entry"][0]["request"] = {"method": "POST", "url": "Patient"}
    responses.post(BASE, status=429, headers={"Retry-After": "1"})
    responses.post(BASE, json=tx_response(4))
    fc.transaction(bundle)
    assert sleeps == [1.0]


@responses.activate
def test_503_retried_with_growing_jittered_backoff(fc: FhirClient, sleeps: Sleeps) -> None:
    for _ in range(3):
        responses.get(f"{BASE}/Patient/p1", status=503, json=OO)
    responses.get(f"{BASE}/Patient/p1", json=OK_PATIENT)
    assert fc.read("Patient", "p1") == OK_PATIENT
    assert len(sleeps) == 3
    for n, s in enumerate(sleeps, start=1):
        d = min(4.0, 0.5 * 2 ** (n - 1))
        assert d / 2 <= s <= d
    assert sleeps[0] < sleeps[2]


@responses.activate
def test_503_exhausted_raises_with_server_text(fc: FhirClient, sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/Patient/p1", status=503, json=OO)
    with pytest.raises(ServerError, match="error/exception") as info:
        fc.read("Patient", "p1")
    assert "database is on fire" not in str(info.value)  # diagnostics only with --server-diagnostics
    assert info.value.status == 503
    assert len(responses.calls) == 4 and len(sleeps) == 3


@responses.activate
def test_500_is_not_retried(fc: FhirClient, sleeps: Sleeps) -> None:
    responses.get(f"{BASE}/Patient/p1", status=500, json=OO)
    with pytest.raises(ServerError, match="error/exception"):
        fc.read("Patient", "p1")
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_502_transaction_of_puts_is_retried(fc: FhirClient) -> None:
    bundle = patient_bundle("k", observations=1)
    responses.post(BASE, status=502, body=HTML_502, content_type="text/html")
    responses.post(BASE, json=tx_response(5))
    assert fc.transaction(bundle)["type"] == "transaction-response"
    assert len(responses.calls) == 2


@responses.activate
def test_502_transaction_with_post_entry_is_not_retried(fc: FhirClient, sleeps: Sleeps) -> None:
    bundle = patient_bundle("k", observations=1)
    bundle["entry"][1]["request"] = {"method": "POST", "url": "Condition"}
    responses.post(BASE, status=502, body=HTML_502, content_type="text/html")
    with pytest.raises(ServerError) as info:
        fc.transaction(bundle)
    assert len(responses.calls) == 1 and sleeps == []
    msg = str(info.value)
    assert "502 Bad Gateway" in msg and "HTML" in msg
    assert len(msg) < 400  # the page is summarised, not dumped


@responses.activate
def test_read_timeout_get_is_retried(fc: FhirClient) -> None:
    responses.get(f"{BASE}/Patient/p1", body=requests.exceptions.ReadTimeout("slow"))
    responses.get(f"{BASE}/Patient/p1", json=OK_PATIENT)
    assert fc.read("Patient", "p1") == OK_PATIENT


@responses.activate
def test_read_timeout_non_idempotent_post_is_not_retried(fc: FhirClient) -> None:
    bundle = patient_bundle("k", observations=0)
    bundle["entry"][0]["request"] = {"method": "POST", "url": "Patient"}
    responses.post(BASE, body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(TransportError, match="not retried"):
        fc.transaction(bundle)
    assert len(responses.calls) == 1


@responses.activate
def test_read_timeout_idempotent_transaction_is_retried(fc: FhirClient) -> None:
    bundle = patient_bundle("k", observations=0)
    responses.post(BASE, body=requests.exceptions.ReadTimeout("slow"))
    responses.post(BASE, json=tx_response(4))
    fc.transaction(bundle)
    assert len(responses.calls) == 2


@responses.activate
def test_refused_connection_is_retried_even_for_post(fc: FhirClient) -> None:
    bundle = patient_bundle("k", observations=0)
    bundle["entry"][0]["request"] = {"method": "POST", "url": "Patient"}
    refused = requests.exceptions.ConnectionError(NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    responses.post(BASE, body=refused)
    responses.post(BASE, json=tx_response(4))
    fc.transaction(bundle)
    assert len(responses.calls) == 2


def test_unreachable_server_gives_transport_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        c = FhirClient(
            f"http://127.0.0.1:{port}/fhir",
            auth=None,
            retry=RetryPolicy(max_attempts=3, backoff_base=0.01),
        )
        with pytest.raises(TransportError, match="3 attempt"):
            c.read("Patient", "p1")


@responses.activate
def test_garbled_json_body(fc: FhirClient) -> None:
    responses.get(f"{BASE}/Patient/p1", body='{"resourceType": "Pat', content_type="application/fhir+json")
    with pytest.raises(ResponseFormatError, match="unreadable body"):
        fc.read("Patient", "p1")


@responses.activate
def test_json_that_is_not_fhir(fc: FhirClient) -> None:
    responses.get(f"{BASE}/Patient/p1", json=[1, 2, 3])
    with pytest.raises(ResponseFormatError, match="not a FHIR resource"):
        fc.read("Patient", "p1")


@responses.activate
def test_html_page_instead_of_metadata(fc: FhirClient) -> None:
    page = "<html><head><title>Welcome to nginx!</title></head><body>hi</body></html>"
    responses.get(f"{BASE}/metadata", body=page, content_type="text/html")
    with pytest.raises(CapabilityError, match="Welcome to nginx"):
        fc.check_server()


@responses.activate
def test_html_error_page_on_400(fc: FhirClient) -> None:
    responses.put(f"{BASE}/Patient/p1", status=400, body="<html><title>Bad request</title></html>")
    with pytest.raises(ClientError, match="Bad request"):
        fc.put(OK_PATIENT)


@responses.activate
def test_wrong_fhir_version_is_refused(fc: FhirClient) -> None:
    responses.get(
        f"{BASE}/metadata",
        json={"resourceType": "CapabilityStatement", "fhirVersion": "5.0.0", "rest": []},
    )
    with pytest.raises(CapabilityError, match=r"5\.0\.0"):
        fc.check_server()


@responses.activate
def test_no_transaction_support_is_refused(fc: FhirClient) -> None:
    cap = {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "rest": [{"mode": "server", "interaction": [{"code": "batch"}]}],
    }
    responses.get(f"{BASE}/metadata", json=cap)
    with pytest.raises(CapabilityError, match="transaction"):
        fc.check_server()
    assert fc.check_server(transaction=False, batch=True).batch


@responses.activate
def test_transaction_answer_with_missing_entries(fc: FhirClient) -> None:
    responses.post(BASE, json=tx_response(2))
    with pytest.raises(ResponseFormatError, match="2 entries for 5"):
        fc.transaction(patient_bundle("k", observations=1))


@responses.activate
def test_next_link_to_other_origin_is_not_followed(fc: FhirClient) -> None:
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "next", "url": "http://evil.test/fhir?page=2"}],
        "entry": [{"resource": OK_PATIENT, "search": {"mode": "match"}}],
    }
    responses.get(f"{BASE}/Patient", json=page)
    with pytest.raises(ResponseFormatError, match="another origin"):
        list(fc.search("Patient"))


@responses.activate
def test_expired_token_is_renewed_once(sleeps: Sleeps) -> None:
    responses.post("http://fhir.test/auth/token", json={"access_token": "t1", "expires_in": 3600})
    responses.post("http://fhir.test/auth/token", json={"access_token": "t2", "expires_in": 3600})
    responses.get(f"{BASE}/Patient/p1", status=401, json=OO)
    responses.get(f"{BASE}/Patient/p1", json=OK_PATIENT)
    auth = ClientCredentialsAuth("c", "s", token_url="http://fhir.test/auth/token")
    c = FhirClient(BASE, auth=auth, sleep=sleeps)
    assert c.read("Patient", "p1") == OK_PATIENT
    sent = [call.request.headers.get("Authorization") for call in responses.calls]
    assert sent[1] == "Bearer t1" and sent[3] == "Bearer t2"
    form = responses.calls[0].request.body
    assert "grant_type=client_credentials" in str(form)


def test_describe_url_hides_query_values() -> None:
    d = describe_url(f"{BASE}/Patient?identifier=urn:mrn|12345&_count=5")
    assert "12345" not in d and "identifier" in d and d.startswith("/fhir/Patient")


@responses.activate
def test_no_patient_data_in_logs(fc: FhirClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="fhir_onco")
    bad = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "value", "diagnostics": "bad birthDate 1961-02-30"}],
    }
    responses.get(f"{BASE}/Patient", status=400, json=bad)
    with pytest.raises(ClientError):
        list(fc.search("Patient", {"identifier": "urn:mrn|MRN-4711", "name": "Doe"}))
    text = caplog.text + json.dumps([r.args for r in caplog.records], default=str)
    assert "MRN-4711" not in text and "Doe" not in text and "1961-02-30" not in text
    assert caplog.records  # something was logged
