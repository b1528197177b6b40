"""Per-patient results of a push or sync run, on disk, with running totals in memory.

A run over a million patients must not keep a million result lines (about 0.5 KB each) or a set
of a million patient ids in memory. :class:`ResultLog` keeps them in a private temporary SQLite
file instead (deleted on :meth:`ResultLog.close` or when the log is garbage collected; about
0.5 KB of disk per patient), and only counters in memory. Results read back streaming, in the
order patients were first seen in the input; messages (input errors, warnings) likewise through
:class:`SpooledLines`. Nothing of it is logged.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from .push import PatientResult

RESOURCE_KINDS = ("created", "updated", "unchanged", "deleted", "failed")
_PAGE = 500  # rows read back at a time
CACHE_KIB = 2048  # SQLite page cache of the file: what it may hold in memory


def _encode(result: PatientResult) -> str:
    return json.dumps(asdict(result), separators=(",", ":"))


def _decode(text: str) -> PatientResult:
    from .push import PatientResult

    return PatientResult(**json.loads(text))


class Spool:
    """A private temporary SQLite file (one write transaction kept open: nothing here must survive)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="fhir-onco-results-", dir=directory)
        self.db = sqlite3.connect(Path(self._tmp.name) / "results.sqlite", isolation_level=None,
                                  check_same_thread=False)
        self.db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE patients (seq INTEGER PRIMARY KEY, patient TEXT NOT NULL UNIQUE, source TEXT,
                                   failed INTEGER NOT NULL DEFAULT 0, data TEXT);
            CREATE TABLE removed (seq INTEGER PRIMARY KEY, failed INTEGER NOT NULL, data TEXT NOT NULL);
            CREATE TABLE lines (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, text TEXT NOT NULL);
            CREATE INDEX lines_kind ON lines (kind, seq);
            BEGIN;
            """
        )
        self.lock = threading.RLock()
        self.closed = False

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.db.close()
                self._tmp.cleanup()

    def pages(self, query: str, args: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``query`` (which must select ``seq`` first and take ``seq > ?`` as its last
        parameter, ordered by seq, with a LIMIT ?), a page at a time."""
        last = -1
        while True:
            with self.lock:
                rows = self.db.execute(query, (*args, last, _PAGE)).fetchall()
            yield from rows
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]


class SpooledLines:
    """A list of strings kept on disk: ``append``, ``extend``, ``len``, iteration, indexing.

    Compares equal to a list with the same strings, so code written for a plain list keeps working.
    """

    def __init__(self, spool: Spool | None = None, kind: str = "lines") -> None:
        self._own = spool is None
        self._spool = spool or Spool()
        self._kind = kind
        self._n = 0

    def append(self, text: str) -> None:
        with self._spool.lock:
            self._spool.db.execute("INSERT INTO lines(kind, text) VALUES (?, ?)", (self._kind, str(text)))
        self._n += 1

    def extend(self, texts: Iterable[str]) -> None:
        for t in texts:
            self.append(t)

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __iter__(self) -> Iterator[str]:
        for _seq, text in self._spool.pages(
            "SELECT seq, text FROM lines WHERE kind=? AND seq>? ORDER BY seq LIMIT ?", (self._kind,)
        ):
            yield text

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError("line index out of range")
        with self._spool.lock:
            row = self._spool.db.execute(
                "SELECT text FROM lines WHERE kind=? ORDER BY seq LIMIT 1 OFFSET ?", (self._kind, index)
            ).fetchone()
        return str(row[0])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpooledLines | list | tuple):
            return len(other) == self._n and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SpooledLines({self._n} line(s))"

    def close(self) -> None:
        if self._own:
            self._spool.close()


class ResultLog:
    """Every patient's :class:`~fhir_onco.server.push.PatientResult` on disk; totals as counters.

    One row per patient: :meth:`reserve` fixes its place in the input order (and its first input,
    which sync's "two inputs of one patient" check asks through :meth:`source_of`), :meth:`put`
    records or replaces its result (the counters follow a replacement), :meth:`get` reads it back.
    Results of the removal step of sync go to a second list (:meth:`put_removed`).
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.spool = Spool(directory)
        self.statuses: Counter[str] = Counter()  # patients per status (one result per patient)
        self.resources: Counter[str] = Counter()  # summed over the patients' results
        self.skipped_by_state = 0
        self.patients = 0
        self.removed_statuses: Counter[str] = Counter()
        self.removed = 0

    def close(self) -> None:
        self.spool.close()

    def lines(self, kind: str) -> SpooledLines:
        return SpooledLines(self.spool, kind)

    def reserve(self, key: str, source: str | None = None) -> None:
        """Give a patient its place in the input order (a no-op when it has one)."""
        with self.spool.lock:
            self.spool.db.execute("INSERT OR IGNORE INTO patients(patient, source) VALUES (?, ?)", (key, source))

    def source_of(self, key: str) -> str | None:
        """The input a reserved patient came from first ('' when it was reserved without one)."""
        with self.spool.lock:
            row = self.spool.db.execute("SELECT source FROM patients WHERE patient=?", (key,)).fetchone()
        return None if row is None else (row[0] or "")

    def seen(self, key: str) -> bool:
        return self.source_of(key) is not None

    def get(self, key: str) -> PatientResult | None:
        with self.spool.lock:
            row = self.spool.db.execute("SELECT data FROM patients WHERE patient=?", (key,)).fetchone()
        return None if row is None or row[0] is None else _decode(row[0])

    def _count(self, r: PatientResult, sign: int) -> None:
        self.statuses[r.status] += sign
        for k in RESOURCE_KINDS:
            self.resources[k] += sign * getattr(r, k)
        self.skipped_by_state += sign * bool(r.skipped_by_state)
        self.patients += sign

    def put(self, r: PatientResult) -> None:
        """Record (or replace) the result of ``r.patient``."""
        with self.spool.lock:
            earlier = self.get(r.patient)
            if earlier is not None:
                self._count(earlier, -1)
            self._count(r, +1)
            self.spool.db.execute(
                "INSERT INTO patients(patient, failed, data) VALUES (?, ?, ?) "
                "ON CONFLICT(patient) DO UPDATE SET failed=excluded.failed, data=excluded.data",
                (r.patient, int(r.status == "failed"), _encode(r)),
            )

    def results(self, failed_only: bool = False) -> Iterator[PatientResult]:
        """Results in input order, read back a page at a time."""
        where = "data IS NOT NULL" + (" AND failed=1" if failed_only else "")
        for _seq, data in self.spool.pages(f"SELECT seq, data FROM patients WHERE {where} AND seq>? "
                                           "ORDER BY seq LIMIT ?", ()):
            yield _decode(data)

    def put_removed(self, r: PatientResult) -> None:
        with self.spool.lock:
            self.removed_statuses[r.status] += 1
            self.removed += 1
            self.spool.db.execute("INSERT INTO removed(failed, data) VALUES (?, ?)",
                                  (int(r.status == "failed"), _encode(r)))

    def removed_results(self, failed_only: bool = False) -> Iterator[PatientResult]:
        where = "failed=1 AND " if failed_only else ""
        for _seq, data in self.spool.pages(f"SELECT seq, data FROM removed WHERE {where}seq>? ORDER BY seq LIMIT ?",
                                           ()):
            yield _decode(data)
