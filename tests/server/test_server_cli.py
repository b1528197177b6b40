"""fhir-onco push / pull / sync through the command line, against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fhir_onco.cli.server_cmds import register
from fhir_onco.server.synthetic import MRN_SYSTEM, patient_bundle, rid


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(src: Path, keys: list[str]) -> None:
    src.mkdir(parents=True, exist_ok=True)
    for i, k in enumerate(keys):
        (src / f"{k}.json").write_text(json.dumps(patient_bundle(k, observations=1, seed=i)))


def test_push_twice_json_report(
    cli: typer.Typer, runner: CliRunner, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    keys = [f"{run_key}-{i}" for i in range(12)]
    write(tmp_path / "in", keys)
    args = ["push", str(tmp_path / "in"), "--server", fhir_base_url, "--json", "-j", "3"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["ok"] and report["totals"]["patients"]["created"] == 12
    assert report["totals"]["resources"]["created"] == 12 * 5
    second = json.loads(runner.invoke(cli, args).stdout)
    assert second["totals"]["resources"]["unchanged"] == 12 * 5
    assert second["totals"]["resources"]["created"] == 0


def test_push_server_from_env_and_dry_run(
    cli: typer.Typer, runner: CliRunner, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    write(tmp_path, [run_key])
    res = runner.invoke(
        cli,
        ["push", str(tmp_path / f"{run_key}.json"), "--dry-run"],
        env={"FHIR_ONCO_SERVER": fhir_base_url},
    )
    assert res.exit_code == 0, res.output
    assert "5 created" in res.stdout and "dry run" in res.stdout


def test_push_usage_errors_exit_2(cli: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    write(tmp_path, ["x"])
    res = runner.invoke(cli, ["push", str(tmp_path / "x.json")], env={"FHIR_ONCO_SERVER": ""})
    assert res.exit_code == 2 and "--server" in res.output
    res = runner.invoke(cli, ["push", str(tmp_path / "nope.json"), "--server", "http://x/fhir"])
    assert res.exit_code == 2
    res = runner.invoke(cli, ["push", str(tmp_path), "--server", "http://x/fhir", "--token", "t"])
    assert res.exit_code == 2  # credentials are never taken from the command line


def test_push_bad_input_exit_1(
    cli: typer.Typer, runner: CliRunner, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    write(tmp_path, [run_key])
    (tmp_path / "broken.json").write_text('{"resourceType": "Bundle", "type": "searchset"}')
    res = runner.invoke(cli, ["push", str(tmp_path), "--server", fhir_base_url])
    assert res.exit_code == 1
    assert "broken.json" in res.output and "1 created" in res.stdout


def test_push_invalid_resource_exit_1_names_patient(
    cli: typer.Typer, runner: CliRunner, fhir_base_url: str, run_key: str, tmp_path: Path
) -> None:
    b = patient_bundle(run_key, observations=1)
    b["entry"][-1]["resource"]["effectiveDateTime"] = "2020-02-31x"
    (tmp_path / "b.json").write_text(json.dumps(b))
    res = runner.invoke(cli, ["push", str(tmp_path / "b.json"), "--server", fhir_base_url])
    assert res.exit_code == 1
    assert f"Patient/{rid(run_key, 'Patient')}" in res.output


def test_unreachable_server_exit_1(cli: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    write(tmp_path, ["x"])
    res = runner.invoke(cli, ["push", str(tmp_path), "--server", "http://127.0.0.1:9/fhir", "--retries", "1"])
    assert res.exit_code == 1 and "connection to 127.0.0.1:9 failed" in res.output  # names the host


def test_sync_then_pull(cli: typer.Typer, runner: CliRunner, fhir_base_url: str, run_key: str, tmp_path: Path) -> None:
    src = tmp_path / "cases"
    write(src, [f"{run_key}-a", f"{run_key}-b"])
    args = ["sync", str(src), "--server", fhir_base_url, "--json"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert (src / ".fhir-onco-sync.sqlite").exists()
    again = json.loads(runner.invoke(cli, args).stdout)
    assert again["requests"] == 0 and again["totals"]["patients"]["skipped_by_state"] == 2

    out = tmp_path / "pulled.json"
    key = f"{run_key}-b"
    res = runner.invoke(
        cli,
        ["pull", "--server", fhir_base_url, "--patient", f"{MRN_SYSTEM}|{key}", "-o", str(out)],
    )
    assert res.exit_code == 0, res.output
    bundle = json.loads(out.read_text())
    ids = sorted(e["resource"]["id"] for e in bundle["entry"])
    assert ids == sorted(e["resource"]["id"] for e in patient_bundle(key, observations=1)["entry"])

    res = runner.invoke(cli, ["pull", "--server", fhir_base_url, "--patient", rid(run_key, "no")])
    assert res.exit_code == 1


def test_push_case_files(cli: typer.Typer, runner: CliRunner, fhir_base_url: str) -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
    if not examples:
        pytest.skip("no example cases in this checkout")
    res = runner.invoke(cli, ["push", *map(str, examples[:2]), "--server", fhir_base_url, "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["ok"] and report["totals"]["resources"]["failed"] == 0
    assert report["totals"]["patients"]["total"] == len(examples[:2])


def test_sync_then_pull_as_case_round_trips(
    cli: typer.Typer, runner: CliRunner, fhir_base_url: str, tmp_path: Path
) -> None:
    from fhir_onco.case import load_case
    from fhir_onco.server.inputs import load_input

    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
    if not examples:
        pytest.skip("no example cases in this checkout")
    src = tmp_path / "cases"
    src.mkdir()
    original = src / examples[0].name
    original.write_bytes(examples[0].read_bytes())
    res = runner.invoke(cli, ["sync", str(src), "--server", fhir_base_url])
    assert res.exit_code == 0, res.output
    key = load_input(original).key
    out = tmp_path / "pulled.yaml"
    res = runner.invoke(
        cli,
        [
            "pull", "--server", fhir_base_url, "--patient", key, "--format", "case", "-o", str(out),
            "--state", str(src / ".fhir-onco-sync.sqlite"),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert load_case(out) == load_case(original)
    # --bulk, without the state: the system-level $export brings every type back (AEs included)
    res = runner.invoke(cli, ["pull", "--server", fhir_base_url, "--patient", key, "--format", "case", "--bulk",
                              "-o", str(tmp_path / "bulk.yaml")])
    assert res.exit_code == 0, res.output
    assert "via bulk" in res.output
    assert load_case(tmp_path / "bulk.yaml") == load_case(original)
