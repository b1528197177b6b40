"""report / export in bounded memory: patients regrouped on disk and aggregated one at a time give
the same figures and rows as the whole-table path, whatever the input's layout."""

from __future__ import annotations

import copy
import csv
import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fhir_onco.analytics.cases import read_cases
from fhir_onco.analytics.reader import PatientStats, ResourceStore, iter_patients, read_input
from fhir_onco.analytics.report import CohortAggregate, cohort_report, patient_tables, stream_report
from fhir_onco.cli.app import app
from fhir_onco.server.bulk import ExportError, ExportRequest

GOLDEN = Path(__file__).resolve().parents[2] / "examples" / "golden"


@pytest.fixture(scope="module")
def all_bundles() -> list[dict[str, Any]]:
    """The inline cohort and every example (myeloma, B-ALL / AML with allogeneic HSCT, neuroblastoma)."""
    from .inline_cohort import bundles

    return bundles() + [json.loads(p.read_text(encoding="utf-8")) for p in sorted(GOLDEN.glob("*.json"))]


def _write_bundles(bundles: list[dict[str, Any]], directory: Path) -> Path:
    directory.mkdir()
    for i, b in enumerate(bundles):
        (directory / f"b{i:02d}.json").write_text(json.dumps(b), encoding="utf-8")
    return directory


def _write_ndjson(bundles: list[dict[str, Any]], directory: Path, seed: int = 4) -> Path:
    """One file per resource type (as a Bulk Data export), lines shuffled: every patient is spread out."""
    directory.mkdir()
    by_type: dict[str, list[str]] = {}
    for b in bundles:
        for e in b["entry"]:
            by_type.setdefault(e["resource"]["resourceType"], []).append(json.dumps(e["resource"]))
    rng = random.Random(seed)
    for rtype, lines in by_type.items():
        rng.shuffle(lines)
        (directory / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


@pytest.mark.parametrize("index", ["auto", "hsct", "diagnosis"])
def test_streamed_report_equals_the_whole_table_report(all_bundles: list[dict[str, Any]], index: str) -> None:
    whole = cohort_report(ResourceStore().extend(all_bundles), index=index, age_bands=[65, 75],
                          landmarks_months=[12, 24])
    cases = (rc for store in iter_patients(all_bundles) for rc in read_cases(store))
    streamed = stream_report(patient_tables(cases), index=index, age_bands=[65, 75], landmarks_months=[12, 24])
    assert streamed.n_patients == whole.n_patients > 10
    assert {t.name for t in whole.tables} >= {"transplant", "transplant_outcomes"}  # the HSCT path is covered
    assert streamed.to_json() == whole.to_json()
    # without samples nothing per patient is kept but the numbers the tables need
    assert all(not s for t in streamed.tables if t.name in ("baseline", "survival") for s in t.samples.values())


def test_aggregate_keeps_numbers_not_rows_of_transplanted_patients(all_bundles: list[dict[str, Any]]) -> None:
    agg = CohortAggregate(keep_samples=False)
    for tables in patient_tables(rc for store in iter_patients(all_bundles) for rc in read_cases(store)):
        agg.add(tables)
    tx = agg.transplant
    assert tx.n and agg.n > tx.n
    # per transplanted patient: seven days and a flag, nothing that grows with their rows; no ids
    assert {len(a) for a in tx.days.values()} == {tx.n} and len(tx.allogeneic) == tx.n
    assert not any(hasattr(agg, name) for name in ("retained", "hsct_facts", "os_of", "age_of"))
    assert len(agg.os_times) == len(agg.os_events) == agg.n - agg.excluded


def test_iter_patients_regroups_in_id_order_and_keeps_the_last_copy(tmp_path: Path) -> None:
    def res(rtype: str, rid: str, pid: str, **extra: Any) -> dict[str, Any]:
        body = {"resourceType": rtype, "id": rid, **extra}
        return body if rtype == "Patient" else body | {"subject": {"reference": f"Patient/{pid}"}}

    items: list[Any] = [
        res("Condition", "c-b", "b"), res("Patient", "b", "b", gender="male"),
        {"resourceType": "Bundle", "entry": [{"resource": res("Patient", "a", "a")},
                                             {"resource": res("Observation", "o-a", "a")}]},
        {"resourceType": "Medication", "id": "m"},  # belongs to no patient: skipped
        res("Condition", "c-a", "a"), res("Patient", "b", "b", gender="female"),  # a later copy wins
        "not a resource",
    ]
    stats = PatientStats()
    stores = list(iter_patients(items, workdir=tmp_path, stats=stats))
    assert [s.patients()[0]["id"] for s in stores] == ["a", "b"]
    assert sorted(r["id"] for r in stores[0].resources()) == ["a", "c-a", "o-a"]
    assert stores[1].get("Patient", "b")["gender"] == "female"  # type: ignore[index]
    assert (stats.resources, stats.skipped) == (6, 2)
    assert list(tmp_path.iterdir()) == []  # the on-disk index is gone afterwards


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_cli_report_and_export_read_ndjson_per_type_as_bundles(all_bundles: list[dict[str, Any]],
                                                                tmp_path: Path) -> None:
    bundles_dir = _write_bundles(all_bundles, tmp_path / "bundles")
    # the same patient's bundle twice (another file) is one patient, as before
    (bundles_dir / "zz-copy.json").write_text(json.dumps(copy.deepcopy(all_bundles[0])), encoding="utf-8")
    ndjson_dir = _write_ndjson(all_bundles, tmp_path / "ndjson")
    runner = CliRunner()
    reports = []
    for src in (bundles_dir, ndjson_dir):
        result = runner.invoke(app, ["-q", "report", "--input", str(src), "-f", "json", "--index", "hsct"])
        assert result.exit_code == 0, result.output
        reports.append(result.stdout)
    assert reports[0] == reports[1]
    assert reports[0] == cohort_report(read_input(bundles_dir), index="hsct").to_json()
    exports = []
    for name, src in (("a", bundles_dir), ("b", ndjson_dir)):
        result = runner.invoke(app, ["-q", "export", "--input", str(src), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        exports.append({p.name: (tmp_path / name / p.name).read_bytes() for p in (tmp_path / name).iterdir()})
    assert exports[0] == exports[1]  # byte-identical: rows come in patient id order from both layouts
    patients = _read_csv(tmp_path / "a" / "patients.csv")
    assert [r["patient_id"] for r in patients] == sorted({r["patient_id"] for r in patients})
    assert len(patients) == len(all_bundles)


def test_cli_report_where_filters_patient_by_patient(all_bundles: list[dict[str, Any]], tmp_path: Path) -> None:
    src = _write_ndjson(all_bundles, tmp_path / "in")
    result = CliRunner().invoke(app, ["-q", "report", "--input", str(src), "-f", "json", "--where",
                                      "condition=B-ALL"])
    assert result.exit_code == 0, result.output
    from fhir_onco.analytics import compare
    from fhir_onco.analytics.flatten import flatten_all
    from fhir_onco.analytics.report import REPORT_TABLES

    tables = compare.where(flatten_all(ResourceStore().extend(all_bundles), names=REPORT_TABLES), ["condition=B-ALL"])
    assert 0 < len(tables["patients"]) < len(all_bundles)
    assert result.stdout == cohort_report(tables).to_json()
    result = CliRunner().invoke(app, ["-q", "report", "--input", str(src), "--where", "condition=nothing-like-it"])
    assert result.exit_code == 1 and "meet --where" in result.output


def test_export_request_checks_what_it_asks_for() -> None:
    assert ExportRequest(types=["Patient"]).types == ("Patient",)  # type: ignore[arg-type]
    with pytest.raises(ExportError, match="unknown export level"):
        ExportRequest("everything")  # type: ignore[arg-type]
    with pytest.raises(ExportError, match="Group id"):
        ExportRequest("group")


def test_cli_errors_while_streaming_keep_their_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "x.ndjson").write_text('{"resourceType": "Patient", "id": "a"}\nnot json\n', encoding="utf-8")
    for command in (["report"], ["export", "-o", str(tmp_path / "out")]):
        result = runner.invoke(app, ["-q", *command, "--input", str(tmp_path / "x.ndjson")])
        assert result.exit_code == 1 and "x.ndjson:2" in result.output, result.output
    # a malformed --where met while the patients stream is still a usage error
    result = runner.invoke(app, ["-q", "report", "--input", str(GOLDEN), "--where", "condition"])
    assert result.exit_code == 2 and "expected FIELD=VALUE" in result.output, result.output


@pytest.mark.parametrize("by", ["sex", "condition"])
def test_cli_report_by_streams_per_group_with_the_whole_table_figures(all_bundles: list[dict[str, Any]],
                                                                       tmp_path: Path, by: str) -> None:
    pytest.importorskip("scipy")
    pytest.importorskip("lifelines")
    from fhir_onco.analytics import compare
    from fhir_onco.analytics.flatten import flatten_all
    from fhir_onco.analytics.report import REPORT_TABLES

    ndjson_dir = _write_ndjson(all_bundles, tmp_path / "ndjson")
    result = CliRunner().invoke(app, ["-q", "report", "--input", str(ndjson_dir), "-f", "json", "--by", by])
    assert result.exit_code == 0, result.output
    whole, groups = compare.grouped_report(flatten_all(ResourceStore().extend(all_bundles), names=REPORT_TABLES), by)
    assert len(groups) >= 2
    assert result.stdout == whole.to_json()
    streamed = json.loads(result.stdout)
    assert any(r.get("test") for t in streamed["tables"].values() for r in t["rows"])  # p-values were computed
