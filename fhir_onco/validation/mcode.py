"""Our resources against the real HL7 mCODE STU4 profiles they claim to align with.

Our profiles are not derived from mCODE (see README, "Our profiles vs HL7 mCODE STU4"), so a
resource that meets ours can still miss mCODE. ``mcode_deviations`` validates each resource whose
profile has an mCODE counterpart against that counterpart's StructureDefinition from the published
package (``hl7.fhir.us.mcode`` 4.0.0, fetched with :func:`fhir_onco.packages.fhir_package`), and
returns what mCODE would reject. Every deviation found on our golden bundles is listed with its
reason in tests/conformance/data/mcode-deviations.csv (summarised in docs/profiles.md); the test
fails on any other, so a new one is either fixed or documented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhir_onco.validation.report import Issue, Severity

__all__ = ["COUNTERPARTS", "MCODE_BASE", "mcode_deviations", "mcode_validator"]

MCODE_BASE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
OURS = "https://fhir-onco.org/fhir/StructureDefinition/"

# our profile -> the mCODE STU4 profile(s) it aligns with (README table)
COUNTERPARTS: dict[str, tuple[str, ...]] = {
    "onco-patient": ("mcode-cancer-patient",),
    "onco-primary-cancer-condition": ("mcode-primary-cancer-condition",),
    "onco-secondary-cancer-condition": ("mcode-secondary-cancer-condition",),
    "onco-stage-group": ("mcode-cancer-stage",),
    "onco-medication-administration": ("mcode-cancer-related-medication-administration",),
    "onco-medication-request": ("mcode-cancer-related-medication-request",),
    "onco-disease-status": ("mcode-cancer-disease-status",),
}


def mcode_validator(package: Path) -> Any:
    """A conformance validator that knows R4, our profiles and the mCODE package's definitions."""
    from fhir_onco.packages import package_resources
    from fhir_onco.validation.conformance.validator import ConformanceValidator, profiles_dir

    base = profiles_dir()
    validator = ConformanceValidator.from_dirs(base / "core", base / "package")
    definitions = [r for path, r in package_resources(package) if path.parent == package
                   and r.get("resourceType") in ("StructureDefinition", "ValueSet", "CodeSystem")]
    validator.add_definitions(definitions)
    return validator


def mcode_deviations(bundle: dict[str, Any], validator: Any, source: str = "Bundle") -> list[Issue]:
    """Errors of every entry resource against the mCODE counterparts of the profiles it claims."""
    index = validator.bundle_index(bundle)
    found: list[Issue] = []
    for i, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        meta = resource.get("meta")
        claimed = meta.get("profile") if isinstance(meta, dict) else None
        for profile in claimed if isinstance(claimed, list) else []:
            if not isinstance(profile, str) or not profile.startswith(OURS):
                continue
            for counterpart in COUNTERPARTS.get(profile[len(OURS):], ()):
                issues = validator.validate_resource(resource, MCODE_BASE + counterpart,
                                                     location=f"{source}.entry[{i}].resource",
                                                     bundle_index=index)
                found += [x for x in issues if x.severity in (Severity.ERROR, Severity.FATAL)]
    return found
