"""Write the flattened tables (:mod:`.flatten`) as CSV or Parquet files, one per domain.

CSV: UTF-8, comma separated, header row, empty cell for a missing value, booleans as true/false.
Dates: CSV writes ISO as recorded (a partial date stays ``2021-12``). Parquet needs pyarrow
(``pip install 'fhir-onco[parquet]'``); its columns are typed (string, int64, float64, bool, date32):
a date column holds the first day of the recorded span and is followed by ``<column>_precision``
(``day``, ``month`` or ``year``), so a partial date is never mistaken for an exact one.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from fhir_onco.dates import DateError, PartialDate, parse_date
from fhir_onco.files import open_private

from .cases import ReadCase
from .flatten import TABLES, case_rows, sort_rows
from .values import Json, Labels

ExportFormat = Literal["csv", "parquet"]


class MissingDependencyError(RuntimeError):
    """An optional dependency is not installed; the message says how to install it."""


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_csv(name: str, rows: list[Json], path: Path) -> None:
    with open_private(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLES[name].column_names, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})


def require_pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet  # registers pa.parquet
    except ImportError:
        raise MissingDependencyError(
            "Parquet export needs pyarrow: pip install 'fhir-onco[parquet]' (or pip install pyarrow), "
            "or use --format csv") from None
    return pa


def write_parquet(name: str, rows: list[Json], path: Path) -> None:
    pa = require_pyarrow()
    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "date": pa.date32()}
    spec = TABLES[name]
    fields = []
    for c, t in spec.columns:
        fields.append((c, types[t]))
        if t == "date":
            fields.append((f"{c}_precision", pa.string()))
    table = pa.Table.from_pylist([_parquet_row(row, spec.date_columns) for row in rows], schema=pa.schema(fields))
    with open_private(path, "wb") as handle:
        pa.parquet.write_table(table, handle)


def _parquet_row(row: Json, date_columns: list[str]) -> Json:
    out = dict(row)
    for c in date_columns:
        value = _partial(row.get(c))
        out[c] = value.earliest() if value is not None else None
        out[f"{c}_precision"] = value.precision if value is not None else None
    return out


def _partial(text: str | None) -> PartialDate | None:
    if not text:
        return None
    try:
        value = parse_date(text)
    except DateError:
        return None
    return value if isinstance(value, PartialDate) else None


def write_tables(tables: dict[str, list[Json]], directory: Path, fmt: ExportFormat = "csv") -> list[Path]:
    """One file per table (also for empty tables, so the set of files is always the same)."""
    if fmt == "parquet":
        require_pyarrow()  # fail before writing anything
    elif fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}; expected csv or parquet")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in tables.items():
        path = directory / f"{name}.{fmt}"
        (write_parquet if fmt == "parquet" else write_csv)(name, rows, path)
        written.append(path)
    return written


class _TableWriter:
    """Rows of one table appended as they come: CSV line by line, Parquet in row groups."""

    ROW_GROUP = 20_000

    def __init__(self, name: str, path: Path, fmt: ExportFormat):
        self.name, self.fmt, self.path = name, fmt, path
        self.buffer: list[Json] = []
        self.rows = 0
        if fmt == "csv":
            self.handle = open_private(path, "w", encoding="utf-8", newline="")
            self.csv = csv.DictWriter(self.handle, fieldnames=TABLES[name].column_names, lineterminator="\n")
            self.csv.writeheader()
        else:
            pa = require_pyarrow()
            types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
                     "date": pa.date32()}
            fields = []
            for c, t in TABLES[name].columns:
                fields.append((c, types[t]))
                if t == "date":
                    fields.append((f"{c}_precision", pa.string()))
            self.schema = pa.schema(fields)
            self.binary = open_private(path, "wb")
            self.parquet = pa.parquet.ParquetWriter(self.binary, self.schema)
            self.pa = pa

    def write(self, rows: list[Json]) -> None:
        self.rows += len(rows)
        if self.fmt == "csv":
            for row in rows:
                self.csv.writerow({k: _csv_cell(v) for k, v in row.items()})
            return
        self.buffer += [_parquet_row(r, TABLES[self.name].date_columns) for r in rows]
        if len(self.buffer) >= self.ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.fmt == "parquet" and self.buffer:
            self.parquet.write_table(self.pa.Table.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []

    def close(self) -> None:
        if self.fmt == "csv":
            self.handle.close()
            return
        self.flush()
        self.parquet.close()
        self.binary.close()


def stream_tables(cases: Iterable[ReadCase], directory: Path, fmt: ExportFormat = "csv",
                  names: Iterable[str] | None = None, *, unique: bool = False) -> dict[str, int]:
    """Write the tables case by case: memory holds one patient's rows, never the whole table.

    Rows come in input order, patient by patient (each patient's rows sorted as in the tables);
    a patient met twice (in two input files) is written once, the first time. ``unique=True``: the
    caller guarantees each patient comes once (:func:`.reader.iter_patients` regroups them), so no
    set of every patient id seen is kept and memory stays flat however many patients there are.
    Returns the number of rows per table.
    """
    if fmt == "parquet":
        require_pyarrow()
    elif fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}; expected csv or parquet")
    directory.mkdir(parents=True, exist_ok=True)
    wanted = list(names or TABLES)
    writers = {n: _TableWriter(n, directory / f"{n}.{fmt}", fmt) for n in wanted}
    labels = Labels()
    seen: set[str] = set()
    try:
        for rc in cases:
            if not unique:
                if rc.patient_id in seen:
                    continue
                seen.add(rc.patient_id)
            for name, rows in case_rows(rc, wanted, labels).items():
                writers[name].write(sort_rows(name, rows))
    finally:
        for w in writers.values():
            w.close()
    return {n: w.rows for n, w in writers.items()}
