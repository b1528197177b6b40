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

from fhir_onco.validation.report import Report

app = typer.Typer(
    name="fhir-onco",
    help="Oncology and hematology case data to validated FHIR R4, and to and from FHIR servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PROGRESS_THRESHOLD = 10  # show a progress bar from this many inputs on


class Format(StrEnum):
    bundle = "bundle"
    ndjson = "ndjson"


def _progress(items: list[Path], label: str, quiet: bool) -> Iterator[Path]:
    if quiet or len(items) < PROGRESS_THRESHOLD:
        yield from items
        return
    with typer.progressbar(items, label=label, file=sys.stderr) as bar:
        yield from bar


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        return
    for issue in report:
        typer.echo(issue.to_text(), err=True)


@app.command("map")
def map_command(
    cases: Annotated[list[Path], typer.Argument(help="Case files (.yaml, .yml, .json).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path("out"),
    fmt: Annotated[Format, typer.Option("--format", "-f", help="bundle: one transaction Bundle per patient; "
                                        "ndjson: one file per resource type (Bulk Data layout).")] = Format.bundle,
    allow_text_only: Annotated[bool, typer.Option(
        "--allow-text-only", help="Keep unknown terms as text (flagged) instead of failing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    structure_only: Annotated[bool, typer.Option(
        "--structure-only", help="Validate base R4 structure only (faster), not our profiles.")] = False,
) -> None:
    """Map case files to validated FHIR R4. Patients with errors are reported and not written."""
    from fhir_onco.pipeline import NdjsonWriter, map_file, write_bundle_file

    summary: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    failed = 0
    writer = NdjsonWriter(output) if fmt is Format.ndjson else None
    try:
        for path in _progress(cases, "Mapping", as_json):
            result = map_file(path, allow_text_only=allow_text_only, profiles=not structure_only)
            _print_report(result.report, as_json)
            entry: dict[str, Any] = {"source": str(path), "ok": result.ok,
                                     "outcome": result.report.to_operation_outcome()}
            if result.ok and result.bundle is not None:
                counts = result.resource_counts()
                totals.update(counts)
                if writer is not None:
                    writer.write_bundle(result.bundle)
                else:
                    entry["output"] = str(write_bundle_file(result.bundle, output, path.stem))
                entry["resources"] = dict(sorted(counts.items()))
                if not as_json:
                    where = entry.get("output", str(output))
                    typer.echo(f"{path} -> {where}: {counts.total()} resources "
                               f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}), valid")
            else:
                failed += 1
            summary.append(entry)
    finally:
        if writer is not None:
            writer.close()
    if as_json:
        typer.echo(json.dumps({"patients": summary, "failed": failed}, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{len(cases) - failed} of {len(cases)} patients mapped, {totals.total()} resources "
                   f"written to {output}{' (ndjson)' if writer else ''}; {failed} failed")
    raise typer.Exit(1 if failed else 0)


def _load_json(path: Path) -> tuple[Any, Report]:
    report = Report()
    try:
        return json.loads(path.read_text(encoding="utf-8-sig")), report
    except (OSError, UnicodeDecodeError) as exc:
        report.error(f"{path}: (file)", f"cannot read: {exc}", rule="input")
    except json.JSONDecodeError as exc:
        report.error(f"{path}: line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}", rule="input")
    return None, report


def validate_path(path: Path, profiles: bool = True) -> Report:
    """Validate a case file, a FHIR Bundle or resource (JSON), or an NDJSON file of resources."""
    from fhir_onco.pipeline import map_file
    from fhir_onco.validation import validate_bundle, validate_resource

    if path.suffix in (".yaml", ".yml"):
        return map_file(path, profiles=profiles).report
    if path.suffix == ".ndjson":
        report = Report()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            report.error(f"{path}: (file)", f"cannot read: {exc}", rule="input")
            return report
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                validate_resource(json.loads(line), f"{path}:{n}", report, profiles=profiles)
            except json.JSONDecodeError as exc:
                report.error(f"{path}:{n}", f"not valid JSON: {exc.msg}", rule="input")
        return report
    data, report = _load_json(path)
    if data is None:
        return report
    if not isinstance(data, dict):
        report.error(f"{path}: (root)", "expected a JSON object", rule="input")
    elif data.get("resourceType") == "Bundle":
        return validate_bundle(data, str(path), profiles=profiles)
    elif "resourceType" in data:
        return validate_resource(data, f"{path}: {data['resourceType']}", profiles=profiles)
    else:
        return map_file(path, profiles=profiles).report  # a case file written as JSON
    return report


@app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Case files, FHIR JSON (Bundle or resource) or NDJSON.",
                                                show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print an OperationOutcome per file as JSON.")] = False,
    structure_only: Annotated[bool, typer.Option(
        "--structure-only", help="Check base R4 structure only, not conformance to our profiles.")] = False,
) -> None:
    """Validate case files or FHIR data: bundle integrity, profile conformance, plausibility."""
    results: list[dict[str, Any]] = []
    failed = 0
    for path in _progress(files, "Validating", as_json):
        report = validate_path(path, not structure_only)
        failed += not report.ok
        _print_report(report, as_json)
        results.append({"source": str(path), "ok": report.ok, "outcome": report.to_operation_outcome()})
        if not as_json:
            state = "valid" if report.ok else f"{len(report.errors)} error(s)"
            warnings = len(report) - len(report.errors)
            typer.echo(f"{path}: {state}" + (f", {warnings} warning(s)" if warnings else ""))
    if as_json:
        typer.echo(json.dumps({"files": results, "failed": failed}, ensure_ascii=False, indent=2))
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
        output.write_text(text, encoding="utf-8")


# Commands that live with their own part of the library register themselves here.
for _module in ("server_cmds", "profile_cmds", "registry_cmds", "analytics_cmds", "spark_cmds"):
    try:
        _mod = importlib.import_module(f"fhir_onco.cli.{_module}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"fhir_onco.cli.{_module}":
            raise
        continue
    _mod.register(app)


def main() -> None:
    app()
