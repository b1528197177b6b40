"""Validation: bundle integrity, structure and profile conformance, clinical plausibility.

Every layer reports `Issue`s with a file and a FHIRPath-like location; nothing raises on bad data.
By default (``profiles=True``) structure and profiles are checked by the conformance engine compiled
from the committed StructureDefinition snapshots (R4 core in profiles/core, ours in profiles/package);
with ``profiles=False`` the same engine checks each resource against its base R4 definition only.
"""

from __future__ import annotations

from typing import Any

from fhir_onco.validation.bundle import check_bundle, well_formed_entries
from fhir_onco.validation.plausibility import check_plausibility
from fhir_onco.validation.report import Issue, Report, Severity

__all__ = ["Issue", "Report", "Severity", "validate_bundle", "validate_resource"]

R4_BASE = "http://hl7.org/fhir/StructureDefinition/"

_ENGINE: Any = None


def _engine() -> Any:
    global _ENGINE
    if _ENGINE is None:
        from fhir_onco.validation.conformance.validator import ConformanceValidator

        _ENGINE = ConformanceValidator.load_default()
    return _ENGINE


def validate_resource(resource: dict[str, Any], location: str = "resource", report: Report | None = None,
                      *, profiles: bool = True, bundle: dict[str, Any] | None = None,
                      bundle_index: Any = None) -> Report:
    """One resource against the profiles it declares (or its base R4 definition)."""
    report = report if report is not None else Report()
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    profile = None if profiles or not isinstance(rtype, str) else R4_BASE + rtype
    report.extend(_engine().validate_resource(resource, profile, location=location, bundle=bundle,
                                              bundle_index=bundle_index))
    return report


def validate_bundle(bundle: dict[str, Any], source: str = "<bundle>", *, profiles: bool = True) -> Report:
    """All layers for one patient bundle."""
    report = Report()
    if not isinstance(bundle, dict):
        report.error(f"{source}: (root)", "expected a Bundle: a JSON object", rule="bundle.shape",
                     code="structure")
        return report
    check_bundle(bundle, source, report)
    if bundle.get("resourceType") != "Bundle":
        return report
    engine = _engine()
    index = engine.bundle_index(bundle)  # built once: per entry it made validation quadratic
    # the Bundle's own elements (type, entry.request.method ...: required bindings, its profile)
    report.extend(engine.validate_bundle_shell(bundle, f"{source}: Bundle", index,
                                               profile=None if profiles else R4_BASE + "Bundle"))
    shape = Report()
    entries = well_formed_entries(bundle, source, shape)
    for i, entry in entries:
        if isinstance(entry.get("resource"), dict):
            validate_resource(entry["resource"], f"{source}: Bundle.entry[{i}].resource", report,
                              profiles=profiles, bundle=bundle, bundle_index=index)
    if shape.ok:  # plausibility reads entries as FHIR shapes them; a malformed bundle is reported above
        check_plausibility(bundle, source, report)
    return report
