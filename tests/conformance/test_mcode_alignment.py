"""Our golden resources against the real HL7 mCODE STU4 profiles their profiles align with.

Every deviation must be documented (tests/conformance/data/mcode-deviations.csv, docs/profiles.md);
skipped only when the npm registry cannot be reached to fetch the package.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from fhir_onco.packages import MCODE, PackageUnavailable, fhir_package
from fhir_onco.validation.mcode import mcode_deviations, mcode_validator

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "examples" / "golden").glob("*.json"))
DOCUMENTED = Path(__file__).parent / "data" / "mcode-deviations.csv"


def _documented() -> dict[tuple[str, str, str], dict[str, str]]:
    with DOCUMENTED.open(encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {(r["mcode_profile"], r["rule"], r["element"]): r for r in rows}


@pytest.fixture(scope="module")
def validator() -> Any:
    try:
        package = fhir_package(*MCODE)
    except PackageUnavailable as exc:
        pytest.skip(f"mCODE package not available (npm registry unreachable?): {exc}")
    return mcode_validator(package)


def _key(issue: Any) -> tuple[str, str, str]:
    return ((issue.profile or "").rsplit("/", 1)[-1], issue.rule or "", issue.element or "")


def test_every_mcode_deviation_is_documented(validator: Any) -> None:
    found: dict[tuple[str, str, str], str] = {}
    for path in GOLDEN:
        for issue in mcode_deviations(json.loads(path.read_text("utf-8")), validator, path.name):
            found.setdefault(_key(issue), f"{issue.location}: {issue.message}")
    documented = _documented()
    undocumented = {k: v for k, v in found.items() if k not in documented}
    assert not undocumented, "deviations from mCODE STU4 not documented:\n" + "\n".join(
        f"{k}: {v}" for k, v in undocumented.items())
    stale = set(documented) - set(found)
    assert not stale, f"documented deviations no longer found (remove them): {sorted(stale)}"


def test_the_check_is_live(validator: Any) -> None:
    """Fixing a documented deviation in an instance removes it, so the check reads real profiles."""
    bundle = json.loads(GOLDEN[0].read_text("utf-8"))
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    before = {_key(i) for i in mcode_deviations(bundle, validator)}
    assert ("mcode-cancer-patient", "cardinality", "Patient.name") in before
    patient["name"] = [{"family": "Test"}]
    after = {_key(i) for i in mcode_deviations(bundle, validator)}
    assert ("mcode-cancer-patient", "cardinality", "Patient.name") not in after
    patient.pop("gender")  # 1..1 in CancerPatient (US Core): an undocumented deviation appears
    assert ("mcode-cancer-patient", "cardinality", "Patient.gender") in {
        _key(i) for i in mcode_deviations(bundle, validator)}
