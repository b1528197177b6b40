"""``fhir-onco push | pull | sync``: move patients to and from FHIR servers.

Server URL: ``--server`` or ``FHIR_ONCO_SERVER``. Credentials only from the environment or a
credentials file (``FHIR_ONCO_TOKEN``, ``FHIR_ONCO_USERNAME``/``FHIR_ONCO_PASSWORD``,
``FHIR_ONCO_CLIENT_ID``/``FHIR_ONCO_CLIENT_SECRET``, ``FHIR_ONCO_CREDENTIALS_FILE``), never from
the command line, where they would end up in shell history and process lists.

Exit codes: 0 everything went through, 1 data or server errors, 2 usage errors.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from fhir_onco.cli import common
from fhir_onco.cli.common import AllowTextOpt, EncodingOpt, IdSystemOpt, RegimenCategoryOpt
from fhir_onco.files import write_private_text
from fhir_onco.server.errors import ServerIOError

PROGRESS_THRESHOLD = 10
STATE_FILE = ".fhir-onco-sync.sqlite"


class PullFormat(StrEnum):
    bundle = "bundle"
    case = "case"


class OnRemoved(StrEnum):
    keep = "keep"
    inactivate = "inactivate"
    delete = "delete"


ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        "-s",
        envvar="FHIR_ONCO_SERVER",
        help="FHIR base URL, e.g. http://localhost:8080/fhir (or set FHIR_ONCO_SERVER).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]
ConcurrencyOpt = Annotated[
    int,
    typer.Option("--concurrency", "-j", min=1, max=64, help="Patients in flight at once (one per patient)."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Compare with the server and report; write nothing.")]
BatchOpt = Annotated[
    bool,
    typer.Option(
        "--batch",
        help="Send batch bundles (each resource alone) instead of atomic transactions.",
    ),
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds to wait for one server answer.")]
CaBundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        exists=True,
        dir_okay=False,
        help="CA certificates to verify the server's TLS certificate with.",
    ),
]
RetriesOpt = Annotated[
    int,
    typer.Option(
        "--retries",
        min=0,
        max=20,
        help="Retries of a failed request, when repeating it is safe (backoff with jitter).",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log requests (paths only, never data).")]
ReplaceOpt = Annotated[
    bool,
    typer.Option(
        "--replace",
        help="Delete resources an earlier push wrote for a patient that this input no longer produces "
        "(e.g. written from another input of the same patient); without it such a patient is refused.",
    ),
]
DiagnosticsOpt = Annotated[
    bool,
    typer.Option(
        "--server-diagnostics",
        help="Show the server's own error text (redacted of credentials; it may quote patient data).",
    ),
]
DeidentifyOpt = Annotated[
    Path | None,
    typer.Option("--deidentify", help="De-identify on the way out with this policy YAML (key from "
                 "$FHIR_ONCO_DEID_KEY or $FHIR_ONCO_DEID_KEY_FILE; docs/deidentify.md).", show_default=False),
]


def _table_options(id_system: str | None, regimen_category: str | None, encoding: str | None,
                   allow_text_only: bool = False) -> dict[str, Any]:
    options: dict[str, Any] = {"regimen_category": regimen_category, "encoding": encoding,
                               "allow_text_only": allow_text_only or None}
    if id_system:
        options["id_system"] = options["mrn_system"] = id_system
    return options


def _usage(message: str) -> typer.Exit:
    return common.usage_error(message)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("fhir_onco").setLevel(logging.INFO if verbose else logging.ERROR)


@contextmanager
def _client(
    server: str | None, timeout: float, ca_bundle: Path | None, retries: int, diagnostics: bool = False
) -> Iterator[Any]:
    from fhir_onco.server.client import FhirClient, RetryPolicy
    from fhir_onco.server.errors import ConfigurationError, show_server_diagnostics

    show_server_diagnostics(diagnostics)
    if not server:
        raise _usage("no server: pass --server URL or set FHIR_ONCO_SERVER")
    if not server.startswith(("http://", "https://")):
        raise _usage(f"--server must be an http:// or https:// URL, not {server!r}")
    try:
        client = FhirClient(
            server,
            timeout=(min(10.0, timeout), timeout),
            verify=str(ca_bundle) if ca_bundle else True,
            retry=RetryPolicy(max_attempts=retries + 1),
        )
    except ConfigurationError as e:  # credentials file or variables unusable: a usage error
        raise _usage(str(e)) from None
    try:
        yield client
    finally:
        client.close()


@contextmanager
def _progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[Any], None]]:
    with common.progress(total, label, enabled=not quiet) as bar:
        yield lambda _result: bar.advance()


def _emit(report: Any, as_json: bool) -> None:
    """Print the report: streamed from the report's on-disk result log, never built in memory."""
    if as_json:
        report.write_json(sys.stdout)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    failed = [report.failures()]
    if hasattr(report, "iter_removed"):
        failed.append(report.iter_removed(failed_only=True))
    for results in failed:
        for p in results:
            typer.echo(f"FAILED {p.error}", err=True)
    for err in report.input_errors:
        typer.echo(f"INPUT  {err}", err=True)
    for warning in getattr(report, "input_warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    t = report.totals()
    pt, rs = t["patients"], t["resources"]
    typer.echo(
        f"patients: {pt['total']} ({pt['created']} created, {pt['updated']} updated, "
        f"{pt['unchanged']} unchanged, {pt['deleted']} deleted, {pt['failed']} failed)"
    )
    typer.echo(
        f"resources: {rs['created']} created, {rs['updated']} updated, "
        f"{rs['unchanged']} unchanged, {rs['deleted']} deleted, {rs['failed']} failed"
        + (" (dry run: nothing was written)" if report.dry_run else "")
    )
    removed = report.log.removed
    if removed:
        typer.echo(f"removed from source: {removed} patient(s), policy {report.removal_policy}")
    if getattr(report, "removal_skipped", None):
        typer.echo(f"note: {report.removal_skipped}", err=True)
    typer.echo(f"{report.requests} request(s), {report.retries} retried, {report.seconds:.1f}s")


def _fail(e: ServerIOError, as_json: bool) -> typer.Exit:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": str(e), "kind": type(e).__name__}))
    typer.echo(f"error: {e}", err=True)
    return typer.Exit(1)


def _deidentify(bundles: list[Any], policy: Path) -> tuple[list[Any], list[str]]:
    from fhir_onco.deidentify import DeidKeyError, PolicyError
    from fhir_onco.deidentify.outbound import deidentify_outbound

    try:
        return deidentify_outbound(bundles, policy)
    except (DeidKeyError, PolicyError) as e:
        raise _usage(str(e)) from None


def push_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Case files (.yaml/.yml/.json), FHIR Bundle .json files, directories of them, "
            "or registry CSV extract directories.",
            show_default=False,
        ),
    ],
    server: ServerOpt = None,
    dry_run: DryRunOpt = False,
    batch: BatchOpt = False,
    concurrency: ConcurrencyOpt = 4,
    as_json: JsonOpt = False,
    timeout: TimeoutOpt = 300.0,
    ca_bundle: CaBundleOpt = None,
    retries: RetriesOpt = 4,
    verbose: VerboseOpt = False,
    id_system: IdSystemOpt = None,
    regimen_category: RegimenCategoryOpt = None,
    encoding: EncodingOpt = None,
    replace: ReplaceOpt = False,
    diagnostics: DiagnosticsOpt = False,
    deidentify: DeidentifyOpt = None,
    allow_text_only: AllowTextOpt = False,
) -> None:
    """Push patients: one atomic transaction each, only what changed, no duplicates.

    Example: fhir-onco push cases/ out/ndjson/ --server http://localhost:8080/fhir --dry-run
    """
    from fhir_onco.server.inputs import estimate_patients, expand_inputs, iter_inputs
    from fhir_onco.server.push import push
    from fhir_onco.server.results import SpooledLines

    _setup_logging(verbose)
    common.check_inputs(inputs)
    items = expand_inputs(inputs)
    if not items:
        raise _usage("no input files (.json, .yaml, .yml, .ndjson) or CSV extracts found")
    total = estimate_patients(items)
    del items  # one path per file: not kept while pushing (iter_inputs lists them again)
    warnings = SpooledLines()  # skipped files, ignored columns: on disk, like the report
    with _client(server, timeout, ca_bundle, retries, diagnostics) as client:
        stream: Iterable[Any] = iter_inputs(
            inputs,
            table_options=_table_options(id_system, regimen_category, encoding, allow_text_only),
            warnings=warnings,
        )
        if deidentify is not None:
            # de-identification needs the whole cohort at once (k-anonymity): this path is not streamed
            from fhir_onco.server.errors import InputError

            loaded = list(stream)
            deid_bundles, deid_errors = _deidentify([b for b in loaded if not isinstance(b, InputError)], deidentify)
            stream = [*(b for b in loaded if isinstance(b, InputError)), *map(InputError, deid_errors), *deid_bundles]
        try:
            with _progress(total, "Pushing", as_json) as tick:
                report = push(
                    client,
                    stream,
                    concurrency=concurrency,
                    mode="batch" if batch else "transaction",
                    dry_run=dry_run,
                    on_result=tick,
                    keep_versions=False,
                    foreign="replace" if replace else "refuse",
                )
        except ServerIOError as e:
            raise _fail(e, as_json) from None
    for warning in warnings:  # push's JSON report has no place for them: stderr either way
        typer.echo(f"warning: {warning}", err=True)
    warnings.close()
    with report:
        _emit(report, as_json)
        ok = report.ok
    raise typer.Exit(0 if ok else 1)


def sync_command(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Directories (or files) of cases / bundles, or registry CSV extract directories.",
            show_default=False,
        ),
    ],
    server: ServerOpt = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help=f"State store (SQLite). Default: SOURCE/{STATE_FILE} for one directory, else ./{STATE_FILE}.",
            dir_okay=False,
        ),
    ] = None,
    on_removed: Annotated[
        OnRemoved,
        typer.Option(
            "--on-removed",
            help="What to do on the server with patients no longer in the source.",
        ),
    ] = OnRemoved.keep,
    dry_run: DryRunOpt = False,
    batch: BatchOpt = False,
    concurrency: ConcurrencyOpt = 4,
    as_json: JsonOpt = False,
    timeout: TimeoutOpt = 300.0,
    ca_bundle: CaBundleOpt = None,
    retries: RetriesOpt = 4,
    verbose: VerboseOpt = False,
    id_system: IdSystemOpt = None,
    regimen_category: RegimenCategoryOpt = None,
    encoding: EncodingOpt = None,
    replace: ReplaceOpt = False,
    diagnostics: DiagnosticsOpt = False,
    deidentify: DeidentifyOpt = None,
    allow_text_only: AllowTextOpt = False,
) -> None:
    """Keep a server in step with a directory: send only what changed since the last sync.

    Example: fhir-onco sync cases/ --server http://localhost:8080/fhir --on-removed inactivate
    """
    from fhir_onco.server.inputs import estimate_patients, expand_inputs
    from fhir_onco.server.sync import RemovalPolicy, StateStore, sync

    _setup_logging(verbose)
    common.check_inputs(sources)
    if state is None:
        state = sources[0] / STATE_FILE if len(sources) == 1 and sources[0].is_dir() else Path(STATE_FILE)
    with _client(server, timeout, ca_bundle, retries, diagnostics) as client:
        try:
            n_files = estimate_patients(expand_inputs(sources, [state]))
            with StateStore(state) as store, _progress(n_files, "Syncing", as_json) as tick:
                report = sync(
                    client,
                    sources,
                    store,
                    on_removed=RemovalPolicy(on_removed.value),
                    concurrency=concurrency,
                    mode="batch" if batch else "transaction",
                    dry_run=dry_run,
                    on_result=tick,
                    table_options=_table_options(id_system, regimen_category, encoding, allow_text_only),
                    transform=(lambda bundles: _deidentify(bundles, deidentify)) if deidentify else None,
                    foreign="replace" if replace else "refuse",
                )
        except ServerIOError as e:
            raise _fail(e, as_json) from None
    with report:
        _emit(report, as_json)
        ok = report.ok
    raise typer.Exit(0 if ok else 1)


def _to_case_yaml(bundle: dict[str, Any]) -> str:
    from fhir_onco.case import dump_case
    from fhir_onco.mappings.reverse import ReverseMappingError, read_bundle

    try:
        result = read_bundle(bundle)
    except ReverseMappingError as e:
        typer.echo(f"error: the pulled resources do not make a case: {e}", err=True)
        raise typer.Exit(1) from None
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    return dump_case(result.case)


def _known_refs(state: Path, base_url: str, patient: str) -> list[str]:
    """Type/id of everything sync sent for the patient (``patient`` is the resolved server id)."""
    from fhir_onco.server.sync import StateStore, server_key

    with StateStore(state) as store:
        ps = store.get(server_key(base_url), patient)
    return sorted(ps.resources) if ps else []


def pull_command(
    patient: Annotated[
        str,
        typer.Option(
            "--patient",
            "-p",
            help="The patient's server id, an identifier as SYSTEM|VALUE, or an identifier value alone "
            "(it must match one patient).",
            show_default=False,
        ),
    ],
    server: ServerOpt = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here instead of stdout.", dir_okay=False),
    ] = None,
    fmt: Annotated[
        PullFormat,
        typer.Option("--format", "-f", help="bundle: raw FHIR (collection Bundle); case: YAML."),
    ] = PullFormat.bundle,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            exists=True,
            dir_okay=False,
            help="A sync state store: also fetch every resource sync sent for this patient "
            "(finds resources a server cannot search for).",
        ),
    ] = None,
    no_everything: Annotated[
        bool,
        typer.Option("--no-everything", help="Use searches even if the server has $everything."),
    ] = False,
    bulk: Annotated[
        bool,
        typer.Option(
            "--bulk",
            help="Fetch through a Bulk Data $export (streamed; finds types the server cannot search by patient).",
        ),
    ] = False,
    timeout: TimeoutOpt = 300.0,
    ca_bundle: CaBundleOpt = None,
    retries: RetriesOpt = 4,
    verbose: VerboseOpt = False,
    diagnostics: DiagnosticsOpt = False,
) -> None:
    """Fetch everything the server holds about one patient.

    Example: fhir-onco pull --patient 'urn:oid:1.2.3|MRN-1' --format case -o p.yaml --server http://localhost:8080/fhir
    """
    from fhir_onco.server.pull import pull_patient, resolve_patient

    _setup_logging(verbose)
    if output is not None:
        common.check_output_file(output)
    with _client(server, timeout, ca_bundle, retries, diagnostics) as client:
        try:
            client.check_server(transaction=False)
            pid = resolve_patient(client, patient)
            known = _known_refs(state, client.base_url, pid) if state else []
            result = pull_patient(client, pid, use_everything=False if no_everything else None, known=known, bulk=bulk)
        except ServerIOError as e:
            raise _fail(e, False) from None
    bundle = result.to_bundle()
    as_case = fmt is PullFormat.case
    text = _to_case_yaml(bundle) if as_case else json.dumps(bundle, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_private_text(output, text)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    counts = ", ".join(f"{n} {t}" for t, n in result.counts().items())
    common.echo(
        f"Patient/{result.patient}: {len(result.resources)} resources ({counts}) via {result.method}",
        err=True,
        info=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``push``, ``pull`` and ``sync`` to the main ``fhir-onco`` app."""
    app.command("push")(push_command)
    app.command("pull")(pull_command)
    app.command("sync")(sync_command)
