"""Broken registry extracts: every fault located as file:row[:column], only the patient it touches
fails, and no message repeats a cell's content."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fhir_onco.tabular import TabularError, map_tables
from fhir_onco.tabular.dialect import MAX_CELL_CHARS

PATIENTS = "patient_id,sex,birth_date\nP1,male,1960-01-01\nP2,female,1961-02-02\nP3,male,1962-03-03\n"
AE_HEADER = "patient_id,term,grade,onset,resolved\n"


def _extract(root: Path, patients: str = PATIENTS, adverse_events: str | None = None,
             encoding: str = "utf-8") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "patients.csv").write_text(patients, encoding=encoding)
    if adverse_events is not None:
        (root / "adverse_events.csv").write_bytes(adverse_events.encode(encoding)
                                                  if isinstance(adverse_events, str) else adverse_events)
    return root


def _by_source(root: Path) -> dict[str, object]:
    return {r.source.rsplit("/", 1)[-1]: r for r in map_tables(root, validate=False)}


def test_header_less_file_is_reported_without_the_first_row(tmp_path: Path) -> None:
    root = _extract(tmp_path, patients="P1,male,1960-01-01\nP2,female,1961-02-02\n")
    with pytest.raises(TabularError) as info:
        list(map_tables(root))
    text = info.value.report.to_text()
    assert "patients.csv:1" in text and "header line missing" in text
    assert "P1" not in text and "1960" not in text


def test_duplicate_row_is_located_at_the_repeat(tmp_path: Path) -> None:
    aes = AE_HEADER + "P1,anemia,2,2022-01-01,\nP2,anemia,2,2022-01-01,\nP1,anemia,2,2022-01-01,\n"
    results = _by_source(_extract(tmp_path, adverse_events=aes))
    p1 = results["patients.csv:2"].report.to_text()  # type: ignore[attr-defined]
    assert "adverse_events.csv:4: repeats row 2 of the same file exactly" in p1
    assert "fullUrl" not in p1
    assert results["patients.csv:3"].ok  # type: ignore[attr-defined]


def test_dates_out_of_order_point_at_the_cell(tmp_path: Path) -> None:
    aes = AE_HEADER + "P1,anemia,2,2022-03-01,2022-01-01\nP2,anemia,2,2022-01-01,2022-02-01\n"
    results = _by_source(_extract(tmp_path, adverse_events=aes))
    p1 = results["patients.csv:2"].report.to_text()  # type: ignore[attr-defined]
    assert "adverse_events.csv:2:resolved: resolved is before onset" in p1
    assert "2022" not in p1
    assert results["patients.csv:3"].ok  # type: ignore[attr-defined]


@pytest.mark.parametrize("cell", ["9" * 5000, "1e400", "12345678901234567890"])
def test_huge_numbers_fail_their_cell(tmp_path: Path, cell: str) -> None:
    aes = AE_HEADER + f"P1,anemia,{cell},2022-01-01,\nP2,anemia,2,2022-01-01,\n"
    results = _by_source(_extract(tmp_path, adverse_events=aes))
    p1 = results["patients.csv:2"]
    assert not p1.ok  # type: ignore[attr-defined]
    assert "adverse_events.csv:2:grade:" in p1.report.to_text()  # type: ignore[attr-defined]
    assert results["patients.csv:3"].ok  # type: ignore[attr-defined]


def test_cell_over_the_csv_field_limit_fails_only_its_patient(tmp_path: Path) -> None:
    aes = AE_HEADER + f'P1,"{"x" * (MAX_CELL_CHARS + 10)}",2,2022-01-01,\nP2,anemia,2,2022-01-01,\n'
    results = _by_source(_extract(tmp_path, adverse_events=aes))
    p1 = results["patients.csv:2"].report.to_text()  # type: ignore[attr-defined]
    assert f"adverse_events.csv:2:term: a cell of more than {MAX_CELL_CHARS} characters" in p1
    assert results["patients.csv:3"].ok and results["patients.csv:4"].ok  # type: ignore[attr-defined]


def test_one_cp1251_row_in_a_utf8_file_fails_only_that_row(tmp_path: Path) -> None:
    good = (AE_HEADER + "P1,анемия,2,2022-01-01,\n").encode("utf-8")
    bad = "P2,анемия,2,2022-01-01,\n".encode("cp1251")
    results = _by_source(_extract(tmp_path, adverse_events=good + bad))  # type: ignore[arg-type]
    assert results["patients.csv:2"].ok  # type: ignore[attr-defined]  # the UTF-8 row still reads as UTF-8
    p2 = results["patients.csv:3"].report.to_text()  # type: ignore[attr-defined]
    assert "adverse_events.csv:3: line(s) 3 are not utf-8 text" in p2
    assert results["patients.csv:4"].ok  # type: ignore[attr-defined]


def test_whole_cp1251_file_still_reads(tmp_path: Path) -> None:
    aes = (AE_HEADER + "P1,анемия,2,2022-01-01,\n").encode("cp1251")
    results = _by_source(_extract(tmp_path, adverse_events=aes))  # type: ignore[arg-type]
    assert results["patients.csv:2"].ok  # type: ignore[attr-defined]


def test_link_outside_the_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text(AE_HEADER + "P1,anemia,2,2022-01-01,\n", encoding="utf-8")
    root = _extract(tmp_path / "extract")
    os.symlink(outside, root / "adverse_events.csv")
    with pytest.raises(TabularError) as info:  # an extract missing a table would import incomplete patients
        list(map_tables(root, validate=False))
    assert "adverse_events.csv: a link to a file outside the input directory; refused" in info.value.report.to_text()


def test_link_inside_the_directory_is_read(tmp_path: Path) -> None:
    root = _extract(tmp_path / "extract")
    (root / "data").mkdir()
    (root / "data" / "ae.csv").write_text(AE_HEADER + "P1,anemia,2,2022-01-01,\n", encoding="utf-8")
    os.symlink(root / "data" / "ae.csv", root / "adverse_events.csv")
    results = _by_source(root)
    assert results["patients.csv:2"].ok  # type: ignore[attr-defined]
    assert any(e["resource"]["resourceType"] == "AdverseEvent"
               for e in results["patients.csv:2"].bundle["entry"])  # type: ignore[attr-defined]
