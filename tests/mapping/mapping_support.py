"""Shared helpers of tests/mapping (a uniquely named module: conftest.py is not importable)."""

from __future__ import annotations

import copy
from typing import Any

from fhir_onco.validation.report import Report

PATIENT = {"identifiers": [{"system": "urn:test:mrn", "value": "p1"}], "sex": "female"}
UCUM = "http://unitsofmeasure.org"
SCT = "http://snomed.info/sct"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
LOINC = "http://loinc.org"
SD = "https://fhir-onco.org/fhir/StructureDefinition/"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"


class Mapped:
    """A mapped bundle with lookups by type, by id and by reference."""

    def __init__(self, bundle: dict[str, Any], report: Report):
        self.bundle = bundle
        self.report = report
        self.by_ref = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
                       for e in bundle["entry"]}

    def all(self, resource_type: str, profile: str | None = None) -> list[dict[str, Any]]:
        out = [e["resource"] for e in self.bundle["entry"] if e["resource"]["resourceType"] == resource_type]
        if profile:
            out = [r for r in out if r["meta"]["profile"] == [SD + profile]]
        return out

    def one(self, resource_type: str, profile: str | None = None) -> dict[str, Any]:
        found = self.all(resource_type, profile)
        assert len(found) == 1, f"expected one {resource_type} {profile or ''}, got {len(found)}"
        return found[0]

    def get(self, ref: dict[str, Any]) -> dict[str, Any]:
        """The entry a reference points to; fails when it does not resolve inside the bundle."""
        assert ref["reference"] in self.by_ref, f"unresolved reference {ref['reference']}"
        return self.by_ref[ref["reference"]]

    def ref(self, resource: dict[str, Any]) -> str:
        return f"{resource['resourceType']}/{resource['id']}"


def case_data(**sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"patient": copy.deepcopy(PATIENT)}
    data.update(copy.deepcopy(sections))
    return data


def ext(resource: dict[str, Any], name: str) -> list[Any]:
    """Values of the extensions with URL `name` (ours, when not absolute)."""
    url = name if name.startswith("http") else SD + name
    out = []
    for e in resource.get("extension", []):
        if e["url"] == url:
            value = [v for k, v in e.items() if k.startswith("value")]
            out.append(value[0] if value else e)
    return out


def codes(cc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in cc.get("coding", [])}


def assert_round_trip(m: Mapped, data: dict[str, Any]) -> None:
    """The bundle validates, reads back without warnings, and gives the case it was mapped from."""
    from fhir_onco.case import parse_case
    from fhir_onco.mappings.reverse import read_bundle
    from fhir_onco.validation import validate_bundle

    report = validate_bundle(m.bundle, "x")
    assert report.ok, report.to_text()
    result = read_bundle(m.bundle)
    assert result.warnings == []
    assert result.case.model_dump() == parse_case(data).model_dump()
