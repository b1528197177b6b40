"""Validation: bundle integrity, structure and profile conformance, clinical plausibility.

Every layer reports `Issue`s with a file and a FHIRPath-like location; nothing raises on bad data.
By default (``profiles=True``) structure and profiles are checked by the conformance engine compiled
from the committed StructureDefinition snapshots (R4 core in profiles/core, ours in profiles/package);
with ``profiles=False`` the same engine checks each resource against its base R4 definition only.
"""

from __future__ import annotations

from typing import Any

from fhir_onco.validation.bundle import check_bundle
from fhir_onco.validation.plausibility import check_plausibility
from fhir_onco.validation.report import Issue, Report, Severity

__all__ = ["Issue", "Report", "Severity", "validate_bundle", "validate_resource"]

R4_BASE = "http://hl7.org/fhir/StructureDefinition/"

def _engine() -> Any:
    from fhir_onco.validation.conformance.validator import ConformanceValidator

    return ConformanceValidator.load_default()


def validate_resource(resource: dict[str, Any], location: str = "resource", report: Report | None = None,
                      *, profiles: bool = True, bundle: dict[str, Any] | None = None) -> Report:
    """One resource against the profiles it declares (or its base R4 definition)."""
    report = report if report is not None else Report()
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    profile = None if profiles or not isinstance(rtype, str) else R4_BASE + rtype
    report.extend(_engine().validate_resource(resource, profile, location=location, bundle=bundle))
    return report


def validate_bundle(bundle: dict[str, Any], source: str = "<bundle>", *, profiles: bool = True) -> Report:
    """All layers for one patient bundle."""
    report = Report()
    check_bundle(bundle, source, report)
    for i, entry in enumerate(bundle.get("entry") or []):
        if isinstance(entry.get("resource"), dict):
            validate_resource(entry["resource"], f"{source}: Bundle.entry[{i}].resource", report,
                              profiles=profiles, bundle=bundle)
    check_plausibility(bundle, source, report)
    return report
