"""Case files in, validated FHIR out: the library's one-call path used by the CLI and benchmarks.

Patients are processed one at a time and written as they come, so memory does not grow with the
number of patients. A patient with any error is reported and skipped: nothing half-mapped is written.

With ``jobs > 1`` patients are mapped, validated and serialised in worker processes and written by
the calling process in input order, so the output is byte-identical to ``jobs=1``; at most
``jobs * AHEAD`` patients are in flight, so memory stays bounded per worker.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeVar

from fhir_onco.case import Case, CaseError, load_case, parse_case
from fhir_onco.errors import UNEXPECTED_ERRORS, internal_error
from fhir_onco.fhir.builders import dumps, dumps_line
from fhir_onco.files import open_private, write_private_text
from fhir_onco.mappings import MappingError, map_case_to_bundle
from fhir_onco.validation import Report, validate_bundle

OutputFormat = Literal["bundle", "ndjson"]
T = TypeVar("T")
R = TypeVar("R")
AHEAD = 4  # tasks queued per worker: keeps workers busy, bounds memory
CHUNK = 8  # patients per task: the pool's per-task cost (pickling, queues, its threads) is the parent's


@dataclass(slots=True)
class Encoded:
    """A valid patient's output, serialised (in a worker): what the writing process needs."""

    counts: dict[str, int]  # resource type -> resources
    patient_id: str | None
    ndjson: dict[str, bytes] | None = None  # resource type -> its NDJSON lines
    text: str | None = None  # the pretty-printed transaction Bundle


def encode(bundle: dict[str, Any], how: OutputFormat) -> Encoded:
    """Serialise a bundle for writing: NDJSON lines per resource type, or the Bundle file text."""
    counts: Counter[str] = Counter()
    lines: dict[str, list[bytes]] = {}
    patient_id = None
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        rtype = resource["resourceType"]
        counts[rtype] += 1
        if rtype == "Patient" and patient_id is None:
            patient_id = resource.get("id")
        if how == "ndjson":
            lines.setdefault(rtype, []).append(dumps_line(resource))
    if how == "ndjson":
        return Encoded(dict(counts), patient_id, ndjson={k: b"".join(v) for k, v in lines.items()})
    return Encoded(dict(counts), patient_id, text=dumps(bundle))

__all__ = ["NdjsonWriter", "OutputFormat", "PatientResult", "map_and_validate", "map_file", "map_files",
           "write_bundle_file"]


@dataclass(slots=True)
class PatientResult:
    """Outcome of one case: the bundle or its serialised form (None when it had errors) and every
    issue found."""

    source: str
    bundle: dict[str, Any] | None
    report: Report = field(default_factory=Report)
    encoded: Encoded | None = None

    @property
    def ok(self) -> bool:
        return (self.bundle is not None or self.encoded is not None) and self.report.ok

    def resource_counts(self) -> Counter[str]:
        if self.encoded is not None:
            return Counter(self.encoded.counts)
        entries = self.bundle.get("entry", []) if self.bundle else []
        return Counter(e["resource"]["resourceType"] for e in entries)

    def encoded_as(self, how: OutputFormat | None) -> PatientResult:
        """This result with the bundle serialised (and dropped, so only bytes travel back)."""
        if how is None or self.bundle is None or not self.report.ok:
            return self
        return PatientResult(self.source, None, self.report, encode(self.bundle, how))


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


def map_case_text(text: str, source: str, **kw: Any) -> PatientResult:
    """One case given as JSON text, e.g. a line of an NDJSON file of cases (``source``: 'cases.ndjson:12')."""
    report = Report()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        report.error(f"{source}: column {exc.colno}", f"not valid JSON: {exc.msg}", rule="case-schema")
        return PatientResult(source, None, report)
    if not isinstance(data, dict):
        report.error(f"{source}: (root)", "expected a mapping with 'patient' and clinical sections", rule="case-schema")
        return PatientResult(source, None, report)
    try:
        case = parse_case(data, source)
    except CaseError as exc:
        for location, message in exc.issues:
            report.error(f"{source}: {location}", message, rule="case-schema")
        return PatientResult(source, None, report)
    return map_and_validate(case, source, **kw)


def map_ndjson_cases(path: str | Path, **kw: Any) -> Iterator[PatientResult]:
    """Every case of an NDJSON file of cases (one JSON case per line; blank lines skipped)."""
    with Path(path).open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield map_case_text(line, f"{path}:{number}", **kw)


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def forks() -> bool:
    """Do ``ordered_map``'s workers start by fork (inheriting this process's memory)?"""
    return "fork" in multiprocessing.get_all_start_methods()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int = 1) -> Iterator[R]:
    """``map(fn, items)`` over ``jobs`` processes, results in input order, at most ``jobs * AHEAD``
    items in flight. ``fn`` must be picklable (a module-level function or a partial of one)."""
    if jobs <= 1:
        yield from map(fn, items)
        return
    # fork: workers inherit the loaded validator instead of each compiling it again
    ctx = multiprocessing.get_context("fork" if forks() else None)
    run = partial(_run_chunk, fn)
    with ctx.Pool(jobs) as pool:
        pending: deque[Any] = deque()
        for chunk in _chunks(items, CHUNK):
            pending.append(pool.apply_async(run, (chunk,)))
            if len(pending) >= jobs * AHEAD:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run_chunk(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [fn(item) for item in chunk]


def warm_up(validate: bool = True) -> None:
    """Load the terminology tables and the validator, its profiles compiled, in this process before
    workers fork, so they share them (copy-on-write) instead of each building its own."""
    from fhir_onco.terminology import default_terminology

    default_terminology()
    if validate:
        from fhir_onco.validation import _engine

        _engine().warm()


def _map_file_job(path: str | Path, encode_as: OutputFormat | None, kw: dict[str, Any]) -> PatientResult:
    return map_file(path, **kw).encoded_as(encode_as)


def map_files(paths: Iterable[str | Path], *, jobs: int = 1, encode: OutputFormat | None = None,
              **kw: Any) -> Iterator[PatientResult]:
    """map_file over many paths, in order. With ``encode`` the results carry the serialised output
    (``PatientResult.encoded``) instead of the bundle, which is what ``jobs > 1`` should use."""
    paths = list(paths)
    jobs = max(1, min(jobs, len(paths)))
    if jobs > 1:
        warm_up(kw.get("validate", True))
    yield from ordered_map(partial(_map_file_job, encode_as=encode, kw=kw), paths, jobs)


class NdjsonWriter:
    """FHIR Bulk Data layout: one ``<ResourceType>.ndjson`` per type, one resource per line."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[bytes]] = {}
        self.counts: Counter[str] = Counter()

    def _handle(self, rtype: str) -> IO[bytes]:
        handle = self._files.get(rtype)
        if handle is None:
            # created 0600: it holds patient data
            handle = self._files[rtype] = open_private(self.directory / f"{rtype}.ndjson", "wb")
        return handle

    def write_bundle(self, bundle: dict[str, Any]) -> None:
        for entry in bundle.get("entry", []):
            self.write(entry["resource"])

    def write(self, resource: dict[str, Any]) -> None:
        rtype = resource["resourceType"]
        self._handle(rtype).write(dumps_line(resource))
        self.counts[rtype] += 1

    def write_encoded(self, encoded: Encoded) -> None:
        """Lines serialised by ``encode(bundle, "ndjson")`` (e.g. in a worker process)."""
        assert encoded.ndjson is not None, "encoded for ndjson"
        for rtype, data in encoded.ndjson.items():
            self._handle(rtype).write(data)
        self.counts.update(encoded.counts)

    def write_result(self, result: PatientResult) -> None:
        if result.encoded is not None:
            self.write_encoded(result.encoded)
        elif result.bundle is not None:
            self.write_bundle(result.bundle)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def __enter__(self) -> NdjsonWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def write_bundle_file(bundle: dict[str, Any] | str, directory: str | Path, stem: str) -> Path:
    """Write a Bundle (or its text from ``encode(bundle, "bundle")``) to ``directory/stem.json``
    (created 0600: it holds patient data) and return its path."""
    out = Path(directory) / f"{stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_private_text(out, bundle if isinstance(bundle, str) else dumps(bundle))
    return out


def write_result_file(result: PatientResult, directory: str | Path, stem: str) -> Path:
    """The Bundle file of a valid result, whether it carries the bundle or its text."""
    if result.encoded is not None and result.encoded.text is not None:
        return write_bundle_file(result.encoded.text, directory, stem)
    assert result.bundle is not None, "a valid result"
    return write_bundle_file(result.bundle, directory, stem)
