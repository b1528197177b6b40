"""`map`, `validate` and `map-tables` --json: streamed entry by entry (memory flat in the number of
patients, issue 11), and still the same document a json.dumps(indent=2) of the whole report gave."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from fhir_onco.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()


def same_as_dumped(stdout: str) -> dict:
    doc = json.loads(stdout)
    assert stdout == json.dumps(doc, ensure_ascii=False, indent=2) + "\n"  # the in-memory report's text
    return doc


def test_map_json_streams_every_case(tmp_path: Path) -> None:
    cases = sorted(EXAMPLES.glob("*.yaml"))[:3]
    bad = tmp_path / "bad.yaml"
    bad.write_text("patient:\n  identifiers: [{system: urn:x, value: '1'}]\n  sex: male\n"
                   "mrd:\n  - {date: 2021-13-01, value_percent: 5}\n", encoding="utf-8")
    result = runner.invoke(app, ["map", *map(str, cases), str(bad), "-o", str(tmp_path / "o"), "--json", "-j", "1"])
    assert result.exit_code == 1
    doc = same_as_dumped(result.stdout)
    assert list(doc) == ["patients", "failed"] and doc["failed"] == 1
    assert [p["source"] for p in doc["patients"]] == [*map(str, cases), str(bad)]
    assert [p["ok"] for p in doc["patients"]] == [True, True, True, False]
    assert all(p["resources"] for p in doc["patients"][:3]) and "resources" not in doc["patients"][3]


def test_validate_json_streams_every_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    case = EXAMPLES / "seed000-b-all.yaml"
    result = runner.invoke(app, ["validate", str(case), str(broken), "--json"])
    assert result.exit_code == 1
    doc = same_as_dumped(result.stdout)
    assert list(doc) == ["files", "failed"] and doc["failed"] == 1
    assert [(f["source"], f["ok"]) for f in doc["files"]] == [(str(case), True), (str(broken), False)]


def test_map_tables_json_streams_every_patient(tmp_path: Path) -> None:
    result = runner.invoke(app, ["map-tables", str(EXAMPLES / "registry"), "-o", str(tmp_path / "o"), "--json",
                                 "-j", "1"])
    doc = same_as_dumped(result.stdout)
    assert list(doc) == ["patients", "written", "failed", "file_issues"]
    assert len(doc["patients"]) == doc["written"] + doc["failed"] and doc["written"] >= 1
    cases = runner.invoke(app, ["map-tables", str(EXAMPLES / "registry"), "-o", str(tmp_path / "c"), "-f", "cases",
                                "--json"])
    assert json.loads(cases.stdout)["written"] == doc["written"]


def test_map_tables_json_unreadable_extract_is_only_the_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(EXAMPLES / "seed000-b-all.yaml", empty / "not-a-table.yaml")
    result = runner.invoke(app, ["map-tables", str(empty), "-o", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 1
    doc = same_as_dumped(result.stdout)
    assert list(doc) == ["error"] and doc["error"]["resourceType"] == "OperationOutcome"
