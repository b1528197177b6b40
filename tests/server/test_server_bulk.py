"""Bulk Data $export against the real server (sekmet implements it), and pull's use of it."""

from __future__ import annotations

import copy
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from fhir_onco.server.bulk import ExportRequest, ExportStats, export_patients, export_resources, patient_of
from fhir_onco.server.client import FhirClient
from fhir_onco.server.errors import CapabilityError
from fhir_onco.server.inputs import from_bundle
from fhir_onco.server.pull import pull_patient
from fhir_onco.server.push import is_manifest, manifest_ref, push
from fhir_onco.server.synthetic import entry, patient_bundle, rid


def bundle_with_ae(key: str, seed: int = 0) -> dict[str, Any]:
    """A synthetic patient plus an AdverseEvent (a type sekmet does not index for patient searches)."""
    b = patient_bundle(key, observations=2, seed=seed)
    ae = {
        "resourceType": "AdverseEvent",
        "id": rid(key, "AdverseEvent"),
        "actuality": "actual",
        "event": {"text": "febrile neutropenia"},
        "subject": {"reference": f"Patient/{rid(key, 'Patient')}"},
    }
    b["entry"].append(entry(ae))
    return b


def push_keys(client: FhirClient, keys: list[str]) -> dict[str, set[str]]:
    """Push patients; returns Patient id -> the Type/id of everything pushed for it."""
    bundles = [from_bundle(bundle_with_ae(k, seed=i), f"{k}.json") for i, k in enumerate(keys)]
    report = push(client, bundles)
    assert report.ok, report.to_json()
    return {b.key: {f"{r['resourceType']}/{r['id']}" for r in b.resources} for b in bundles}


def refs(resources: list[dict[str, Any]]) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in resources}


def test_system_export_streams_every_type_with_adverse_events(client: FhirClient, run_key: str) -> None:
    pushed = push_keys(client, [f"{run_key}-{i}" for i in range(3)])
    ours = set().union(*pushed.values())
    stats = ExportStats()
    exported = [r for r in export_resources(client, stats=stats) if patient_of(r) in pushed]
    got = refs([r for r in exported if not is_manifest(r)])
    assert got == ours  # AdverseEvents included: bulk is how they come back from sekmet
    assert refs([r for r in exported if is_manifest(r)]) == {manifest_ref(p) for p in pushed}
    assert stats.method == "bulk" and stats.files >= 5 and stats.resources >= len(ours)
    # _type narrows the export to those types
    only = [r for r in export_resources(client, ExportRequest(types=("AdverseEvent",))) if patient_of(r) in pushed]
    assert refs(only) == {ref for ref in ours if ref.startswith("AdverseEvent/")} and len(only) == 3


def test_since_exports_only_what_changed_after(client: FhirClient, run_key: str) -> None:
    first = push_keys(client, [f"{run_key}-old"])
    time.sleep(1.1)  # server and client share the clock here
    since = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    time.sleep(0.1)
    later = push_keys(client, [f"{run_key}-new"])
    mine = set(first) | set(later)
    exported = export_resources(client, ExportRequest(since=since))
    got = [r for r in exported if patient_of(r) in mine and not is_manifest(r)]
    assert refs(got) == set().union(*later.values())


def test_group_export_limits_to_members(client: FhirClient, run_key: str) -> None:
    pushed = push_keys(client, [f"{run_key}-{i}" for i in range(3)])
    member = sorted(pushed)[0]
    group = {
        "resourceType": "Group",
        "id": rid(run_key, "Group"),
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": f"Patient/{member}"}}],
    }
    client.put(group)
    got = [r for r in export_resources(client, ExportRequest("group", group=group["id"])) if patient_of(r) in pushed]
    assert {patient_of(r) for r in got} == {member}
    assert f"Patient/{member}" in refs(got)


@pytest.mark.parametrize("level", ["patient", "group"])
def test_patient_and_group_exports_lose_no_adverse_events(client: FhirClient, run_key: str, level: str) -> None:
    """sekmet's Patient- and Group-level $export leave out the types it does not index (AdverseEvent):
    they are fetched from a system-level $export, kept for the export's patients, and said so."""
    pushed = push_keys(client, [f"{run_key}-{i}" for i in range(3)])
    members = sorted(pushed)[:2]
    group = {"resourceType": "Group", "id": rid(run_key, "Group"), "type": "person", "actual": True,
             "member": [{"entity": {"reference": f"Patient/{m}"}} for m in members]}
    client.put(group)
    stats = ExportStats()
    request = ExportRequest("group", group=group["id"]) if level == "group" else ExportRequest("patient")
    got = [r for r in export_resources(client, request, stats=stats) if patient_of(r) in pushed]
    wanted = members if level == "group" else sorted(pushed)
    assert refs([r for r in got if not is_manifest(r)]) == set().union(*(pushed[p] for p in wanted))
    assert sum(r["resourceType"] == "AdverseEvent" for r in got) == len(wanted)  # none twice
    if "AdverseEvent" not in client.server_info().search_types:  # sekmet: its compartment export leaves AEs out
        assert any(n.startswith("AdverseEvent") and "system-level $export" in n for n in stats.notes), stats.notes


def test_export_patients_regroups_per_patient(client: FhirClient, run_key: str, tmp_path: Path) -> None:
    pushed = push_keys(client, [f"{run_key}-{i}" for i in range(4)])
    seen: dict[str, set[str]] = {}
    for pid, resources in export_patients(client, workdir=tmp_path):
        assert resources[0]["resourceType"] == "Patient" and resources[0]["id"] == pid
        assert all(patient_of(r) == pid for r in resources)
        if pid in pushed:
            seen[pid] = refs(resources)
    assert seen == pushed
    assert list(tmp_path.iterdir()) == []  # the on-disk index is gone afterwards


def _without_export(client: FhirClient) -> None:
    """Make the client see the real server's CapabilityStatement minus every $export operation."""
    cap = copy.deepcopy(client.capabilities())
    for rest in cap.get("rest") or []:
        rest["operation"] = [o for o in rest.get("operation") or [] if o.get("name") != "export"]
        for res in rest.get("resource") or []:
            res["operation"] = [o for o in res.get("operation") or [] if o.get("name") != "export"]
    client._capabilities, client._info = cap, None


def test_falls_back_to_searches_without_export(client: FhirClient, run_key: str) -> None:
    pushed = push_keys(client, [f"{run_key}-{i}" for i in range(2)])
    _without_export(client)
    assert client.server_info().export_levels == frozenset()
    stats = ExportStats()
    got = [
        r
        for r in export_resources(client, ExportRequest(types=("Patient", "Observation", "AdverseEvent")), stats=stats)
        if patient_of(r) in pushed
    ]
    assert stats.method == "search"
    expected = {ref for refs_ in pushed.values() for ref in refs_ if ref.split("/")[0] in ("Patient", "Observation")}
    assert refs(got) == expected
    # sekmet cannot search AdverseEvent: said so, not silently missing
    assert any("AdverseEvent" in note and "not exported" in note for note in stats.notes)
    with pytest.raises(CapabilityError):
        list(export_resources(client, ExportRequest(fallback=False)))


def test_pull_finds_unsearchable_types_through_bulk(client: FhirClient, run_key: str) -> None:
    pushed = push_keys(client, [f"{run_key}-a", f"{run_key}-b"])
    pid = rid(f"{run_key}-a", "Patient")
    ae = f"AdverseEvent/{rid(f'{run_key}-a', 'AdverseEvent')}"

    direct = pull_patient(client, pid, bulk=True)
    assert direct.method == "bulk" and refs(direct.resources) >= pushed[pid]
    assert {patient_of(r) for r in direct.resources if patient_of(r)} == {pid}  # nobody else's

    default = pull_patient(client, pid)  # $everything misses AdverseEvent on sekmet: falls back, says so
    assert ae in refs(default.resources)
    assert any("AdverseEvent" in n and "Bulk $export" in n for n in default.notes)

    # without $export, the List push keeps of what it wrote still brings the AdverseEvent back
    strict = pull_patient(client, pid, bulk_fallback=False)
    assert ae in refs(strict.resources) and not any(is_manifest(r) for r in strict.resources)
    # written by someone else (no such List): not found, and said so
    other = bundle_with_ae(f"{run_key}-c")
    client.transaction(other)
    other_pid, other_ae = rid(f"{run_key}-c", "Patient"), f"AdverseEvent/{rid(f'{run_key}-c', 'AdverseEvent')}"
    blind = pull_patient(client, other_pid, bulk_fallback=False)
    assert other_ae not in refs(blind.resources)
    assert any(n.startswith("not fetched") and "AdverseEvent" in n for n in blind.notes)
    assert other_ae in refs(pull_patient(client, other_pid).resources)  # the $export fallback finds it


def test_export_tables_through_bulk_equal_the_local_ones(own_server: Any, tmp_path: Path) -> None:
    """`export --server --bulk` gives the tables `export --input` gives for the same cases, AEs included."""
    import typer
    from typer.testing import CliRunner

    from fhir_onco.cli.analytics_cmds import register as register_analytics
    from fhir_onco.server.inputs import load_input

    examples = Path(__file__).resolve().parents[2] / "examples"
    cases = sorted(examples.glob("*.yaml"))
    if not cases:
        pytest.skip("no examples in this checkout")
    server = own_server()
    with FhirClient(server.base_url, auth=None) as client:
        assert push(client, [load_input(p) for p in cases]).ok
    app = typer.Typer()
    register_analytics(app)
    (tmp_path / "cases").mkdir()
    for p in cases:
        (tmp_path / "cases" / p.name).write_bytes(p.read_bytes())
    local = CliRunner().invoke(app, ["export", "--input", str(tmp_path / "cases"), "-o", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    bulk = CliRunner().invoke(app, ["export", "--server", server.base_url, "--bulk", "-o", str(tmp_path / "bulk")])
    assert bulk.exit_code == 0, bulk.output
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "bulk").iterdir())
    for name in names:  # the same rows; streamed tables keep the order patients arrive in
        got = (tmp_path / "bulk" / name).read_text().splitlines()
        want = (tmp_path / "local" / name).read_text().splitlines()
        assert got[0] == want[0] and sorted(got[1:]) == sorted(want[1:]), name
    assert len((tmp_path / "bulk" / "adverse_events.csv").read_text().splitlines()) > 1

    # report --bulk: the same figures as report --input of the case files
    reports = [CliRunner().invoke(app, ["report", *source, "-f", "json"])
               for source in (["--input", str(tmp_path / "cases")], ["--server", server.base_url, "--bulk"])]
    assert [r.exit_code for r in reports] == [0, 0], [r.output for r in reports]
    assert reports[0].stdout == reports[1].stdout

    # --group: a Group-level export of two of the patients, AEs included, equals export --input of their cases
    chosen = [p for p in cases if p.name in ("seed002-fever.yaml", "seed004-vgpr-neutropenia.yaml")]
    assert len(chosen) == 2
    (tmp_path / "two").mkdir()
    for p in chosen:
        (tmp_path / "two" / p.name).write_bytes(p.read_bytes())
    members = [load_input(p).key for p in chosen]
    with FhirClient(server.base_url, auth=None) as client:
        client.put({"resourceType": "Group", "id": "two-cases", "type": "person", "actual": True,
                    "member": [{"entity": {"reference": f"Patient/{m}"}} for m in members]})
    local = CliRunner().invoke(app, ["export", "--input", str(tmp_path / "two"), "-o", str(tmp_path / "local2")])
    grouped = CliRunner().invoke(app, ["export", "--server", server.base_url, "--bulk", "--group", "two-cases",
                                       "-o", str(tmp_path / "group")])
    assert local.exit_code == 0 and grouped.exit_code == 0, grouped.output
    assert "AdverseEvent" in grouped.output and "system-level $export" in grouped.output  # said, not silent
    for name in names:
        got = (tmp_path / "group" / name).read_text().splitlines()
        want = (tmp_path / "local2" / name).read_text().splitlines()
        assert got[0] == want[0] and sorted(got[1:]) == sorted(want[1:]), name
    assert len((tmp_path / "group" / "adverse_events.csv").read_text().splitlines()) > 1
    refused = CliRunner().invoke(app, ["export", "--server", server.base_url, "--group", "two-cases",
                                       "-o", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "--bulk" in refused.output
