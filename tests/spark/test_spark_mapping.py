"""The Spark runner gives what the single-process commands give: the same NDJSON bytes per resource
type (whatever the partitioning), the same patients written and failed, the same located messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fhir_onco.analytics.cases import read_cases
from fhir_onco.analytics.flatten import flatten_cases
from fhir_onco.analytics.reader import iter_input, iter_patients
from fhir_onco.cli.app import app
from fhir_onco.pipeline import NdjsonWriter, PatientResult, map_file, map_ndjson_cases
from fhir_onco.spark import map_tables_spark
from fhir_onco.spark.analytics import export_dataframes
from fhir_onco.spark.cases import map_cases_spark
from fhir_onco.spark.output import manifest_files
from fhir_onco.tabular import map_tables
from fhir_onco.tabular.synthetic import write_registry_extract
from fhir_onco.validation.report import Report

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "examples" / "registry"
MCODE = ROOT / "tests" / "data" / "mcode-sample"
Issues = list[tuple[str, str, str, str | None]]


def _key(issue: Any) -> tuple[str, str, str, str | None]:
    return (str(issue.severity), issue.location, issue.message, issue.rule)


def _reference(results: Any, out: Path, file_report: Report | None = None) -> tuple[dict[str, bytes], Issues, int, int]:
    """Single-process output: NDJSON bytes per type, every issue, patients written and failed."""
    issues: Issues = []
    written = failed = 0
    with NdjsonWriter(out) as writer:
        for result in results:
            assert isinstance(result, PatientResult)
            issues.extend(_key(i) for i in result.report)
            if result.ok:
                writer.write_bundle(result.bundle)
                written += 1
            else:
                failed += 1
    issues.extend(_key(i) for i in file_report or ())
    return {p.stem: p.read_bytes() for p in sorted(out.glob("*.ndjson"))}, sorted(issues), written, failed


def _spark_result(run: Any) -> tuple[dict[str, bytes], Issues, int, int]:
    types = sorted({e["type"] for e in run.manifest["output"]})
    files = {t: b"".join(p.read_bytes() for p in manifest_files(run.output, t)) for t in types}
    issues = sorted((r.severity, r.location, r.message, r.rule) for r in run.errors.collect())
    return files, issues, run.written, run.failed


def _tables_reference(directory: Path, out: Path, **kw: Any) -> tuple[dict[str, bytes], Issues, int, int]:
    file_report = Report()
    return _reference(map_tables(directory, file_report=file_report, **kw), out, file_report)


def test_registry_sample_same_as_map_tables(spark: Any, tmp_path: Path) -> None:
    expected = _tables_reference(REGISTRY, tmp_path / "single")
    run = map_tables_spark(spark, REGISTRY, tmp_path / "spark", partitions=3)
    assert _spark_result(run) == expected
    assert expected[2] == 3 and sum(run.counts.values()) == sum(b.count(b"\n") for b in expected[0].values())
    manifest = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    assert {e["type"] for e in manifest["output"]} >= {"Patient", "Condition", "MedicationAdministration"}
    assert sum(e["count"] for e in manifest["output"] if e["type"] == "Patient") == 3


@pytest.mark.parametrize("allow_text_only", [False, True])
def test_mcode_sample_same_as_map_tables(spark: Any, tmp_path: Path, allow_text_only: bool) -> None:
    expected = _tables_reference(MCODE, tmp_path / "single", allow_text_only=allow_text_only)
    run = map_tables_spark(spark, MCODE, tmp_path / "spark", allow_text_only=allow_text_only, partitions=2)
    assert _spark_result(run) == expected
    # Without --allow-text-only both sample patients fail; with it one still does (a clinicalStatus cell).
    assert (run.written, run.failed) == ((1, 1) if allow_text_only else (0, 2))
    errors = {r.location for r in run.errors.where("severity = 'error'").collect()}
    assert f"{MCODE}/condition-information.csv:3:clinicalStatus" in errors


def test_output_does_not_depend_on_partitioning(spark: Any, tmp_path: Path) -> None:
    many = map_tables_spark(spark, REGISTRY, tmp_path / "out", partitions=5)
    # Each patient went to its own partition here, so the files really are split.
    assert len(manifest_files(many.output, "Patient")) == 3
    split = _spark_result(many)
    # A re-run into the same directory replaces the earlier run: no partition of it lingers.
    one = map_tables_spark(spark, REGISTRY, tmp_path / "out", partitions=1)
    assert _spark_result(one) == split
    assert [p.name for p in (tmp_path / "out" / "parts").iterdir()] == ["part-00000"]


def test_generated_10k_extract_same_as_map_tables(spark: Any, tmp_path: Path) -> None:
    extract = write_registry_extract(tmp_path / "extract", 10_000, errors=True)
    expected = _tables_reference(extract, tmp_path / "single")
    run = map_tables_spark(spark, extract, tmp_path / "spark", partitions=4)
    got = _spark_result(run)
    assert got[2:] == expected[2:] == (9_997, 3)
    assert got[1] == expected[1]
    assert got[0] == expected[0]
    locations = {r.location: r.message for r in run.errors.where("severity = 'error'").collect()}
    assert locations[f"{extract}/diagnoses.csv:5002:onset"].startswith("expected a date")
    assert "multiple mieloma" in locations[f"{extract}/diagnoses.csv:3335:condition"]
    assert locations[f"{extract}/patients.csv:10002:patient_id"] == "patient id repeats row 2502; one row per patient"
    assert f"{extract}/stages.csv:" in " ".join(i.location for i in run.file_report)
    assert run.file_errors == 2


def test_case_files_and_ndjson_cases_same_as_map(spark: Any, tmp_path: Path) -> None:
    yamls = sorted((ROOT / "examples").glob("*.yaml"))[:3]
    cases = tmp_path / "cases.ndjson"
    lines = [json.dumps(yaml.safe_load(p.read_text(encoding="utf-8")), ensure_ascii=False, default=str)
             for p in yamls[:2]]
    lines += ["{not json", json.dumps({"patient": {"sex": "male"}, "diagnoses": "none"}), ""]
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    as_json = tmp_path / "case.json"  # a JSON case file, as `map` takes it
    as_json.write_text(json.dumps(yaml.safe_load(yamls[2].read_text(encoding="utf-8")), default=str),
                       encoding="utf-8")
    inputs = [*yamls, as_json, cases]

    def single() -> Any:
        for p in [*yamls, as_json]:
            yield map_file(p)
        yield from map_ndjson_cases(cases)

    expected = _reference(single(), tmp_path / "single")
    run = map_cases_spark(spark, inputs, tmp_path / "spark", partitions=3)
    assert _spark_result(run) == expected
    assert expected[2:] == (6, 2)
    assert any(r.location.startswith(f"{cases}:3: ") for r in run.errors.collect())


def test_export_tables_same_as_single_process_export(spark: Any, tmp_path: Path) -> None:
    run = map_tables_spark(spark, REGISTRY, tmp_path / "spark", partitions=2)
    patients = iter_patients(iter_input(tmp_path / "spark"))  # what `fhir-onco export --input` reads
    expected = flatten_cases(rc for store in patients for rc in read_cases(store))
    frames = export_dataframes(spark, run.output)
    assert set(frames) == set(expected)
    for name, frame in frames.items():
        assert [row.asDict() for row in frame.collect()] == expected[name], name
    assert len(expected["drugs"]) > 20 and len(expected["adverse_events"]) > 3


def test_export_keeps_the_last_copy_of_a_repeated_resource_as_the_single_process(spark: Any, tmp_path: Path) -> None:
    """A Type/id met twice (an export plus a later delta) resolves to its last copy in input order, as
    `export --input` resolves it - not to whichever copy the shuffle or a sort put last."""
    run = map_tables_spark(spark, REGISTRY, tmp_path / "spark", partitions=2)
    src = tmp_path / "bulk"
    src.mkdir()
    for rtype in sorted({e["type"] for e in run.manifest["output"]}):
        (src / f"{rtype}.ndjson").write_bytes(b"".join(p.read_bytes() for p in manifest_files(run.output, rtype)))
    patient = json.loads((src / "Patient.ndjson").read_text(encoding="utf-8").splitlines()[0])
    flipped = "female" if patient.get("gender") != "female" else "male"
    # id first, so this later copy sorts before the original line: a plain sort would keep the original
    later = {"id": patient["id"], **{k: v for k, v in patient.items() if k != "id"}, "gender": flipped}
    (src / "zz-later.ndjson").write_text(json.dumps(later) + "\n", encoding="utf-8")
    expected = flatten_cases(rc for store in iter_patients(iter_input(src)) for rc in read_cases(store))
    assert {r["patient_id"]: r["sex"] for r in expected["patients"]}[patient["id"]] == flipped
    frames = export_dataframes(spark, src, partitions=3)
    for name, frame in frames.items():
        assert [row.asDict() for row in frame.collect()] == expected[name], name


def test_cli_spark_map_tables(spark: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["spark", "map-tables", str(REGISTRY), "-o", str(tmp_path / "out"),
                                 "--master", "local[2]", "--partitions", "2", "--export", str(tmp_path / "tables")])
    assert result.exit_code == 0, result.output
    assert "3 patients (899 resources) written" in result.output
    assert (tmp_path / "out" / "manifest.json").is_file() and (tmp_path / "tables" / "patients.parquet").is_dir()
    # patient data only in owner-only files, as everywhere else (Spark's parquet too, whatever the umask)
    files = [p for d in ("out", "tables") for p in (tmp_path / d).rglob("*") if p.is_file()]
    assert len(files) > 30
    assert not [(str(p), oct(p.stat().st_mode & 0o777)) for p in files if p.stat().st_mode & 0o077]
    # `spark export` of the output: the same tables as --export wrote
    result = runner.invoke(app, ["spark", "export", "--input", str(tmp_path / "out"), "-o", str(tmp_path / "again"),
                                 "--master", "local[2]"])
    assert result.exit_code == 0, result.output
    assert "patients: 3 rows" in result.output
    for name in ("patients", "drugs", "adverse_events"):
        def rows(directory: str, name: str = name) -> list[Any]:
            return sorted(map(tuple, spark.read.parquet(str(tmp_path / directory / f"{name}.parquet")).collect()),
                          key=repr)
        assert rows("again") == rows("tables") and rows("tables"), name


def test_cli_spark_bad_extract_is_located_not_a_traceback(spark: Any, tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "patients.csv").write_text("sex\nmale\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["spark", "map-tables", str(tmp_path / "bad"), "-o", str(tmp_path / "out"),
                                      "--master", "local[2]"])
    assert result.exit_code == 1
    assert "patients.csv:1:patient_id: expected a column 'patient_id'" in result.output
    assert "Traceback" not in result.output


def test_report_style_counts_on_spark_equal_the_report(spark: Any, tmp_path: Path) -> None:
    """The report's adverse-event counts computed on the cluster's DataFrames are the numbers
    `fhir-onco report` prints for the same data (patients once per term at their highest grade)."""
    from fhir_onco.spark.analytics import adverse_event_counts

    run = map_cases_spark(spark, sorted((ROOT / "examples").glob("*.yaml")), tmp_path / "spark", partitions=3)
    assert run.failed == 0
    result = CliRunner().invoke(app, ["-q", "report", "--input", str(run.output), "-f", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    frames = export_dataframes(spark, run.output)
    assert frames["patients"].count() == report["n_patients"] == run.written
    columns = report["tables"]["adverse_events"]["columns"]
    counted = [c for c in columns if c == "any_grade" or (c.startswith("grade_") and not c.endswith("_percent"))
               or c == "ungraded"]
    expected = sorted(tuple(row[c] for c in ["term", *counted]) for row in report["tables"]["adverse_events"]["rows"])
    got = sorted(tuple(row[c] for c in ["term", *counted]) for row in adverse_event_counts(frames).collect())
    assert got == expected
    assert len(expected) >= 5 and any(row[counted.index("grade_ge_3") + 1] for row in expected)


def test_spark_submit_of_the_cli_as_the_readme_says(spark: Any, tmp_path: Path) -> None:
    """The cluster recipe of docs/spark.md, run with a local master: spark-submit starts the JVM and runs
    fhir_onco/__main__.py as the application; the CLI takes the submitted master (no --master given)
    and writes what map-tables writes."""
    import os
    import subprocess
    import sys

    import pyspark

    import fhir_onco

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    main = Path(fhir_onco.__file__).parent / "__main__.py"
    done = subprocess.run([str(submit), "--master", "local[1]", "--conf", "spark.ui.enabled=false", str(main),
                           "spark", "map-tables", str(REGISTRY), "-o", str(tmp_path / "out"), "--partitions", "2",
                           "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert (summary["written"], summary["failed"]) == (3, 0)
    expected = _tables_reference(REGISTRY, tmp_path / "single")[0]
    files = {t: b"".join(p.read_bytes() for p in manifest_files(tmp_path / "out", t)) for t in expected}
    assert files == expected


def test_spark_export_of_a_bad_line_is_located_as_export_does(spark: Any, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "x.ndjson").write_text('{"resourceType": "Patient", "id": "a"}\n\n{"resourceType": "Patient", "id": "b"}\n'
                                  'not json\n{"resourceType": "Patient", "id": "c", "id": "d"}\n', encoding="utf-8")
    runner = CliRunner()
    single = runner.invoke(app, ["-q", "export", "--input", str(src), "-o", str(tmp_path / "single")])
    on_spark = runner.invoke(app, ["spark", "export", "--input", str(src), "-o", str(tmp_path / "spark"),
                                   "--master", "local[2]"])
    assert single.exit_code == on_spark.exit_code == 1, on_spark.output
    expected = f"error: {src / 'x.ndjson'}:4: column 1: not valid JSON"
    assert expected in single.output and expected in on_spark.output
    assert "and more lines like it" in on_spark.output  # line 5: a duplicate key
    assert "Traceback" not in on_spark.output
