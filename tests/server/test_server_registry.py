"""push / sync of registry CSV extracts and of cohort output directories, against a real server."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fhir_onco.cli.server_cmds import register
from fhir_onco.server.client import FhirClient
from fhir_onco.server.inputs import expand_inputs, is_table_extract, load_inputs
from fhir_onco.server.push import fetch_current
from fhir_onco.server.sync import RemovalPolicy, StateStore, sync

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REGISTRY = EXAMPLES / "registry"


def copy_registry(dst: Path, run_key: str) -> Path:
    """examples/registry with every patient in a per-test id namespace (FHIR ids derive from it), so
    tests sharing a server never touch each other's patients. Nothing else changes."""
    shutil.copytree(REGISTRY, dst)
    path = dst / "patients.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and "id_system" in rows[0]
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "id_system": f"urn:fhir-onco:test:{run_key}"})
    return dst


def replace_cell(path: Path, old: str, new: str, encoding: str = "utf-8") -> None:
    text = path.read_text(encoding=encoding)
    assert text.count(old) == 1, f"{old!r} not exactly once in {path.name}"
    path.write_text(text.replace(old, new), encoding=encoding)


def versions(client: FhirClient, refs: list[str]) -> dict[str, str | None]:
    return {k: (v or {}).get("meta", {}).get("versionId") for k, v in fetch_current(client, refs).items()}


def all_refs(src: Path) -> list[str]:
    loaded = load_inputs([src])
    assert not loaded.errors, loaded.errors
    return [e["request"]["url"] for b in loaded.bundles for e in b.bundle["entry"]]


def test_registry_extract_is_one_input_item(tmp_path: Path) -> None:
    src = copy_registry(tmp_path / "extract", "x")
    assert is_table_extract(src) and not is_table_extract(EXAMPLES)
    # named directly, or found under a directory of cases: one item, its CSV files not listed
    assert expand_inputs([src]) == [src]
    (tmp_path / "case.yaml").write_bytes((EXAMPLES / "seed004-cr-infections.yaml").read_bytes())
    assert expand_inputs([tmp_path]) == [tmp_path / "case.yaml", src]
    loaded = load_inputs([src])
    assert not loaded.errors and len(loaded.bundles) == 3
    assert [b.source for b in loaded.bundles] == [f"{src / 'patients.csv'}:{n}" for n in (2, 3, 4)]


def test_sync_registry_extract_resync_and_one_cell_edit(client: FhirClient, run_key: str, tmp_path: Path) -> None:
    src = copy_registry(tmp_path / "registry", run_key)
    refs = all_refs(src)
    with StateStore(tmp_path / "state.sqlite") as store:
        first = sync(client, [src], store)
        assert first.ok, first.to_json()
        t = first.totals()
        assert t["patients"]["created"] == 3 and t["resources"]["created"] == len(refs)
        assert set(versions(client, refs).values()) == {"1"}

        before = client.stats.requests
        again = sync(client, [src], store)
        assert again.ok and client.stats.requests == before  # re-sync sends nothing
        assert all(p.skipped_by_state for p in again.patients) and len(again.patients) == 3

        # MM-002's ISS stage III -> II: one Observation changes, nothing else
        replace_cell(src / "stages.csv", "MM-002,mm,,iss,III,2019-05", "MM-002,mm,,iss,II,2019-05")
        edited = sync(client, [src], store)
        assert edited.ok, edited.to_json()
        t = edited.totals()
        assert t["resources"] == {
            "created": 0,
            "updated": 1,
            "unchanged": t["resources"]["unchanged"],
            "deleted": 0,
            "failed": 0,
        }
        assert sum(p.skipped_by_state for p in edited.patients) == 2
        changed = {r: v for r, v in versions(client, refs).items() if v != "1"}
        assert len(changed) == 1 and next(iter(changed.values())) == "2"
        assert next(iter(changed)).startswith("Observation/")
        assert sync(client, [src], store).requests == 0


def test_failed_registry_patient_is_reported_skipped_and_never_removed(
    client: FhirClient, run_key: str, tmp_path: Path
) -> None:
    src = copy_registry(tmp_path / "registry", run_key)
    with StateStore(tmp_path / "state.sqlite") as store:
        assert sync(client, [src], store).ok
        keys = {b.source.rsplit(":", 1)[1]: b.key for b in load_inputs([src]).bundles}
        # MM-003's (row 4) date of the ISS stage becomes unreadable
        replace_cell(src / "stages.csv", "MM-003,,,ISS,II,2016-03", "MM-003,,,ISS,II,2016-13-45")
        report = sync(client, [src], store, on_removed=RemovalPolicy.DELETE)
        assert not report.ok
        assert len(report.input_errors) == 1
        err = report.input_errors[0]
        assert err.startswith(f"{src / 'patients.csv'}:4: patient not imported")
        assert f"{src / 'stages.csv'}:4:date:" in err  # file:row:column of the bad cell
        # the other two went through (unchanged), the failed one was not deleted from the server
        assert sorted(p.status for p in report.patients) == ["unchanged", "unchanged"]
        assert report.removed == [] and report.removal_skipped and "1 patient(s)" in report.removal_skipped
        assert client.read("Patient", keys["4"]) is not None


def test_cli_push_registry_extract(fhir_base_url: str, run_key: str, tmp_path: Path) -> None:
    src = copy_registry(tmp_path / "registry", run_key)
    (src / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")  # not a table of the layout
    app = typer.Typer()
    register(app)
    res = CliRunner().invoke(app, ["push", str(src), "--server", fhir_base_url, "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["ok"] and report["totals"]["patients"]["created"] == 3
    assert "notes.csv: not a table of the fhir-onco registry layout; ignored" in res.stderr


def test_cohort_output_directory_pushes_without_tables_json(fhir_base_url: str, run_key: str, tmp_path: Path) -> None:
    """`cohort generate` writes tables.json beside cases/: push DIR skips it with a warning."""
    from fhir_onco.cohort import generate_to_directory

    out = tmp_path / "cohort"
    generate_to_directory(EXAMPLES / "cohorts" / "seed004-isapd.yaml", out, seed=1)
    loaded = load_inputs([out])
    assert loaded.errors == [] and len(loaded.bundles) == 60
    assert loaded.warnings == [
        f"{out / 'tables.json'}: neither a FHIR resource nor a case (no resourceType, no case field); skipped"
    ]

    # through the CLI against the server: one patient (the ids are fixed by the spec, keep it small)
    small = tmp_path / "small"
    (small / "cases").mkdir(parents=True)
    first = sorted((out / "cases").glob("*.yaml"))[0]
    (small / "cases" / first.name).write_bytes(first.read_bytes())
    (small / "tables.json").write_bytes((out / "tables.json").read_bytes())
    app = typer.Typer()
    register(app)
    res = CliRunner().invoke(app, ["push", str(small), "--server", fhir_base_url])
    assert res.exit_code == 0, res.output
    assert "tables.json: neither a FHIR resource nor a case" in res.stderr
    assert "patients: 1 (" in res.stdout and "0 failed" in res.stdout


@pytest.mark.parametrize("text", ['{"patient": {"sex": "male"}, "regimens": 3}', '{"patinet": {}, "note": "x"}'])
def test_broken_json_case_is_an_error_not_skipped(tmp_path: Path, text: str) -> None:
    """Only JSON with no case field at all is skipped: a broken case must fail (and so block removals)."""
    (tmp_path / "case.json").write_text(text, encoding="utf-8")
    loaded = load_inputs([tmp_path])
    assert loaded.warnings == [] and len(loaded.errors) == 1 and loaded.bundles == []


# Part of the shared mCODE Extraction Framework sample (tests/data/mcode-sample): patients,
# conditions and medication administrations.
MCODE_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "mcode-sample"
MCODE_FILES = {
    name: (MCODE_SAMPLE / name).read_text(encoding="utf-8")
    for name in (
        "patient-mrns.csv",
        "patient-information.csv",
        "condition-information.csv",
        "cancer-related-medication-administration-information.csv",
    )
}


def test_cli_sync_mcode_extract_with_table_options(fhir_base_url: str, run_key: str, tmp_path: Path) -> None:
    """The mCODE Extraction Framework layout through `sync`: --regimen-category and --id-system reach the
    reader; the patient with a bad cell is reported at file:row:column and the other one goes through."""
    src = tmp_path / "mcode"
    src.mkdir()
    for name, text in MCODE_FILES.items():
        (src / name).write_text(text, encoding="utf-8")
    app = typer.Typer()
    register(app)
    args = ["sync", str(src), "--server", fhir_base_url, "--json", "--id-system", f"urn:test:{run_key}"]
    without = json.loads(CliRunner().invoke(app, [*args, "--dry-run"]).stdout)
    assert without["totals"]["patients"]["total"] == 0  # medication rows need a category in this layout
    res = CliRunner().invoke(app, [*args, "--regimen-category", "salvage"])
    assert res.exit_code == 1, res.output  # one patient failed
    report = json.loads(res.stdout)
    assert report["totals"]["patients"]["created"] == 1 and len(report["input_errors"]) == 1
    assert report["input_errors"][0].startswith(f"{src / 'patient-mrns.csv'}:3: patient not imported")
    assert f"{src / 'condition-information.csv'}:3:clinicalStatus:" in report["input_errors"][0]
    assert not any("no home" in w for w in report["input_warnings"])  # every column has one (issue 8)
    again = json.loads(CliRunner().invoke(app, [*args, "--regimen-category", "salvage"]).stdout)
    assert again["requests"] == 0 and again["totals"]["patients"]["skipped_by_state"] == 1


def test_case_file_after_registry_extract_gives_no_second_copy(own_server: Any, tmp_path: Path) -> None:
    """seed000 as a case file and as a registry row: 4 facts get other ids; never both on the server."""
    from fhir_onco.server.push import manifest_ref

    server = own_server()
    registry, case = EXAMPLES / "registry", EXAMPLES / "seed000-b-all.yaml"
    app = typer.Typer()
    register(app)
    first = CliRunner().invoke(app, ["push", str(registry), "--server", server.base_url, "--json"])
    assert first.exit_code == 0, first.output
    with FhirClient(server.base_url, auth=None) as client:
        case_bundle = load_inputs([case]).bundles[0]
        key = case_bundle.key
        listed_before = client.read(*manifest_ref(key).split("/"))
        assert listed_before is not None

        refused = CliRunner().invoke(app, ["push", str(case), "--server", server.base_url, "--json"])
        assert refused.exit_code == 1
        report = json.loads(refused.stdout)
        error = report["patients"][0]["error"]
        assert "4 resource(s) fhir-onco wrote for this patient that this input does not produce" in error
        theirs = {f"{r['resourceType']}/{r['id']}" for r in case_bundle.resources}
        for r in case_bundle.resources:  # nothing of the case's own copies was written
            ref = f"{r['resourceType']}/{r['id']}"
            if ref not in {e["item"]["reference"] for e in listed_before["entry"]} and ref != f"Patient/{key}":
                assert client.read(r["resourceType"], r["id"]) is None, ref
        # sync of the case refuses the same way (its state knows nothing of the push)
        (tmp_path / "cases").mkdir()
        (tmp_path / "cases" / case.name).write_bytes(case.read_bytes())
        with StateStore(tmp_path / "s.sqlite") as store:
            assert not sync(client, [tmp_path / "cases"], store).ok

        replaced = CliRunner().invoke(app, ["push", str(case), "--server", server.base_url, "--json", "--replace"])
        assert replaced.exit_code == 0, replaced.output
        totals = json.loads(replaced.stdout)["totals"]["resources"]
        assert totals["deleted"] == 4 and totals["created"] == 4 and totals["updated"] + totals["unchanged"] == 61
        listed = client.read(*manifest_ref(key).split("/"))
        assert {e["item"]["reference"] for e in listed["entry"]} == theirs - {f"Patient/{key}"}
        # and now the registry is the other input
        again = CliRunner().invoke(app, ["push", str(registry), "--server", server.base_url, "--json"])
        assert again.exit_code == 1 and "does not produce" in again.output


def test_case_and_registry_in_one_run_give_no_second_copy(own_server: Any) -> None:
    from fhir_onco.server.push import push

    server = own_server()
    case = load_inputs([EXAMPLES / "seed000-b-all.yaml"]).bundles[0]
    row = next(b for b in load_inputs([REGISTRY]).bundles if b.key == case.key)
    with FhirClient(server.base_url, auth=None) as client:
        report = push(client, [row, case])  # one patient, two inputs, 4 facts under other ids
        assert not report.ok and report.patients[0].sources == [row.source, case.source]
        assert "does not produce" in (report.patients[0].error or "")
        for r in case.resources:  # the later input wrote nothing of its own ids
            if f"{r['resourceType']}/{r['id']}" not in {f"{x['resourceType']}/{x['id']}" for x in row.resources}:
                assert client.read(r["resourceType"], r["id"]) is None
