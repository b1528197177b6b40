"""The fhir-onco command as a user runs it: exit codes, located messages, outputs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fhir_onco.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SEED000 = EXAMPLES / "seed000-b-all.yaml"
runner = CliRunner()


def test_map_writes_a_valid_bundle_and_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["map", str(SEED000), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    bundle = json.loads((tmp_path / "seed000-b-all.json").read_text(encoding="utf-8"))
    assert bundle["type"] == "transaction"
    assert "1 of 1 patients mapped" in result.output
    assert "MedicationAdministration 29" in result.output


def test_map_ndjson_one_file_per_resource_type(tmp_path: Path) -> None:
    result = runner.invoke(app, ["map", str(SEED000), "-o", str(tmp_path), "--format", "ndjson"])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "Patient.ndjson" in files and "MedicationAdministration.ndjson" in files
    lines = (tmp_path / "MedicationAdministration.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 29
    assert all(json.loads(line)["resourceType"] == "MedicationAdministration" for line in lines)


def test_bad_case_is_located_and_exit_1_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("patient:\n  identifiers: [{system: urn:x, value: '1'}]\n  sex: male\n"
                   "mrd:\n  - {date: 2021-13-01, value_percent: 5}\n", encoding="utf-8")
    result = runner.invoke(app, ["map", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{bad}: mrd[0].date" in result.output
    assert "not a real calendar date" in result.output
    assert not (tmp_path / "out" / "bad.json").exists()


def test_unknown_term_names_field_and_suggestions(tmp_path: Path) -> None:
    bad = tmp_path / "term.yaml"
    bad.write_text("patient:\n  identifiers: [{system: urn:x, value: '1'}]\n  sex: female\n"
                   "diagnoses:\n  - {condition: multiple mieloma}\n", encoding="utf-8")
    result = runner.invoke(app, ["map", str(bad), "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert "diagnoses[0].condition" in result.output
    assert "multiple myeloma" in result.output  # the suggestion


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["map", str(tmp_path / "nope.yaml"), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "no such input" in result.output


def test_usage_error_exit_2() -> None:
    result = runner.invoke(app, ["map", "--format", "xml", str(SEED000)])
    assert result.exit_code == 2


def test_validate_json_report_is_operation_outcome(tmp_path: Path) -> None:
    runner.invoke(app, ["map", str(SEED000), "-o", str(tmp_path)])
    bundle_path = tmp_path / "seed000-b-all.json"
    bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    bundle["entry"][1]["resource"]["subject"]["reference"] = "Patient/missing"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(bundle), encoding="utf-8")
    result = runner.invoke(app, ["validate", "--json", str(bundle_path), str(broken)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [f["ok"] for f in report["files"]] == [True, False]
    issues = report["files"][1]["outcome"]["issue"]
    assert report["files"][1]["outcome"]["resourceType"] == "OperationOutcome"
    assert any("Patient/missing" in i["diagnostics"] and i["severity"] == "error" for i in issues)


def test_validate_reports_broken_json_with_line(tmp_path: Path) -> None:
    broken = tmp_path / "x.json"
    broken.write_text('{"resourceType": "Bundle",\n "type": }', encoding="utf-8")
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 1
    assert "line 2" in result.output


def test_examples_lists_and_writes(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["examples"])
    assert listed.exit_code == 0
    assert "seed000-b-all.yaml" in listed.output
    written = runner.invoke(app, ["examples", "--write", str(tmp_path)])
    assert written.exit_code == 0
    assert (tmp_path / "seed000-b-all.yaml").read_bytes() == SEED000.read_bytes()


def test_schema_is_published_and_current() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "patient" in schema["required"]
    published = Path(__file__).resolve().parents[1] / "docs" / "case.schema.json"
    assert json.loads(published.read_text(encoding="utf-8")) == schema, "run: fhir-onco schema -o docs/case.schema.json"


def test_case_model_reference_is_current_and_documents_every_field() -> None:
    result = runner.invoke(app, ["schema", "--markdown"])
    assert result.exit_code == 0
    published = Path(__file__).resolve().parents[1] / "docs" / "case-model.md"
    hint = "run: fhir-onco schema --markdown -o docs/case-model.md"
    assert published.read_text(encoding="utf-8") == result.output, hint
    rows = [line for line in result.output.splitlines() if line.startswith("| `")]
    assert len(rows) > 150
    assert not [row for row in rows if row.rstrip().endswith("|  |")], "a field without a meaning"
