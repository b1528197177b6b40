"""Write the flattened tables (:mod:`.flatten`) as CSV or Parquet files, one per domain.

CSV: UTF-8, comma separated, header row, empty cell for a missing value, booleans as true/false.
Dates: CSV writes ISO as recorded (a partial date stays ``2021-12``). Parquet needs pyarrow
(``pip install 'fhir-onco[parquet]'``); its columns are typed (string, int64, float64, bool, date32):
a date column holds the first day of the recorded span and is followed by ``<column>_precision``
(``day``, ``month`` or ``year``), so a partial date is never mistaken for an exact one.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Literal

from fhir_onco.dates import DateError, PartialDate, parse_date

from .flatten import TABLES
from .values import Json

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
    with path.open("w", encoding="utf-8", newline="") as handle:
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
    pa.parquet.write_table(table, path)


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
