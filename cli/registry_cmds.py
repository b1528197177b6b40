"""Registry commands: `map-tables` (CSV extracts -> FHIR) and `cohort generate` (synthetic cohorts).

The CLI owner calls :func:`register` from cli/app.py.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from fhir_onco.cli import common
from fhir_onco.cli.common import AllowTextOpt, EncodingOpt, IdSystemOpt, RegimenCategoryOpt
from fhir_onco.files import write_private_text
from fhir_onco.jsonstream import JsonObjectWriter
from fhir_onco.validation.report import Report


class TableFormat(StrEnum):
    bundle = "bundle"
    ndjson = "ndjson"
    cases = "cases"


class LayoutChoice(StrEnum):
    auto = "auto"
    registry = "registry"
    mcode = "mcode"


def _echo_report(report: Report, as_json: bool) -> None:
    if not as_json:
        for issue in report:
            common.echo(issue.to_text(), err=True)


class _LazyJson:
    """``{"patients": [...], ...}`` on stdout, the list streamed; begun by the first patient."""

    def __init__(self, out: Any) -> None:
        self._writer = JsonObjectWriter(out, indent=2, ensure_ascii=False)
        self.started = False

    def item(self, entry: dict[str, Any]) -> None:
        if not self.started:
            self._writer.begin_list("patients")
            self.started = True
        self._writer.item(entry)

    def finish(self, members: dict[str, Any]) -> None:
        if not self.started:
            self._writer.begin_list("patients")
            self.started = True
        self._writer.end_list()
        for key, value in members.items():
            self._writer.member(key, value)
        self._writer.close()
        typer.echo("")


def map_tables_command(
    directory: Annotated[Path, typer.Argument(help="Directory of CSV tables (registry or mCODE layout).",
                                              show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path("out"),
    fmt: Annotated[TableFormat, typer.Option(
        "--format", "-f", help="bundle: one transaction Bundle per patient; ndjson: one file per resource type; "
        "cases: one case YAML file per patient (no FHIR mapping).")] = TableFormat.bundle,
    layout: Annotated[LayoutChoice, typer.Option(
        "--layout", help="Table layout; auto: registry when patients.csv exists, else mCODE.")] = LayoutChoice.auto,
    encoding: EncodingOpt = None,
    id_system: IdSystemOpt = None,
    regimen_category: RegimenCategoryOpt = None,
    allow_text_only: AllowTextOpt = False,
    tmpdir: Annotated[Path | None, typer.Option(
        "--tmpdir", help="Where the temporary patient index goes (about the size of the CSVs).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="Worker processes (default: all cores); output is the same for any N.",
        show_default=False)] = None,
) -> None:
    """Map a directory of CSV tables to validated FHIR R4, one patient at a time.

    Bad cells are reported as file:row:column; patients with errors are not written, the others are.
    """
    from fhir_onco.case import dump_case
    from fhir_onco.pipeline import NdjsonWriter, default_jobs, write_result_file
    from fhir_onco.tabular import TabularError, map_tables, open_reader

    common.check_inputs([directory])
    common.check_output_dir(output)
    if tmpdir is not None:
        common.check_output_dir(tmpdir, "--tmpdir")

    options: dict[str, Any] = {"encoding": encoding, "tmpdir": tmpdir, "regimen_category": regimen_category}
    if id_system:
        options["id_system"] = options["mrn_system"] = id_system
    file_report = Report()
    # --json: the summary is streamed to stdout patient by patient (memory flat in the number of
    # patients); it starts with the first patient, so an extract that cannot be read at all still
    # prints only {"error": ...}
    summary = _LazyJson(sys.stdout) if as_json else None
    totals: Counter[str] = Counter()
    failed = written = 0
    writer = NdjsonWriter(output) if fmt is TableFormat.ndjson else None
    try:
        if fmt is TableFormat.cases:
            output.mkdir(parents=True, exist_ok=True)
            with open_reader(directory, layout.value, **options) as reader, \
                    common.progress(None, "Patients", enabled=not as_json) as bar:
                file_report.extend(reader.report)
                _echo_report(reader.report, as_json)
                for n, patient in enumerate(reader, start=1):
                    bar.advance()
                    _echo_report(patient.report, as_json)
                    entry: dict[str, Any] = {"source": patient.source, "ok": patient.case is not None}
                    if patient.case is None:
                        failed += 1
                    else:
                        path = output / f"patient-{n:06d}.yaml"
                        write_private_text(path, dump_case(patient.case))
                        entry["output"] = str(path)
                        written += 1
                    if summary is not None:
                        summary.item(entry)
        else:
            results = map_tables(directory, layout.value, allow_text_only=allow_text_only,
                                 file_report=file_report, jobs=jobs or default_jobs(), encode=fmt.value,
                                 **options)
            first = True
            for result in common.iterate(results, None, "Patients", enabled=not as_json):
                if first:
                    _echo_report(file_report, as_json)
                    first = False
                _echo_report(result.report, as_json)
                entry = {"source": result.source, "ok": result.ok}
                if result.ok and result.encoded is not None:
                    counts = result.resource_counts()
                    totals.update(counts)
                    if writer is not None:
                        writer.write_result(result)
                    else:
                        entry["output"] = str(write_result_file(result, output,
                                                                f"Patient-{result.encoded.patient_id}"))
                    entry["resources"] = dict(sorted(counts.items()))
                    written += 1
                else:
                    failed += 1
                    entry["outcome"] = result.report.to_operation_outcome()
                if summary is not None:
                    summary.item(entry)
            if first:
                _echo_report(file_report, as_json)
    except TabularError as exc:
        _echo_report(exc.report, as_json)
        if summary is not None and summary.started:  # (the readers raise before the first patient)
            summary.finish({"error": exc.report.to_operation_outcome()})
        elif as_json:
            typer.echo(json.dumps({"error": exc.report.to_operation_outcome()}, ensure_ascii=False, indent=2))
        raise typer.Exit(1) from None
    finally:
        if writer is not None:
            writer.close()
    file_errors = len(file_report.errors)
    if summary is not None:
        summary.finish({"written": written, "failed": failed, "file_issues": file_report.to_operation_outcome()})
    else:
        what = "case files" if fmt is TableFormat.cases else f"patients ({totals.total()} resources)"
        common.echo(f"{written} {what} written to {output}; {failed} patient(s) failed; "
                    f"{file_errors} file-level error(s)", info=True)
    raise typer.Exit(1 if failed or file_errors else 0)


class CohortFormat(StrEnum):
    cases = "cases"
    bundles = "bundles"
    both = "both"


def cohort_generate_command(
    spec: Annotated[Path, typer.Argument(help="Cohort spec (YAML), e.g. examples/cohorts/seed004-isapd.yaml.",
                                         show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path("cohort"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives byte-identical files.")] = 0,
    fmt: Annotated[CohortFormat, typer.Option(
        "--format", "-f", help="cases: case YAML files; bundles: FHIR transaction Bundles; both.",
    )] = CohortFormat.cases,
    allow_text_only: Annotated[bool, typer.Option(
        "--allow-text-only", help="Bundles: keep unknown terms as text (flagged) instead of failing.")] = False,
) -> None:
    """Generate synthetic patients whose counts reproduce a published cohort's tables exactly."""
    from fhir_onco.cohort import CohortError, generate_to_directory
    from fhir_onco.errors import UNEXPECTED_ERRORS, internal_error

    common.check_inputs([spec])
    common.check_output_dir(output)
    try:
        with common.progress(None, "Generating") as bar:
            def tick(total: int) -> None:
                bar.total = total
                bar.advance()

            summary = generate_to_directory(spec, output, seed=seed, cases=fmt is not CohortFormat.bundles,
                                            bundles=fmt is not CohortFormat.cases, allow_text_only=allow_text_only,
                                            on_patient=tick)
    except CohortError as exc:
        common.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except UNEXPECTED_ERRORS as exc:  # a spec value no check foresaw: located, never a traceback
        for issue in internal_error(str(spec), exc, "generating the cohort"):
            common.echo(issue.to_text(), err=True)
        raise typer.Exit(1) from None
    for line in summary.lines():
        common.echo(line, info=True)
    if summary.failed:
        sys.exit(1)


def register(app: typer.Typer) -> None:
    """Add `map-tables` and `cohort generate` to the main app."""
    app.command("map-tables")(map_tables_command)
    cohort = typer.Typer(name="cohort", help="Synthetic cohorts from published tables.", no_args_is_help=True)
    cohort.command("generate")(cohort_generate_command)
    app.add_typer(cohort, name="cohort")
