"""`fhir-onco report`, `export` and `timeline`: tables and plots back out of FHIR data.

Each reads FHIR resources from ``--input`` (a directory or file of bundle JSON / NDJSON / case
files) or from ``--server`` (searched with the server client; credentials from the environment, see
docs/server.md). Heavy imports (matplotlib, pyarrow) happen inside the commands that need them.
Exit codes: 0 done, 1 input or server errors, 2 usage errors. Messages never carry patient data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fhir_onco.cli import common
from fhir_onco.errors import UNEXPECTED_ERRORS
from fhir_onco.files import write_private_text

if TYPE_CHECKING:
    from fhir_onco.analytics.reader import ResourceStore

InputOpt = Annotated[Path | None, typer.Option(
    "--input", "-i", help="Directory or file of FHIR bundle JSON, resource JSON or NDJSON "
    "(case YAML files are mapped to FHIR first).", show_default=False)]
SERVER_ENV = "FHIR_ONCO_SERVER"
ServerOpt = Annotated[str | None, typer.Option(
    "--server", "-s", help=f"FHIR server base URL (default: ${SERVER_ENV} when no --input is given; "
    "credentials from FHIR_ONCO_* environment variables, see docs/server.md).", show_default=False)]

BulkOpt = Annotated[bool, typer.Option(
    "--bulk", help="With --server: read through a Bulk Data $export (streamed, regrouped per patient on disk; "
    "searches when the server has no $export).")]
GroupOpt = Annotated[str | None, typer.Option(
    "--group", help="With --server --bulk: only this Group's patients (a Group-level $export; types the server "
    "leaves out of it are fetched from a system-level $export and said so).", show_default=False)]


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


class IndexRule(StrEnum):
    auto = "auto"
    best_response_regimen = "best-response-regimen"
    first_regimen = "first-regimen"
    hsct = "hsct"
    diagnosis = "diagnosis"


AllowTextOpt = Annotated[bool, typer.Option(
    "--allow-text-only", help="Case files in the input: keep unknown terms as text (flagged) instead of failing.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    common.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _source(input_: Path | None, server: str | None) -> tuple[Path | None, str | None]:
    if input_ is None and server is None:
        server = os.environ.get(SERVER_ENV) or None
    if (input_ is None) == (server is None):
        raise _fail(f"give exactly one of --input DIR or --server URL (or set {SERVER_ENV})", 2)
    if input_ is not None:
        common.check_inputs([input_])
    return input_, server


def _load(input_: Path | None, server: str | None, types: tuple[str, ...],
          patient: str | None = None, allow_text_only: bool = False) -> ResourceStore:
    """Resources from the input or the server; errors become exit code 1 with a located message."""
    from fhir_onco.analytics.reader import InputError, read_input, read_server

    try:
        if input_ is not None:
            return read_input(input_, types, allow_text_only=allow_text_only)
        assert server is not None
        return read_server(server, types, patient_id=patient)
    except InputError as exc:
        raise _fail(str(exc)) from None
    except UNEXPECTED_ERRORS as exc:
        raise _fail(f"{input_ or 'server data'}: internal error while reading ({type(exc).__name__})") from None
    except Exception as exc:
        from fhir_onco.server.errors import ServerIOError

        if isinstance(exc, ServerIOError):
            raise _fail(f"server: {exc}") from None
        raise


def _bulk_stores(server: str, group: str | None = None) -> Iterator[ResourceStore]:
    """One store per patient from a server's Bulk Data export (system level, or a Group's), streamed
    (see fhir_onco.server.bulk); the export's notes (what it fell back on or could not fetch) go to stderr."""
    from fhir_onco.analytics.reader import CLINICAL_TYPES, ResourceStore
    from fhir_onco.server.bulk import ExportRequest, ExportStats, export_patients
    from fhir_onco.server.client import FhirClient

    stats = ExportStats()
    with FhirClient(server) as client:
        request = ExportRequest("group", group=group, types=CLINICAL_TYPES) if group else ExportRequest(
            types=CLINICAL_TYPES)
        for _, resources in export_patients(client, request, stats=stats):
            yield ResourceStore(frozenset(CLINICAL_TYPES)).extend(resources)
    for note in stats.notes:
        typer.echo(f"note: {note}", err=True)


def _check_group(group: str | None, server: str | None, bulk: bool) -> None:
    if group is not None and (server is None or not bulk):
        raise _fail("--group names a Group on the server: give it with --server URL --bulk", 2)


def _input_resources(input_: Path, allow_text_only: bool) -> Iterator[Any]:
    """Every resource or bundle under the input, file by file, with a progress bar over the files."""
    from fhir_onco.analytics.reader import input_files, iter_file

    files = input_files(input_)
    for path in common.iterate(files, len(files), "Reading"):
        yield from iter_file(path, allow_text_only)


def _patient_stores(input_: Path | None, server: str | None, bulk: bool,
                    allow_text_only: bool, group: str | None = None) -> Iterator[ResourceStore]:
    """Each patient's resources, one patient at a time in patient id order, from any source: the input
    or the server's searches are regrouped per patient through an on-disk index (a Bulk Data export
    too, in fhir_onco.server.bulk), so memory holds one patient, never the whole input."""
    from fhir_onco.analytics.reader import CLINICAL_TYPES, iter_patients, iter_server

    if server is not None and bulk:
        yield from _bulk_stores(server, group)
    elif server is not None:
        yield from iter_patients(iter_server(server, CLINICAL_TYPES), CLINICAL_TYPES)
    else:
        assert input_ is not None
        yield from iter_patients(_input_resources(input_, allow_text_only), CLINICAL_TYPES)


def _cases(input_: Path | None, server: str | None, bulk: bool, allow_text_only: bool,
           stats: Any, group: str | None = None) -> Iterator[Any]:
    """The case of each patient, read back from FHIR one patient at a time."""
    from fhir_onco.analytics.cases import read_cases

    for store in _patient_stores(input_, server, bulk, allow_text_only, group):
        yield from read_cases(store, stats=stats)


def _reading(input_: Path | None, run: Any) -> Any:
    """Run a consumer of :func:`_cases`; read errors become exit code 1 with a located message
    (usage errors of --by / --where are the caller's to report)."""
    from fhir_onco.analytics.compare import FieldError, MissingStatsError
    from fhir_onco.analytics.reader import InputError
    from fhir_onco.server.errors import ServerIOError

    try:
        return run()
    except (FieldError, MissingStatsError):
        raise
    except InputError as exc:
        raise _fail(str(exc)) from None
    except ServerIOError as exc:
        raise _fail(f"server: {exc}") from None
    except UNEXPECTED_ERRORS as exc:  # FHIR that is well-formed JSON but not what a resource may hold
        raise _fail(f"{input_ or 'server data'}: internal error while reading ({type(exc).__name__})") from None


class _Counted:
    """Passes one patient's tables at a time on, counting the patients."""

    def __init__(self, rows: Iterator[dict[str, list[dict[str, Any]]]]):
        self.rows, self.n = rows, 0

    def __iter__(self) -> Iterator[dict[str, list[dict[str, Any]]]]:
        for one in self.rows:
            self.n += len(one["patients"])
            yield one


def _warn_skipped(stats: Any) -> None:
    for line in stats.skipped:
        common.echo(f"warning: skipped {line}", err=True)


def _int_list(text: str | None, what: str) -> list[int]:
    if not text:
        return []
    try:
        return sorted(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise _fail(f"{what}: expected whole numbers separated by commas, e.g. 65,75", 2) from None


def report_command(
    input_: InputOpt = None,
    server: ServerOpt = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="table: readable text; csv; json.")]
    = ReportFormat.table,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (table, json) or directory (csv: one file per table); "
        "default: standard output.", show_default=False)] = None,
    index: Annotated[IndexRule, typer.Option(
        "--index", help="Cohort entry date per patient (survival and prior therapy count from it).")]
    = IndexRule.auto,
    age_bands: Annotated[str | None, typer.Option(
        "--age-bands", help="Age cut points for the baseline table, e.g. 65,75 -> <65, 65-75, >75.",
        show_default=False)] = None,
    landmarks: Annotated[str, typer.Option(
        "--landmarks", help="Months at which to report survival, e.g. 12,24.")] = "12",
    by: Annotated[str | None, typer.Option(
        "--by", help="Compare groups: a column of the export tables, e.g. conditioning_intensity, donor_match, "
        "cohort_group, hsct.graft_source. Each table gets a column per group, the total and a p-value "
        "(needs the [stats] extra).", show_default=False)] = None,
    where: Annotated[list[str] | None, typer.Option(
        "--where", help="Only patients with FIELD=VALUE (or FIELD!=VALUE), e.g. condition=B-ALL; repeatable.",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    allow_text_only: AllowTextOpt = False,
    bulk: BulkOpt = False,
    group: GroupOpt = None,
) -> None:
    """Cohort tables from FHIR data: baseline, best response with ORR, AEs by grade, deaths, KM PFS/OS."""
    from fhir_onco.analytics import compare
    from fhir_onco.analytics.cases import ReadStats
    from fhir_onco.analytics.report import patient_tables, stream_report

    if as_json:
        if fmt not in (ReportFormat.table, ReportFormat.json):
            raise _fail("--json means --format json; give one of them", 2)
        fmt = ReportFormat.json
    input_, server = _source(input_, server)
    _check_group(group, server, bulk)
    if output is not None:
        if fmt is ReportFormat.csv:
            common.check_output_dir(output)
        else:
            common.check_output_file(output)
    bands = _int_list(age_bands, "--age-bands")
    marks = _int_list(landmarks, "--landmarks")
    try:
        for field in [by or "", *(w.partition("!=")[0].partition("=")[0] for w in where or [])]:
            if field.strip():
                compare.resolve_field(field.strip())
    except compare.FieldError as exc:
        raise _fail(str(exc), 2) from None
    options: dict[str, Any] = {"index": index.value, "age_bands": bands, "landmarks_months": marks}
    stats = ReadStats()
    try:
        def kept(rows: Iterator[dict[str, list[dict[str, Any]]]]) -> Iterator[dict[str, list[dict[str, Any]]]]:
            for one in rows:
                one = compare.where(one, where) if where else one
                if one["patients"]:
                    yield one

        patients = kept(patient_tables(_cases(input_, server, bulk, allow_text_only, stats, group)))
        if by:  # one patient at a time too: an aggregate for the total and one per group
            counted = _Counted(patients)
            try:
                result = _reading(input_, lambda: compare.stream_grouped_report(counted, by, **options)[0])
            except compare.FieldError:
                if not counted.n:
                    result = None  # no patients at all: said below, not as "fewer than two groups"
                else:
                    raise
            n = counted.n
        else:  # one patient at a time: memory holds the counters, not the rows
            result = _reading(input_, lambda: stream_report(patients, **options))
            n = result.n_patients
    except compare.FieldError as exc:
        raise _fail(str(exc), 2) from None
    except compare.MissingStatsError as exc:
        raise _fail(str(exc), 2) from None
    _warn_skipped(stats)
    if not n or result is None:
        raise _fail(f"{input_ or server}: no Patient resources in the input" + (" meet --where" if where else ""))
    if fmt is ReportFormat.csv and output is not None:
        paths = result.write_csv(output)
        common.echo(f"{len(paths)} tables for {result.n_patients} patients written to {output}", err=True, info=True)
        return
    text = {ReportFormat.table: result.to_text, ReportFormat.json: result.to_json,
            ReportFormat.csv: result.to_csv}[fmt]()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_private_text(output, text)
        common.echo(f"report for {result.n_patients} patients written to {output}", err=True, info=True)


def export_command(
    input_: InputOpt = None,
    server: ServerOpt = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv, or parquet (needs pyarrow).")]
    = ExportFormat.csv,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the tables.")] = Path("export"),
    tables: Annotated[str | None, typer.Option(
        "--tables", help="Only these tables, comma separated (default: all).", show_default=False)] = None,
    allow_text_only: AllowTextOpt = False,
    bulk: BulkOpt = False,
    group: GroupOpt = None,
) -> None:
    """Flattened analysis tables, one file per clinical domain, for pandas / R users."""
    from fhir_onco.analytics.export import MissingDependencyError, require_pyarrow
    from fhir_onco.analytics.flatten import TABLES

    input_, server = _source(input_, server)
    _check_group(group, server, bulk)
    names = [t.strip() for t in tables.split(",")] if tables else list(TABLES)
    unknown = [t for t in names if t not in TABLES]
    if unknown:
        raise _fail(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(TABLES)}", 2)
    if fmt is ExportFormat.parquet:
        try:
            require_pyarrow()
        except MissingDependencyError as exc:
            raise _fail(str(exc), 2) from None
    common.check_output_dir(output)
    counts = _stream_export(input_, server, names, output, fmt.value, allow_text_only, bulk, group)
    summary = ", ".join(f"{n} {k}" for n, k in counts.items())
    common.echo(f"{len(counts)} {fmt.value} tables written to {output} (rows: {summary})", err=True, info=True)


def _stream_export(input_: Path | None, server: str | None, names: list[str], output: Path,
                   fmt: str, allow_text_only: bool = False, bulk: bool = False,
                   group: str | None = None) -> dict[str, int]:
    """Cases are read and their rows written one patient at a time, whatever the source."""
    from fhir_onco.analytics.cases import ReadStats
    from fhir_onco.analytics.export import stream_tables

    stats = ReadStats()
    counts = _reading(input_, lambda: stream_tables(_cases(input_, server, bulk, allow_text_only, stats, group), output,
                                                    fmt, names, unique=True))  # type: ignore[arg-type]
    _warn_skipped(stats)
    return counts  # type: ignore[no-any-return]


def _timeline_store(key: str, input_: Path | None, server: str | None,
                    allow_text_only: bool = False) -> tuple[ResourceStore, str]:
    """The resources of one patient: a case / bundle file, or a patient in --input or on --server."""
    from fhir_onco.analytics.reader import CLINICAL_TYPES, find_patient

    if input_ is not None and server is not None:
        raise _fail("give at most one of --input DIR or --server URL", 2)
    if input_ is None and server is None and not Path(key).is_file():
        server = os.environ.get(SERVER_ENV) or None
    if server is not None:
        from fhir_onco.analytics.reader import read_server
        from fhir_onco.server.client import FhirClient
        from fhir_onco.server.errors import ServerIOError
        from fhir_onco.server.pull import pull_patient

        try:
            with FhirClient(server) as client:
                pulled = pull_patient(client, key)
                # $everything may leave types out (sekmet omits AdverseEvent): search them by subject too
                store = read_server(server, CLINICAL_TYPES, patient_id=pulled.patient, client=client)
        except ServerIOError as exc:
            raise _fail(f"server: {exc}") from None
        return store.extend(pulled.resources), pulled.patient
    if input_ is None:
        path = Path(key)
        if not path.is_file():
            raise _fail(f"no such input: {path} (to name a patient instead, add --input DIR or --server URL)", 2)
        store = _load(path, None, CLINICAL_TYPES, allow_text_only=allow_text_only)
        patients = store.patients()
        if len(patients) != 1:
            raise _fail(f"{path}: expected one patient, found {len(patients)}")
        return store, patients[0]["id"]
    common.check_inputs([input_])
    store = _load(input_, None, CLINICAL_TYPES, allow_text_only=allow_text_only)
    pid = find_patient(store, key)
    if pid is None:  # the key is patient data: not repeated
        raise _fail(f"{input_}: no single patient with that id or identifier")
    return store, pid


def timeline_command(
    case_or_patient: Annotated[str, typer.Argument(
        metavar="CASE_OR_PATIENT", help="A case file or bundle JSON; or, with --input / --server, a patient "
        "id or identifier (VALUE or SYSTEM|VALUE).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Image to write: .png or .svg.")]
    = Path("timeline.png"),
    input_: InputOpt = None,
    server: ServerOpt = None,
    start: Annotated[str | None, typer.Option("--from", help="First date shown (YYYY-MM-DD or YYYY-MM).",
                                              show_default=False)] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last date shown.", show_default=False)] = None,
    title: Annotated[str | None, typer.Option("--title", help="Plot title (default: diagnosis, sex, age).",
                                              show_default=False)] = None,
    hsct: Annotated[int | None, typer.Option(
        "--hsct", help="The HSCT the day axis counts from: 1 = the first by date (default: the last allogeneic).",
        show_default=False)] = None,
    whole: Annotated[bool, typer.Option(
        "--whole", help="The whole history (default for a transplant case: day -60 to day +365).")] = False,
    allow_text_only: AllowTextOpt = False,
) -> None:
    """Patient swimmer plot: regimens as bars, HSCT day +N axis, MRD (log), AEs with grades, responses."""
    if output.suffix.lower() not in (".png", ".svg"):
        raise _fail("--output must end in .png or .svg", 2)
    common.check_output_file(output)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise _fail("the timeline needs matplotlib, which is an extra: pip install 'fhir-onco[plot]'", 2) from None
    from fhir_onco.analytics.timeline import build_timeline, parse_day, render_timeline

    try:
        window = (parse_day(start) if start else None, parse_day(end) if end else None)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    store, pid = _timeline_store(case_or_patient, input_, server, allow_text_only)
    where = input_ or case_or_patient  # messages name the input, never patient data
    try:
        timeline = build_timeline(store, pid, title=title, hsct=hsct)
    except ValueError as exc:
        raise _fail(f"{where}: {exc}") from None
    except UNEXPECTED_ERRORS as exc:
        raise _fail(f"{where}: internal error while reading ({type(exc).__name__})") from None
    try:
        render_timeline(timeline, output, start=window[0], end=window[1], whole=whole)
    except ValueError as exc:
        raise _fail(f"{where}: {exc}") from None
    common.echo(f"timeline written to {output} ({len(timeline.spans)} treatment bars, "
                f"{len(timeline.adverse_events)} adverse events, {len(timeline.mrd)} MRD values)", err=True, info=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
    app.command("export")(export_command)
    app.command("timeline")(timeline_command)
