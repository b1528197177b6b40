"""Push patients to a FHIR server: idempotent, atomic per patient, concurrent across patients.

For each patient:

1. Read what the server has for every resource in the bundle (one read-only ``batch`` of GETs, or
   single reads when the server has no batch).
2. Compare each resource with the server's copy (:mod:`fhir_onco.server.canonical` defines
   "unchanged"). Unchanged resources are not sent, so they get no new version.
3. Send the changed and missing resources, plus the ``DELETE``s of resources that sync knows are no
   longer part of the patient, as **one transaction**: the server applies all of it or nothing, so
   a patient is never half on the server. Every entry is ``PUT Type/id``/``DELETE Type/id``, so a
   replay after a lost answer is harmless and the client may retry it.
4. A 409/412 (another writer got in between, e.g. two patients sharing an Organization) rolls the
   whole transaction back; the patient is planned again from step 1, at most three times.

Patients run on a bounded thread pool; all inputs of the same patient run one after the other in
the same task, so two writes of one patient are never in flight at once. ``mode="batch"`` sends a
batch instead (not atomic: each entry succeeds or fails alone) for servers without transactions.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TextIO

from fhir_onco.jsonstream import JsonObjectWriter

from .canonical import same_content
from .client import FhirClient
from .errors import (
    ConflictError,
    HttpError,
    InputError,
    PatientError,
    ResponseFormatError,
    ServerError,
    ServerIOError,
    TransportError,
)
from .inputs import PatientBundle
from .results import ResultLog

log = logging.getLogger(__name__)

Mode = Literal["transaction", "batch"]
FETCH_CHUNK = 200
MAX_REPLANS = 3

Status = Literal["created", "updated", "unchanged", "deleted", "failed"]


@dataclass
class PatientResult:
    """Outcome for one patient. ``patient`` is our resource id, never a name or identifier."""

    patient: str
    status: Status
    sources: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    error: str | None = None
    resource: str | None = None  # the Type/id the server blamed, when known
    versions: dict[str, str] = field(default_factory=dict)  # Type/id -> versionId after the push
    content_hash: str | None = None
    skipped_by_state: bool = False  # sync: unchanged by content hash, nothing sent or read

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("versions")
        return d

    def follow(self, earlier: PatientResult) -> None:
        """Make this the patient's one result after ``earlier`` (an earlier input of the same
        patient): its sources first, the created/updated/deleted counts of both."""
        self.sources = [*earlier.sources, *self.sources]
        self.created += earlier.created
        self.updated += earlier.updated
        self.deleted += earlier.deleted


class PushReport:
    """What a push did, in memory flat in the number of patients.

    Counters give :meth:`totals` and :attr:`ok`; every patient's result (and every input error)
    is kept on disk by a :class:`~fhir_onco.server.results.ResultLog` and read back streaming:
    :meth:`iter_patients`, :meth:`failures`, :meth:`write_json`. :attr:`patients` builds the
    whole list (fine for small runs; a million patients is a million objects). :meth:`close`
    deletes the temporary file (garbage collection does too).
    """

    def __init__(
        self,
        server: str,
        mode: str,
        dry_run: bool,
        patients: Iterable[PatientResult] = (),
        input_errors: Iterable[str] = (),
        seconds: float = 0.0,
        requests: int = 0,
        retries: int = 0,
    ) -> None:
        self.server = server
        self.mode = mode
        self.dry_run = dry_run
        self.log = ResultLog()
        self.input_errors = self.log.lines("input_errors")
        self.input_errors.extend(input_errors)
        for p in patients:
            self.add(p)
        self.seconds = seconds
        self.requests = requests
        self.retries = retries

    def add(self, result: PatientResult) -> None:
        """Record (or replace) a patient's result."""
        self.log.reserve(result.patient)
        self.log.put(result)

    @property
    def patients(self) -> list[PatientResult]:
        """Every patient's result in input order, as a list (see :meth:`iter_patients` for large runs)."""
        return list(self.log.results())

    def iter_patients(self) -> Iterator[PatientResult]:
        return self.log.results()

    def failures(self) -> Iterator[PatientResult]:
        """The failed patients, in input order, streamed from disk."""
        return self.log.results(failed_only=True)

    def close(self) -> None:
        self.log.close()

    def __enter__(self) -> PushReport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ok(self) -> bool:
        return not self.input_errors and not self.log.statuses["failed"]

    def totals(self) -> dict[str, Any]:
        s = self.log.statuses
        return {
            "patients": {
                "total": self.log.patients,
                "created": s["created"],
                "updated": s["updated"],
                "unchanged": s["unchanged"],
                "deleted": s["deleted"],
                "failed": s["failed"],
            },
            "resources": {k: self.log.resources[k] for k in ("created", "updated", "unchanged", "deleted", "failed")},
            "input_errors": len(self.input_errors),
        }

    def _head(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "totals": self.totals(),
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "retries": self.retries,
        }

    def _write_members(self, w: JsonObjectWriter) -> None:
        """The report's members in order (a subclass adds its own after these)."""
        for k, v in self._head().items():
            w.member(k, v)
        w.list_member("patients", (p.to_dict() for p in self.log.results()))
        w.list_member("input_errors", self.input_errors)

    def write_json(self, out: TextIO, indent: int | None = 2) -> None:
        """The JSON report, streamed: the same text as ``json.dumps(self.to_dict(), indent=indent)``."""
        w = JsonObjectWriter(out, indent)
        self._write_members(w)
        w.close()

    def to_dict(self) -> dict[str, Any]:
        """The report as one dict (every patient in memory: use :meth:`write_json` for large runs)."""
        return json.loads(self.to_json(indent=None))

    def to_json(self, indent: int | None = 2) -> str:
        buf = io.StringIO()
        self.write_json(buf, indent)
        return buf.getvalue()


# ---------------------------------------------------------------------------- reading state


def _version_of(resource: Mapping[str, Any] | None, response: Mapping[str, Any] | None) -> str:
    if resource and isinstance(resource.get("meta"), dict) and resource["meta"].get("versionId"):
        return str(resource["meta"]["versionId"])
    if response:
        etag = str(response.get("etag") or "")
        m = re.search(r'"([^"]+)"', etag)
        if m:
            return m.group(1)
        m = re.search(r"/_history/([^/?]+)", str(response.get("location") or ""))
        if m:
            return m.group(1)
    return ""


# ---------------------------------------------------------------------------- the written-resources list

MANIFEST_SYSTEM = "https://fhir-onco.org/fhir/CodeSystem/onco-server"
MANIFEST_CODE = "written-resources"
_MANIFEST_NS = uuid.UUID("5b0c7a52-3f0e-4c1e-9d8a-6a1f2e7c4b90")

Foreign = Literal["refuse", "replace", "ignore"]


def manifest_ref(patient: str) -> str:
    """``List/<id>`` of the list of resources fhir-onco wrote for a patient (id from the Patient id)."""
    return f"List/{uuid.uuid5(_MANIFEST_NS, f'written-resources|{patient}')}"


def build_manifest(patient: str, refs: Iterable[str]) -> dict[str, Any]:
    """The List of every ``Type/id`` the last push of this patient wrote (the Patient and the List excluded).

    Kept on the server beside the patient so that any later push, from any input and any machine,
    can see what an earlier one wrote (see :func:`push_patient`), and pull can read it back.
    """
    own = manifest_ref(patient)
    items = sorted({r for r in refs if r != own and r != f"Patient/{patient}"})
    return {
        "resourceType": "List",
        "id": own.split("/", 1)[1],
        "status": "current",
        "mode": "snapshot",
        "title": "Resources fhir-onco wrote for this patient",
        "code": {"coding": [{"system": MANIFEST_SYSTEM, "code": MANIFEST_CODE}]},
        "subject": {"reference": f"Patient/{patient}"},
        **({"entry": [{"item": {"reference": r}} for r in items]} if items else {"emptyReason": {"text": "none"}}),
    }


def is_manifest(resource: Mapping[str, Any]) -> bool:
    if resource.get("resourceType") != "List":
        return False
    codings = (resource.get("code") or {}).get("coding") or []
    return any(
        c.get("system") == MANIFEST_SYSTEM and c.get("code") == MANIFEST_CODE for c in codings if isinstance(c, dict)
    )


def manifest_items(resource: Mapping[str, Any] | None) -> set[str]:
    """``Type/id`` listed in a manifest List (empty for anything else)."""
    if not resource or not is_manifest(resource):
        return set()
    out: set[str] = set()
    for e in resource.get("entry") or []:
        ref = ((e or {}).get("item") or {}).get("reference")
        if isinstance(ref, str) and ref.count("/") == 1:
            out.add(ref)
    return out


def fetch_current(
    client: FhirClient, refs: Sequence[str], *, use_batch: bool = True
) -> dict[str, dict[str, Any] | None]:
    """Current server copy of each ``Type/id`` (None when absent or deleted)."""
    out: dict[str, dict[str, Any] | None] = {}
    if not use_batch:
        for ref in refs:
            rtype, rid = ref.split("/", 1)
            out[ref] = client.read(rtype, rid)
        return out
    for start in range(0, len(refs), FETCH_CHUNK):
        chunk = refs[start : start + FETCH_CHUNK]
        batch = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": ref}} for ref in chunk],
        }
        answer = client.transaction(batch, minimal=False)
        for ref, entry in zip(chunk, answer.get("entry") or [], strict=True):
            status = str((entry.get("response") or {}).get("status", "")).split(" ")[0]
            res = entry.get("resource")
            if status.startswith("2") and isinstance(res, dict) and res.get("id"):
                out[ref] = res
            elif status in ("404", "410"):
                out[ref] = None
            else:
                raise ServerIOError(f"reading {ref} in a batch answered {status or 'no status'}")
    return out


# ---------------------------------------------------------------------------- one patient


@dataclass
class _Plan:
    put: list[dict[str, Any]]  # resources to send
    delete: list[str]  # Type/id to delete
    unchanged: dict[str, str]  # Type/id -> current version
    existing: set[str]  # Type/id already on the server
    current_versions: dict[str, str] = field(default_factory=dict)  # Type/id -> version read, for If-Match
    manifest_put: dict[str, Any] | None = None  # our written-resources List, when the server's differs
    manifest_version: str | None = None  # the server's List version (None: absent)
    listed: set[str] = field(default_factory=set)  # what the server's List says earlier pushes wrote


def _plan(
    client: FhirClient,
    resources: Sequence[Mapping[str, Any]],
    prune: Iterable[str],
    use_batch: bool,
    manifest: Mapping[str, Any] | None = None,
) -> _Plan:
    ours = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    stale = sorted(set(prune) - set(ours))
    own = [f"List/{manifest['id']}"] if manifest else []
    current = fetch_current(client, [*ours, *stale, *own], use_batch=use_batch)
    plan = _Plan(put=[], delete=[], unchanged={}, existing=set())
    if manifest:
        theirs_list = current.get(own[0])
        plan.listed = manifest_items(theirs_list)
        if theirs_list is not None:
            plan.manifest_version = _version_of(theirs_list, None) or None
        if theirs_list is None or not same_content(manifest, theirs_list, client.base_url):
            plan.manifest_put = dict(manifest)
    for ref, res in ours.items():
        theirs = current.get(ref)
        if theirs is not None:
            plan.existing.add(ref)
            version = _version_of(theirs, None)
            if version:
                plan.current_versions[ref] = version
            if same_content(res, theirs, client.base_url):
                plan.unchanged[ref] = _version_of(theirs, None)
                continue
        plan.put.append(dict(res))
    plan.delete = [ref for ref in stale if current.get(ref) is not None]
    return plan


def _blame(err: HttpError, sent: Sequence[str]) -> str | None:
    """The Type/id the server's error points at, if it names one of ours or an entry index."""
    text = " ".join([err.raw_text, *(e for i in err.issues for e in i.expression)])
    for ref in sent:
        if ref in text or ref.split("/", 1)[1] in text:
            return ref
    m = re.search(r"(?:entry|Bundle\.entry)\s*\[?\s*(\d+)", text, re.IGNORECASE)
    if m and int(m.group(1)) < len(sent):
        return sent[int(m.group(1))]
    # FHIRPath expressions such as "Observation.effectiveDateTime" name the type only
    types = {e.split(".", 1)[0] for i in err.issues for e in i.expression if "." in e and e[0].isupper()}
    for rtype in sorted(types):
        of_type = [ref for ref in sent if ref.startswith(rtype + "/")]
        if len(of_type) == 1:
            return of_type[0]
        if of_type:
            return f"{rtype} (one of {len(of_type)} sent)"
    return None


def push_patient(
    client: FhirClient,
    key: str,
    resources: Sequence[Mapping[str, Any]],
    *,
    prune: Iterable[str] = (),
    mode: Mode = "transaction",
    dry_run: bool = False,
    use_batch_reads: bool = True,
    sources: Sequence[str] = (),
    content_hash: str | None = None,
    lock: bool = True,
    foreign: Foreign = "refuse",
) -> PatientResult:
    """Bring one patient's resources on the server in line with ``resources``.

    ``prune`` lists ``Type/id`` of resources we sent earlier for this patient; those no longer in
    ``resources`` are deleted in the same transaction. Errors are returned in the result (status
    ``failed``), not raised, so one bad patient does not stop the others.

    No new version of an unchanged resource, whatever happens in between:

    * the read-compare-write runs under the (server, patient) lock of :mod:`.locks`, so a second
      push on this machine waits and then finds nothing to do;
    * updates carry ``If-Match`` with the version just read, so a writer elsewhere that got in
      between makes the transaction fail with 412 (rolled back) and the patient is planned again;
    * when the answer to a transaction is lost (timeout, dropped connection, 502-504, a truncated
      or garbled answer), the transaction is **not** replayed blindly: the server state is read
      again and only what is still missing or different is sent. What the lost attempt did write
      is counted as created/updated by this push, so the report stays truthful.

    No second copy of a fact: each push also keeps a ``List`` of what it wrote for the patient on
    the server (:func:`build_manifest`, not counted in the report). When that List names resources
    this input does not produce (written from another input of the same patient, say a registry
    extract where this is a case file, or dropped from this input since), ``foreign`` decides:
    ``refuse`` (default) fails the patient naming them and writes nothing; ``replace`` deletes them
    in the same transaction; ``ignore`` leaves them (the pre-List behaviour).
    """
    from .locks import patient_lock

    guard = patient_lock(client.base_url, key) if lock and not dry_run else contextlib.nullcontext()
    with guard:
        return _push_patient(
            client, key, resources, prune, mode, dry_run, use_batch_reads, sources, content_hash, foreign
        )


def _ambiguous(e: ServerIOError) -> bool:
    """The transaction may or may not have been applied: only reading the server tells."""
    if isinstance(e, TransportError | ResponseFormatError):
        return True
    return isinstance(e, ServerError) and e.status in (502, 503, 504)


def _push_patient(
    client: FhirClient,
    key: str,
    resources: Sequence[Mapping[str, Any]],
    prune_refs: Iterable[str],
    mode: Mode,
    dry_run: bool,
    use_batch_reads: bool,
    sources: Sequence[str],
    content_hash: str | None,
    foreign: Foreign = "refuse",
) -> PatientResult:
    result = PatientResult(
        patient=key,
        status="unchanged",
        sources=list(sources),
        content_hash=content_hash,
    )
    prune = list(prune_refs)
    sent: list[str] = []
    maybe_written: dict[str, str] = {}  # Type/id -> "created"/"updated" sent in an attempt whose answer was lost
    maybe_deleted: set[str] = set()
    our_refs = {f"{r['resourceType']}/{r['id']}" for r in resources}
    manifest = build_manifest(key, our_refs) if mode == "transaction" else None
    own_ref = manifest_ref(key)
    prune = [r for r in prune if r != own_ref]  # sync's state lists the List too: it is rewritten, not deleted
    try:
        attempt = 0
        while attempt < MAX_REPLANS:
            attempt += 1
            plan = _plan(client, resources, prune, use_batch_reads, manifest)
            extras = sorted(plan.listed - our_refs - set(prune))
            if extras and foreign == "refuse":
                shown = ", ".join(extras[:3]) + (f" and {len(extras) - 3} more" if len(extras) > 3 else "")
                raise PatientError(
                    key,
                    f"not pushed: the server holds {len(extras)} resource(s) fhir-onco wrote for this patient that "
                    f"this input does not produce ({shown}), written from another input of the same patient or "
                    "dropped from this one since; pushing would leave both copies. Push the input they came "
                    "from, or push with --replace to delete them in the same transaction",
                )
            if extras and foreign == "replace":
                prune = sorted(set(prune) | set(extras))
                attempt -= 1  # a wider plan, not a retry
                continue
            # what a lost attempt wrote shows up now as unchanged (or absent, for deletes)
            landed = {ref: kind for ref, kind in maybe_written.items() if ref in plan.unchanged}
            landed_deletes = {ref for ref in maybe_deleted if ref not in plan.delete}
            result.unchanged = len(plan.unchanged) - len(landed)
            result.versions = dict(plan.unchanged)
            if plan.manifest_version and plan.manifest_put is None:
                result.versions[own_ref] = plan.manifest_version
            if not plan.put and not plan.delete and (plan.manifest_put is None or dry_run):
                _count_landed(result, landed, landed_deletes)
                return result
            puts = [*plan.put, *([plan.manifest_put] if plan.manifest_put else [])]
            sent = [f"{r['resourceType']}/{r['id']}" for r in puts] + plan.delete
            if dry_run:
                result.created = sum(1 for r in sent[: len(plan.put)] if r not in plan.existing)
                result.updated = len(plan.put) - result.created
                result.deleted = len(plan.delete)
                result.status = "created" if result.created and not plan.existing else "updated"
                return result
            bundle = {
                "resourceType": "Bundle",
                "type": mode,
                "entry": [_put_entry(client, r, plan.current_versions) for r in plan.put]
                + ([_manifest_entry(client, plan)] if plan.manifest_put else [])
                + [{"request": {"method": "DELETE", "url": ref}} for ref in plan.delete],
            }
            try:
                answer = client.transaction(bundle, retry_ambiguous=False)
            except ConflictError:
                if mode == "transaction" and attempt < MAX_REPLANS:
                    log.info("patient %s: version conflict, planning again", key)
                    time.sleep(0.05 * attempt)
                    continue
                raise
            except ServerIOError as e:
                if not _ambiguous(e) or attempt >= MAX_REPLANS:
                    raise
                log.info(
                    "patient %s: transaction outcome unknown (%s); reading the server again", key, type(e).__name__
                )
                for r in plan.put:
                    ref = f"{r['resourceType']}/{r['id']}"
                    maybe_written.setdefault(ref, "updated" if ref in plan.existing else "created")
                maybe_deleted.update(plan.delete)
                client._wait(client._backoff(attempt))
                continue
            _count(result, answer, sent, n_put=len(puts), existing=plan.existing, uncounted=own_ref)
            _count_landed(result, landed, landed_deletes)
            return result
        raise AssertionError("unreachable")  # pragma: no cover
    except HttpError as e:
        blamed = _blame(e, sent)
        err = PatientError(key, str(e), blamed)
    except ServerIOError as e:
        err = PatientError(key, str(e))
    log.warning("patient %s failed (%s)", key, type(err).__name__)
    result.status = "failed"
    result.error = str(err)
    result.resource = err.resource
    result.failed = len(sent) or len(resources)
    return result


def _put_entry(client: FhirClient, resource: Mapping[str, Any], versions: Mapping[str, str]) -> dict[str, Any]:
    ref = f"{resource['resourceType']}/{resource['id']}"
    request: dict[str, Any] = {"method": "PUT", "url": ref}
    if ref in versions:
        # fails (412, whole transaction rolled back) if someone else wrote it since we read it
        request["ifMatch"] = f'W/"{versions[ref]}"'
    # R4: an entry's fullUrl is absolute; for a PUT it is the resource's URL
    return {"fullUrl": f"{client.base_url}/{ref}", "resource": resource, "request": request}


def _manifest_entry(client: FhirClient, plan: _Plan) -> dict[str, Any]:
    assert plan.manifest_put is not None
    versions = {f"List/{plan.manifest_put['id']}": plan.manifest_version} if plan.manifest_version else {}
    return _put_entry(client, plan.manifest_put, versions)


def _count_landed(result: PatientResult, landed: Mapping[str, str], landed_deletes: set[str]) -> None:
    """Add what an attempt with a lost answer wrote, and settle the patient's status."""
    result.created += sum(1 for k in landed.values() if k == "created")
    result.updated += sum(1 for k in landed.values() if k == "updated")
    result.deleted += len(landed_deletes)
    if result.status == "failed":  # batch mode: some entries refused
        return
    if result.created and not result.updated and not result.unchanged and not result.deleted:
        result.status = "created"
    elif result.created or result.updated or result.deleted:
        result.status = "updated"
    else:
        result.status = "unchanged"


def _count(
    result: PatientResult,
    answer: Mapping[str, Any],
    sent: Sequence[str],
    n_put: int,
    existing: set[str],
    uncounted: str | None = None,
) -> None:
    """Tally a transaction/batch answer; ``uncounted`` (our bookkeeping List) gets a version, no count."""
    failures: list[str] = []
    for i, (ref, entry) in enumerate(zip(sent, answer.get("entry") or [], strict=True)):
        resp = entry.get("response") or {}
        code = str(resp.get("status", "")).split(" ")[0]
        if not code.startswith("2"):
            result.failed += 1
            failures.append(f"{ref}: HTTP {code}")
            continue
        if i >= n_put:
            result.deleted += 1
            continue
        result.versions[ref] = _version_of(entry.get("resource"), resp)
        if ref == uncounted:
            continue
        # some servers answer 200 to an update-as-create: what we read before decides then
        if code == "201" or ref not in existing:
            result.created += 1
        else:
            result.updated += 1
    if failures:  # batch mode only: a transaction answers all-2xx or fails as a whole
        result.status = "failed"
        result.error = f"patient Patient/{result.patient}: " + "; ".join(failures)
        result.resource = failures[0].split(":")[0]
    elif result.created and not result.updated and not result.unchanged and not result.deleted:
        result.status = "created"
    elif result.created or result.updated or result.deleted:
        result.status = "updated"
    else:
        result.status = "unchanged"


# ---------------------------------------------------------------------------- many patients


@dataclass
class PatientWork:
    """Everything to do for one patient: its bundles in order, plus resources to prune."""

    key: str
    bundles: list[PatientBundle]
    prune: list[str] = field(default_factory=list)
    content_hash: str | None = None  # of the last bundle (sync records it)


def group_by_patient(bundles: Iterable[PatientBundle]) -> list[PatientWork]:
    groups: dict[str, PatientWork] = {}
    for b in bundles:
        groups.setdefault(b.key, PatientWork(b.key, [])).bundles.append(b)
    return list(groups.values())


def run_work(
    client: FhirClient,
    work: PatientWork,
    *,
    mode: Mode,
    dry_run: bool,
    use_batch_reads: bool,
    foreign: Foreign = "refuse",
) -> PatientResult:
    result: PatientResult | None = None
    for i, pb in enumerate(work.bundles):
        try:
            r = push_patient(
                client,
                work.key,
                pb.resources,
                prune=work.prune if i == len(work.bundles) - 1 else (),
                mode=mode,
                dry_run=dry_run,
                use_batch_reads=use_batch_reads,
                sources=[pb.source],
                content_hash=work.content_hash if i == len(work.bundles) - 1 else None,
                foreign=foreign,
            )
        except Exception as e:  # a bug or a wildly unexpected answer: fail this patient only
            # type only in the log: an exception's text may quote data; the report gets it
            log.error("patient %s: unexpected %s", work.key, type(e).__name__)
            r = PatientResult(
                patient=work.key,
                status="failed",
                sources=[pb.source],
                failed=len(pb.resources),
                error=str(PatientError(work.key, f"unexpected {type(e).__name__}: {e}")),
            )
        if result is not None:
            r.follow(result)
        result = r
        if r.status == "failed":
            break
    assert result is not None
    return result


def push_many(
    client: FhirClient,
    work: Iterable[PatientWork],
    *,
    concurrency: int = 4,
    mode: Mode = "transaction",
    dry_run: bool = False,
    on_result: Callable[[PatientResult], None] | None = None,
    keep_versions: bool = True,
    foreign: Foreign = "refuse",
) -> list[PatientResult]:
    """Run :func:`push_patient` for every patient on a pool of ``concurrency`` threads, streaming.

    ``work`` may be a generator: at most ``2 * concurrency`` items are read ahead. Items of the
    same patient never run at the same time: a later one queues behind the one in flight and runs
    after it in the same worker (the later input wins). ``on_result`` is called in the calling
    thread as each patient finishes (sync records its state there); ``keep_versions=False`` drops
    each result's per-resource versions after that call. Results come back in input order, one
    per patient, as a list: for large runs use :func:`push` (or :func:`push_into` with a
    :class:`~fhir_onco.server.results.ResultLog`), which keep them on disk.
    """
    log = ResultLog()
    try:
        push_into(client, work, log, concurrency=concurrency, mode=mode, dry_run=dry_run, on_result=on_result,
                  keep_versions=keep_versions, foreign=foreign)
        return list(log.results())
    finally:
        log.close()


def push_into(
    client: FhirClient,
    work: Iterable[PatientWork],
    log: ResultLog,
    *,
    concurrency: int = 4,
    mode: Mode = "transaction",
    dry_run: bool = False,
    on_result: Callable[[PatientResult], None] | None = None,
    keep_versions: bool = True,
    foreign: Foreign = "refuse",
) -> None:
    """:func:`push_many`, its results recorded in ``log`` (on disk): memory flat in the number of patients.

    A patient whose result is already in ``log`` (a later input of it, read after the earlier one
    finished) gets one merged result: the later status, the sources and the created/updated/deleted
    counts of both.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    slots = threading.BoundedSemaphore(2 * max(1, concurrency))
    lock = threading.Lock()
    queues: dict[str, deque[PatientWork]] = {}  # only patients in flight
    done: queue.SimpleQueue[tuple[str, PatientResult]] = queue.SimpleQueue()
    outstanding = 0
    use_batch_reads: bool | None = None

    def drain(key: str, batch_reads: bool) -> None:
        while True:
            with lock:
                pending = queues[key]
                if not pending:
                    del queues[key]
                    return
                item = pending.popleft()
            try:
                r = run_work(client, item, mode=mode, dry_run=dry_run, use_batch_reads=batch_reads, foreign=foreign)
            finally:
                slots.release()
            done.put((key, r))

    def collect(block: bool) -> None:
        nonlocal outstanding
        while outstanding:
            try:
                key, r = done.get(block=block, timeout=0.05 if block else None)
            except queue.Empty:
                return
            outstanding -= 1
            earlier = log.get(key)
            if earlier is not None:  # a later input of a patient already reported: one line per patient
                r.follow(earlier)
            if on_result is not None:
                on_result(r)
            if not keep_versions:
                r.versions = {}
            log.put(r)

    try:
        for item in work:
            if use_batch_reads is None:
                info = client.check_server(transaction=mode == "transaction", batch=mode == "batch")
                use_batch_reads = info.batch
            while not slots.acquire(timeout=0.05):
                collect(block=False)
            log.reserve(item.key, item.bundles[0].source if item.bundles else None)
            outstanding += 1
            with lock:
                running = item.key in queues
                queues.setdefault(item.key, deque()).append(item)
            if not running:
                pool.submit(drain, item.key, use_batch_reads)
            collect(block=False)
        while outstanding:
            collect(block=True)
    except BaseException:
        # Ctrl-C or a failing callback (e.g. the state store): start no further patient, let
        # the ones in flight finish (each is one atomic transaction either way), then re-raise
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def push(
    client: FhirClient,
    bundles: Iterable[PatientBundle | InputError],
    *,
    concurrency: int = 4,
    mode: Mode = "transaction",
    dry_run: bool = False,
    input_errors: Sequence[str] = (),
    on_result: Callable[[PatientResult], None] | None = None,
    keep_versions: bool = True,
    foreign: Foreign = "refuse",
) -> PushReport:
    """Push bundles (one or more per patient) and report what happened.

    ``bundles`` may be a stream (e.g. :func:`fhir_onco.server.inputs.iter_inputs`); InputErrors in
    it are reported as input errors. Several inputs of one patient run one after the other (the
    later wins); one that would leave a second copy of a fact (other ids than the earlier input
    wrote) is refused by the written-resources List check of :func:`push_patient`.
    ``keep_versions=False`` drops each patient's ``Type/id -> version`` map once reported. The
    report keeps counters in memory and every patient's result on disk (:class:`PushReport`), so
    memory stays flat in the number of patients.
    """
    started = time.perf_counter()
    req0, retry0 = client.stats.requests, client.stats.retries
    report = PushReport(client.base_url, mode, dry_run, input_errors=input_errors)

    def work() -> Iterator[PatientWork]:
        for b in bundles:
            if isinstance(b, InputError):
                report.input_errors.append(str(b))
                continue
            yield PatientWork(b.key, [b])

    push_into(
        client,
        work(),
        report.log,
        concurrency=concurrency,
        mode=mode,
        dry_run=dry_run,
        on_result=on_result,
        keep_versions=keep_versions,
        foreign=foreign,
    )
    report.seconds = time.perf_counter() - started
    report.requests = client.stats.requests - req0
    report.retries = client.stats.retries - retry0
    return report
