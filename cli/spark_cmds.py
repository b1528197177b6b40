"""`fhir-onco spark ...`: the mapping and export commands on Apache Spark (extra ``[spark]``).

A thin layer over :mod:`fhir_onco.spark`; PySpark is imported only when a command runs, so the rest
of the CLI works without it. Registered by cli/app.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fhir_onco.cli import common
from fhir_onco.cli.common import AllowTextOpt, EncodingOpt, IdSystemOpt, RegimenCategoryOpt

from .registry_cmds import LayoutChoice

spark_app = typer.Typer(name="spark", no_args_is_help=True,
                        help="Map registry extracts and case files, and export analysis tables, on Apache Spark.")

Master = Annotated[str | None, typer.Option(
    "--master", help="Spark master: local[2], local[*], spark://host:7077, yarn ... (default: the one spark-submit "
    "was given, else local[*]).")]
Partitions = Annotated[int | None, typer.Option(
    "--partitions", min=1, help="Output partitions (default: twice the cores, and one per 1 MB of input so that an "
    "executor's memory does not grow with the extract); the resources are the same whatever the number.")]
ExportTo = Annotated[Path | None, typer.Option(
    "--export", help="Also write the analysis tables of the mapped patients as parquet into this directory.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print a JSON summary.")]
SHOWN_ISSUES = 20  # the rest are in the error table; a million lines on a terminal help nobody


def _check_paths(inputs: list[Path], output: Path, export_to: Path | None) -> None:
    """As in every command: a missing input or an unusable output directory is a usage error (exit 2),
    found before Spark (and its JVM) starts."""
    common.check_inputs(inputs)
    common.check_output_dir(output)
    if export_to is not None:
        common.check_output_dir(export_to, "--export")


def _session(master: str | None) -> Any:
    from fhir_onco.spark import SparkUnavailableError, local_session

    try:
        return local_session(master)
    except SparkUnavailableError as exc:
        typer.echo(f"ERROR {exc}", err=True)
        raise typer.Exit(1) from None


def _export(spark: Any, input_dir: Path, output: Path, partitions: int | None = None) -> dict[str, int]:
    """write_export; a line that is not JSON is exit 1 with its file:line, as in `fhir-onco export`."""
    from fhir_onco.analytics.reader import InputError
    from fhir_onco.spark.analytics import write_export

    try:
        return write_export(spark, input_dir, output, partitions=partitions)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _finish(spark: Any, run: Any, export_to: Path | None, as_json: bool) -> None:
    """Print file-level findings, the first patient issues and the summary; exit 1 on any error."""
    if not as_json:
        for issue in run.file_report:
            typer.echo(issue.to_text(), err=True)
    patient_issues = run.errors.where("patient IS NOT NULL")
    shown = patient_issues.limit(SHOWN_ISSUES).collect()
    total_issues = patient_issues.count() if len(shown) == SHOWN_ISSUES else len(shown)
    if not as_json:
        for row in shown:
            rule = f" [rule: {row.rule}]" if row.rule else ""
            typer.echo(f"{row.severity.upper()} {row.location}: {row.message}{rule}", err=True)
        if total_issues > len(shown):
            typer.echo(f"... {total_issues - len(shown)} more in {run.output / 'errors.parquet'}", err=True)
    tables = _export(spark, run.output, export_to) if export_to is not None else None
    if as_json:
        summary: dict[str, Any] = {"written": run.written, "failed": run.failed, "resources": dict(sorted(
            run.counts.items())), "patient_issues": total_issues, "file_issues": run.file_report.to_operation_outcome(),
            "manifest": str(run.output / "manifest.json"), "errors": str(run.output / "errors.parquet")}
        if tables is not None:
            summary["export"] = tables
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{run.written} patients ({run.resources} resources) written to {run.output}; {run.failed} "
                   f"patient(s) failed; {run.file_errors} file-level error(s); error table: "
                   f"{run.output / 'errors.parquet'}")
        if tables is not None:
            typer.echo(f"analysis tables ({sum(tables.values())} rows) written to {export_to}")
    raise typer.Exit(1 if run.failed or run.file_errors else 0)


@spark_app.command("map-tables", epilog="Example: fhir-onco spark map-tables examples/registry -o spark-out "
                   "--master 'local[2]'")
def spark_map_tables_command(
    directory: Annotated[Path, typer.Argument(help="Directory of CSV tables (registry or mCODE layout), readable "
                                              "by the executors at this path.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory (Bulk Data NDJSON, manifest.json, "
                                         "errors.parquet), writable by the executors at this path.")] = Path("out"),
    layout: Annotated[LayoutChoice, typer.Option(
        "--layout", help="Table layout; auto: registry when patients.csv exists, else mCODE.")] = LayoutChoice.auto,
    encoding: EncodingOpt = None,
    id_system: IdSystemOpt = None,
    regimen_category: RegimenCategoryOpt = None,
    allow_text_only: AllowTextOpt = False,
    master: Master = None,
    partitions: Partitions = None,
    export_to: ExportTo = None,
    as_json: AsJson = False,
) -> None:
    """Map a CSV extract on Spark: the same rows, cases, resources and file:row:column messages as map-tables."""
    from fhir_onco.spark import map_tables_spark
    from fhir_onco.tabular import TabularError

    options: dict[str, Any] = {"encoding": encoding, "regimen_category": regimen_category}
    if id_system:
        options["id_system"] = options["mrn_system"] = id_system
    _check_paths([directory], output, export_to)
    spark = _session(master)
    try:
        run = map_tables_spark(spark, directory, output, layout.value, partitions=partitions,
                               allow_text_only=allow_text_only, **options)
    except TabularError as exc:
        for issue in exc.report:
            typer.echo(issue.to_text(), err=True)
        raise typer.Exit(1) from None
    _finish(spark, run, export_to, as_json)


@spark_app.command("map", epilog="Example: fhir-onco spark map examples/ -o spark-out")
def spark_map_command(
    cases: Annotated[list[Path], typer.Argument(help="Case files (.yaml, .json), NDJSON files of cases (one JSON case "
                                                "per line), or directories of them.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path("out"),
    allow_text_only: AllowTextOpt = False,
    master: Master = None,
    partitions: Partitions = None,
    export_to: ExportTo = None,
    as_json: AsJson = False,
) -> None:
    """Map case files on Spark to Bulk Data NDJSON (the same resources as `map -f ndjson`)."""
    from fhir_onco.spark.cases import map_cases_spark

    _check_paths(cases, output, export_to)
    spark = _session(master)
    run = map_cases_spark(spark, cases, output, partitions=partitions, allow_text_only=allow_text_only)
    _finish(spark, run, export_to, as_json)


@spark_app.command("export", epilog="Example: fhir-onco spark export --input spark-out -o tables")
def spark_export_command(
    input_dir: Annotated[Path, typer.Option("--input", help="Directory of FHIR NDJSON (our Spark output, or a Bulk "
                                            "Data export).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory (one parquet per table).")] = Path(
        "tables"),
    master: Master = None,
    partitions: Partitions = None,
) -> None:
    """The analysis tables of `export` as parquet, computed on Spark."""
    _check_paths([input_dir], output, None)
    spark = _session(master)
    counts = _export(spark, input_dir, output, partitions)
    for name, n in counts.items():
        typer.echo(f"{name}: {n} rows")
    typer.echo(f"{len(counts)} tables written to {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(spark_app, name="spark")
