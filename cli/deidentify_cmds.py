"""`fhir-onco deidentify`: de-identify cases and FHIR for sharing, or `--check` output for leaks.

The key comes from $FHIR_ONCO_DEID_KEY or the file named by $FHIR_ONCO_DEID_KEY_FILE, never from
an argument. Exit codes: 0 done (or no leak found), 1 data errors, leaks or unmet k, 2 usage errors.
Messages name files, resources and elements, never the data.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fhir_onco.cli import common


class DeidFormat(StrEnum):
    bundle = "bundle"
    ndjson = "ndjson"
    cases = "cases"


def _fail(message: str, code: int) -> typer.Exit:
    return common.usage_error(message) if code == 2 else _error(message)


def _error(message: str) -> typer.Exit:
    common.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def deidentify_command(
    inputs: Annotated[list[Path] | None, typer.Argument(
        help="Case files, FHIR bundle/resource JSON, NDJSON, or directories of them.", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output directory.",
                                                show_default=False)] = None,
    policy_file: Annotated[Path | None, typer.Option(
        "--policy", "-p", help="Policy YAML (default: the built-in HIPAA Safe Harbor policy).",
        show_default=False)] = None,
    fmt: Annotated[DeidFormat, typer.Option("--format", "-f", help="bundle: one Bundle per patient; ndjson: one "
                                            "file per resource type; cases: case YAML per patient. NDJSON input "
                                            "always streams to NDJSON.")
                   ] = DeidFormat.bundle,
    reid_table: Annotated[Path | None, typer.Option(
        "--reid-table", help="Write the re-identification table (CSV, mode 0600) here: for the data owner "
        "only, keep it apart from the output.", show_default=False)] = None,
    generalise: Annotated[bool | None, typer.Option(
        "--generalise/--no-generalise", help="When the policy's minimum k is not met: drop region, then birth "
        "year, until it is (default: the policy's on_fail).", show_default=False)] = None,
    check: Annotated[list[Path] | None, typer.Option(
        "--check", help="Scan this output directory or file for identifying data instead of de-identifying.",
        show_default=False)] = None,
    source: Annotated[list[Path] | None, typer.Option(
        "--source", help="With --check: the original inputs, so their identifiers, ids and birth dates "
        "are looked for too.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """De-identify and pseudonymise case files, FHIR bundles/resources and NDJSON (docs/deidentify.md)."""
    from fhir_onco.deidentify import DeidKeyError, PolicyError, load_key, load_policy

    try:
        policy = load_policy(policy_file)
    except PolicyError as exc:
        raise _fail(str(exc), 2) from None
    if check:
        if inputs:
            raise _fail("give either INPUT... -o DIR or --check DIR, not both", 2)
        _check(check, source or [], policy, as_json)
        return
    if not inputs or output is None:
        raise _fail("give INPUT... and -o DIR (or --check DIR)", 2)
    common.check_inputs(inputs)
    try:
        key = load_key()
    except DeidKeyError as exc:
        raise _fail(str(exc), 2) from None
    common.check_output_dir(output)
    if reid_table is not None:
        common.check_output_file(reid_table, "--reid-table")
    from fhir_onco.deidentify import deidentify_paths

    result = deidentify_paths(list(inputs), output, policy=policy, key=key, fmt=fmt.value, reid_path=reid_table,
                              generalise=generalise)
    if as_json:
        typer.echo(json.dumps({**result.to_json(), "written": [str(p) for p in result.written]},
                              ensure_ascii=False, indent=2))
    else:
        for issue in result.issues:
            common.echo(issue.to_text(), err=True)
        common.echo(result.to_text(), info=True)
        common.echo(f"{len(result.written)} files written to {output}", info=True)
    if not result.ok:
        raise typer.Exit(1)


def _check(paths: list[Path], sources: list[Path], policy: object, as_json: bool) -> None:
    from fhir_onco.deidentify import Policy, Scanner, source_secrets

    assert isinstance(policy, Policy)
    common.check_inputs([*paths, *sources])
    from fhir_onco.documents import DocumentError

    try:
        secrets = source_secrets(sources) if sources else None
    except DocumentError as exc:
        raise _error(f"--source {exc}") from None
    leaks = Scanner(policy, secrets).scan_paths(paths)
    if as_json:
        typer.echo(json.dumps({"leaks": [{"location": x.location, "kind": x.kind} for x in leaks],
                               "ok": not leaks}, ensure_ascii=False, indent=2))
    else:
        for leak in leaks:
            common.echo(leak.to_text())
        common.echo(f"{len(leaks)} possible leaks found" if leaks else "no identifying data found", info=True)
    if leaks:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("deidentify")(deidentify_command)
