"""Export tables built from the cases the reverse mapping reads back: columns, terms as terminology keys,
status and suspects as written, dates as dates, CSV and Parquet files."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fhir_onco.analytics.export import MissingDependencyError, write_tables
from fhir_onco.analytics.flatten import TABLES, flatten, flatten_all
from fhir_onco.analytics.reader import ResourceStore
from fhir_onco.cli.app import app

from .inline_cohort import bundles, patient_id


def test_every_table_has_its_declared_columns(cohort_store: ResourceStore) -> None:
    tables = flatten_all(cohort_store)
    assert set(tables) == set(TABLES)
    for name, rows in tables.items():
        for row in rows:
            assert list(row) == TABLES[name].column_names, name
    assert len(tables["patients"]) == 5


def test_values_are_terminology_keys_and_typed(cohort_store: ResourceStore) -> None:
    p1 = patient_id(cohort_store, "p1")
    patients = {r["patient_id"]: r for r in flatten(cohort_store, "patients")}
    assert patients[p1]["death_cause"] == "progression"
    assert patients[p1]["death_date"] == "2021-06-01" and patients[p1]["deceased"] is True
    aes = [r for r in flatten(cohort_store, "adverse_events") if r["patient_id"] == p1]
    assert [(r["term"], r["grade"], r["ctcae_version"]) for r in aes] == [
        ("neutrophil count decreased", 3, "4.03"), ("neutrophil count decreased", 4, "4.03"),
        ("upper respiratory infection", 2, "4.03")]
    regimens = {r["title"]: r for r in flatten(cohort_store, "regimens") if r["patient_id"] == p1}
    assert regimens["IsaPd"]["category"] == "salvage"
    assert regimens["IsaPd"]["drugs"] == "isatuximab|pomalidomide"
    assert regimens["VRd"]["start_date"] == "2017-04-01"
    responses = [r for r in flatten(cohort_store, "responses") if r["patient_id"] == p1]
    assert [(r["response"], r["best"], r["regimen_id"] == regimens["IsaPd"]["id"]) for r in responses] == [
        ("cr", True, True), ("pd", False, True)]
    hsct = flatten(cohort_store, "hsct")
    assert [(h["type"], h["date"]) for h in hsct] == [("autologous", "2017-12-01")]
    stages = {r["patient_id"]: r for r in flatten(cohort_store, "stages")}
    # the stage within its system, not the terminology key 'iss-3'
    assert stages[p1]["system"] == "iss" and stages[p1]["stage"] == "3"
    drugs = [r for r in flatten(cohort_store, "drugs") if r["patient_id"] == p1 and r["drug"] == "isatuximab"]
    assert [(d["dose"], d["unit"], d["route"], d["days"], d["regimen_id"]) for d in drugs] == [
        (10.0, "mg/kg", "intravenous", "1", regimens["IsaPd"]["id"])]


def test_regimen_status_and_adverse_event_suspects_read_as_written() -> None:
    case = {"patient": {"identifiers": [{"system": "urn:t", "value": "s1"}], "sex": "male"},
            "diagnoses": [{"condition": "multiple myeloma", "onset": "2019-12"}],
            "regimens": [{"id": "isapd", "name": "IsaPd", "category": "salvage", "start": "2020-01-06",
                          "status": "stopped", "stop_reason": "toxicity",
                          "drugs": [{"drug": "isatuximab", "dose": 10, "unit": "mg/kg", "route": "IV", "days": "1,8"},
                                    {"drug": "pomalidomide", "dose": 4, "unit": "mg", "route": "PO",
                                     "days": "1-21"}]}],
            "adverse_events": [{"term": "нейтропения", "grade": 3, "onset": "2020-01-20",
                                "suspected_causes": [{"regimen": "isapd", "drug": "pomalidomide"}]}]}
    store = ResourceStore().extend(bundles([case]))
    regimen = flatten(store, "regimens")[0]
    assert (regimen["status"], regimen["stop_reason"]) == ("stopped", "toxicity")  # not FHIR's 'revoked'
    ae = flatten(store, "adverse_events")[0]
    # one suspect, the regimen and drug named - not the ids of its 21 pomalidomide doses
    assert (ae["term"], ae["suspects"], ae["suspect_ids"]) == (
        "neutrophil count decreased", "IsaPd/pomalidomide", regimen["id"])


def test_csv_files_one_per_table(cohort_store: ResourceStore, tmp_path: Path) -> None:
    paths = write_tables(flatten_all(cohort_store), tmp_path, "csv")
    assert sorted(p.name for p in paths) == sorted(f"{n}.csv" for n in TABLES)
    with (tmp_path / "adverse_events.csv").open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == TABLES["adverse_events"].column_names
        rows = list(reader)
    assert len(rows) == 8
    assert {r["grade"] for r in rows} == {"2", "3", "4", ""}  # the ungraded URI is an empty cell
    assert (tmp_path / "stages.csv").read_text(encoding="utf-8").startswith("id,patient_id,condition_id,system")


def test_parquet_keeps_column_types(cohort_store: ResourceStore, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    write_tables(flatten_all(cohort_store), tmp_path, "parquet")
    table = pq.read_table(tmp_path / "adverse_events.parquet")
    spec = TABLES["adverse_events"]
    assert table.column_names == [x for c in spec.column_names
                                  for x in ([c, f"{c}_precision"] if c in spec.date_columns else [c])]
    assert str(table.schema.field("grade").type) == "int64"
    assert str(table.schema.field("serious").type) == "bool"
    assert sorted(g for g in table.column("grade").to_pylist() if g is not None) == [2, 2, 3, 3, 3, 3, 4]
    assert pq.read_table(tmp_path / "stages.parquet").num_rows == 4
    patients = pq.read_table(tmp_path / "patients.parquet")
    assert str(patients.schema.field("death_date").type) == "date32[day]"
    deaths = [(d.isoformat(), p) for d, p in zip(patients.column("death_date").to_pylist(),
                                                 patients.column("death_date_precision").to_pylist(), strict=True)
              if d is not None]
    assert ("2021-06-01", "day") in deaths


def test_partial_dates_stay_partial_in_csv_and_are_flagged_in_parquet(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    case = {"patient": {"identifiers": [{"system": "urn:t", "value": "d1"}], "sex": "female", "birth_date": "1950"},
            "diagnoses": [{"condition": "multiple myeloma", "onset": "2019-12"}]}
    store = ResourceStore().extend(bundles([case]))
    write_tables(flatten_all(store, names=["diagnoses"]), tmp_path / "csv", "csv")
    assert ",2019-12," in (tmp_path / "csv" / "diagnoses.csv").read_text(encoding="utf-8")
    write_tables(flatten_all(store, names=["diagnoses"]), tmp_path / "pq", "parquet")
    row = pq.read_table(tmp_path / "pq" / "diagnoses.parquet").to_pylist()[0]
    assert (row["onset_date"].isoformat(), row["onset_date_precision"]) == ("2019-12-01", "month")


def test_parquet_without_pyarrow_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingDependencyError, match=r"fhir-onco\[parquet\]"):
        write_tables({"patients": []}, tmp_path, "parquet")
    assert not list(tmp_path.iterdir())


def _write_input(bundles: list[dict[str, Any]], directory: Path) -> Path:
    directory.mkdir()
    for i, b in enumerate(bundles):
        (directory / f"patient-{i}.json").write_text(json.dumps(b), encoding="utf-8")
    return directory


def test_cli_export_and_report(cohort_bundles: list[dict[str, Any]], tmp_path: Path) -> None:
    src = _write_input(cohort_bundles, tmp_path / "in")
    runner = CliRunner()
    result = runner.invoke(app, ["export", "--input", str(src), "-o", str(tmp_path / "out"),
                                 "--tables", "patients,adverse_events"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["adverse_events.csv", "patients.csv"]
    result = runner.invoke(app, ["report", "--input", str(src), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tables"]["deaths"]["rows"][0]["n"] == 3
    result = runner.invoke(app, ["report", "--input", str(src), "-f", "csv", "-o", str(tmp_path / "csv")])
    assert result.exit_code == 0 and (tmp_path / "csv" / "best_response.csv").exists()


def test_cli_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FHIR_ONCO_SERVER", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["report"]).exit_code == 2
    assert runner.invoke(app, ["report", "--input", str(tmp_path), "--server", "http://x"]).exit_code == 2
    assert runner.invoke(app, ["export", "--input", str(tmp_path), "--tables", "nope"]).exit_code == 2
    missing = runner.invoke(app, ["report", "--input", str(tmp_path / "absent")])
    assert missing.exit_code == 2 and "no such input" in missing.output  # the same in every command


def test_streamed_export_has_the_rows_of_the_tables(cohort_bundles: list[dict[str, Any]], tmp_path: Path) -> None:
    """export writes case by case (memory holds one patient's rows); the content equals the tables."""
    from fhir_onco.analytics.cases import read_cases
    from fhir_onco.analytics.export import stream_tables

    store = ResourceStore().extend(cohort_bundles)
    twice = list(read_cases(store)) + list(read_cases(store))  # a patient met twice is written once
    counts = stream_tables(twice, tmp_path / "s", "csv")
    write_tables(flatten_all(store), tmp_path / "t", "csv")
    for name in TABLES:
        streamed = (tmp_path / "s" / f"{name}.csv").read_text(encoding="utf-8").splitlines()
        tables = (tmp_path / "t" / f"{name}.csv").read_text(encoding="utf-8").splitlines()
        assert streamed[0] == tables[0] and sorted(streamed[1:]) == sorted(tables[1:]), name
        assert counts[name] == len(tables) - 1
