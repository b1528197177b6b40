"""Fetch everything a server holds for one patient.

``Patient/[id]/$everything`` when the CapabilityStatement declares the operation (pages followed);
otherwise a ``Patient?_id=[id]`` search with ``_revinclude`` of every resource that points at the
patient through ``subject`` or ``patient`` (chunked so URLs stay short, pages followed), then the
resources those reference (practitioners, organizations, medications, ...), read one by one up to
a bounded depth. Resources the caller already knows of (``known``, e.g. from the sync state) are
read directly when the searches missed them. The result is a list of raw FHIR resources, the
Patient first; mapping them back to the case model is :mod:`fhir_onco.mappings.reverse`'s job.

Nothing is lost silently: a searchset whose ``self`` link drops a parameter we sent, or that carries
an OperationOutcome warning, is noted; types of the patient compartment the server cannot search
(sekmet does not index AdverseEvent) are fetched from the sync state (``known``) or a system-level
Bulk ``$export`` of those types, and what still could not be fetched is listed in ``notes``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .client import FhirClient
from .errors import CapabilityError, HttpError, NotFoundError, PatientError, ServerIOError

log = logging.getLogger(__name__)

# Used when the CapabilityStatement does not list Patient revincludes (or only "*").
DEFAULT_REVINCLUDES = (
    "AdverseEvent:subject",
    "AllergyIntolerance:patient",
    "CarePlan:subject",
    "CareTeam:subject",
    "ClinicalImpression:subject",
    "Condition:subject",
    "DiagnosticReport:subject",
    "DocumentReference:subject",
    "Encounter:subject",
    "FamilyMemberHistory:patient",
    "Goal:subject",
    "Immunization:patient",
    "ImagingStudy:subject",
    "MedicationAdministration:subject",
    "MedicationRequest:subject",
    "MedicationStatement:subject",
    "Observation:subject",
    "Procedure:subject",
    "ResearchSubject:individual",
    "ServiceRequest:subject",
    "Specimen:subject",
)
REVINCLUDE_CHUNK = 20
MAX_REFERENCE_DEPTH = 3


# The types fhir-onco writes for a patient: pull checks it could fetch each of them.
CLINICAL_TYPES = (
    "AdverseEvent",
    "CarePlan",
    "Condition",
    "MedicationAdministration",
    "MedicationRequest",
    "Observation",
    "Procedure",
)


@dataclass
class PullResult:
    patient: str  # our/the server's Patient id
    method: str  # "everything", "search" or "bulk"
    resources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was ignored, fallen back on or not fetched

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.resources:
            out[r["resourceType"]] = out.get(r["resourceType"], 0) + 1
        return dict(sorted(out.items()))

    def to_bundle(self) -> dict[str, Any]:
        """A ``collection`` Bundle of the raw resources."""
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in self.resources],
        }


_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def resolve_patient(client: FhirClient, patient: str) -> str:
    """The server id of a patient given as its ``ID``, ``SYSTEM|VALUE`` or a bare identifier ``VALUE``.

    A bare value is tried as a server id first, then as an identifier value in any system; it must
    match exactly one Patient. The value itself is patient data and never repeated in messages.
    """
    if "|" not in patient:
        if _ID.fullmatch(patient) and client.read("Patient", patient) is not None:
            return patient
        ids = _patients_with_identifier(client, patient)
        if not ids:
            raise PatientError("?", "no Patient has that server id or identifier value")
        if len(ids) > 1:
            raise PatientError(
                ids[0], f"{len(ids)} Patients have that identifier value in different systems; give SYSTEM|VALUE"
            )
        return ids[0]
    system, _, value = patient.partition("|")
    if not value:
        raise PatientError("?", "identifier must be SYSTEM|VALUE")
    ids = _patients_with_identifier(client, f"{system}|{value}")
    if not ids:
        raise PatientError("?", f"no Patient has an identifier with system {system} and that value")
    if len(ids) > 1:
        raise PatientError(ids[0], f"{len(ids)} Patients share that identifier ({', '.join(ids)})")
    return ids[0]


def _patients_with_identifier(client: FhirClient, token: str) -> list[str]:
    params = {"identifier": token, "_elements": "id"}
    ids: set[str] = set()
    for page in client.pages("Patient", params):
        if client.ignored_params(page, ["identifier"]):
            # a server ignoring the identifier would list every patient: never guess from that
            raise ServerIOError("the server ignored the identifier search parameter on Patient; give the server id")
        ids.update(str(r["id"]) for r in _entries([page]) if r.get("resourceType") == "Patient")
    return sorted(ids)


def _entries(pages: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    for page in pages:
        for e in page.get("entry") or []:
            res = e.get("resource")
            mode = (e.get("search") or {}).get("mode")
            if not isinstance(res, dict) or mode == "outcome":
                continue
            if res.get("resourceType") in (None, "OperationOutcome") or not res.get("id"):
                continue
            yield res


def _references(value: Any, base: str) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                ref = v[len(base) + 1 :] if v.startswith(base + "/") else v
                parts = ref.split("/")
                if len(parts) == 2 and parts[0][:1].isupper() and "?" not in ref:
                    yield ref
            else:
                yield from _references(v, base)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v, base)


def _revincludes(client: FhirClient) -> list[str]:
    listed = [
        r
        for r in client.server_info().patient_revincludes
        if r.count(":") == 1 and r.split(":")[1] in ("subject", "patient", "individual")
    ]
    return sorted(set(listed)) or list(DEFAULT_REVINCLUDES)


def pull_patient(
    client: FhirClient,
    patient: str,
    *,
    use_everything: bool | None = None,
    known: Iterable[str] = (),
    bulk: bool = False,
    bulk_fallback: bool = True,
) -> PullResult:
    """Everything about one patient (``patient`` is an id or ``SYSTEM|VALUE``).

    ``known`` lists ``Type/id`` the caller knows belong to the patient (e.g. from the sync state
    store); they are read directly if the searches missed them. That covers servers that do not
    index every resource type for search (a server that cannot search AdverseEvent by subject
    cannot return it from ``$everything`` either).

    ``bulk=True`` fetches the patient's resources from a system-level Bulk ``$export`` instead
    (streamed, only this patient's kept). Otherwise, types the server cannot search by patient are
    fetched from such an export when ``bulk_fallback`` and the server offers it.
    """
    pid = resolve_patient(client, patient)
    info = client.server_info()
    everything = info.patient_everything if use_everything is None else use_everything
    found: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    method = "search"
    if bulk:
        if "system" not in info.export_levels:
            raise CapabilityError(f"{client.base_url} does not declare a system-level $export; pull without --bulk")
        method = "bulk"
        _from_export(client, pid, (), found, notes)
    elif everything:
        try:
            for res in _entries(_noted_pages(client, f"Patient/{pid}/$everything", [], notes)):
                found.setdefault(f"{res['resourceType']}/{res['id']}", res)
            method = "everything"
        except HttpError as e:
            if e.status not in (400, 404, 405, 501):
                raise PatientError(pid, f"$everything failed: {e}") from e
            log.info("patient %s: $everything refused (HTTP %d); searching", pid, e.status)
            notes.append(f"$everything refused (HTTP {e.status}): searched instead")
            found.clear()
    not_searched: list[str] = []  # types a search could not bring back (the server ignored our parameters)
    if method == "search":
        revs = _revincludes(client)
        for start in range(0, len(revs), REVINCLUDE_CHUNK):
            chunk = revs[start : start + REVINCLUDE_CHUNK]
            params = [("_id", pid)] + [("_revinclude", r) for r in chunk]
            ignored: list[str] = []
            for page in _noted_pages(client, "Patient", params, notes):
                ignored = ignored or client.ignored_params(page, [k for k, _ in params])
                for res in _entries([page]):
                    found.setdefault(f"{res['resourceType']}/{res['id']}", res)
            if "_revinclude" in ignored:
                # fall back to one search per type, each checked the same way
                note = "Patient: the server ignored _revinclude: searched type by type"
                if note not in notes:
                    notes.append(note)
                not_searched.extend(_per_type(client, pid, chunk, found, notes))
    # the List push keeps of what it wrote for the patient: read what the searches missed
    from .push import is_manifest, manifest_items, manifest_ref

    own_list = manifest_ref(pid)
    if own_list not in found:
        with contextlib.suppress(ServerIOError):
            listed = client.read(*own_list.split("/", 1))
            if listed is not None:
                found[own_list] = listed
    known = set(known) | manifest_items(found.get(own_list))
    for ref in sorted(set(known) - set(found)):
        rtype, _, rid = ref.partition("/")
        try:
            known_res = client.read(rtype, rid)
        except ServerIOError as e:
            notes.append(f"{ref} (from the sync state) could not be read: {type(e).__name__}")
            continue
        if known_res is not None:
            found[ref] = known_res
    if method != "bulk":
        unsearchable = sorted({*_unsearchable_types(client, found), *not_searched})
        if unsearchable and bulk_fallback and "system" in info.export_levels:
            notes.append(f"the server cannot search {', '.join(unsearchable)} by patient: fetched from a Bulk $export")
            _from_export(client, pid, unsearchable, found, notes)
        elif unsearchable:
            have = {r.split("/", 1)[0] for r in found}
            missing = [t for t in unsearchable if t not in have]
            if missing:
                notes.append(
                    f"not fetched: the server cannot search {', '.join(missing)} by patient and offers no "
                    "$export (use --state with the sync state store)"
                )
    # referenced resources the server did not include (always checked: $everything may skip them)
    frontier = list(found.values())
    for _ in range(MAX_REFERENCE_DEPTH):
        missing = sorted({ref for r in frontier for ref in _references(r, client.base_url)} - set(found))
        frontier = []
        for ref in missing:
            rtype, rid = ref.split("/", 1)
            try:
                linked = client.read(rtype, rid)
            except (NotFoundError, ServerIOError):
                linked = None
            if linked is not None:
                found[ref] = linked
                frontier.append(linked)
        if not frontier:
            break
    for ref in [r for r, res in found.items() if is_manifest(res)]:
        del found[ref]  # fhir-onco's bookkeeping, not the patient's data
    patient_ref = f"Patient/{pid}"
    if patient_ref not in found:
        raise PatientError(pid, "the server returned the patient's resources but not the Patient")
    ordered = [found.pop(patient_ref), *(found[k] for k in sorted(found))]
    return PullResult(pid, method, ordered, notes)


def _noted_pages(
    client: FhirClient, path: str, params: Sequence[tuple[str, str]], notes: list[str]
) -> Iterator[dict[str, Any]]:
    """Pages of a search; parameters the server ignored and OperationOutcome warnings go to ``notes``."""
    for page in client.pages(path, params):
        ignored = client.ignored_params(page, [k for k, _ in params])
        if ignored:
            note = f"{path.split('/')[0]}: the server ignored {', '.join(ignored)}"
            if note not in notes:
                notes.append(note)
        for warning in client.outcome_warnings(page):
            note = f"{path.split('/')[0]} search: server {warning}"
            if note not in notes:
                notes.append(note)
        yield page


def _per_type(
    client: FhirClient, pid: str, revincludes: Sequence[str], found: dict[str, dict[str, Any]], notes: list[str]
) -> list[str]:
    """``Type?param=Patient/pid`` for each ``Type:param``; returns the types whose parameter was ignored."""
    failed: list[str] = []
    for rev in revincludes:
        rtype, _, param = rev.partition(":")
        params = [(param, f"Patient/{pid}")]
        kept: list[dict[str, Any]] = []
        ignored = False
        for page in client.pages(rtype, params):
            if client.ignored_params(page, [param]):
                ignored = True  # every patient's resources: none of it can be trusted as this patient's
                break
            kept.extend(_entries([page]))
        if ignored:
            notes.append(f"{rtype}: the server ignored {param}; not searched")
            failed.append(rtype)
            continue
        for res in kept:
            found.setdefault(f"{res['resourceType']}/{res['id']}", res)
    return failed


def _unsearchable_types(client: FhirClient, found: Mapping[str, Any]) -> list[str]:
    """Our clinical types the server cannot search (so neither $everything nor _revinclude brings them)."""
    searchable = client.server_info().search_types
    if not searchable:
        return []
    return [t for t in CLINICAL_TYPES if t not in searchable]


def _from_export(
    client: FhirClient, pid: str, types: Sequence[str], found: dict[str, dict[str, Any]], notes: list[str]
) -> None:
    """Add the patient's resources of a system-level export (streamed; other patients' are dropped)."""
    from .bulk import ExportRequest, ExportStats, export_resources, patient_of

    stats = ExportStats()
    # no _type for a whole pull: every type of the patient, whatever the server holds
    for res in export_resources(client, ExportRequest("system", types=tuple(types)), stats=stats):
        if patient_of(res) == pid:
            found.setdefault(f"{res['resourceType']}/{res['id']}", res)
    notes.extend(n for n in stats.notes if n not in notes)
