"""Keep a FHIR server in step with a directory of cases or bundles, or a registry CSV extract.

A local SQLite state store remembers, per server and patient, the content hash of what was last
confirmed on the server and the ``Type/id`` and version of every resource sent. A sync run:

1. streams the inputs (one patient in memory at a time) and hashes each patient's content
   (:func:`canonical.bundle_hash`);
2. skips, without any request, patients whose hash equals the stored one;
3. pushes the others (:mod:`push`: compare with the server, one transaction per patient, deleting
   resources that were sent before but are no longer produced);
4. records each patient in the store *after* the server confirmed its transaction, in one SQLite
   transaction (WAL, ``synchronous=FULL``);
5. applies the removal policy to patients in the store that are no longer in the source.

Crash safety: the store is only written after the server committed. If the process dies between
the two (kill -9, power loss, server gone), the next run finds the patient "changed", compares with
the server, sees everything already there and sends nothing, then records it. Nothing is lost (the
store never claims more than the server has) and nothing is duplicated (ids are deterministic and
only ``PUT``/``DELETE Type/id`` are sent).

Removal policy for patients that disappeared from the source (``--on-removed``):

* ``keep`` (default): leave the server alone; the patient is marked removed in the store.
* ``inactivate``: set ``Patient.active = false`` on the server (other resources stay).
* ``delete``: delete every resource we sent for the patient, in one transaction.

The removal step is skipped entirely when any input failed to load (a file, or one patient of a CSV
extract), so a broken file or row never turns into deletions.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from fhir_onco.files import open_private
from fhir_onco.jsonstream import JsonObjectWriter

from .canonical import bundle_hash
from .client import FhirClient
from .errors import HttpError, InputError, PatientError, ServerIOError, StateStoreError
from .inputs import PatientBundle, iter_inputs, load_inputs
from .push import Foreign, Mode, PatientResult, PatientWork, PushReport, fetch_current, push_into

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STORE_PAGE = 1000  # patients read from the store at a time when streaming them (removal step)
SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (
  server TEXT NOT NULL,
  patient TEXT NOT NULL,
  content_hash TEXT,
  status TEXT NOT NULL CHECK (status IN ('synced', 'removed', 'inactivated', 'deleted')),
  sources TEXT,
  synced_at REAL NOT NULL,
  PRIMARY KEY (server, patient)
);
CREATE TABLE IF NOT EXISTS resources (
  server TEXT NOT NULL,
  patient TEXT NOT NULL,
  ref TEXT NOT NULL,
  version TEXT,
  PRIMARY KEY (server, patient, ref)
);
CREATE INDEX IF NOT EXISTS resources_patient ON resources (server, patient);
"""


class RemovalPolicy(StrEnum):
    KEEP = "keep"
    INACTIVATE = "inactivate"
    DELETE = "delete"


@dataclass(frozen=True)
class PatientState:
    patient: str
    content_hash: str | None
    status: str
    resources: dict[str, str | None]  # Type/id -> version


class StateStore:
    """Crash-safe record of what each server has confirmed.

    One sync at a time may use a store (an exclusive lock file next to it); a second one gets a
    :class:`StateStoreError` instead of interleaving writes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the store names patients' resources and sources: owner-only from the first byte
        # (SQLite gives its -wal/-shm files the database file's permissions)
        for owned in (self.path, self.path.with_name(self.path.name + ".lock")):
            with contextlib.suppress(FileExistsError):
                os.close(os.open(owned, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._lockf = open(self.path.with_name(self.path.name + ".lock"), "w")  # noqa: SIM115
        try:
            fcntl.flock(self._lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            self._lockf.close()
            raise StateStoreError(f"{self.path} is in use by another sync") from e
        try:
            open_private(self.path, "ab").close()  # 0600 before SQLite creates it; its -wal/-shm copy the mode
            self.conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StateStoreError(f"{self.path} has state schema {version}; this fhir-onco knows {SCHEMA_VERSION}")
            self.conn.executescript(SCHEMA)
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            self.close()
            raise StateStoreError(f"{self.path} is not a usable state store: {e}") from e
        self._lock = threading.Lock()

    def close(self) -> None:
        with contextlib.suppress(AttributeError, sqlite3.Error):
            self.conn.close()
        with contextlib.suppress(OSError):
            fcntl.flock(self._lockf, fcntl.LOCK_UN)
            self._lockf.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def get(self, server: str, patient: str) -> PatientState | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT content_hash, status FROM patients WHERE server=? AND patient=?",
                (server, patient),
            ).fetchone()
            if row is None:
                return None
            res = self.conn.execute(
                "SELECT ref, version FROM resources WHERE server=? AND patient=?",
                (server, patient),
            ).fetchall()
        return PatientState(patient, row[0], row[1], {r[0]: r[1] for r in res})

    def patients(self, server: str, status: str | None = None) -> list[str]:
        q = "SELECT patient FROM patients WHERE server=?"
        args: tuple[str, ...] = (server,)
        if status:
            q += " AND status=?"
            args = (server, status)
        with self._lock:
            return [r[0] for r in self.conn.execute(q + " ORDER BY patient", args)]

    def iter_patients(self, server: str, status: str | None = None, page: int | None = None) -> Iterator[str]:
        """:meth:`patients`, streamed a page at a time (in patient order; rows changed behind the
        page being read, as the removal step does, do not disturb it)."""
        q = "SELECT patient FROM patients WHERE server=? AND patient>?"
        if status:
            q += " AND status=?"
        q += " ORDER BY patient LIMIT ?"
        page = page or STORE_PAGE
        last = ""
        while True:
            args: tuple[Any, ...] = (server, last, status, page) if status else (server, last, page)
            with self._lock:
                rows = [r[0] for r in self.conn.execute(q, args)]
            yield from rows
            if len(rows) < page:
                return
            last = rows[-1]

    def record(
        self,
        server: str,
        patient: str,
        *,
        status: str,
        content_hash: str | None,
        resources: dict[str, str | None] | None,
        sources: Sequence[str] = (),
    ) -> None:
        """Replace what we know of one patient, atomically. ``resources=None`` keeps the list."""
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO patients(server, patient, content_hash, status, sources,"
                " synced_at) VALUES (?, ?, ?, ?, ?, ?)",
                (server, patient, content_hash, status, "\n".join(sources), time.time()),
            )
            if resources is not None:
                c.execute("DELETE FROM resources WHERE server=? AND patient=?", (server, patient))
                c.executemany(
                    "INSERT INTO resources(server, patient, ref, version) VALUES (?, ?, ?, ?)",
                    [(server, patient, ref, v) for ref, v in sorted(resources.items())],
                )


def server_key(base_url: str) -> str:
    return base_url.rstrip("/").lower()


class SyncReport(PushReport):
    """A :class:`PushReport` plus the removal step; removed patients and warnings on disk too."""

    def __init__(self, server: str, mode: str, dry_run: bool, removal_policy: str = RemovalPolicy.KEEP.value,
                 **kwargs: Any) -> None:
        super().__init__(server, mode, dry_run, **kwargs)
        self.removal_policy = removal_policy
        self.removal_skipped: str | None = None
        self.input_warnings = self.log.lines("input_warnings")  # skipped files, ignored columns

    @property
    def removed(self) -> list[PatientResult]:
        """Results of the removal step, as a list (:meth:`iter_removed` streams them)."""
        return list(self.log.removed_results())

    def iter_removed(self, failed_only: bool = False) -> Iterator[PatientResult]:
        return self.log.removed_results(failed_only)

    def add_removed(self, result: PatientResult) -> None:
        self.log.put_removed(result)

    @property
    def ok(self) -> bool:
        return super().ok and not self.log.removed_statuses["failed"]

    def totals(self) -> dict[str, Any]:
        t = super().totals()
        t["patients"]["skipped_by_state"] = self.log.skipped_by_state
        return t

    def _write_members(self, w: JsonObjectWriter) -> None:
        super()._write_members(w)
        w.member("removal_policy", self.removal_policy)
        w.list_member("removed", (p.to_dict() for p in self.log.removed_results()))
        w.member("removal_skipped", self.removal_skipped)
        w.list_member("input_warnings", self.input_warnings)


def load_sources(
    paths: Sequence[Path], exclude: Sequence[Path] = (), table_options: Mapping[str, Any] | None = None
) -> tuple[list[PatientBundle], list[str], list[str]]:
    """Bundles, errors and warnings of every input (files, case directories, CSV extracts), in lists."""
    loaded = load_inputs(paths, exclude, table_options)
    return loaded.bundles, loaded.errors, loaded.warnings


def _remove(
    client: FhirClient,
    store: StateStore,
    server: str,
    patient: str,
    policy: RemovalPolicy,
    dry_run: bool,
) -> PatientResult:
    state = store.get(server, patient)
    refs = sorted((state.resources if state else {}).keys())
    result = PatientResult(patient=patient, status="unchanged")
    try:
        if policy is RemovalPolicy.KEEP:
            if not dry_run:
                store.record(server, patient, status="removed", content_hash=None, resources=None)
            return result
        if policy is RemovalPolicy.INACTIVATE:
            current = client.read("Patient", patient)
            if current is None or current.get("active") is False:
                result.unchanged = 1
            else:
                result.updated = 1
                result.status = "updated"
                if not dry_run:
                    body = {k: v for k, v in current.items() if k not in ("meta", "text")}
                    body["active"] = False
                    client.put(body)
            if not dry_run:
                store.record(server, patient, status="inactivated", content_hash=None, resources=None)
            return result
        current_all = fetch_current(client, refs, use_batch=client.server_info().batch)
        existing = [r for r in refs if current_all.get(r) is not None]
        if existing and not dry_run:
            client.transaction(
                {
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [{"request": {"method": "DELETE", "url": r}} for r in existing],
                }
            )
        result.deleted = len(existing)
        result.status = "deleted" if existing else "unchanged"
        if not dry_run:
            store.record(server, patient, status="deleted", content_hash=None, resources={})
        return result
    except (HttpError, ServerIOError) as e:
        err = PatientError(patient, f"removal ({policy.value}) failed: {e}")
        result.status = "failed"
        result.error = str(err)
        return result


def sync(
    client: FhirClient,
    sources: Sequence[Path],
    store: StateStore,
    *,
    on_removed: RemovalPolicy = RemovalPolicy.KEEP,
    concurrency: int = 4,
    mode: Mode = "transaction",
    dry_run: bool = False,
    exclude: Sequence[Path] = (),
    on_result: Callable[[PatientResult], None] | None = None,
    table_options: Mapping[str, Any] | None = None,
    foreign: Foreign = "refuse",
    transform: Callable[[list[PatientBundle]], tuple[list[PatientBundle], list[str]]] | None = None,
) -> SyncReport:
    """Bring the server in line with ``sources`` (files or directories); see the module doc.

    ``table_options`` (``id_system``, ``regimen_category``, ``encoding``) apply to CSV extracts; keep
    them the same from run to run (``id_system`` decides the FHIR ids). ``transform`` rewrites the
    loaded bundles before anything is compared or sent (``--deidentify``).
    """
    started = time.perf_counter()
    req0, retry0 = client.stats.requests, client.stats.retries
    server = server_key(client.base_url)
    report = SyncReport(client.base_url, mode, dry_run, removal_policy=on_removed.value)
    inputs: Iterable[PatientBundle | InputError] = iter_inputs(
        sources, [store.path, *exclude], table_options, report.input_warnings
    )
    if transform is not None:
        # e.g. de-identification on the way out (--deidentify): it needs the whole cohort at once
        # (k-anonymity), so this one path holds every patient in memory
        loaded = list(inputs)
        report.input_errors.extend(str(e) for e in loaded if isinstance(e, InputError))
        bundles, more_errors = transform([b for b in loaded if not isinstance(b, InputError)])
        report.input_errors.extend(more_errors)
        inputs = bundles
    results = report.log  # on disk: which patients the source holds, and their results

    def work() -> Iterator[PatientWork]:
        for b in inputs:
            if isinstance(b, InputError):
                report.input_errors.append(str(b))
                continue
            first = results.source_of(b.key)
            if first is not None:
                report.input_errors.append(
                    f"Patient/{b.key} comes from 2 inputs ({first}, {b.source}); sync needs one "
                    f"(the second was not synced)"
                )
                continue
            results.reserve(b.key, b.source)
            digest = bundle_hash(b.resources)
            state = store.get(server, b.key)
            if state and state.status == "synced" and state.content_hash == digest:
                r = PatientResult(
                    patient=b.key,
                    status="unchanged",
                    sources=[b.source],
                    unchanged=len(b.resources),
                    content_hash=digest,
                    skipped_by_state=True,
                )
                results.put(r)
                if on_result is not None:
                    on_result(r)
                continue
            prune = sorted(state.resources) if state else []
            yield PatientWork(b.key, [b], prune=prune, content_hash=digest)

    def record(r: PatientResult) -> None:
        if r.status != "failed" and not dry_run:
            store.record(
                server,
                r.patient,
                status="synced",
                content_hash=r.content_hash,
                resources=dict(r.versions),
                sources=r.sources,
            )
        if on_result is not None:
            on_result(r)

    push_into(
        client,
        work(),
        results,
        concurrency=concurrency,
        mode=mode,
        dry_run=dry_run,
        on_result=record,
        keep_versions=False,
        foreign=foreign,
    )

    def gone() -> Iterator[str]:  # synced patients the source no longer holds, streamed
        return (p for p in store.iter_patients(server, "synced") if not results.seen(p))

    if report.input_errors:
        n_gone = sum(1 for _ in gone())
        if n_gone:
            report.removal_skipped = (
                f"{n_gone} patient(s) missing from the source were left alone because "
                f"{len(report.input_errors)} input(s) failed to load"
            )
    else:
        checked = False
        for p in gone():
            if not checked:
                client.check_server(transaction=on_removed is RemovalPolicy.DELETE)
                checked = True
            r = _remove(client, store, server, p, on_removed, dry_run)
            report.add_removed(r)
            if on_result is not None:
                on_result(r)

    report.seconds = time.perf_counter() - started
    report.requests = client.stats.requests - req0
    report.retries = client.stats.retries - retry0
    return report
