"""Mapped resources hold no empty value (None, "", [] or {}) at any depth - FHIR forbids empty elements.

`MappingContext.add` prunes a resource; builders on the hot path (`add_clean`, e.g. the
MedicationAdministrations of mappings/treatment.py) are trusted to build none and skip that walk. This
maps every example, clerk-corpus case and registry / mCODE CSV example and fails on any empty value, so
a builder that starts emitting one is caught here. It also checks that validation leaves the bundle as it
was: parts of a bundle may be shared between its resources (one drug's coding, dosage and references
across its administrations), which is only safe while nothing downstream changes a resource in place.
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
