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
