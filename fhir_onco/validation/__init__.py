"""Validation: bundle integrity, structure, profile conformance and clinical plausibility.

Every layer reports `Issue`s with a file and a FHIRPath-like location; nothing raises on bad data.
"""

from __future__ import annotations

from typing import Any

from fhir_onco.validation.bundle import check_bundle
from fhir_onco.validation.plausibility import check_plausibility
from fhir_onco.validation.report import Issue, Report, Severity
from fhir_onco.validation.structural import check_structure

__all__ = ["Issue", "Report", "Severity", "validate_bundle", "validate_resource"]


def validate_resource(resource: dict[str, Any], location: str = "resource", report: Report | None = None) -> Report:
    report = report if report is not None else Report()
    check_structure(resource, location, report)
    return report


def validate_bundle(bundle: dict[str, Any], source: str = "<bundle>") -> Report:
    """All layers for one patient bundle."""
    report = Report()
    check_bundle(bundle, source, report)
    for i, entry in enumerate(bundle.get("entry") or []):
        if isinstance(entry.get("resource"), dict):
            check_structure(entry["resource"], f"{source}: Bundle.entry[{i}].resource", report)
    check_plausibility(bundle, source, report)
    return report
