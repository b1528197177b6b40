"""A corpus of small case files written the way registry clerks write them (tests/data/clerk-corpus):
partial and day-first dates (also unquoted `03.2019`), Russian abbreviations (ОЛЛ, КМ, в/в, ФН),
day lists with +/-, mixed languages. Each must map without --allow-text-only, validate, and read
back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhir_onco.case import load_case
from fhir_onco.mappings import map_case_to_bundle
from fhir_onco.mappings.reverse import read_bundle
from fhir_onco.validation import validate_bundle

CORPUS = sorted((Path(__file__).resolve().parents[1] / "data" / "clerk-corpus").glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_clerk_case_maps_validates_and_reads_back(path: Path) -> None:
    case = load_case(path)
    bundle, _ = map_case_to_bundle(case, source=path.name)  # raises MappingError on any unknown term
    assert "meta" not in bundle or "tag" not in bundle["meta"]  # no text-only coding
    report = validate_bundle(bundle, path.name)
    assert report.ok, report.to_text()
    result = read_bundle(bundle)
    assert result.warnings == []
    assert result.case.model_dump() == case.model_dump()


def test_unquoted_month_year_stays_a_date(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("patient: {identifiers: [{system: s, value: v}], sex: male}\n"
                 "diagnoses: [{condition: ОЛЛ, onset: 10.2020}]\n", encoding="utf-8")
    assert load_case(f).diagnoses[0].onset == "10.2020"  # not the float 10.202


def test_bare_day_number_is_a_day_list(tmp_path: Path) -> None:
    # Clerks write one day as a number (`days: 1`, `cycles: 2`); YAML reads an int, the case keeps the text.
    f = tmp_path / "c.yaml"
    f.write_text("patient: {identifiers: [{system: s, value: v}], sex: male}\n"
                 "diagnoses: [{condition: ОЛЛ, onset: 2020-10}]\n"
                 "regimens: [{name: X, category: индукция, start: 2020-10-01, cycles: 2, cycle_length_days: 21,\n"
                 "  drugs: [{drug: винкристин, dose: 1.5, unit: мг/м2, route: в/в, days: 1, cycles: 2}]}]\n",
                 encoding="utf-8")
    drug = load_case(f).regimens[0].drugs[0]
    assert (drug.days, drug.cycles) == ("1", "2")
    bundle, _ = map_case_to_bundle(load_case(f), source=f.name)
    given = sorted(r["resource"]["effectiveDateTime"] for r in bundle["entry"]
                   if r["resource"]["resourceType"] == "MedicationAdministration")
    assert given == ["2020-10-22"]  # day 1 of cycle 2 only
