"""De-identification of MedicationRequests: authoredOn and the repeating Timing.event move by the patient's
offset like every other date (a written relative date stays as written), the prescriber's identifier is
pseudonymised, and the result still validates and reads back as a case."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from fhir_onco.deidentify import deidentify_bundle
from fhir_onco.fhir import urls
from fhir_onco.mappings.reverse import case_from_bundle
from fhir_onco.validation import validate_bundle

GOLDEN = Path(__file__).resolve().parents[2] / "examples" / "golden" / "mcode-migration-demographics.json"
KEY = b"a-test-key-of-32-bytes-0123456789"


def _requests(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]


def _days(a: str, b: str) -> int:
    return (date.fromisoformat(b) - date.fromisoformat(a)).days


def test_request_dates_shift_by_the_patients_offset_and_the_prescriber_is_pseudonymised() -> None:
    original = json.loads(GOLDEN.read_text(encoding="utf-8"))
    out = deidentify_bundle(original, key=KEY)
    assert validate_bundle(out, GOLDEN.name).ok
    condition = next(e["resource"] for e in original["entry"] if e["resource"]["resourceType"] == "Condition")
    new_condition = next(e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "Condition")
    offset = _days(condition["onsetDateTime"], new_condition["onsetDateTime"])
    assert offset != 0
    before, after = _requests(original), _requests(out)
    assert len(before) == len(after) == 3
    shifted_events = 0
    for old, new in zip(before, after, strict=True):
        if len(old.get("authoredOn", "")) == 10:
            assert _days(old["authoredOn"], new["authoredOn"]) == offset
        old_timing = (old.get("dosageInstruction") or [{}])[0].get("timing", {})
        new_timing = (new.get("dosageInstruction") or [{}])[0].get("timing", {})
        for a, b in zip(old_timing.get("event", []), new_timing.get("event", []), strict=True):
            assert _days(a, b) == offset  # Timing.event is a date like any other
            shifted_events += 1
        assert new_timing.get("_event") == old_timing.get("_event")  # 'day 29@vrd' is an offset: kept
        if "requester" in old:
            assert new["requester"]["type"] == "Practitioner"
            assert new["requester"]["identifier"]["value"] != old["requester"]["identifier"]["value"]
    assert shifted_events == 2
    written = [e for r in after for e in ((r.get("dosageInstruction") or [{}])[0].get("timing", {}).get("_event")
                                          or [])]
    assert written and all(x["extension"][0]["url"] == urls.EXT_SOURCE_DATE for x in written)
    case = case_from_bundle(out)  # still a case: the orders read back, with the shifted dates
    assert [m.id for m in case.medication_requests] == ["rx-vel", "rx-zol", "rx-ond"]


def test_the_check_finds_a_prescriber_id_left_in_the_output() -> None:
    from fhir_onco.deidentify import Scanner, SourceSecrets, load_policy

    original = json.loads(GOLDEN.read_text(encoding="utf-8"))
    secrets = SourceSecrets()
    for e in original["entry"]:
        secrets.add_resource(e["resource"])
    scanner = Scanner(load_policy(None), secrets)
    out = deidentify_bundle(original, key=KEY)
    assert not [leak for r in _requests(out) for leak in scanner.scan_resource(r, "x")]
    leaked = next(r for r in _requests(out) if "requester" in r)
    leaked["requester"]["identifier"]["value"] = "prac-17"  # as the source had it
    assert [leak.kind for leak in scanner.scan_resource(leaked, "x")]
