"""push / sync of NDJSON (the Bulk Data layout `map --format ndjson` writes), regrouped per patient."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fhir_onco.cli.server_cmds import register
from fhir_onco.pipeline import NdjsonWriter
from fhir_onco.server.client import FhirClient
from fhir_onco.server.inputs import InputError, iter_inputs
from fhir_onco.server.synthetic import patient_bundle, rid


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def write_ndjson(directory: Path, keys: list[str]) -> dict[str, dict]:
    bundles = {k: patient_bundle(k, observations=2, seed=i) for i, k in enumerate(keys)}
    with NdjsonWriter(directory) as writer:
        for b in bundles.values():
            writer.write_bundle(b)
    return bundles


def test_ndjson_is_regrouped_per_patient(tmp_path: Path, run_key: str) -> None:
    keys = [f"{run_key}-{i}" for i in range(5)]
    bundles = write_ndjson(tmp_path / "nd", keys)
    broken = rid(keys[1], "Patient")
    with (tmp_path / "nd" / "Observation.ndjson").open("a") as fh:
        # JSON that names its patient but is no resource (no id): that patient is held back, not half-written
        fh.write(json.dumps({"resourceType": "Observation", "subject": {"reference": f"Patient/{broken}"}}) + "\n")
        orphan = {"resourceType": "Observation", "id": "orphan", "status": "final", "code": {"text": "x"}}
        fh.write(json.dumps(orphan) + "\n")
    got = list(iter_inputs([tmp_path / "nd"]))
    errors = [str(g) for g in got if isinstance(g, InputError)]
    assert len(errors) == 3, errors
    assert any(e.startswith(f"{tmp_path / 'nd' / 'Observation.ndjson'}:11") and "not a FHIR resource" in e
               for e in errors)
    assert any("Observation/orphan refers to no Patient" in e for e in errors)
    assert any(f"Patient/{broken}): not pushed: its line at" in e and "Observation.ndjson:11" in e for e in errors)
    patients = {g.key: g for g in got if not isinstance(g, InputError)}
    assert set(patients) == {rid(k, "Patient") for k in keys} - {broken}
    for k, b in bundles.items():
        if rid(k, "Patient") == broken:
            continue
        pb = patients[rid(k, "Patient")]
        assert pb.resources[0]["resourceType"] == "Patient"
        assert {r["id"] for r in pb.resources} == {e["resource"]["id"] for e in b["entry"]}


def test_an_unreadable_ndjson_line_holds_back_every_patient_of_the_files(tmp_path: Path, run_key: str) -> None:
    """A line that is not JSON could be any patient's: none is pushed rather than one without it."""
    write_ndjson(tmp_path / "nd", [f"{run_key}-{i}" for i in range(3)])
    path = tmp_path / "nd" / "Observation.ndjson"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2][:40] + "\n"  # a truncated line
    path.write_text("".join(lines))
    got = list(iter_inputs([tmp_path / "nd"]))
    assert all(isinstance(g, InputError) for g in got)
    messages = [str(g) for g in got]
    assert any(m.startswith(f"{path}:3") and "not valid JSON" in m for m in messages), messages
    assert any("no patient of these NDJSON files pushed" in m and f"{path}:3" in m for m in messages)


def test_push_ndjson_then_bundles_gives_no_duplicates(
    cli: typer.Typer, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    keys = [f"{run_key}-{i}" for i in range(12)]
    bundles = write_ndjson(tmp_path / "nd", keys)
    n = sum(len(b["entry"]) for b in bundles.values())
    res = CliRunner().invoke(cli, ["push", str(tmp_path / "nd"), "--server", fhir_base_url, "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["totals"]["patients"]["total"] == 12 and report["totals"]["resources"]["created"] == n
    # the same patients as bundle files: same ids, nothing new
    (tmp_path / "json").mkdir()
    for k, b in bundles.items():
        (tmp_path / "json" / f"{k}.json").write_text(json.dumps(b))
    res = CliRunner().invoke(cli, ["push", str(tmp_path / "json"), "--server", fhir_base_url, "--json"])
    again = json.loads(res.stdout)
    assert again["totals"]["resources"]["unchanged"] == n and again["totals"]["resources"]["created"] == 0
    with FhirClient(fhir_base_url, auth=None) as client:
        for k in keys:
            assert client.count("Observation", {"subject": f"Patient/{rid(k, 'Patient')}"}) == 2


def test_sync_ndjson_and_one_input_per_patient(
    cli: typer.Typer, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    keys = [f"{run_key}-{i}" for i in range(3)]
    src = tmp_path / "src"
    bundles = write_ndjson(src / "nd", keys)
    args = ["sync", str(src), "--server", fhir_base_url, "--json", "--state", str(tmp_path / "s.sqlite")]
    first = json.loads(CliRunner().invoke(cli, args).stdout)
    assert first["ok"] and first["totals"]["patients"]["created"] == 3
    second = json.loads(CliRunner().invoke(cli, args).stdout)
    assert second["totals"]["patients"]["skipped_by_state"] == 3 and second["requests"] == 0
    # the same patient also as a bundle file: refused, both inputs named, nothing removed
    (src / "dup.json").write_text(json.dumps(bundles[keys[0]]))
    third = CliRunner().invoke(cli, args)
    report = json.loads(third.stdout)
    assert third.exit_code == 1 and len(report["input_errors"]) == 1
    assert "dup.json" in report["input_errors"][0] and "NDJSON" in report["input_errors"][0]


def test_sync_of_ndjson_with_an_unreadable_line_deletes_nothing(
    cli: typer.Typer, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    """A corrupted line must not look like a deleted fact: sync would DELETE it on the server."""
    keys = [f"{run_key}-{i}" for i in range(2)]
    src = tmp_path / "src"
    write_ndjson(src / "nd", keys)
    args = ["sync", str(src), "--server", fhir_base_url, "--json", "--state", str(tmp_path / "s.sqlite")]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    observations = src / "nd" / "Observation.ndjson"
    lines = observations.read_text().splitlines(keepends=True)
    lost = json.loads(lines[0])
    observations.write_text(lines[0][:30] + "\n" + "".join(lines[1:]))
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1
    report = json.loads(again.stdout)
    assert report["totals"]["resources"]["deleted"] == 0
    assert any("no patient of these NDJSON files pushed" in e for e in report["input_errors"])
    with FhirClient(fhir_base_url, auth=None) as client:
        assert client.read("Observation", lost["id"]) is not None
