"""FHIR Bulk Data ``$export``: kick off, poll, stream the NDJSON files; searches when there is no ``$export``.

The flow (FHIR Bulk Data Access IG, "async" pattern):

1. **Kick-off**: ``GET [base]/$export`` (system), ``[base]/Patient/$export`` or
   ``[base]/Group/[id]/$export`` with ``Prefer: respond-async`` and ``_type`` / ``_since``. The
   server answers ``202 Accepted`` with the status URL in ``Content-Location``.
2. **Poll** the status URL: ``202`` (with ``Retry-After`` and maybe ``X-Progress``) while running,
   ``200`` with the manifest when done. We wait what ``Retry-After`` asks (bounded), else back off.
3. **Stream** each output file line by line (:meth:`FhirClient.iter_ndjson`): nothing holds a whole
   file. Files on another origin are fetched without our credentials, and only when the manifest
   says no access token is needed.
4. Tell the server we are done (``DELETE`` the status URL), best effort.

When the CapabilityStatement does not declare ``$export`` at the requested level, the same
resources are fetched by paged searches instead (per type; ``_lastUpdated=ge`` for ``_since``; a
Group's members one by one), and :class:`ExportStats` says so.

Callers that need a patient's resources together (reports, ``pull``) use
:func:`export_patients`: the stream is regrouped per patient through an on-disk SQLite index
(:class:`PatientIndex`), so memory stays flat however large the export is.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from .client import FhirClient, _parse_retry_after
from .errors import CapabilityError, HttpError, ResponseFormatError, ServerIOError

log = logging.getLogger(__name__)

Level = Literal["system", "patient", "group"]
LEVELS: tuple[Level, ...] = ("system", "patient", "group")
# Resource types read by the search fallback when no _type is given: what fhir-onco writes.
DEFAULT_TYPES = (
    "Patient",
    "Condition",
    "Observation",
    "CarePlan",
    "MedicationAdministration",
    "MedicationRequest",
    "Procedure",
    "AdverseEvent",
)
# Reference elements that tie a resource to its patient (the Patient compartment's usual links).
PATIENT_LINKS = ("subject", "patient", "individual")


class ExportError(ServerIOError):
    """The export failed on the server, took too long, or its manifest is unusable."""


@dataclass
class ExportStats:
    """What an export did, for reports (no patient data)."""

    method: str = "bulk"  # "bulk" or "search" (fallback)
    level: str = "system"
    files: int = 0
    resources: int = 0
    polls: int = 0
    waited_seconds: float = 0.0
    by_type: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0  # OperationOutcomes in the manifest's "error" files
    notes: list[str] = field(default_factory=list)

    def count(self, rtype: str) -> None:
        self.resources += 1
        self.by_type[rtype] = self.by_type.get(rtype, 0) + 1


def _export_path(level: Level, group: str | None) -> str:
    if level == "system":
        return "$export"
    if level == "patient":
        return "Patient/$export"
    if not group:
        raise ExportError("a Group-level export needs the Group id")
    return f"Group/{group}/$export"


def kick_off(
    client: FhirClient,
    level: Level = "system",
    *,
    group: str | None = None,
    types: Sequence[str] = (),
    since: str | None = None,
) -> str:
    """Start an export; returns the status URL from ``Content-Location``."""
    params: list[tuple[str, str]] = [("_outputFormat", "application/fhir+ndjson")]
    if types:
        params.append(("_type", ",".join(types)))
    if since:
        params.append(("_since", since))
    resp = client.request(
        "GET",
        _export_path(level, group),
        params=params,
        headers={"Prefer": "respond-async", "Accept": "application/fhir+json"},
    )
    location = resp.headers.get("Content-Location")
    if resp.status != 202 or not location:
        raise ExportError(f"$export kick-off answered HTTP {resp.status} without a status URL (Content-Location)")
    return location


def wait_for_manifest(
    client: FhirClient,
    status_url: str,
    *,
    timeout: float = 3600.0,
    max_wait: float = 60.0,
    on_progress: Callable[[str], None] | None = None,
    stats: ExportStats | None = None,
) -> dict[str, Any]:
    """Poll the status URL until the manifest is there; honours ``Retry-After`` (capped at ``max_wait``)."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        resp = client.request("GET", status_url, fhir=False)
        if resp.status == 200:
            manifest = resp.body
            if not isinstance(manifest, dict) or not isinstance(manifest.get("output"), list):
                raise ExportError("the export's status URL answered 200 without a manifest (no 'output' list)")
            return manifest
        if resp.status != 202:
            raise ExportError(f"the export's status URL answered HTTP {resp.status}")
        attempt += 1
        progress = resp.headers.get("X-Progress")
        if progress and on_progress is not None:
            on_progress(progress)
        asked = _parse_retry_after(resp.headers.get("Retry-After"))
        delay = min(max_wait, asked if asked is not None else min(max_wait, 0.5 * 2 ** min(attempt, 7)))
        if time.monotonic() + delay > deadline:
            raise ExportError(f"the export was not complete after {timeout:g}s (last progress: {progress or '-'})")
        if stats is not None:
            stats.polls += 1
            stats.waited_seconds += delay
        client._wait(delay)


def _file_auth(client: FhirClient, manifest: Mapping[str, Any], url: str) -> bool:
    """Whether to send our credentials for an output file (only on our own origin)."""
    if urlsplit(url)[:2] == urlsplit(client.base_url)[:2]:
        return True
    if manifest.get("requiresAccessToken") is False:
        return False
    raise ExportError(
        f"an export file is on another origin ({urlsplit(url).netloc}) and the manifest says it "
        "needs our access token; not sent there"
    )


def stream_manifest(
    client: FhirClient,
    manifest: Mapping[str, Any],
    *,
    types: Sequence[str] = (),
    stats: ExportStats | None = None,
) -> Iterator[dict[str, Any]]:
    """Every resource of every output file, file by file, line by line."""
    wanted = set(types)
    for item in manifest.get("output") or []:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise ExportError("the manifest has an output entry without a url")
        if wanted and item.get("type") and item["type"] not in wanted:
            continue
        if stats is not None:
            stats.files += 1
        for res in client.iter_ndjson(item["url"], with_auth=_file_auth(client, manifest, item["url"])):
            rtype = res.get("resourceType")
            if not isinstance(rtype, str) or not res.get("id"):
                raise ResponseFormatError("an export file holds a line that is not a FHIR resource with an id")
            if wanted and rtype not in wanted:
                continue
            if stats is not None:
                stats.count(rtype)
            yield res
    for item in manifest.get("error") or []:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            continue
        for outcome in client.iter_ndjson(item["url"], with_auth=_file_auth(client, manifest, item["url"])):
            issues = [i for i in outcome.get("issue") or [] if isinstance(i, dict)]
            if stats is not None:
                stats.server_errors += 1
                # code and severity only: a server's diagnostics may quote data
                stats.notes.append(
                    "server reported: "
                    + ", ".join(f"{i.get('severity', '?')}/{i.get('code', '?')}" for i in issues or [{}])
                )


def _search_fallback(
    client: FhirClient,
    level: Level,
    *,
    group: str | None,
    types: Sequence[str],
    since: str | None,
    stats: ExportStats,
    page_size: int,
) -> Iterator[dict[str, Any]]:
    """The same resources by paged searches, for servers without ``$export``."""
    rtypes = list(types) or list(DEFAULT_TYPES)
    if level == "group":
        from .pull import pull_patient

        grp = client.read("Group", group or "")
        if grp is None:
            raise ExportError(f"Group/{group} does not exist on the server")
        for member in grp.get("member") or []:
            ref = str((member.get("entity") or {}).get("reference") or "")
            if "Patient/" not in ref:
                continue
            pulled = pull_patient(client, ref.rsplit("/", 1)[-1])
            for res in pulled.resources:
                if res["resourceType"] in rtypes and (since is None or _updated_since(res, since)):
                    stats.count(res["resourceType"])
                    yield res
        return
    searchable = client.server_info().search_types
    for rtype in rtypes:
        if searchable and rtype not in searchable:
            stats.notes.append(f"{rtype}: the server cannot search this type; not exported")
            continue
        params: dict[str, str] = {"_count": str(page_size)}
        if since:
            params["_lastUpdated"] = f"ge{since}"
        for res in client.search(rtype, params, include_included=False):
            if level == "patient" and rtype != "Patient" and patient_of(res) is None:
                continue
            stats.count(rtype)
            yield res


def _updated_since(resource: Mapping[str, Any], since: str) -> bool:
    updated = str((resource.get("meta") or {}).get("lastUpdated") or "")
    return not updated or updated >= since


@dataclass(frozen=True)
class ExportRequest:
    """What to export and how: one value shared by :func:`export_resources` and :func:`export_patients`.

    ``level`` is ``system``, ``patient`` or ``group`` (then ``group`` is the Group id); ``types``
    limits the resource types (``_type``); ``since`` is an instant (``_since``). ``fallback=False``
    raises :class:`CapabilityError` instead of searching when the server does not declare
    ``$export`` at ``level``; ``timeout`` bounds the wait for the manifest (seconds); ``page_size``
    is the ``_count`` of the fallback searches.
    """

    level: Level = "system"
    group: str | None = None
    types: tuple[str, ...] = ()
    since: str | None = None
    fallback: bool = True
    timeout: float = 3600.0
    page_size: int = 500

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ExportError(f"unknown export level {self.level!r}; one of {', '.join(LEVELS)}")
        if self.level == "group" and not self.group:
            raise ExportError("a Group-level export needs the Group id")
        object.__setattr__(self, "types", tuple(self.types))  # a list given by a caller stays immutable


def export_resources(
    client: FhirClient,
    request: ExportRequest | None = None,
    *,
    stats: ExportStats | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream the resources of a Bulk Data export (or, without ``$export``, of searches).

    ``request`` says what to export (default: everything, system level); ``stats`` is filled as
    the stream is consumed; ``on_progress`` gets the server's ``X-Progress`` while it works.
    """
    req = request if request is not None else ExportRequest()
    level, group, types, since = req.level, req.group, req.types, req.since
    stats = stats if stats is not None else ExportStats()
    stats.level = level
    info = client.server_info()
    if level not in info.export_levels:
        if not req.fallback:
            raise CapabilityError(f"{client.base_url} does not declare {_export_path(level, group or 'ID')}")
        stats.method = "search"
        stats.notes.append(f"the server does not declare {level}-level $export: fetched by searches instead")
        log.info("no %s-level $export; searching", level)
        yield from _search_fallback(
            client, level, group=group, types=types, since=since, stats=stats, page_size=req.page_size
        )
        return
    unindexed = _compartment_gaps(client, level, types)
    returned: set[str] = set()  # the unindexed types the compartment export did return after all
    members: set[str] = set()  # a Group export's patients
    for res in _one_export(client, req, level, stats, on_progress):
        if res["resourceType"] in unindexed:
            returned.add(res["resourceType"])
        if level == "group" and unindexed and res["resourceType"] == "Patient":
            members.add(str(res["id"]))
        yield res
    missing = tuple(t for t in unindexed if t not in returned)
    if not missing:
        return
    gap = ", ".join(missing)
    if "system" not in info.export_levels:
        stats.notes.append(
            f"not exported: {gap} (the server does not index these types, so its {level}-level $export leaves "
            "them out, and it offers no system-level $export to fetch them from)"
        )
        return
    whose = "the Group's patients" if level == "group" else "every patient"
    stats.notes.append(
        f"{gap}: not in the server's {level}-level $export (the server does not index these types); "
        f"fetched from a system-level $export, kept for {whose}"
    )
    if level == "group":
        members.update(_group_members(client, group or ""))
    system = ExportRequest("system", types=missing, since=since, timeout=req.timeout)
    for res in _one_export(client, system, "system", ExportStats(), on_progress):
        pid = patient_of(res)
        if pid is not None and (level != "group" or pid in members):
            stats.count(res["resourceType"])
            yield res


def _one_export(
    client: FhirClient,
    req: ExportRequest,
    level: Level,
    stats: ExportStats,
    on_progress: Callable[[str], None] | None,
) -> Iterator[dict[str, Any]]:
    """Kick off, wait for the manifest, stream it, and tell the server we are done."""
    status_url = kick_off(client, level, group=req.group, types=req.types, since=req.since)
    try:
        manifest = wait_for_manifest(client, status_url, timeout=req.timeout, on_progress=on_progress, stats=stats)
        yield from stream_manifest(client, manifest, types=req.types, stats=stats)
    finally:
        try:
            client.request("DELETE", status_url, fhir=False)
        except (HttpError, ServerIOError):
            log.info("could not delete the finished export (the server will expire it)")


def _compartment_gaps(client: FhirClient, level: Level, types: Sequence[str]) -> tuple[str, ...]:
    """Types asked for that a Patient- or Group-level export may silently leave out: the ones the server
    does not index for search (it finds a patient's compartment through that index; sekmet-fhir's
    AdverseEvent). Empty for a system-level export, or when the server lists no searchable types."""
    if level == "system":
        return ()
    searchable = client.server_info().search_types
    if not searchable:
        return ()
    return tuple(t for t in (types or DEFAULT_TYPES) if t != "Patient" and t not in searchable)


def _group_members(client: FhirClient, group: str) -> set[str]:
    """The Patient ids a Group lists as members (``entity`` references)."""
    found = client.read("Group", group)
    out: set[str] = set()
    for member in (found or {}).get("member") or []:
        ref = str((member.get("entity") or {}).get("reference") or "") if isinstance(member, dict) else ""
        if ref.startswith("Patient/") or "/Patient/" in ref:
            out.add(ref.rsplit("/", 1)[-1])
    return out


# ---------------------------------------------------------------------------- per-patient regrouping


def patient_of(resource: Mapping[str, Any]) -> str | None:
    """The id of the Patient a resource belongs to (itself for a Patient), or None."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return str(rid) if rid else None
    for link in PATIENT_LINKS:
        ref = resource.get(link)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            parts = ref["reference"].rstrip("/").split("/")
            if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
                return parts[-1]
    return None


class PatientIndex:
    """Resources regrouped per patient through a temporary SQLite file, in bounded memory.

    :meth:`add` streams resources in (any order, any number of files); :meth:`patients` reads
    them back one patient at a time (Patient first, then in arrival order). Resources that belong
    to no patient are kept apart (:meth:`unlinked`). A repeated ``Type/id`` keeps the last copy.
    The file is deleted on :meth:`close`; nothing of it is logged.
    """

    _BATCH = 2000

    def __init__(
        self,
        directory: str | Path | None = None,
        key: Callable[[Mapping[str, Any]], str | None] | None = None,
    ) -> None:
        self._key = key or patient_of  # the patient a resource belongs to (None: to no patient)
        self._tmp = tempfile.TemporaryDirectory(prefix="fhir-onco-regroup-", dir=directory)
        self._db = sqlite3.connect(Path(self._tmp.name) / "index.sqlite")
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE res (ref TEXT PRIMARY KEY, patient TEXT, is_patient INTEGER NOT NULL,
                              seq INTEGER NOT NULL, source TEXT, body TEXT NOT NULL);
            """
        )
        self._seq = 0
        self._pending: list[tuple[str, str | None, int, int, str | None, str]] = []
        self._indexed = False

    def add(self, resource: Mapping[str, Any], source: str | None = None) -> None:
        ref = f"{resource.get('resourceType')}/{resource.get('id')}"
        self._seq += 1
        self._pending.append(
            (
                ref,
                self._key(resource),
                1 if resource.get("resourceType") == "Patient" else 0,
                self._seq,
                source,
                _encode(resource),
            )
        )
        if len(self._pending) >= self._BATCH:
            self._flush()

    def extend(self, resources: Iterable[Mapping[str, Any]], source: str | None = None) -> PatientIndex:
        for r in resources:
            self.add(r, source)
        return self

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT OR REPLACE INTO res VALUES (?, ?, ?, ?, ?, ?)", self._pending)
            self._pending.clear()

    def _ready(self) -> None:
        self._flush()
        if not self._indexed:
            self._db.execute("CREATE INDEX IF NOT EXISTS res_patient ON res (patient, is_patient DESC, seq)")
            self._indexed = True

    def __len__(self) -> int:
        self._flush()
        return int(self._db.execute("SELECT COUNT(*) FROM res").fetchone()[0])

    def patient_ids(self) -> list[str]:
        self._ready()
        return [r[0] for r in self._db.execute("SELECT DISTINCT patient FROM res WHERE patient IS NOT NULL ORDER BY 1")]

    def patients(self) -> Iterator[tuple[str, list[dict[str, Any]], list[str]]]:
        """(patient id, its resources with the Patient first, the sources they came from) per patient."""
        self._ready()
        # a second cursor per patient keeps only one patient's rows in memory
        ids = self._db.execute("SELECT DISTINCT patient FROM res WHERE patient IS NOT NULL ORDER BY patient")
        for (pid,) in _iter_cursor(ids):
            rows = self._db.execute(
                "SELECT body, source FROM res WHERE patient = ? ORDER BY is_patient DESC, seq", (pid,)
            ).fetchall()
            sources = sorted({s for _, s in rows if s})
            yield pid, [orjson.loads(b) for b, _ in rows], sources

    def unlinked(self) -> Iterator[dict[str, Any]]:
        """Resources that belong to no patient (Medication, Organization, ...)."""
        for res, _ in self.unlinked_with_source():
            yield res

    def unlinked_with_source(self) -> Iterator[tuple[dict[str, Any], str | None]]:
        self._ready()
        for body, source in _iter_cursor(
            self._db.execute("SELECT body, source FROM res WHERE patient IS NULL ORDER BY seq")
        ):
            yield orjson.loads(body), source

    def close(self) -> None:
        self._db.close()
        self._tmp.cleanup()

    def __enter__(self) -> PatientIndex:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _encode(resource: Mapping[str, Any]) -> bytes:
    """Compact JSON for the index: orjson (several times faster both ways), the stdlib for what orjson
    refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(resource)
    except TypeError:
        return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()


def _iter_cursor(cursor: sqlite3.Cursor, size: int = 500) -> Iterator[tuple[Any, ...]]:
    while True:
        rows = cursor.fetchmany(size)
        if not rows:
            return
        yield from rows


def export_patients(
    client: FhirClient,
    request: ExportRequest | None = None,
    *,
    stats: ExportStats | None = None,
    workdir: str | Path | None = None,
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(patient id, resources with the Patient first) per patient of an export, in bounded memory.

    fhir-onco's own written-resources Lists are left out. The whole export is streamed into a
    :class:`PatientIndex` first (the NDJSON files are per type,
    so a patient's resources are spread over all of them), then read back patient by patient.
    """
    from .push import is_manifest

    with PatientIndex(workdir) as index:
        index.extend(
            r
            for r in export_resources(client, request, stats=stats)
            if not is_manifest(r)  # fhir-onco's list of what it wrote: bookkeeping, not the patient's data
        )
        for pid, resources, _ in index.patients():
            yield pid, resources
