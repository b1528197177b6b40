"""Write the flattened tables (:mod:`.flatten`) as CSV or Parquet files, one per domain.

CSV: UTF-8, comma separated, header row, empty cell for a missing value, booleans as true/false.
Parquet needs pyarrow (``pip install 'fhir-onco[parquet]'``); columns are typed (string, int64,
float64, bool), dates stay ISO strings because a FHIR date may be partial (2021-12).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Literal

from fhir_onco.files import open_private

from .decode import Json
from .flatten import TABLES

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
    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    spec = TABLES[name]
    schema = pa.schema([(c, types[t]) for c, t in spec.columns])
    table = pa.Table.from_pylist(rows, schema=schema)
    with open_private(path, "wb") as handle:
        pa.parquet.write_table(table, handle)


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
