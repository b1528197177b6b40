"""The `fhir-onco` command: a thin layer over the library.

Exit codes: 0 everything valid, 1 data errors (located messages, never a traceback), 2 usage errors.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperOption

from fhir_onco.cli import common
from fhir_onco.jsonstream import JsonObjectWriter
from fhir_onco.validation.report import Report

app = typer.Typer(
    name="fhir-onco",
    help="Oncology and hematology case data to validated FHIR R4, and to and from FHIR servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

PROGRESS_THRESHOLD = common.PROGRESS_THRESHOLD


def _flag_display(self: Any, ctx: Any) -> str | None:
    # Typer 0.2x prints every option's type, so flags read "--json <bool>" as if they took a value
    # (and users then write --json true). A flag shows no type, as in click.
    if getattr(self, "is_flag", False):
        return None
    return _typer_display_type_rich(self, ctx)


_typer_display_type_rich = getattr(TyperOption, "display_type_rich", None)
if _typer_display_type_rich is not None:  # older typer versions print flags as flags already
    TyperOption.display_type_rich = _flag_display  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        from fhir_onco import __version__

        typer.echo(f"fhir-onco {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", callback=_version,
                                          is_eager=True)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars and no summary lines; "
                                        "errors and requested output only.")] = False,
) -> None:
    """Oncology and hematology case data to validated FHIR R4, and to and from FHIR servers.

    Exit codes: 0 ok, 1 data errors (located messages), 2 usage errors (including a missing input).
    """
    common.set_quiet(quiet)


class Format(StrEnum):
    bundle = "bundle"
    ndjson = "ndjson"


def _progress(items: list[Path], label: str, quiet: bool) -> Iterator[Path]:
    return common.iterate(items, len(items), label, enabled=not quiet)


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        return
    for issue in report:
        common.echo(issue.to_text(), err=True)


@app.command("map")
def map_command(
    cases: Annotated[list[Path], typer.Argument(help="Case files (.yaml, .yml, .json).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path("out"),
    fmt: Annotated[Format, typer.Option("--format", "-f", help="bundle: one transaction Bundle per patient; "
                                        "ndjson: one file per resource type (Bulk Data layout).")] = Format.bundle,
    allow_text_only: common.AllowTextOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    structure_only: Annotated[bool, typer.Option(
        "--structure-only", help="Validate base R4 structure only (faster), not our profiles.")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="Worker processes (default: all cores); output is the same for any N.",
        show_default=False)] = None,
) -> None:
    """Map case files to validated FHIR R4. Patients with errors are reported and not written."""
    from fhir_onco.pipeline import NdjsonWriter, default_jobs, map_files, write_result_file

    common.check_inputs(cases)
    common.check_output_dir(output)
    # --json: the report is streamed to stdout case by case, never held (memory flat in the cases)
    summary = JsonObjectWriter(sys.stdout, indent=2, ensure_ascii=False) if as_json else None
    totals: Counter[str] = Counter()
    failed = 0
    writer = NdjsonWriter(output) if fmt is Format.ndjson else None
    results = map_files(cases, jobs=jobs or default_jobs(), encode=fmt.value,
                        allow_text_only=allow_text_only, profiles=not structure_only)
    try:
        if summary is not None:
            summary.begin_list("patients")
        for path, result in zip(_progress(cases, "Mapping", as_json), results, strict=True):
            _print_report(result.report, as_json)
            entry: dict[str, Any] = {"source": str(path), "ok": result.ok,
                                     "outcome": result.report.to_operation_outcome()}
            if result.ok:
                counts = result.resource_counts()
                totals.update(counts)
                if writer is not None:
                    writer.write_result(result)
                else:
                    entry["output"] = str(write_result_file(result, output, path.stem))
                entry["resources"] = dict(sorted(counts.items()))
                if not as_json:
                    where = entry.get("output", str(output))
                    common.echo(f"{path} -> {where}: {counts.total()} resources "
                                f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}), valid", info=True)
            else:
                failed += 1
            if summary is not None:
                summary.item(entry)
    finally:
        if writer is not None:
            writer.close()
    if summary is not None:
        summary.end_list()
        summary.member("failed", failed)
        summary.close()
        typer.echo("")
    else:
        common.echo(f"{len(cases) - failed} of {len(cases)} patients mapped, {totals.total()} resources "
                    f"written to {output}{' (ndjson)' if writer else ''}; {failed} failed", info=True)
    raise typer.Exit(1 if failed else 0)


def _document_issues(report: Report, exc: Any) -> None:
    for location, message in exc.issues:
        report.error(f"{exc.source}: {location}", message, rule="input")


def validate_path(path: Path, profiles: bool = True, allow_text_only: bool = False) -> Report:
    """Validate a case file, a FHIR Bundle or resource (JSON), or an NDJSON file of resources.

    Documents are parsed by fhir_onco.documents, the parser `map` uses too: one file, one verdict.
    """
    from fhir_onco.case import CaseError, parse_case
    from fhir_onco.documents import DocumentError, iter_ndjson, load_document
    from fhir_onco.pipeline import map_and_validate, map_file
    from fhir_onco.validation import validate_bundle, validate_resource

    if path.suffix.lower() in (".yaml", ".yml"):
        return map_file(path, profiles=profiles, allow_text_only=allow_text_only).report
    report = Report()
    if path.suffix.lower() == ".ndjson":
        try:
            for number, value in iter_ndjson(path):
                if isinstance(value, DocumentError):
                    _document_issues(report, value)
                elif not isinstance(value, dict):
                    report.error(f"{path}:{number}", "expected a JSON object (a FHIR resource)", rule="input")
                else:
                    validate_resource(value, f"{path}:{number}", report, profiles=profiles)
        except DocumentError as exc:
            _document_issues(report, exc)
        return report
    try:
        data = load_document(path)
    except DocumentError as exc:
        _document_issues(report, exc)
        return report
    if not isinstance(data, dict):
        report.error(f"{path}: (root)", "expected a JSON object (a FHIR resource, Bundle or case)", rule="input")
    elif data.get("resourceType") == "Bundle":
        return validate_bundle(data, str(path), profiles=profiles)
    elif "resourceType" in data:
        rtype = data["resourceType"]
        label = rtype if isinstance(rtype, str) and rtype.isidentifier() and len(rtype) <= 64 else "resource"
        return validate_resource(data, f"{path}: {label}", profiles=profiles)
    else:  # a case file written as JSON
        try:
            case = parse_case(data, str(path))
        except CaseError as exc:
            for location, message in exc.issues:
                report.error(f"{path}: {location}", message, rule="case-schema")
            return report
        return map_and_validate(case, str(path), profiles=profiles, allow_text_only=allow_text_only).report
    return report


@app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Case files, FHIR JSON (Bundle or resource) or NDJSON.",
                                                show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print an OperationOutcome per file as JSON.")] = False,
    structure_only: Annotated[bool, typer.Option(
        "--structure-only", help="Check base R4 structure only, not conformance to our profiles.")] = False,
    allow_text_only: Annotated[bool, typer.Option(
        "--allow-text-only", help="Case files: keep unknown terms as text (flagged) instead of failing.")] = False,
) -> None:
    """Validate case files or FHIR data: bundle integrity, profile conformance, plausibility."""
    common.check_inputs(files)
    # --json: streamed to stdout file by file, never held (memory flat in the number of files)
    results = JsonObjectWriter(sys.stdout, indent=2, ensure_ascii=False) if as_json else None
    if results is not None:
        results.begin_list("files")
    failed = 0
    from fhir_onco.errors import UNEXPECTED_ERRORS, internal_error

    for path in _progress(files, "Validating", as_json):
        try:
            report = validate_path(path, not structure_only, allow_text_only)
        except UNEXPECTED_ERRORS as exc:  # one file fails, the others are still validated
            report = internal_error(str(path), exc, "validating")
        failed += not report.ok
        _print_report(report, as_json)
        if results is not None:
            results.item({"source": str(path), "ok": report.ok, "outcome": report.to_operation_outcome()})
        else:
            state = "valid" if report.ok else f"{len(report.errors)} error(s)"
            warnings = len(report) - len(report.errors)
            common.echo(f"{path}: {state}" + (f", {warnings} warning(s)" if warnings else ""))
    if results is not None:
        results.end_list()
        results.member("failed", failed)
        results.close()
        typer.echo("")
    raise typer.Exit(1 if failed else 0)


def _example_files() -> list[Any]:
    folder = resources.files("fhir_onco.examples")
    return sorted((e for e in folder.iterdir() if e.name.endswith(".yaml")), key=lambda e: e.name)


def _first_comment(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


@app.command("examples")
def examples_command(
    write: Annotated[Path | None, typer.Option("--write", "-w", help="Copy the example case files here.")] = None,
) -> None:
    """List the bundled example cases, or write them to a directory."""
    if write is not None:
        common.check_output_dir(write, "--write")
    for entry in _example_files():
        if write is not None:
            write.mkdir(parents=True, exist_ok=True)
            with resources.as_file(entry) as src:
                shutil.copyfile(src, write / entry.name)
            typer.echo(str(write / entry.name))
        else:
            typer.echo(f"{entry.name:<32} {_first_comment(entry.read_text(encoding='utf-8'))}")


_COMMON_FIELDS = {
    "id": "Stable local key of the item: other items refer to it, and it keeps FHIR ids stable across edits.",
    "note": "Free text.",
    "date": "Date (ISO, partial, DD.MM.YYYY, D+N after the HSCT or 'day N@regimen').",
}


def case_model_markdown(schema: dict[str, Any]) -> str:
    """The case format as a field reference (docs/case-model.md)."""

    def kind(prop: dict[str, Any]) -> str:
        if "$ref" in prop:
            name = prop["$ref"].rsplit("/", 1)[-1]
            return f"[{name}](#{name.lower()})"
        if "anyOf" in prop:
            return " or ".join(kind(p) for p in prop["anyOf"] if p.get("type") != "null") + " (optional)"
        if "enum" in prop:
            return " \\| ".join(f"`{v}`" for v in prop["enum"])
        if prop.get("type") == "array":
            return f"list of {kind(prop.get('items', {}))}"
        return str(prop.get("type", "any"))

    out = ["# Case file fields", "", "Generated by `fhir-onco schema --markdown`; the JSON Schema is "
           "[case.schema.json](case.schema.json). Terms are written in English or Russian.", ""]
    sections = [("Case", schema), *sorted(schema.get("$defs", {}).items())]
    for name, definition in sections:
        out += [f"## {name}", "", (definition.get("description") or "").strip().split("\n\n")[0], "",
                "| field | type | required | meaning |", "|---|---|---|---|"]
        required = set(definition.get("required", []))
        for field, prop in definition.get("properties", {}).items():
            meaning = prop.get("description") or _COMMON_FIELDS.get(field, "")
            out.append(f"| `{field}` | {kind(prop)} | {'yes' if field in required else ''} | {meaning} |")
        out.append("")
    return "\n".join(out)


@app.command("schema")
def schema_command(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="A field reference in Markdown instead.")] = False,
) -> None:
    """Print the JSON Schema of the case file format (or a Markdown field reference)."""
    from fhir_onco.case import case_json_schema

    schema = case_json_schema()
    text = case_model_markdown(schema) if markdown else json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        common.check_output_file(output)
        output.write_text(text, encoding="utf-8")


# Commands that live with their own part of the library register themselves here.
for _module in ("server_cmds", "profile_cmds", "registry_cmds", "analytics_cmds", "deidentify_cmds", "spark_cmds"):
    try:
        _mod = importlib.import_module(f"fhir_onco.cli.{_module}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"fhir_onco.cli.{_module}":
            raise
        continue
    _mod.register(app)


EXAMPLES = {
    "map": "fhir-onco map examples/*.yaml -o out",
    "validate": "fhir-onco validate out/*.json examples/seed000-b-all.yaml",
    "examples": "fhir-onco examples --write my-cases",
    "schema": "fhir-onco schema -o case.schema.json",
    "push": "fhir-onco push out/*.json --server http://localhost:8080/fhir --dry-run",
    "pull": "fhir-onco pull --server http://localhost:8080/fhir --patient https://registry.example|123 -o case.yaml",
    "sync": "fhir-onco sync cases/ --server http://localhost:8080/fhir",
    "profiles": "fhir-onco profiles --kind all",
    "map-tables": "fhir-onco map-tables examples/registry -o reg",
    "report": "fhir-onco report --input out --format json -o report.json",
    "export": "fhir-onco export --input out --format csv -o tables",
    "timeline": "fhir-onco timeline examples/seed000-b-all.yaml -o seed000.png",
    "cohort generate": "fhir-onco cohort generate examples/cohorts/seed004-isapd.yaml -o cohort --seed 1",
    "deidentify": "fhir-onco deidentify out/ -o deid",
}


def _add_examples(typer_app: typer.Typer, prefix: str = "") -> None:
    """Every command's --help ends with an example; one table here so command modules stay untouched."""
    for info in typer_app.registered_commands:
        name = prefix + (info.name or (info.callback.__name__ if info.callback else ""))
        if name in EXAMPLES and not info.epilog:
            info.epilog = f"Example: {EXAMPLES[name]}"
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _add_examples(group.typer_instance, f"{group.name or group.typer_instance.info.name} ")


_add_examples(app)


def main() -> None:
    app()
