"""Registry extracts with out-of-range cells (issue 10): the cell is located, only its patient fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fhir_onco.tabular import map_tables

REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "registry"


@pytest.mark.parametrize(("file", "old", "new", "where"), [
    ("adverse_events.csv", ",2021-12,,,resolved", ",D+99999999,,,resolved", "adverse_events.csv:2:onset"),
    ("regimens.csv", ",09.10.2017,01.07.2018,,,,", ",09.10.2017,01.07.2018,,2,1000000000,",
     "regimens.csv:2:cycle_length_days"),
])
def test_out_of_range_cell_fails_only_its_patient(tmp_path: Path, file: str, old: str, new: str, where: str) -> None:
    extract = tmp_path / "registry"
    shutil.copytree(REGISTRY, extract)
    path = extract / file
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in lines[1]
    lines[1] = lines[1].replace(old, new, 1)
    path.write_text("".join(lines), encoding="utf-8")
    results = list(map_tables(extract))
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and len(results) - len(failed) >= 1
    assert where in failed[0].report.to_text()
