"""Case files in, validated FHIR out: the library's one-call path used by the CLI and benchmarks.

Patients are processed one at a time and written as they come, so memory does not grow with the
number of patients. A patient with any error is reported and skipped: nothing half-mapped is written.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

from fhir_onco.case import Case, CaseError, load_case
from fhir_onco.errors import UNEXPECTED_ERRORS, internal_error
from fhir_onco.fhir.builders import dumps
from fhir_onco.files import open_private, write_private_text
from fhir_onco.mappings import MappingError, map_case_to_bundle
from fhir_onco.validation import Report, validate_bundle

OutputFormat = Literal["bundle", "ndjson"]

__all__ = ["NdjsonWriter", "OutputFormat", "PatientResult", "map_and_validate", "map_file", "map_files",
           "write_bundle_file"]


@dataclass(slots=True)
class PatientResult:
    """Outcome of one case: the bundle (None when it had errors) and every issue found."""

    source: str
    bundle: dict[str, Any] | None
    report: Report = field(default_factory=Report)

    @property
    def ok(self) -> bool:
        return self.bundle is not None and self.report.ok

    def resource_counts(self) -> Counter[str]:
        entries = self.bundle.get("entry", []) if self.bundle else []
        return Counter(e["resource"]["resourceType"] for e in entries)


def map_and_validate(case: Case, source: str, *, allow_text_only: bool = False,
                     validate: bool = True, profiles: bool = True) -> PatientResult:
    """Map one case to its transaction Bundle and validate it; errors come back in the report."""
    try:
        bundle, report = map_case_to_bundle(case, source=source, allow_text_only=allow_text_only)
        if validate:
            report.extend(validate_bundle(bundle, source, profiles=profiles))
    except MappingError as exc:
        return PatientResult(source, None, exc.report)
    except UNEXPECTED_ERRORS as exc:
        return PatientResult(source, None, internal_error(source, exc, "mapping"))
    return PatientResult(source, bundle if report.ok else None, report)


def map_file(path: str | Path, *, allow_text_only: bool = False, validate: bool = True,
             profiles: bool = True) -> PatientResult:
    """Read, map and validate one case file (``str`` or ``Path``)."""
    source = str(path)
    try:
        case = load_case(path)
    except CaseError as exc:
        report = Report()
        for location, message in exc.issues:
            report.error(f"{source}: {location}", message, rule="case-schema")
        return PatientResult(source, None, report)
    return map_and_validate(case, source, allow_text_only=allow_text_only, validate=validate, profiles=profiles)


def map_files(paths: Iterable[str | Path], **kw: Any) -> Iterator[PatientResult]:
    """:func:`map_file` for each path, lazily (one patient in memory at a time)."""
    for path in paths:
        yield map_file(path, **kw)


class NdjsonWriter:
    """FHIR Bulk Data layout: one ``<ResourceType>.ndjson`` per type, one resource per line."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[str]] = {}
        self.counts: Counter[str] = Counter()

    def write_bundle(self, bundle: dict[str, Any]) -> None:
        for entry in bundle.get("entry", []):
            self.write(entry["resource"])

    def write(self, resource: dict[str, Any]) -> None:
        rtype = resource["resourceType"]
        handle = self._files.get(rtype)
        if handle is None:
            handle = open_private(self.directory / f"{rtype}.ndjson", "w", encoding="utf-8", newline="\n")
            self._files[rtype] = handle
        handle.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")))
        handle.write("\n")
        self.counts[rtype] += 1

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def __enter__(self) -> NdjsonWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def write_bundle_file(bundle: dict[str, Any], directory: str | Path, stem: str) -> Path:
    """Write ``DIRECTORY/STEM.json`` (created 0600: it holds patient data) and return its path."""
    out = Path(directory) / f"{stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_private_text(out, dumps(bundle))
    return out
