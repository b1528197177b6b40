"""Conformance corpus: the valid bundle passes; each broken instance fails with the expected rule
at the expected location."""

from __future__ import annotations

import copy
import glob
import json
from pathlib import Path

import pytest

from fhir_onco.validation import validate_bundle
from fhir_onco.validation.conformance import ConformanceValidator
from fhir_onco.validation.report import Severity

from .corpus import PROFILES, all_cases, valid_bundle

ROOT = Path(__file__).resolve().parents[2]
CASES = all_cases()


@pytest.fixture(scope="module")
def v() -> ConformanceValidator:
    return ConformanceValidator.load_default()


def test_corpus_size_and_coverage() -> None:
    assert len(CASES) >= 100
    # every entry profile has an exemplar in the valid bundle; the 16th is the bundle itself
    assert len(PROFILES) == 15, PROFILES
    names = {c.name.split("/")[0] for c in CASES}
    assert set(PROFILES) | {"bundle"} <= names


def test_valid_bundle_passes(v: ConformanceValidator) -> None:
    report = v.validate_bundle(valid_bundle())
    assert report.ok, report.to_text()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_instance(v: ConformanceValidator, case) -> None:  # type: ignore[no-untyped-def]
    bundle = valid_bundle()
    case.mutate(bundle)
    report = v.validate_bundle(bundle)
    errors = [i for i in report if i.severity in (Severity.ERROR, Severity.FATAL)]
    hits = [i for i in errors if i.rule == case.rule
            and (not case.location or i.location == case.location)]
    assert hits, f"expected {case.rule} at {case.location!r}; got:\n" + report.to_text()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_instance_through_the_api(case) -> None:  # type: ignore[no-untyped-def]
    """The path map and `validate` use (fhir_onco.validation.validate_bundle) finds the same
    errors: the Bundle's own elements included, entry by entry with one bundle index."""
    bundle = valid_bundle()
    case.mutate(bundle)
    report = validate_bundle(bundle, "corpus")
    # bundle integrity has its own checker on this path (fhir_onco.validation.bundle), whose rule
    # names differ: there an error at the expected location is enough
    hits = [i for i in report.errors
            if (i.rule == case.rule or case.rule.startswith("bundle."))
            and (not case.location or i.location == f"corpus: {case.location}")]
    assert hits, f"expected {case.rule} at {case.location!r}; got:\n" + report.to_text()


GOLDEN = sorted(glob.glob(str(ROOT / "examples" / "golden" / "*.json")))


@pytest.mark.skipif(not GOLDEN, reason="no golden bundles in examples/golden yet")
@pytest.mark.parametrize("path", GOLDEN, ids=[Path(p).name for p in GOLDEN])
def test_golden_examples_conform(v: ConformanceValidator, path: str) -> None:
    bundle = json.loads(Path(path).read_text("utf-8"))
    report = v.validate_bundle(bundle)
    errors = report.errors
    # Known mapping defect (reported to the mapping owner): MedicationAdministration.dosage with a
    # route but neither dose nor rate violates core R4 mad-1; the MAs then fail their profile and
    # the regimen's outcomeReference to them is reported as a non-conforming target. Any other
    # error fails this test outright.
    known = [i for i in errors if i.rule == "invariant:mad-1" or (
        i.rule == "reference-target" and "does not conform" in i.message)]
    assert len(known) == len(errors), report.to_text()
    if errors:
        assert any(i.rule == "invariant:mad-1" for i in errors)
        pytest.xfail(f"{len(known)} errors from the known mad-1 mapping defect")


def test_mutation_does_not_leak(v: ConformanceValidator) -> None:
    base = valid_bundle()
    snapshot = copy.deepcopy(base)
    v.validate_bundle(base)
    assert base == snapshot  # validation never mutates its input
