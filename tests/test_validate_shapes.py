"""`validate` on malformed FHIR shapes: a located error and exit 1, never a traceback or "valid"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fhir_onco.cli.app import app
from fhir_onco.validation import validate_bundle

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "examples" / "golden" / "seed002-fever.json"


def _bundle(**changes: object) -> dict[str, object]:
    bundle = json.loads(GOLDEN.read_text("utf-8"))
    bundle.update(changes)
    return bundle


def _entry_changed(i: int, value: object) -> dict[str, object]:
    bundle = _bundle()
    bundle["entry"][i] = value  # type: ignore[index]
    return bundle


def _resource_changed(i: int, value: object) -> dict[str, object]:
    bundle = _bundle()
    bundle["entry"][i]["resource"] = value  # type: ignore[index]
    return bundle


SHAPES: dict[str, tuple[object, str]] = {
    # name -> (file content, expected location of an error)
    "null-file": (None, "(root)"),
    "array-file": ([_bundle()], "(root)"),
    "string-file": ("Bundle", "(root)"),
    "entry-object": (_bundle(entry={"resource": {}}), "Bundle.entry"),
    "entry-string": (_bundle(entry="x"), "Bundle.entry"),
    "entry-null-item": (_entry_changed(1, None), "Bundle.entry[1]"),
    "entry-string-item": (_entry_changed(2, "Patient/1"), "Bundle.entry[2]"),
    "resource-list": (_resource_changed(1, [{"resourceType": "Condition"}]), "Bundle.entry[1].resource"),
    "resource-string": (_resource_changed(1, "Condition"), "Bundle.entry[1].resource"),
    "request-string": (_entry_changed(1, {**_bundle()["entry"][1], "request": "PUT"}),  # type: ignore[index]
                       "Bundle.entry[1].request"),
    "type-bogus": (_bundle(type="bogus"), "Bundle.type"),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_malformed_fhir_is_located_exit_1(tmp_path: Path, name: str) -> None:
    content, location = SHAPES[name]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert f"{path.name}: valid" not in result.output
    assert f"ERROR {path}: {location}" in result.output, result.output


def test_malformed_bundle_through_the_library_does_not_raise() -> None:
    for content, _ in SHAPES.values():
        report = validate_bundle(content, "x")  # type: ignore[arg-type]
        assert not report.ok


def test_messages_name_the_type_not_the_value(tmp_path: Path) -> None:
    bundle = _bundle()
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")  # type: ignore[index]
    patient["gender"] = {"sentinel": "1957-03-14"}
    patient["identifier"] = "SENTINEL-ID-0042"
    path = tmp_path / "leak.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "SENTINEL-ID-0042" not in result.output and "1957-03-14" not in result.output
