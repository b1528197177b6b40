"""Reports in memory flat in the number of patients (issue 11): results on disk, JSON streamed.

The push/sync report keeps counters in memory and every patient's result in a temporary SQLite
file (:mod:`fhir_onco.server.results`); ``--json`` is written from there a patient at a time
(:mod:`fhir_onco.jsonstream`), and must read exactly as the report built in memory did.
"""

from __future__ import annotations

import gc
import io
import json
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fhir_onco.cli.server_cmds import register
from fhir_onco.jsonstream import JsonObjectWriter
from fhir_onco.server import results as results_mod
from fhir_onco.server import sync as sync_mod
from fhir_onco.server.client import FhirClient
from fhir_onco.server.push import PatientResult, PushReport, push
from fhir_onco.server.results import ResultLog, SpooledLines
from fhir_onco.server.sync import StateStore
from fhir_onco.server.synthetic import patient_bundle, rid

DOCS: list[dict[str, Any]] = [
    {},
    {"a": 1},
    {"patients": [], "failed": 0},
    {"patients": [{"source": "é.yaml", "ok": True, "outcome": {"issue": [{"x": [1, 2.5, None]}]}}, {}, []],
     "failed": 1, "nested": {"k": [[], [1], {"z": "ü"}]}},
]


@pytest.mark.parametrize("doc", DOCS)
@pytest.mark.parametrize("indent", [2, None, 4])
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_streamed_json_is_byte_identical_to_json_dumps(doc: dict[str, Any], indent: int | None,
                                                       ensure_ascii: bool) -> None:
    out = io.StringIO()
    w = JsonObjectWriter(out, indent, ensure_ascii)
    for key, value in doc.items():
        if isinstance(value, list):  # lists go item by item
            w.begin_list(key)
            for item in value:
                w.item(item)
            w.end_list()
        else:
            w.member(key, value)
    w.close()
    assert out.getvalue() == json.dumps(doc, indent=indent, ensure_ascii=ensure_ascii)


def result(key: str, status: str = "created", **kw: Any) -> PatientResult:
    return PatientResult(patient=key, status=status, sources=[f"{key}.json"], **kw)  # type: ignore[arg-type]


def test_result_log_keeps_input_order_replaces_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results_mod, "_PAGE", 3)  # read back over several pages
    log = ResultLog()
    try:
        for i in range(10):
            log.reserve(f"p{i}", f"in{i}")
        for i in reversed(range(10)):  # finished in another order than read
            log.put(result(f"p{i}", created=5, status="failed" if i == 4 else "created"))
        assert [r.patient for r in log.results()] == [f"p{i}" for i in range(10)]
        assert [r.patient for r in log.results(failed_only=True)] == ["p4"]
        assert log.patients == 10 and log.statuses["created"] == 9 and log.resources["created"] == 50
        log.put(result("p4", status="updated", updated=2, created=5))  # a replacement moves the counters
        assert log.patients == 10 and log.statuses["failed"] == 0 and log.statuses["updated"] == 1
        assert log.resources["created"] == 50 and log.resources["updated"] == 2
        assert log.source_of("p3") == "in3" and log.source_of("nobody") is None
        assert log.get("p4") == result("p4", status="updated", updated=2, created=5)
    finally:
        log.close()


def test_result_log_memory_does_not_grow_with_patients() -> None:
    """Python-side memory after 2,000 results and after 20,000 more: the same within 1 MB (a list of
    the results would take ~10 MB; alone this grows a few KB, but tracemalloc sees the whole test
    process. SQLite's own cache is capped at results.CACHE_KIB; the benchmark measures processes)."""
    log = ResultLog()
    try:
        def fill(start: int, n: int) -> None:
            for i in range(start, start + n):
                key = f"{i:08x}-0000-4000-8000-000000000000"
                log.reserve(key, f"/data/cases/{i}.yaml")
                log.put(result(key, created=24, content_hash="ab" * 32, versions={"Patient/x": "1"}))
                if i % 7 == 0:
                    log.lines("input_errors").append(f"/data/cases/{i}.yaml: bad")

        fill(0, 2000)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        fill(2000, 20000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert log.patients == 22000 and sum(1 for _ in log.results()) == 22000
        assert grown < 1024 * 1024, f"{grown} bytes more after 20,000 more patients"
    finally:
        log.close()


def test_spooled_lines_read_like_a_list() -> None:
    lines = SpooledLines()
    try:
        assert lines == [] and not lines and len(lines) == 0
        lines.append("a")
        lines.extend(["b", "c"])
        assert lines == ["a", "b", "c"] and lines[0] == "a" and lines[-1] == "c" and lines[1:] == ["b", "c"]
        assert bool(lines) and len(lines) == 3 and "b" in lines
        with pytest.raises(IndexError):
            lines[3]
    finally:
        lines.close()


def test_report_lists_come_back_from_disk() -> None:
    with PushReport("http://x/fhir", "transaction", False, patients=[result("a"), result("b", "failed", failed=3)],
                    input_errors=["x.json: broken"]) as report:
        assert [p.patient for p in report.patients] == ["a", "b"]
        assert [p.patient for p in report.failures()] == ["b"] and not report.ok
        d = report.to_dict()
        assert d["totals"]["patients"] == {"total": 2, "created": 1, "updated": 0, "unchanged": 0, "deleted": 0,
                                           "failed": 1}
        assert d["totals"]["resources"]["failed"] == 3 and d["input_errors"] == ["x.json: broken"]
        assert report.to_json() == json.dumps(d, indent=2)  # streamed text == the dict dumped


def test_store_streams_patients_while_the_removal_step_changes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_mod, "STORE_PAGE", 2)
    with StateStore(tmp_path / "s.sqlite") as store:
        for i in range(7):
            store.record("srv", f"p{i}", status="synced", content_hash="h", resources={})
        seen = []
        for p in store.iter_patients("srv", "synced"):
            seen.append(p)
            store.record("srv", p, status="removed", content_hash=None, resources=None)
        assert seen == [f"p{i}" for i in range(7)]
        assert store.patients("srv", "synced") == [] and len(store.patients("srv", "removed")) == 7


# ---------------------------------------------------------------------------- against the real server


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def write(src: Path, keys: list[str]) -> None:
    src.mkdir(parents=True, exist_ok=True)
    for i, k in enumerate(keys):
        (src / f"{k}.json").write_text(json.dumps(patient_bundle(k, observations=1, seed=i)))


def test_push_json_report_streamed_in_input_order_with_failures(
    cli: typer.Typer, fhir_base_url: str, run_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results_mod, "_PAGE", 4)  # read back over several pages
    keys = [f"{run_key}-{i:02d}" for i in range(14)]
    write(tmp_path / "in", keys)
    bad = patient_bundle(keys[5], observations=1, seed=5)  # refused by the server
    bad["entry"][-1]["resource"]["effectiveDateTime"] = "2020-02-31x"
    (tmp_path / "in" / f"{keys[5]}.json").write_text(json.dumps(bad))
    (tmp_path / "in" / "zz-broken.json").write_text("{not json")
    args = ["push", str(tmp_path / "in"), "--server", fhir_base_url, "-j", "4"]
    res = CliRunner().invoke(cli, [*args, "--json"])
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    assert [p["patient"] for p in report["patients"]] == [rid(k, "Patient") for k in keys]  # input order
    assert report["totals"]["patients"] == {"total": 14, "created": 13, "updated": 0, "unchanged": 0,
                                            "deleted": 0, "failed": 1}
    assert [p["status"] for p in report["patients"]].count("failed") == 1
    assert report["patients"][5]["status"] == "failed" and report["patients"][5]["error"]
    assert len(report["input_errors"]) == 1 and "zz-broken.json" in report["input_errors"][0]
    assert set(report) == {"server", "mode", "dry_run", "ok", "totals", "seconds", "requests", "retries",
                           "patients", "input_errors"}
    assert res.stdout.startswith('{\n  "server": ') and res.stdout.endswith("\n}\n")
    text = CliRunner().invoke(cli, args)  # the text report lists the failure and the input error from disk
    assert text.exit_code == 1
    failed_lines = [line for line in text.output.splitlines() if line.startswith("FAILED ")]
    assert len(failed_lines) == 1 and f"Patient/{rid(keys[5], 'Patient')}" in failed_lines[0]
    assert "INPUT  " in text.output
    assert "patients: 14 (0 created, 0 updated, 13 unchanged, 0 deleted, 1 failed)" in text.stdout


def test_library_push_report_equals_its_streamed_json(client: FhirClient, run_key: str) -> None:
    from fhir_onco.server.inputs import from_bundle

    keys = [f"{run_key}-{i}" for i in range(6)]
    bundles = [from_bundle(patient_bundle(k, observations=1, seed=i), f"{k}.json") for i, k in enumerate(keys)]
    later = from_bundle(patient_bundle(keys[0], observations=1, seed=0), "again.json")
    with push(client, [*bundles, later], concurrency=3) as report:  # the later input runs after the first
        assert len(report.patients) == 6 and report.patients[0].sources == [f"{keys[0]}.json", "again.json"]
        assert report.totals()["patients"]["total"] == 6 and report.ok
        buf = io.StringIO()
        report.write_json(buf)
        assert json.loads(buf.getvalue()) == report.to_dict()


def test_sync_report_with_second_input_and_removals_streamed(
    cli: typer.Typer, fhir_base_url: str, run_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results_mod, "_PAGE", 2)
    monkeypatch.setattr(sync_mod, "STORE_PAGE", 2)
    keys = [f"{run_key}-{i}" for i in range(7)]
    src = tmp_path / "src"
    write(src, keys)
    state = tmp_path / "state.sqlite"
    args = ["sync", str(src), "--server", fhir_base_url, "--state", str(state), "--json"]
    first = json.loads(CliRunner().invoke(cli, args).stdout)
    assert first["ok"] and first["totals"]["patients"]["created"] == 7
    # a second input of keys[0]: refused (naming both); removal skipped while an input fails
    shutil.copy(src / f"{keys[0]}.json", src / "copy.json")
    for k in keys[4:]:
        (src / f"{k}.json").unlink()
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 1
    report = json.loads(second.stdout)
    assert report["totals"]["patients"]["skipped_by_state"] == 4 and report["removed"] == []
    assert len(report["input_errors"]) == 1 and "comes from 2 inputs" in report["input_errors"][0]
    assert "copy.json" in report["input_errors"][0] and f"{keys[0]}.json" in report["input_errors"][0]
    assert report["removal_skipped"].startswith("3 patient(s) missing from the source")
    (src / "copy.json").unlink()
    third = json.loads(CliRunner().invoke(cli, [*args, "--on-removed", "inactivate"]).stdout)
    assert third["ok"] and third["removal_policy"] == "inactivate"
    assert sorted(p["patient"] for p in third["removed"]) == sorted(rid(k, "Patient") for k in keys[4:])
    assert all(p["status"] == "updated" for p in third["removed"])
    assert [p["patient"] for p in third["patients"]] == [rid(k, "Patient") for k in keys[:4]]
