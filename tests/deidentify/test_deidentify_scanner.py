"""The leak scanner must catch deliberately leaky inputs, each kind on its own, and say where -
never what the leaked value was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhir_onco.deidentify import Scanner, SourceSecrets, load_policy

PID = "0b9a3c52-7f58-4d7e-8f0e-2a7d3b7c9e11"


def _patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PID, "gender": "female", "birthDate": "1961", **extra}


def _observation(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "obs-1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "97509-4"}]},
            "subject": {"reference": f"Patient/{PID}"}, "effectiveDateTime": "2021-03-04", **extra}


def _kinds(resource: dict[str, Any], secrets: SourceSecrets | None = None) -> set[str]:
    return {leak.kind for leak in Scanner(load_policy(None), secrets).scan_resource(resource, "out.json")}


def test_clean_resources_pass() -> None:
    assert _kinds(_patient(identifier=[{"system": "urn:pseudonym", "value": "P-abcdefghijk234567"}])) == set()
    assert _kinds(_observation(valueCodeableConcept={"text": "complete response"})) == set()


@pytest.mark.parametrize(("resource", "kind"), [
    (_patient(name=[{"family": "Petrova", "given": ["Anna"]}]), "name of a person"),
    (_patient(telecom=[{"system": "phone", "value": "x"}]), "telecom of a person"),
    (_patient(address=[{"city": "Kazan", "state": "Tatarstan"}]), "address of a person"),
    (_patient(birthDate="1961-04-17"), "exact date of birth"),
    (_observation(note=[{"text": "stable"}]), "free text (note)"),
    (_observation(valueString="told her sister"), "free text"),
    (_observation(valueCodeableConcept={"text": "came back from Sochi worse"}), "free text"),
    (_observation(performer=[{"reference": "Practitioner/p1", "display": "Dr Sidorov"}]), "free text"),
    (_observation(text={"status": "generated", "div": "<div>x</div>"}), "free text (narrative)"),
    (_observation(component=[{"code": {"text": "complete response"}, "valueString": "+7 (916) 555-12-34"}]),
     "phone number pattern"),
    (_observation(valueString="call 8 916 555 12 34"), "phone number pattern"),
    (_observation(valueString="mail a.petrova@example.ru"), "e-mail address pattern"),
    (_observation(valueString="СНИЛС 112-233-445 95"), "SNILS pattern"),
    (_observation(valueString="паспорт 45 08 123456"), "passport number pattern"),
    (_observation(valueString="полис ОМС 7700001234567890"), "policy number pattern"),
    (_observation(extension=[{"url": "https://example.org/unknown", "valueString": "anything"}]), "free text"),
])
def test_each_kind_of_leak_is_caught(resource: dict[str, Any], kind: str) -> None:
    assert kind in _kinds(resource)


def test_original_identifiers_ids_and_birth_dates_given_the_source() -> None:
    source = SourceSecrets()
    source.add_resource({"resourceType": "Patient", "id": PID, "birthDate": "1961-04-17",
                         "identifier": [{"system": "urn:mrn", "value": "MRN-778812"}]})
    assert "original resource id" in _kinds(_patient(), source)
    assert "reference to an original resource id" in _kinds(_observation(), source)
    assert "original identifier" in _kinds(_observation(identifier=[{"system": "urn:x", "value": "MRN-778812"}]),
                                           source)
    leaked_date = _observation(extension=[{"url": "https://fhir-onco.org/fhir/StructureDefinition/source-date",
                                           "valueString": "17.04.1961"}])
    assert "original date of birth" in _kinds(leaked_date, source)


def test_messages_never_carry_the_value(tmp_path: Path) -> None:
    path = tmp_path / "leaky.ndjson"
    path.write_text(json.dumps(_observation(valueString="mail a.petrova@example.ru")) + "\n", encoding="utf-8")
    leaks = Scanner(load_policy(None)).scan_paths([tmp_path])
    assert leaks and all("petrova" not in leak.to_text() for leak in leaks)
    assert leaks[0].location.startswith(f"{path}:1: Observation/obs-1")


def test_unreadable_output_is_not_called_clean(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"resourceType": "Patient", "id": "x", "id": "y"}', encoding="utf-8")
    (tmp_path / "Patient.ndjson").write_text("{not json}\n", encoding="utf-8")
    leaks = Scanner(load_policy(None)).scan_paths([tmp_path])
    assert sorted(leak.kind for leak in leaks) == ["not readable, so not checked"] * 2
