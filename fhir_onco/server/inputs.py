"""Turn inputs (case YAML/JSON, FHIR bundle JSON, registry CSV extracts) into one transaction Bundle per patient.

Inputs are files, directories of files, and CSV extract directories. A directory is a CSV extract
when it holds the patient list of one of the table layouts :mod:`fhir_onco.tabular` reads
(``patients.csv``, or the mCODE Extraction Framework's ``patient-mrns.csv`` / ``patient.csv`` /
``patient-information.csv``); its patients are streamed through :func:`fhir_onco.tabular.map_tables`
(mapped, like case files, without profile validation) and a patient with errors is reported, with
``file:row:column`` locations, and skipped. Under a directory of cases, a sub-directory that is an
extract is read the same way.

JSON files that are neither FHIR (no ``resourceType``) nor a case (no top-level field of the case
model, e.g. the ``tables.json`` that ``cohort generate`` writes beside ``cases/``) are skipped with a
warning rather than failing the run.

NDJSON (the Bulk Data layout ``fhir-onco map --format ndjson`` writes: one file per resource type)
is regrouped per patient through an on-disk SQLite index (:class:`fhir_onco.server.bulk.PatientIndex`),
so a directory of NDJSON is pushed patient by patient in bounded memory.

Every patient's bundle gets the same clinical plausibility checks as ``fhir-onco map`` (dates in
order, nothing before birth or after death, ...): a patient failing them is an input error and
nothing of it is sent, also with ``--dry-run``.

A pushable bundle is a ``transaction`` (or ``batch``/``collection``, converted) whose entries all
carry a resource with an id; every entry becomes ``PUT Type/id``. That is what makes a push
idempotent and a replay harmless: the same data always lands on the same ids.

:func:`iter_inputs` streams; :func:`load_inputs` (everything in lists) is kept for small inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

CASE_SUFFIXES = (".yaml", ".yml")
NDJSON_SUFFIX = ".ndjson"
INPUT_SUFFIXES = (".json", ".yaml", ".yml", NDJSON_SUFFIX)
# Patient lists of the table layouts (file stems, case-insensitive), as fhir_onco.tabular.detect_layout knows them.
EXTRACT_DRIVERS = frozenset({"patients", "patient-mrns", "patient-mrns-information", "patient", "patient-information"})


class SkippedInput(InputError):
    """A file under an input directory that is not meant as input (neither FHIR nor a case)."""


@dataclass
class PatientBundle:
    """One patient's transaction bundle and where it came from."""

    key: str  # our Patient resource id
    bundle: dict[str, Any]
    source: str

    @property
    def resources(self) -> list[dict[str, Any]]:
        return [e["resource"] for e in self.bundle.get("entry") or []]


def _ref(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def normalize_bundle(bundle: Any, source: str) -> dict[str, Any]:
    """Check a bundle and return it as a transaction of ``PUT Type/id`` entries."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError(f"{source}: not a FHIR Bundle")
    if bundle.get("type") not in ("transaction", "batch", "collection"):
        raise InputError(f"{source}: Bundle.type {bundle.get('type')!r}; expected transaction, batch or collection")
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, e in enumerate(bundle.get("entry") or []):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict) or not res.get("resourceType") or not res.get("id"):
            raise InputError(f"{source}: entry {i} has no resource with a resourceType and id")
        ref = _ref(res)
        req = e.get("request") or {}
        method = str(req.get("method", "PUT")).upper()
        url = str(req.get("url", ref))
        if method != "PUT" or url.split("?")[0] != ref or "?" in url:
            raise InputError(
                f"{source}: entry {i} is {method} {url}; fhir-onco pushes 'PUT Type/id' entries "
                "only (deterministic ids make re-pushes idempotent)"
            )
        if ref in seen:
            raise InputError(f"{source}: {ref} appears twice")
        seen.add(ref)
        entries.append({"fullUrl": ref, "resource": res, "request": {"method": "PUT", "url": ref}})
    if not entries:
        raise InputError(f"{source}: the bundle has no entries")
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def patient_key(bundle: Mapping[str, Any], source: str) -> str:
    """Our id of the bundle's Patient (exactly one Patient per bundle)."""
    patients = [
        e["resource"]["id"] for e in bundle.get("entry") or [] if e["resource"].get("resourceType") == "Patient"
    ]
    if len(patients) != 1:
        raise InputError(f"{source}: expected exactly one Patient per bundle, found {len(patients)}")
    return str(patients[0])


def from_bundle(bundle: Any, source: str) -> PatientBundle:
    tx = normalize_bundle(bundle, source)
    key = patient_key(tx, source)
    check_plausible(tx, source)
    return PatientBundle(key, tx, source)


def check_plausible(bundle: Mapping[str, Any], source: str) -> None:
    """The clinical plausibility checks of ``fhir-onco map``; an InputError listing every failure."""
    from fhir_onco.validation.plausibility import check_plausibility

    try:
        errors = check_plausibility(dict(bundle), source).errors
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        # the checks expect well-formed FHIR (map validates structure first; a bundle file may not be)
        raise InputError(
            f"{source}: not pushed: not well-formed FHIR (an element has the wrong JSON type); "
            "`fhir-onco validate` locates it"
        ) from None
    if errors:
        raise InputError(f"{source}: not pushed, implausible data ({len(errors)} error(s)):\n{_issue_lines(errors)}")


def _map_case_file(path: Path, allow_text_only: bool = False) -> dict[str, Any]:
    try:
        from fhir_onco import load_case, map_case
    except ImportError as e:
        raise InputError(f"{path}: case files need fhir_onco.load_case/map_case, which this build lacks") from e
    try:
        return dict(map_case(load_case(path), allow_text_only=allow_text_only))
    except InputError:
        raise
    except Exception as e:  # the mapper's own errors: report, don't crash the whole run
        raise InputError(f"{path}: cannot map the case: {type(e).__name__}: {e}") from e


def load_input(path: Path, allow_text_only: bool = False) -> PatientBundle:
    """Load one file: a FHIR Bundle JSON, or a case file (YAML, or JSON without resourceType)."""
    from fhir_onco.documents import DocumentError, load_document

    source = str(path)
    try:
        data = load_document(path)
    except DocumentError as e:
        raise InputError(str(e)) from None
    if path.suffix.lower() in CASE_SUFFIXES:
        if not _looks_like_case(data):  # e.g. a cohort spec beside the cases it generated
            raise SkippedInput(f"{source}: not a case file (no 'patient' field; mostly other fields); skipped")
        return from_bundle(_map_case_file(path, allow_text_only), source)
    if isinstance(data, dict) and "resourceType" in data:
        return from_bundle(data, source)
    if not _looks_like_case(data):
        raise SkippedInput(f"{source}: neither a FHIR resource nor a case (no resourceType, no case field); skipped")
    return from_bundle(_map_case_file(path, allow_text_only), source)


def _looks_like_case(data: Any) -> bool:
    """A mapping with a ``patient`` field or mostly case-model fields (a broken case still counts; a
    cohort spec, which shares ``hsct`` and ``adverse_events`` with cases, does not)."""
    from fhir_onco.case import Case

    if not isinstance(data, dict):
        return False
    known = set(data) & set(Case.model_fields)
    return "patient" in data or (bool(known) and len(known) * 2 >= len(data))


def is_ndjson_dir(path: Path) -> bool:
    """A directory holding NDJSON files (the Bulk Data layout: one file per resource type)."""
    return path.is_dir() and any(p.is_file() for p in path.glob(f"*{NDJSON_SUFFIX}"))


def iter_ndjson(files: Sequence[Path], workdir: Path | None = None) -> Iterator[PatientBundle | InputError]:
    """Regroup NDJSON files per patient (on disk) and yield one transaction bundle per patient.

    A line that is not a FHIR resource, or a resource that belongs to no patient, is an input error
    located at ``file:line``. Never half a patient: a patient is pushed only if every line of it could
    be read. A bad line that still names its patient (JSON with a ``subject``/``patient`` reference, or a
    Patient's id) holds back that patient only; a line that cannot be read at all could be anyone's, so
    then no patient of these files is pushed (sync would otherwise delete on the server what the
    unreadable line holds). Files are read whole before the first patient is yielded.
    """
    from .bulk import PatientIndex, patient_of

    label = str(files[0].parent if len({f.parent for f in files}) == 1 else files[0]) if files else "?"
    from fhir_onco.documents import DocumentError
    from fhir_onco.documents import iter_ndjson as read_ndjson_lines

    unreadable: list[str] = []  # lines no patient can be told for
    held_back: dict[str, str] = {}  # patient id -> the first bad line that names it
    with PatientIndex(workdir) as index:
        for path in files:
            try:
                # the shared strict reader: duplicate keys, depth and size limits, located per line
                for lineno, res in read_ndjson_lines(path):
                    where = f"{path}:{lineno}"
                    if isinstance(res, DocumentError):
                        unreadable.append(where)
                        yield InputError(str(res))
                        continue
                    if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str) or not res.get("id"):
                        owner = patient_of(res) if isinstance(res, dict) else None
                        if owner is None:
                            unreadable.append(where)
                        else:
                            held_back.setdefault(owner, where)
                        yield InputError(f"{where}: not a FHIR resource with a resourceType and an id")
                        continue
                    index.add(res, where)
            except DocumentError as e:
                unreadable.append(str(path))
                yield InputError(str(e))
        for res_source in index.unlinked_with_source():
            res, where = res_source
            yield InputError(
                f"{where}: {res['resourceType']}/{res['id']} refers to no Patient (subject/patient); not pushed"
            )
        if unreadable:
            more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
            yield InputError(
                f"{label}: no patient of these NDJSON files pushed: the line at {unreadable[0]}{more} cannot be "
                "read, so it cannot be told whose it is, and a patient must not be written without it; fix or "
                "remove it and run again"
            )
            return
        for pid, resources, _sources in index.patients():
            source = f"{label} (NDJSON, Patient/{pid})"
            if pid in held_back:
                yield InputError(f"{source}: not pushed: its line at {held_back[pid]} is not a FHIR resource with "
                                 "a resourceType and an id, and the patient must not be written without it")
                continue
            bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
            try:
                yield from_bundle(bundle, source)
            except InputError as e:
                yield e


def is_table_extract(path: Path) -> bool:
    """A directory holding the patient list of a CSV extract layout (registry or mCODE Extraction Framework)."""
    return path.is_dir() and any(p.stem.casefold() in EXTRACT_DRIVERS for p in path.glob("*.csv") if p.is_file())


def expand_inputs(paths: Iterable[Path], exclude: Iterable[Path] = ()) -> list[Path]:
    """Files named directly, plus ``*.json``/``*.yaml``/``*.yml`` under named directories.

    CSV extract directories (:func:`is_table_extract`), named or found under a named directory, are
    returned as one item each (a directory); their CSV files are not listed.
    """
    skip = {p.resolve() for p in exclude}
    out: list[Path] = []

    def walk(directory: Path) -> None:
        if is_table_extract(directory):
            out.append(directory)
            return
        if is_ndjson_dir(directory):
            out.append(directory)  # its .ndjson files are one dataset; other files still listed
        for f in sorted(directory.iterdir()):
            if f.name.startswith("."):
                continue
            if f.is_dir():
                if not f.is_symlink():
                    walk(f)
            elif (
                f.is_file()
                and f.suffix.lower() in INPUT_SUFFIXES
                and f.suffix.lower() != NDJSON_SUFFIX
                and f.resolve() not in skip
            ):
                out.append(f)

    for p in paths:
        if p.is_dir():
            walk(p)
        else:
            out.append(p)
    return out


def estimate_patients(items: Iterable[Path]) -> int:
    """Patients the items will give, for progress bars: 1 per file, data rows of an extract's patient list."""
    total = 0
    for item in items:
        if item.is_dir() and is_ndjson_dir(item) and not is_table_extract(item):
            total += _count_lines(item / "Patient.ndjson")
            continue
        if not item.is_dir():
            total += 0 if item.suffix.lower() == NDJSON_SUFFIX else 1
            continue
        for driver in sorted(item.glob("*.csv")):
            if driver.stem.casefold() in EXTRACT_DRIVERS:
                try:
                    with driver.open("rb") as fh:
                        total += max(0, sum(1 for line in fh if line.strip()) - 1)
                except OSError:
                    pass
                break
    return total


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 0


def _issue_lines(issues: Iterable[Any]) -> str:
    return "\n".join(f"    {i.location}: {i.message}" for i in issues)


def iter_extract(
    directory: Path, warnings: list[str] | None = None, options: Mapping[str, Any] | None = None
) -> Iterator[PatientBundle | InputError]:
    """Stream one CSV extract: a PatientBundle per mapped patient, an InputError per failed one.

    ``options`` go to :func:`fhir_onco.tabular.open_reader` (``encoding``, ``id_system``,
    ``mrn_system``, ``regimen_category``, ``tmpdir``); None values are dropped.

    Errors keep the ``file:row:column`` locations of the tabular reader; file-level errors (e.g. rows
    of patients missing from the patient list) become one InputError after the patients, warnings
    (unknown columns, ignored files) go to ``warnings``.
    """
    from fhir_onco.tabular import TabularError, map_tables
    from fhir_onco.validation.report import Report, Severity

    file_report = Report()
    try:
        # mapped like case files (which push maps without profile validation): validation costs about
        # half a second per patient; `fhir-onco map-tables` validates, and the server checks what it takes
        opts = {k: v for k, v in (options or {}).items() if v is not None}
        for result in map_tables(directory, validate=False, file_report=file_report, **opts):
            if result.ok and result.bundle is not None:
                try:
                    yield from_bundle(result.bundle, result.source)
                except InputError as e:
                    yield e
                if warnings is not None:
                    warnings.extend(
                        f"{i.location}: {i.message}"
                        for i in result.report
                        if i.severity is Severity.WARNING and i.rule == "tabular"
                    )
                continue
            errors = result.report.errors or []
            yield InputError(f"{result.source}: patient not imported ({len(errors)} error(s)):\n{_issue_lines(errors)}")
    except TabularError as e:
        yield InputError(f"{directory}: cannot read the CSV extract:\n{_issue_lines(e.report.errors)}")
        return
    file_errors = file_report.errors
    if file_errors:
        yield InputError(f"{directory}: rows not imported:\n{_issue_lines(file_errors)}")
    if warnings is not None:
        warnings.extend(f"{i.location}: {i.message}" for i in file_report if i.severity is Severity.WARNING)


@dataclass
class LoadedInputs:
    """Everything the inputs gave: bundles, errors (failed files and patients), warnings (skipped files)."""

    bundles: list[PatientBundle] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def iter_inputs(
    paths: Iterable[Path],
    exclude: Iterable[Path] = (),
    table_options: Mapping[str, Any] | None = None,
    warnings: list[str] | None = None,
) -> Iterator[PatientBundle | InputError]:
    """Stream every input under ``paths`` (see :func:`expand_inputs`): a bundle or an InputError each.

    One patient at a time is held in memory (NDJSON and CSV extracts are regrouped on disk).
    Skipped files go to ``warnings``. ``table_options`` apply to every CSV extract; its
    ``allow_text_only`` to case files too.
    """
    allow_text_only = bool((table_options or {}).get("allow_text_only"))
    items = expand_inputs(paths, exclude)
    named_ndjson = [p for p in items if p.is_file() and p.suffix.lower() == NDJSON_SUFFIX]
    for item in items:
        if item.is_dir():
            if is_table_extract(item):
                yield from iter_extract(item, warnings, table_options)
            else:
                yield from iter_ndjson(sorted(f for f in item.glob(f"*{NDJSON_SUFFIX}") if f.is_file()))
            continue
        if item.suffix.lower() == NDJSON_SUFFIX:
            continue  # named NDJSON files are regrouped together below
        try:
            yield load_input(item, allow_text_only)
        except SkippedInput as e:
            if warnings is not None:
                warnings.append(str(e))
        except InputError as e:
            yield e
    if named_ndjson:
        yield from iter_ndjson(named_ndjson)


def load_inputs(
    paths: Iterable[Path], exclude: Iterable[Path] = (), table_options: Mapping[str, Any] | None = None
) -> LoadedInputs:
    """Every input under ``paths`` in lists (see :func:`iter_inputs`, which streams); nothing raises for bad data.

    ``table_options`` apply to every CSV extract (see :func:`iter_extract`); its ``allow_text_only``
    to case files too.
    """
    loaded = LoadedInputs()
    for got in iter_inputs(paths, exclude, table_options, loaded.warnings):
        if isinstance(got, InputError):
            loaded.errors.append(str(got))
        else:
            loaded.bundles.append(got)
    return loaded
