"""The fhir-onco command as a user runs it: exit codes, located messages, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


# ---- conventions (issue 10) -------------------------------------------------------------------

COMMANDS_WITH_AN_INPUT = [
    ["map", "{missing}", "-o", "{tmp}/o"],
    ["validate", "{missing}"],
    ["map-tables", "{missing}", "-o", "{tmp}/o"],
    ["cohort", "generate", "{missing}", "-o", "{tmp}/o"],
    ["timeline", "{missing}", "-o", "{tmp}/t.png"],
    ["report", "--input", "{missing}"],
    ["export", "--input", "{missing}", "-o", "{tmp}/o"],
    ["push", "{missing}", "--server", "http://127.0.0.1:9/fhir"],
    ["sync", "{missing}", "--server", "http://127.0.0.1:9/fhir"],
    ["deidentify", "{missing}", "-o", "{tmp}/o"],
    # checked before Spark starts, so these need neither PySpark's JVM nor Java
    ["spark", "map-tables", "{missing}", "-o", "{tmp}/o"],
    ["spark", "map", "{missing}", "-o", "{tmp}/o"],
    ["spark", "export", "--input", "{missing}", "-o", "{tmp}/o"],
]


def _fill(args: list[str], tmp_path: Path) -> list[str]:
    return [a.format(missing=tmp_path / "absent.yaml", tmp=tmp_path) for a in args]


@pytest.mark.parametrize("args", COMMANDS_WITH_AN_INPUT, ids=lambda a: " ".join(a[:3]))
def test_a_missing_input_is_exit_2_in_every_command(args: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, _fill(args, tmp_path))
    assert result.exit_code == 2, result.output
    assert "no such input" in result.output and "absent.yaml" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["map", str(SEED000)], ["map-tables", str(EXAMPLES / "registry")],
                                     ["export", "--input", str(EXAMPLES / "golden")],
                                     ["spark", "map-tables", str(EXAMPLES / "registry")]])
def test_output_naming_a_file_or_an_unwritable_place_is_exit_2(command: list[str], tmp_path: Path) -> None:
    existing = tmp_path / "a-file"
    existing.write_text("x", encoding="utf-8")
    result = runner.invoke(app, [*command, "-o", str(existing)])
    assert result.exit_code == 2 and "is an existing file" in result.output
    result = runner.invoke(app, [*command, "-o", str(existing / "below")])
    assert result.exit_code == 2 and "cannot create" in result.output
    assert existing.read_text(encoding="utf-8") == "x"


def test_flag_given_a_value_is_explained(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(SEED000), "--json", "true"])
    assert result.exit_code == 2
    assert "--json take no value" in result.output


def test_version_and_short_help() -> None:
    from fhir_onco import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"fhir-onco {__version__}"
    assert runner.invoke(app, ["map", "-h"]).exit_code == 0


def _leaf_commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    out = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", None)
        out += [[name, sub] for sub in subs] if subs else [[name]]
    return out


@pytest.mark.parametrize("command", _leaf_commands(), ids=" ".join)
def test_every_command_has_an_example_and_shows_flags_as_flags(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert f"Example: fhir-onco {' '.join(command)}" in result.output
    assert "<bool>" not in result.output


def test_quiet_drops_summary_lines_not_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("patient: {sex: male}\n", encoding="utf-8")
    result = runner.invoke(app, ["--quiet", "map", str(SEED000), str(bad), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "patients mapped" not in result.output and "-> " not in result.output
    assert "bad.yaml: patient.identifiers" in result.output
    assert (tmp_path / "o" / "seed000-b-all.json").exists()


def test_outputs_are_private(tmp_path: Path) -> None:
    import stat

    runner.invoke(app, ["map", str(SEED000), "-o", str(tmp_path / "b")])
    runner.invoke(app, ["map", str(SEED000), "-o", str(tmp_path / "n"), "-f", "ndjson"])
    files = [*tmp_path.rglob("*.json"), *tmp_path.rglob("*.ndjson")]
    assert len(files) > 5
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o600"}


def test_report_json_is_format_json(tmp_path: Path) -> None:
    a = runner.invoke(app, ["report", "--input", str(EXAMPLES / "golden"), "--json"])
    b = runner.invoke(app, ["report", "--input", str(EXAMPLES / "golden"), "--format", "json"])
    assert a.exit_code == b.exit_code == 0
    assert json.loads(a.stdout) == json.loads(b.stdout)


def test_json_case_one_parser_one_verdict(tmp_path: Path) -> None:
    # YAML-only syntax in a .json file: `map` used to accept it (JSON read as YAML), `validate` not
    case = tmp_path / "case.json"
    case.write_text("{patient: {sex: male, identifiers: [{system: 'urn:x', value: '1'}]}}", encoding="utf-8")
    mapped = runner.invoke(app, ["map", str(case), "-o", str(tmp_path / "o")])
    validated = runner.invoke(app, ["validate", str(case)])
    assert mapped.exit_code == validated.exit_code == 1
    assert "case.json: line 1, column 2: not valid JSON" in mapped.output
    assert "case.json: line 1, column 2: not valid JSON" in validated.output


@pytest.mark.parametrize(("text", "where", "what"), [
    ("patient: {sex: male}\npatient: {sex: female}\n", "line 2, column 1", "duplicate key 'patient'"),
    ('{"patient": {"sex": "male", "sex": "female"}}', "line 1, column 13", "duplicate key 'sex'"),
    ("[" * 100_000, "line 1, column 101", "nested deeper than 100 levels"),
    ('{"a":' * 3000 + "1" + "}" * 3000, "line 1, column 501", "nested deeper than 100 levels"),
    ("patient: {sex: male}\nmrd: [{value_percent: " + "9" * 5000 + "}]\n", "line 2, column 23", "5000 characters"),
])
def test_hostile_documents_are_located(text: str, where: str, what: str, tmp_path: Path) -> None:
    path = tmp_path / ("case.json" if text.startswith(("{", "[")) else "case.yaml")
    path.write_text(text, encoding="utf-8")
    for command in (["map", str(path), "-o", str(tmp_path / "o")], ["validate", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert f"{path}: {where}: " in result.output and what in result.output


def test_progress_bar_is_cleared_before_a_message_line(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    from fhir_onco.cli import common

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    common.set_quiet(False)
    with common.progress(20, "Mapping") as bar:
        bar.advance()
        common.echo("ERROR x.yaml: a: b", err=True)
        bar.advance()
    text = term.getvalue()
    before, after = text.split("ERROR x.yaml: a: b", 1)
    assert before.endswith("\r\x1b[K")  # the bar's line is wiped, the message starts at column 0
    assert "Mapping [" in after  # and the bar is drawn again below it
    assert text.endswith("\r\x1b[K")  # nothing of the bar remains when it closes
    common.set_quiet(True)
    assert not common.Progress(20, "x").enabled
    common.set_quiet(False)


def test_timeline_without_matplotlib_says_which_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    result = runner.invoke(app, ["timeline", str(SEED000), "-o", str(tmp_path / "t.png")])
    assert result.exit_code == 2
    assert "pip install 'fhir-onco[plot]'" in result.output
