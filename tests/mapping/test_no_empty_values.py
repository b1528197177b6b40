"""Mapped resources hold no empty value (None, "", [] or {}) at any depth - FHIR forbids empty elements.

`MappingContext.add` prunes a resource; builders on the hot path (`add_clean`, e.g. the
MedicationAdministrations of mappings/treatment.py) are trusted to build none and skip that walk. This
maps every example, clerk-corpus case and registry / mCODE CSV example and fails on any empty value, so
a builder that starts emitting one is caught here. It also checks that validation leaves the bundle as it
was, and that no dict or list is shared between two places of a bundle (the administrations of one
drug get their own copy of its coding, dosage and references), so a caller may edit a resource in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhir_onco import load_case
from fhir_onco.case import Case
from fhir_onco.fhir.builders import dumps
from fhir_onco.mappings import map_case_to_bundle
from fhir_onco.tabular import open_reader
from fhir_onco.validation import validate_bundle

ROOT = Path(__file__).resolve().parents[2]
CASE_FILES = [*sorted((ROOT / "examples").glob("*.yaml")),
              *sorted((ROOT / "tests" / "data" / "clerk-corpus").glob("*.yaml"))]
TABLES = [ROOT / "examples" / "registry", ROOT / "tests" / "data" / "mcode-sample"]


def _empty_values(value: Any, path: str) -> list[str]:
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _empty_values(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _empty_values(v, f"{path}[{i}]")
    return found


def _check(case: Case, source: str) -> None:
    bundle, _ = map_case_to_bundle(case, source=source, allow_text_only=True)
    assert _empty_values(bundle, "Bundle") == []
    before = dumps(bundle)
    validate_bundle(bundle, source)
    assert dumps(bundle) == before, "validation changed the mapped bundle"


def test_the_check_finds_empty_values() -> None:
    assert _empty_values({"a": [{"b": ""}], "c": {"d": []}, "e": 0, "f": False}, "X") == ["X.a[0].b", "X.c.d"]


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_case_file_maps_without_empty_values(path: Path) -> None:
    _check(load_case(path), str(path))


@pytest.mark.parametrize("directory", TABLES, ids=lambda p: p.name)
def test_tables_map_without_empty_values(directory: Path, tmp_path: Path) -> None:
    with open_reader(directory, tmpdir=tmp_path) as reader:
        patients = [p for p in reader if p.case is not None]
    assert patients
    for patient in patients:
        _check(patient.case, patient.source)


def _shared_objects(bundle: dict[str, Any]) -> list[str]:
    """Paths of dicts and lists that appear at two places of the bundle (the same object)."""
    seen: dict[int, str] = {}
    shared: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict | list):
            if id(value) in seen:
                shared.append(f"{path} is {seen[id(value)]}")
                return
            seen[id(value)] = path
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                walk(v, f"{path}.{k}" if isinstance(value, dict) else f"{path}[{k}]")

    walk(bundle, "Bundle")
    return shared


def test_the_check_finds_shared_objects() -> None:
    part = {"coding": [{"code": "x"}]}
    assert _shared_objects({"a": [part, {"b": part}]}) == ["Bundle.a[1].b is Bundle.a[0]"]


def _no_shared_parts(case: Case) -> None:
    """A library caller may change one resource in place without changing another: the hot-path
    builders share nothing (a drug's coding or dosage is a fresh object in each administration)."""
    bundle, _ = map_case_to_bundle(case, source="x", allow_text_only=True)
    assert _shared_objects(bundle) == []


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_case_file_bundle_shares_no_part(path: Path) -> None:
    _no_shared_parts(load_case(path))


@pytest.mark.parametrize("directory", TABLES, ids=lambda p: p.name)
def test_tables_bundle_shares_no_part(directory: Path, tmp_path: Path) -> None:
    with open_reader(directory, tmpdir=tmp_path) as reader:
        cases = [p.case for p in reader if p.case is not None]
    assert cases
    for case in cases:
        _no_shared_parts(case)


@pytest.mark.parametrize("part", [
    {"coding": [{"system": "s", "code": "c", "display": "Ёж"}], "n": 1.1, "big": 2**70},  # int beyond 64 bits
    {"value": float("nan")},  # orjson writes null
    {"value": (1, 2)},  # a tuple would come back a list
    {"value": 0.1, "flag": True, "count": 3, "none": None},
])
def test_copier_gives_fresh_equal_copies(part: dict[str, Any]) -> None:
    from fhir_onco.fhir.builders import copier

    make = copier(part)
    first, second = make(), make()
    assert _shared_objects({"a": [first, second, part]}) == []
    for copy in (first, second):
        assert repr(copy) == repr(part)  # repr: NaN != NaN, and True == 1 would hide a changed type
