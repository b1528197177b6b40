"""Fetch everything a server holds for one patient.

``Patient/[id]/$everything`` when the CapabilityStatement declares the operation (pages followed);
otherwise a ``Patient?_id=[id]`` search with ``_revinclude`` of every resource that points at the
patient through ``subject`` or ``patient`` (chunked so URLs stay short, pages followed), then the
resources those reference (practitioners, organizations, medications, ...), read one by one up to
a bounded depth. Resources the caller already knows of (``known``, e.g. from the sync state) are
read directly when the searches missed them. The result is a list of raw FHIR resources, the
Patient first; mapping them back to the case model is :mod:`fhir_onco.mappings.reverse`'s job.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .client import FhirClient
from .errors import HttpError, NotFoundError, PatientError, ServerIOError

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


@dataclass
class PullResult:
    patient: str  # our/the server's Patient id
    method: str  # "everything" or "search"
    resources: list[dict[str, Any]] = field(default_factory=list)

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


def resolve_patient(client: FhirClient, patient: str) -> str:
    """The server id of a patient given as ``ID`` or ``SYSTEM|VALUE`` (an identifier)."""
    if "|" not in patient:
        if client.read("Patient", patient) is None:
            raise PatientError(patient, "no such Patient on the server")
        return patient
    system, _, value = patient.partition("|")
    if not value:
        raise PatientError("?", "identifier must be SYSTEM|VALUE")
    ids: list[str] = sorted(
        {
            r["id"]
            for r in client.search("Patient", {"identifier": f"{system}|{value}", "_elements": "id"})
            if r.get("resourceType") == "Patient"
        }
    )
    # the value itself is patient data: it is not repeated in messages
    if not ids:
        raise PatientError("?", f"no Patient has an identifier with system {system} and that value")
    if len(ids) > 1:
        raise PatientError(ids[0], f"{len(ids)} Patients share that identifier ({', '.join(ids)})")
    return ids[0]


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
) -> PullResult:
    """Everything about one patient (``patient`` is an id or ``SYSTEM|VALUE``).

    ``known`` lists ``Type/id`` the caller knows belong to the patient (e.g. from the sync state
    store); they are read directly if the searches missed them. That covers servers that do not
    index every resource type for search (a server that cannot search AdverseEvent by subject
    cannot return it from ``$everything`` either).
    """
    pid = resolve_patient(client, patient)
    info = client.server_info()
    everything = info.patient_everything if use_everything is None else use_everything
    found: dict[str, dict[str, Any]] = {}
    method = "search"
    if everything:
        try:
            for res in _entries(client.pages(f"Patient/{pid}/$everything")):
                found.setdefault(f"{res['resourceType']}/{res['id']}", res)
            method = "everything"
        except HttpError as e:
            if e.status not in (400, 404, 405, 501):
                raise PatientError(pid, f"$everything failed: {e}") from e
            log.info("patient %s: $everything refused (HTTP %d); searching", pid, e.status)
            found.clear()
    if method == "search":
        revs = _revincludes(client)
        for start in range(0, len(revs), REVINCLUDE_CHUNK):
            params = [("_id", pid)] + [("_revinclude", r) for r in revs[start : start + REVINCLUDE_CHUNK]]
            for res in _entries(client.pages("Patient", params)):
                found.setdefault(f"{res['resourceType']}/{res['id']}", res)
    for ref in sorted(set(known) - set(found)):
        rtype, _, rid = ref.partition("/")
        with contextlib.suppress(ServerIOError):
            known_res = client.read(rtype, rid)
            if known_res is not None:
                found[ref] = known_res
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
    patient_ref = f"Patient/{pid}"
    if patient_ref not in found:
        raise PatientError(pid, "the server returned the patient's resources but not the Patient")
    ordered = [found.pop(patient_ref), *(found[k] for k in sorted(found))]
    return PullResult(pid, method, ordered)
