"""An on-disk index that groups the rows of many CSV files by patient, in bounded memory.

Why SQLite and not a merge-join of sorted files: registry exports are rarely sorted the same way
(numeric vs text collation, one file per department), and checking the sort order of several files
at once is only possible by reading them anyway. So every file is streamed once into a temporary
SQLite database (rows are stored as JSON cell lists, indexed by patient id), then patients are read
back one at a time in the order of the driver file (``patients.csv`` / mCODE ``patient-mrns.csv``).
Memory stays flat whatever the extract size; the temporary file is about the size of the CSVs and is
deleted when the store closes. Nothing of it is logged.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

_BATCH = 500  # rows per insert: bounds the memory held between inserts


def _encode(cells: dict[str, str]) -> Any:
    """Cells as stored (JSON): orjson, or the stdlib for text orjson refuses (lone surrogates)."""
    try:
        return orjson.dumps(cells)
    except TypeError:
        return json.dumps(cells, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Row:
    table: str
    line: int
    cells: dict[str, str]
    extra: int = 0


class RowStore:
    """Rows of several tables keyed by patient id; patients in driver order."""

    def __init__(self, directory: str | Path | None = None):
        self._tmp = tempfile.TemporaryDirectory(prefix="fhir-onco-tables-", dir=directory)
        self._path = Path(self._tmp.name) / "rows.sqlite"
        self._db = sqlite3.connect(self._path)
        self._pid = os.getpid()
        self._worker_db: sqlite3.Connection | None = None
        self._worker_pid = 0
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE rows (patient TEXT NOT NULL, tab TEXT NOT NULL, line INTEGER NOT NULL,
                               extra INTEGER NOT NULL, cells TEXT NOT NULL);
            CREATE TABLE driver (seq INTEGER PRIMARY KEY, patient TEXT NOT NULL, tab TEXT NOT NULL,
                                 line INTEGER NOT NULL);
            """
        )
        self._indexed = False

    def add_rows(self, table: str, rows: Iterator[tuple[str, int, dict[str, str], int]], *,
                 driver: bool = False) -> int:
        """Store (patient, line, cells, extra) rows; a driver table also fixes the patient order."""
        n = 0
        batch: list[tuple[str, str, int, int, str]] = []
        for patient, line, cells, extra in rows:
            batch.append((patient, table, line, extra, _encode(cells)))
            if driver:
                self._db.execute("INSERT INTO driver (patient, tab, line) VALUES (?, ?, ?)", (patient, table, line))
            n += 1
            if len(batch) >= _BATCH:
                self._db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?)", batch)
                batch.clear()
        if batch:
            self._db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?)", batch)
        self._db.commit()
        return n

    def _index(self) -> None:
        if not self._indexed:
            self._db.execute("CREATE INDEX rows_by_patient ON rows (patient, tab, line)")
            self._db.execute("CREATE INDEX driver_by_patient ON driver (patient)")
            self._indexed = True

    def patients(self) -> Iterator[tuple[str, list[int]]]:
        """Each driver patient once, in driver order, with every driver line that names it."""
        self._index()
        cur = self._db.execute(
            "SELECT patient, group_concat(line) FROM driver GROUP BY patient ORDER BY min(seq)")
        for patient, lines in cur:
            yield patient, [int(x) for x in str(lines).split(",")]

    def _reader(self) -> sqlite3.Connection:
        """This process's connection. A forked worker (map-tables -j N) must not use the parent's (a
        SQLite connection does not survive fork): it opens its own, read-only. The parent indexed
        the rows before handing out the first patient, so workers only read."""
        if os.getpid() == self._pid:
            self._index()
            return self._db
        if self._worker_db is None or self._worker_pid != os.getpid():
            self._worker_db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
            self._worker_pid = os.getpid()
        return self._worker_db

    def rows_of(self, patient: str) -> list[Row]:
        cur = self._reader().execute(
            "SELECT tab, line, cells, extra FROM rows WHERE patient = ? ORDER BY tab, line", (patient,))
        return [Row(tab, line, orjson.loads(cells), extra) for tab, line, cells, extra in cur]

    def orphans(self) -> Iterator[tuple[str, int]]:
        """(table, first line) of rows whose patient is not in the driver table."""
        self._index()
        cur = self._db.execute(
            "SELECT tab, min(line) FROM rows WHERE patient NOT IN (SELECT patient FROM driver) "
            "GROUP BY tab, patient ORDER BY tab, min(line)")
        yield from cur

    def close(self) -> None:
        self._db.close()
        self._tmp.cleanup()

    def __enter__(self) -> RowStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
