"""The npm FHIR package fetcher: mCODE STU4 arrives with its snapshots and examples."""

import pytest

from fhir_onco.packages import MCODE, PackageUnavailable, fhir_package, package_resources


def test_mcode_package_has_profiles_with_snapshots_and_examples() -> None:
    try:
        folder = fhir_package(*MCODE)
    except PackageUnavailable as exc:
        pytest.skip(f"npm registry not reachable: {exc}")
    profiles = {r["url"]: r for _, r in package_resources(folder, resource_type="StructureDefinition")}
    primary = profiles["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"]
    assert primary["snapshot"]["element"], "mCODE profiles ship snapshots"
    assert len(list(folder.glob("example/*.json"))) == 179
