"""Bulk Data $export faults the real server does not produce on demand, injected with `responses`:
429 and 5xx while polling, a failed export, error files, a bad line, a slow export, a status URL that
never answers with a manifest, and a Patient-level export that leaves types out with no system-level
$export to fetch them from. The happy path runs against the real server (test_server_bulk.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import responses

from fhir_onco.server.bulk import ExportError, ExportRequest, ExportStats, export_resources
from fhir_onco.server.client import FhirClient
from fhir_onco.server.errors import HttpError, ResponseFormatError

BASE = "http://fhir.test/fhir"
STATUS = f"{BASE}/bulk-status/1"


def caps(*, system: bool = True, group: bool = False, searchable: tuple[str, ...] = ("Patient",)) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [{"type": t, "interaction": [{"code": "search-type"}]} for t in searchable]
    if group:
        resources.append({"type": "Group", "interaction": [{"code": "read"}], "operation": [{"name": "export"}]})
    return {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
            "rest": [{"mode": "server", "operation": [{"name": "export"}] if system else [], "resource": resources}]}


def manifest(*types: str, error: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"transactionTime": "2026-01-01T00:00:00Z", "requiresAccessToken": True,
                           "output": [{"type": t, "url": f"{BASE}/files/{t}.ndjson"} for t in types]}
    if error:
        out["error"] = [{"type": "OperationOutcome", "url": f"{BASE}/files/errors.ndjson"}]
    return out


def ndjson(*resources: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in resources)


PATIENT = {"resourceType": "Patient", "id": "p1"}
AE = {"resourceType": "AdverseEvent", "id": "ae1", "subject": {"reference": "Patient/p1"}}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def fc(sleeps: list[float]) -> FhirClient:
    return FhirClient(BASE, auth=None, sleep=sleeps.append)


def kick_off(path: str = "$export") -> None:
    responses.get(f"{BASE}/{path}", status=202, headers={"Content-Location": STATUS})
    responses.delete(STATUS, status=202)


@responses.activate
def test_429_and_503_while_polling_are_waited_out(fc: FhirClient, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/metadata", json=caps())
    kick_off()
    responses.get(STATUS, status=429, headers={"Retry-After": "4"})  # the client's retry: same poll again
    responses.get(STATUS, status=202, headers={"Retry-After": "3"})
    responses.get(STATUS, status=503, headers={"Retry-After": "1"})
    responses.get(STATUS, json=manifest("Patient"))
    responses.get(f"{BASE}/files/Patient.ndjson", body=ndjson(PATIENT))
    stats = ExportStats()
    assert [r["id"] for r in export_resources(fc, stats=stats)] == ["p1"]
    assert sleeps == [4.0, 3.0, 1.0] and stats.polls == 1 and stats.resources == 1


@responses.activate
def test_a_failed_export_is_an_error_and_still_released(fc: FhirClient) -> None:
    responses.get(f"{BASE}/metadata", json=caps())
    kick_off()
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}
    responses.get(STATUS, status=500, json=outcome)
    with pytest.raises(HttpError) as info:
        list(export_resources(fc, ExportRequest(types=("Patient",))))
    assert info.value.status == 500
    assert responses.calls[-1].request.method == "DELETE"  # the server may clean up what it started


@responses.activate
def test_kick_off_without_a_status_url_is_an_error(fc: FhirClient) -> None:
    responses.get(f"{BASE}/metadata", json=caps())
    responses.get(f"{BASE}/$export", status=200, json={"resourceType": "Bundle", "type": "searchset"})
    with pytest.raises(ExportError, match="without a status URL"):
        list(export_resources(fc))


@responses.activate
def test_a_status_url_answering_200_without_a_manifest_is_an_error(fc: FhirClient) -> None:
    responses.get(f"{BASE}/metadata", json=caps())
    kick_off()
    responses.get(STATUS, json={"resourceType": "OperationOutcome"})
    with pytest.raises(ExportError, match="without a manifest"):
        list(export_resources(fc))


@responses.activate
def test_an_export_slower_than_the_timeout_is_given_up(fc: FhirClient, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/metadata", json=caps())
    kick_off()
    responses.get(STATUS, status=202, headers={"Retry-After": "30", "X-Progress": "12%"})
    with pytest.raises(ExportError, match=r"not complete after 10s \(last progress: 12%\)"):
        list(export_resources(fc, ExportRequest(timeout=10)))
    assert sleeps == []  # the 30 s asked for would pass the deadline: not waited


@responses.activate
def test_error_files_are_noted_by_severity_and_code_only(fc: FhirClient) -> None:
    responses.get(f"{BASE}/metadata", json=caps())
    kick_off()
    responses.get(STATUS, json=manifest("Patient", error=True))
    responses.get(f"{BASE}/files/Patient.ndjson", body=ndjson(PATIENT))
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing", "diagnostics": "Patient Jane Doe-Sentinel failed"}]}
    responses.get(f"{BASE}/files/errors.ndjson", body=ndjson(outcome))
    stats = ExportStats()
    assert [r["id"] for r in export_resources(fc, stats=stats)] == ["p1"]
    assert stats.server_errors == 1 and stats.notes == ["server reported: error/processing"]
    assert "Sentinel" not in " ".join(stats.notes)  # a server's diagnostics may quote patient data


@responses.activate
def test_a_line_that_is_not_a_resource_stops_the_stream(fc: FhirClient) -> None:
    responses.get(f"{BASE}/metadata", json=caps())
    kick_off()
    responses.get(STATUS, json=manifest("Patient"))
    responses.get(f"{BASE}/files/Patient.ndjson", body=ndjson(PATIENT, {"resourceType": "Patient"}))
    with pytest.raises(ResponseFormatError, match="not a FHIR resource with an id"):
        list(export_resources(fc))


@responses.activate
def test_types_left_out_of_a_group_export_without_a_system_export_are_named(fc: FhirClient) -> None:
    """Nothing lost silently: the server cannot search AdverseEvent, so its Group export may leave it
    out, and with no system-level $export there is nowhere to fetch it from - the notes say so."""
    responses.get(f"{BASE}/metadata", json=caps(system=False, group=True, searchable=("Patient", "Condition")))
    kick_off("Group/g1/$export")
    responses.get(STATUS, json=manifest("Patient"))
    responses.get(f"{BASE}/files/Patient.ndjson", body=ndjson(PATIENT))
    stats = ExportStats()
    got = list(export_resources(fc, ExportRequest("group", group="g1", types=("Patient", "AdverseEvent")),
                                stats=stats))
    assert [r["id"] for r in got] == ["p1"]
    assert stats.notes == ["not exported: AdverseEvent (the server does not index these types, so its group-level "
                           "$export leaves them out, and it offers no system-level $export to fetch them from)"]


@responses.activate
def test_a_group_export_that_does_return_an_unindexed_type_is_not_supplemented(fc: FhirClient) -> None:
    responses.get(f"{BASE}/metadata", json=caps(group=True))
    kick_off("Group/g1/$export")
    responses.get(STATUS, json=manifest("Patient", "AdverseEvent"))
    responses.get(f"{BASE}/files/Patient.ndjson", body=ndjson(PATIENT))
    responses.get(f"{BASE}/files/AdverseEvent.ndjson", body=ndjson(AE))
    stats = ExportStats()
    got = list(export_resources(fc, ExportRequest("group", group="g1", types=("Patient", "AdverseEvent")),
                                stats=stats))
    assert [r["id"] for r in got] == ["p1", "ae1"] and stats.notes == []
    assert not any("$export" in c.request.url and "Group" not in c.request.url for c in responses.calls)


class _CountingRaw(io.RawIOBase):
    """A response body that records how far it has been read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        chunk = self.data[self.pos:self.pos + len(buf)]
        buf[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


@responses.activate
def test_export_files_are_streamed_not_read_whole(fc: FhirClient) -> None:
    """The first resource of a 4 MB file comes after one 64 KiB chunk: nothing holds a whole file."""
    responses.get(f"{BASE}/metadata", json=caps())
    kick_off()
    responses.get(STATUS, json=manifest("Observation"))
    data = ndjson(*({"resourceType": "Observation", "id": f"o{i}", "subject": {"reference": "Patient/p1"}}
                    for i in range(50_000))).encode()
    body = _CountingRaw(data)
    responses.get(f"{BASE}/files/Observation.ndjson", body=io.BufferedReader(body))
    stream = export_resources(fc)
    assert next(stream)["id"] == "o0"
    assert body.pos <= 1 << 17 < len(data)
    assert sum(1 for _ in stream) == 49_999 and body.pos == len(data)
