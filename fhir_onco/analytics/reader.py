"""Load FHIR resources for analysis: a directory (bundle JSON, resource JSON, NDJSON), or a server.

Resources are grouped by patient (``subject`` / ``patient`` reference). Only the resource types the
caller asks for are kept, so a report over a large registry does not hold every dose given.
Errors name the file (and line for NDJSON) only: never a value from the data.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .values import Json

log = logging.getLogger(__name__)

CLINICAL_TYPES = (
    "Patient", "Condition", "Observation", "CarePlan", "MedicationAdministration", "MedicationRequest", "Procedure",
    "AdverseEvent",
)


def subject_id(resource: Json) -> str | None:
    """The Patient resource id a resource belongs to (Type/id, absolute, _history or urn:uuid)."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id")
    ref = resource.get("subject") or resource.get("patient")
    text = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(text, str) or not text:
        return None
    if text.startswith("urn:uuid:"):
        return text.removeprefix("urn:uuid:")
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    return parts[-1] if len(parts) >= 2 else None


class InputError(ValueError):
    """Input that cannot be read (message names the file and line, never the data)."""


def accepted(resource: Any, types: frozenset[str], counter: Any = None) -> Iterator[Json]:
    """The resources an analysis keeps from one input item: a bundle's entries, or the item itself,
    when of a wanted type, with an id and a patient; ``counter.skipped`` counts the others."""
    if not isinstance(resource, dict):
        if counter is not None:
            counter.skipped += 1
        return
    rtype = resource.get("resourceType")
    if rtype == "Bundle":
        entries = resource.get("entry")
        for entry in entries if isinstance(entries, list) else []:
            yield from accepted(entry.get("resource") if isinstance(entry, dict) else None, types, counter)
        return
    if not isinstance(rtype, str) or rtype not in types or not isinstance(resource.get("id"), str) \
            or not resource["id"] or subject_id(resource) is None:
        if counter is not None:
            counter.skipped += 1
        return
    yield resource


@dataclass
class ResourceStore:
    """Resources by type and by patient id (last one wins for a repeated Type/id)."""

    types: frozenset[str] = frozenset(CLINICAL_TYPES)
    _by_ref: dict[str, Json] = field(default_factory=dict)
    skipped: int = 0  # resources of other types, or without a patient

    def add(self, resource: Any) -> None:
        for r in accepted(resource, self.types, self):
            self._by_ref[f"{r['resourceType']}/{r['id']}"] = r

    def extend(self, resources: Iterable[Any]) -> ResourceStore:
        for r in resources:
            self.add(r)
        return self

    def __len__(self) -> int:
        return len(self._by_ref)

    def resources(self, rtype: str | None = None) -> Iterator[Json]:
        for r in self._by_ref.values():
            if rtype is None or r["resourceType"] == rtype:
                yield r

    def get(self, rtype: str, rid: str | None) -> Json | None:
        return self._by_ref.get(f"{rtype}/{rid}") if rid else None

    def patients(self) -> list[Json]:
        return sorted(self.resources("Patient"), key=lambda p: str(p["id"]))

    def by_patient(self) -> dict[str, list[Json]]:
        """Patient id -> its resources (the Patient first), patients without a Patient resource too."""
        out: dict[str, list[Json]] = defaultdict(list)
        for r in self._by_ref.values():
            pid = subject_id(r)
            if pid is None:
                continue
            if r["resourceType"] == "Patient":
                out[pid].insert(0, r)
            else:
                out[pid].append(r)
        return dict(out)

    def only_patient(self, patient_id: str) -> ResourceStore:
        sub = ResourceStore(self.types)
        sub.extend(r for r in self._by_ref.values() if subject_id(r) == patient_id)
        return sub


# ---- files --------------------------------------------------------------------------------------
def iter_file(path: Path, allow_text_only: bool = False) -> Iterator[Any]:
    """Resources (or bundles) in one file: .ndjson (one per line), .json, .yaml/.yml case files."""
    from fhir_onco.documents import DocumentError, iter_ndjson, load_document

    suffix = path.suffix.lower()
    try:
        if suffix == ".ndjson":
            for _, value in iter_ndjson(path):
                if isinstance(value, DocumentError):
                    raise value
                yield value
            return
    except DocumentError as exc:
        raise InputError(str(exc)) from None
    if suffix in (".yaml", ".yml"):
        yield _map_case(path, allow_text_only)
        return
    try:
        data = load_document(path)
    except DocumentError as exc:
        raise InputError(str(exc)) from None
    if isinstance(data, dict) and "resourceType" not in data and "patient" in data:
        yield _map_case(path, allow_text_only)  # a case file written as JSON
    else:
        yield data


def _map_case(path: Path, allow_text_only: bool = False) -> Json:
    """A case file is mapped to FHIR first; the analysis then reads only the FHIR."""
    from fhir_onco import CaseError, load_case, map_case
    from fhir_onco.mappings import MappingError

    try:
        return map_case(load_case(path), source=str(path), allow_text_only=allow_text_only)
    except (CaseError, MappingError) as exc:
        raise InputError(f"{path}: cannot map the case file ({type(exc).__name__}); run `fhir-onco validate` "
                         "on it for the details") from None


def input_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InputError(f"{root}: no such file or directory")
    suffixes = {".json", ".ndjson", ".yaml", ".yml"}
    return [p for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix.lower() in suffixes
            and not any(part.startswith(".") for part in p.relative_to(root).parts)]


def read_input(root: Path | str, types: Iterable[str] = CLINICAL_TYPES, *,
               allow_text_only: bool = False) -> ResourceStore:
    """Every resource under a directory (or in one file)."""
    store = ResourceStore(frozenset(types))
    files = input_files(Path(root))
    for path in files:
        store.extend(iter_file(path, allow_text_only))
    log.info("read %d resources from %d files", len(store), len(files))
    return store


# ---- patient by patient, in bounded memory ------------------------------------------------------
@dataclass
class PatientStats:
    resources: int = 0
    skipped: int = 0  # resources of other types, or without a patient


def iter_patients(resources: Iterable[Any], types: Iterable[str] = CLINICAL_TYPES, *,
                  workdir: str | Path | None = None, stats: PatientStats | None = None) -> Iterator[ResourceStore]:
    """One store per patient, in patient id order, whatever order the resources come in.

    The resources (or bundles) are streamed into an on-disk SQLite index first
    (:class:`fhir_onco.server.bulk.PatientIndex`, deleted afterwards) and read back one patient at a
    time, so memory holds one patient, not the input. A repeated Type/id keeps its last copy, as
    :class:`ResourceStore` does; a patient spread over several files or NDJSON types is whole again.
    """
    from fhir_onco.server.bulk import PatientIndex

    wanted = frozenset(types)
    stats = stats if stats is not None else PatientStats()
    with PatientIndex(workdir, key=subject_id) as index:
        for item in resources:
            for r in accepted(item, wanted, stats):
                index.add(r)
                stats.resources += 1
        for _, group, _ in index.patients():
            yield ResourceStore(wanted).extend(group)


def iter_input(root: Path | str, *, allow_text_only: bool = False) -> Iterator[Any]:
    """Every resource, bundle or mapped case file under a directory (or in one file), file by file."""
    for path in input_files(Path(root)):
        yield from iter_file(path, allow_text_only)


def iter_server(base_url: str, types: Iterable[str] = CLINICAL_TYPES, *, client: Any = None,
                page_size: int = 500) -> Iterator[Json]:
    """Every resource of the types on the server, page by page (type by type searches)."""
    from fhir_onco.server.client import FhirClient

    own = client is None
    client = client or FhirClient(base_url)
    try:
        for rtype in sorted(frozenset(types)):
            yield from client.search(rtype, {"_count": str(page_size)}, include_included=False)
    finally:
        if own:
            client.close()


# ---- server -------------------------------------------------------------------------------------
def read_server(base_url: str, types: Iterable[str] = CLINICAL_TYPES, *, patient_id: str | None = None,
                client: Any = None, page_size: int = 500) -> ResourceStore:
    """Search the server type by type (all patients, or one patient's compartment)."""
    from fhir_onco.server.client import FhirClient

    own = client is None
    client = client or FhirClient(base_url)
    store = ResourceStore(frozenset(types))
    try:
        for rtype in store.types:
            params: dict[str, str] = {"_count": str(page_size)}
            if patient_id is not None:
                if rtype == "Patient":
                    params["_id"] = patient_id
                else:
                    params["subject"] = f"Patient/{patient_id}"
            found = client.search(rtype, params, include_included=False)
            if patient_id is not None and rtype != "Patient":
                # a server may ignore `subject` on a type it does not index (sekmet: AdverseEvent)
                # and answer with every patient's resources: keep only this patient's
                found = (r for r in found if _refers_to(r, f"Patient/{patient_id}"))
            store.extend(found)
    finally:
        if own:
            client.close()
    log.info("read %d resources from the server", len(store))
    return store


def _refers_to(resource: dict[str, Any], patient_ref: str) -> bool:
    for element in ("subject", "patient"):
        ref = resource.get(element)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str) and (
                ref["reference"] == patient_ref or ref["reference"].endswith("/" + patient_ref)):
            return True
    return False


def find_patient(store: ResourceStore, key: str) -> str | None:
    """A patient's resource id from its id or any identifier value (or 'system|value')."""
    if store.get("Patient", key) is not None:
        return key
    hits = []
    for p in store.resources("Patient"):
        for ident in p.get("identifier") or []:
            value, system = ident.get("value"), ident.get("system")
            if key in (value, f"{system}|{value}"):
                hits.append(p["id"])
                break
    return hits[0] if len(hits) == 1 else None
