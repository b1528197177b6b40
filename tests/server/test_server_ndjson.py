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
    with (tmp_path / "nd" / "Observation.ndjson").open("a") as fh:
        fh.write("{not json\n")
        orphan = {"resourceType": "Observation", "id": "orphan", "status": "final", "code": {"text": "x"}}
        fh.write(json.dumps(orphan) + "\n")
    got = list(iter_inputs([tmp_path / "nd"]))
    errors = [str(g) for g in got if isinstance(g, InputError)]
    assert len(errors) == 2
    assert any(e.startswith(f"{tmp_path / 'nd' / 'Observation.ndjson'}:11") and "not valid JSON" in e for e in errors)
    assert any("Observation/orphan refers to no Patient" in e for e in errors)
    patients = {g.key: g for g in got if not isinstance(g, InputError)}
    assert set(patients) == {rid(k, "Patient") for k in keys}
    for k, b in bundles.items():
        pb = patients[rid(k, "Patient")]
        assert pb.resources[0]["resourceType"] == "Patient"
        assert {r["id"] for r in pb.resources} == {e["resource"]["id"] for e in b["entry"]}


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
