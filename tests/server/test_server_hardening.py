"""Secrets and patient data stay out of messages; files are private; bad input never reaches the server.

`responses` is used only to inject faults (a server that echoes our headers and patient data back,
TLS failures, redirects); the rest talks to the real server.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import typer
from typer.testing import CliRunner

from fhir_onco.cli.server_cmds import register
from fhir_onco.server.bulk import ExportError, export_resources
from fhir_onco.server.client import FhirClient, RetryPolicy
from fhir_onco.server.errors import (
    ClientError,
    ResponseFormatError,
    TransportError,
    redact,
    show_server_diagnostics,
)
from fhir_onco.server.synthetic import MRN_SYSTEM, patient_bundle, rid

BASE = "http://fhir.test/fhir"
SECRET_TOKEN = "sentinel-token-7f3a9c1d2e4b5a6f8091a2b3c4d5e6f7"
SECRET_BIRTH = "1957-03-14"
CAPS = {
    "resourceType": "CapabilityStatement",
    "fhirVersion": "4.0.1",
    "rest": [
        {
            "mode": "server",
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "operation": [{"name": "export"}],
            "resource": [{"type": "Patient", "interaction": [{"code": "search-type"}]}],
        }
    ],
}


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture(autouse=True)
def _diagnostics_off() -> Any:
    show_server_diagnostics(False)
    yield
    show_server_diagnostics(False)


def _echo_everything(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
    """A hostile server: its error text quotes our Authorization header and the patient's data."""
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
    birth = re.search(r'"birthDate":"([^"]+)"', body)
    text = f"rejected; headers: Authorization: {request.headers.get('Authorization')}; birthDate {birth and birth[1]}"
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": text, "expression": ["Patient.birthDate"]}],
    }
    return 400, {"Content-Type": "application/fhir+json"}, json.dumps(outcome)


def _echo_server() -> None:
    responses.get(f"{BASE}/metadata", json=CAPS)
    batch_answer = {"resourceType": "Bundle", "type": "batch-response", "entry": []}

    def reads(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body or b"{}")
        if sent.get("type") == "batch":
            entries = [{"response": {"status": "404 Not Found"}} for _ in sent.get("entry") or []]
            return 200, {}, json.dumps({**batch_answer, "entry": entries})
        return _echo_everything(request)

    responses.add_callback(responses.POST, BASE, callback=reads)


@responses.activate
@pytest.mark.parametrize("diagnostics", [False, True])
def test_echoing_server_leaks_neither_token_nor_patient_data(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, diagnostics: bool
) -> None:
    _echo_server()
    b = patient_bundle("leak", observations=1)
    b["entry"][0]["resource"]["birthDate"] = SECRET_BIRTH
    (tmp_path / "p.json").write_text(json.dumps(b))
    monkeypatch.setenv("FHIR_ONCO_TOKEN", SECRET_TOKEN)
    args = ["push", str(tmp_path / "p.json"), "--server", BASE, "--json"]
    res = CliRunner().invoke(cli, args + (["--server-diagnostics"] if diagnostics else []))
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    out = res.output
    assert SECRET_TOKEN not in out and SECRET_TOKEN[:16] not in out
    assert "error/invalid at Patient.birthDate" in out  # what the user can act on
    if diagnostics:
        assert "[redacted]" in out and "rejected" in out  # shown on request, credentials removed
    else:
        assert SECRET_BIRTH not in out and "rejected" not in out


def test_redact_removes_credential_shaped_text() -> None:
    text = (
        "Authorization: Bearer abc.def.ghi; Cookie: sid=42; password=hunter2 "
        '"client_secret": "s3cr3t" token=XYZ123abc eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig '
        "key 0123456789abcdef0123456789abcdef01 and Basic dXNlcjpwYXNz at Patient.birthDate"
    )
    out = redact(text)
    for secret in (
        "abc.def.ghi",
        "sid=42",
        "hunter2",
        "s3cr3t",
        "XYZ123abc",
        "eyJhbGci",
        "0123456789abcdef01",
        "dXNlcjpwYXNz",
    ):
        assert secret not in out, secret
    assert "Patient.birthDate" in out  # locations survive


@responses.activate
def test_tls_error_is_not_retried_and_names_the_host() -> None:
    responses.get(f"{BASE}/Patient/p1", body=requests.exceptions.SSLError("certificate verify failed"))
    sleeps: list[float] = []
    fc = FhirClient(BASE, auth=None, retry=RetryPolicy(max_attempts=5), sleep=sleeps.append)
    with pytest.raises(TransportError, match=r"TLS verification of fhir\.test failed"):
        fc.read("Patient", "p1")
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_cross_origin_redirect_is_not_followed() -> None:
    responses.get(f"{BASE}/Patient/p1", status=302, headers={"Location": "http://evil.test/fhir/Patient/p1"})
    evil = responses.get("http://evil.test/fhir/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    fc = FhirClient(BASE, auth=None)
    with pytest.raises(ResponseFormatError, match=r"redirect to another origin \(evil.test\)"):
        fc.read("Patient", "p1")
    assert evil.call_count == 0
    # within the origin a redirect is followed
    responses.get(f"{BASE}/Patient/p2", status=301, headers={"Location": "/fhir/Patient/p3"})
    responses.get(f"{BASE}/Patient/p3", json={"resourceType": "Patient", "id": "p3"})
    assert fc.read("Patient", "p2") == {"resourceType": "Patient", "id": "p3"}


@pytest.mark.parametrize(
    "content",
    ['{"token": ', "[1, 2]", '{"token": 5}', "\udcff", '{"nothing": "here"}'],
    ids=["truncated", "not-object", "not-string", "not-utf8", "no-credentials"],
)
def test_malformed_credentials_file_is_a_usage_error(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    creds = tmp_path / "creds.json"
    creds.write_bytes(content.encode("utf-8", "surrogateescape"))
    creds.chmod(0o600)
    (tmp_path / "p.json").write_text(json.dumps(patient_bundle("c", observations=1)))
    monkeypatch.setenv("FHIR_ONCO_CREDENTIALS_FILE", str(creds))
    for cmd in (["push", str(tmp_path / "p.json")], ["sync", str(tmp_path)], ["pull", "--patient", "x"]):
        res = CliRunner().invoke(cli, [*cmd, "--server", "http://127.0.0.1:9/fhir"])
        assert res.exit_code == 2, (cmd, res.output)
        assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
        assert "credentials" in res.output


@responses.activate
def test_export_polls_with_retry_after_and_refuses_foreign_files_needing_our_token() -> None:
    responses.get(f"{BASE}/metadata", json=CAPS)
    status = f"{BASE}/bulk-status/1"
    responses.get(f"{BASE}/$export", status=202, headers={"Content-Location": status})
    responses.get(status, status=202, headers={"Retry-After": "7", "X-Progress": "collecting"})
    responses.get(status, status=202, headers={"Retry-After": "2"})
    manifest = {
        "transactionTime": "2026-01-01T00:00:00Z",
        "requiresAccessToken": True,
        "output": [{"type": "Patient", "url": f"{BASE}/files/Patient.ndjson"}],
    }
    responses.get(status, json=manifest)
    ndjson = "\n".join(json.dumps({"resourceType": "Patient", "id": f"p{i}"}) for i in range(3)) + "\n"
    responses.get(f"{BASE}/files/Patient.ndjson", body=ndjson, content_type="application/fhir+ndjson")
    deleted = responses.delete(status, status=202)
    sleeps: list[float] = []
    fc = FhirClient(BASE, auth=None, sleep=sleeps.append)
    progress: list[str] = []
    got = list(export_resources(fc, on_progress=progress.append))
    assert [r["id"] for r in got] == ["p0", "p1", "p2"]
    assert sleeps == [7.0, 2.0] and progress == ["collecting"]
    assert deleted.call_count == 1  # the server may clean up
    kickoff = responses.calls[1].request
    assert kickoff.headers["Prefer"] == "respond-async"

    responses.replace(
        responses.GET,
        status,
        json={**manifest, "output": [{"type": "Patient", "url": "https://bucket.test/Patient.ndjson"}]},
    )
    foreign = responses.get("https://bucket.test/Patient.ndjson", body=ndjson)
    with pytest.raises(ExportError, match="another origin"):
        list(export_resources(fc))
    assert foreign.call_count == 0


def test_sync_state_and_pulled_files_are_private(
    cli: typer.Typer, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "p.json").write_text(json.dumps(patient_bundle(run_key, observations=1)))
    res = CliRunner().invoke(cli, ["sync", str(src), "--server", fhir_base_url])
    assert res.exit_code == 0, res.output
    state_files = sorted(src.glob(".fhir-onco-sync.sqlite*"))
    assert state_files
    for f in state_files:
        assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f
    out = tmp_path / "pulled.json"
    out.write_text("old")  # an existing file keeps no wider permissions either
    out.chmod(0o644)
    res = CliRunner().invoke(cli, ["pull", "--patient", rid(run_key, "Patient"), "-o", str(out), "-s", fhir_base_url])
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_push_runs_the_plausibility_checks_of_map(
    cli: typer.Typer, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    b = patient_bundle(run_key, observations=2)
    b["entry"][0]["resource"]["birthDate"] = "2100-01-01"  # born after everything happened
    (tmp_path / "bad.json").write_text(json.dumps(b))
    good = patient_bundle(f"{run_key}-ok", observations=1)
    (tmp_path / "good.json").write_text(json.dumps(good))
    res = CliRunner().invoke(cli, ["push", str(tmp_path), "--server", fhir_base_url, "--dry-run", "--json"])
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["totals"]["patients"]["total"] == 1  # only the good one was planned
    assert len(report["input_errors"]) == 1
    assert "bad.json" in report["input_errors"][0] and "implausible" in report["input_errors"][0]
    assert report["totals"]["resources"]["created"] == len(good["entry"])  # none of the bad patient's
    res = CliRunner().invoke(cli, ["push", str(tmp_path), "--server", fhir_base_url])
    assert res.exit_code == 1
    with FhirClient(fhir_base_url, auth=None) as client:
        assert client.read("Patient", rid(run_key, "Patient")) is None  # nothing of it written
        assert client.read("Patient", rid(f"{run_key}-ok", "Patient")) is not None


def test_pull_by_bare_identifier_value_and_state_by_identifier(
    cli: typer.Typer, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "p.json").write_text(json.dumps(patient_bundle(run_key, observations=1)))
    assert CliRunner().invoke(cli, ["sync", str(src), "--server", fhir_base_url]).exit_code == 0
    state = src / ".fhir-onco-sync.sqlite"
    for who in (run_key, f"{MRN_SYSTEM}|{run_key}"):  # a value without system, unique on the server
        res = CliRunner().invoke(
            cli, ["pull", "--patient", who, "--state", str(state), "--server", fhir_base_url, "--no-everything"]
        )
        assert res.exit_code == 0, res.output
        assert f"Patient/{rid(run_key, 'Patient')}" in res.stderr
    with FhirClient(fhir_base_url, auth=None) as client:
        with pytest.raises(Exception, match="no Patient") as info:
            from fhir_onco.server.pull import resolve_patient

            resolve_patient(client, f"{run_key}-nobody")
        assert f"{run_key}-nobody" not in str(info.value)  # the value is patient data


def test_client_error_text_is_code_and_location_only(client: FhirClient, run_key: str) -> None:
    with pytest.raises(ClientError) as info:
        client.put({"resourceType": "Patient", "id": rid(run_key, "p"), "birthDate": "1999-99-99"})
    shown = str(info.value)
    assert shown.endswith("HTTP 400: error/structure at Patient.birthDate") or "error/" in shown
    show_server_diagnostics(True)
    # the server's own words only on request (here they do not quote the value; the echo test covers that)
    assert len(str(info.value)) > len(shown)


@responses.activate
def test_pull_says_what_an_ignoring_server_did_not_return() -> None:
    """A server that drops _revinclude, and ignores `subject` on AdverseEvent (as sekmet does)."""
    from fhir_onco.server.pull import pull_patient

    caps = {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {"type": t, "interaction": [{"code": "search-type"}], "searchRevInclude": ["Observation:subject"]}
                    for t in ("Patient", "Observation", "AdverseEvent")
                ],
            }
        ],
    }
    patient = {"resourceType": "Patient", "id": "p1"}
    obs = {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}}
    ae_other = {"resourceType": "AdverseEvent", "id": "a9", "subject": {"reference": "Patient/someone-else"}}

    def searchset(self_url: str, *resources: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "self", "url": self_url}],
            "entry": [{"resource": r} for r in resources],
        }

    responses.get(f"{BASE}/metadata", json=caps)
    responses.get(f"{BASE}/Patient/p1", json=patient)
    responses.get(f"{BASE}/Patient", json=searchset(f"{BASE}/Patient?_id=p1", patient))  # _revinclude dropped
    responses.get(f"{BASE}/Observation", json=searchset(f"{BASE}/Observation?subject=Patient/p1", obs))
    with FhirClient(BASE, auth=None) as fc:
        fc.capabilities()
        # sekmet-like: AdverseEvent searched, `subject` silently ignored -> everybody's AEs
        caps["rest"][0]["resource"][0]["searchRevInclude"] = ["Observation:subject", "AdverseEvent:subject"]
        fc._capabilities, fc._info = caps, None
        responses.get(f"{BASE}/AdverseEvent", json=searchset(f"{BASE}/AdverseEvent", ae_other))
        result = pull_patient(fc, "p1", use_everything=False)
    got = {f"{r['resourceType']}/{r['id']}" for r in result.resources}
    assert got == {"Patient/p1", "Observation/o1"}  # per-type fallback found the observation; no foreign AE
    assert "Patient: the server ignored _revinclude: searched type by type" in result.notes
    assert "AdverseEvent: the server ignored subject; not searched" in result.notes
    assert any(n.startswith("not fetched") and "AdverseEvent" in n for n in result.notes)
