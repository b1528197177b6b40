"""Registry CSV extracts (our layout or the mCODE Extraction Framework's) mapped on Spark.

The plan, with the single-process code it calls at each step:

1. driver: find the tables and check their headers (``TabularReader.discover``);
2. one task per CSV file reads its rows with the same dialect sniffing and located errors
   (``TabularReader.keyed_rows``);
3. rows are grouped by patient id (a shuffle, in place of the SQLite index of the single process);
4. patients are range-partitioned on their driver-file line, so partitions keep the input's order;
5. per patient: rows -> case (``TabularReader.patient_from_rows``), map and validate
   (``fhir_onco.tabular.map_patient``), written by the task (:mod:`.output`).

File-level findings (unknown columns, rows of patients not in the patient list, rows without a patient
id) go to the error table like the patients' issues, and to ``SparkRun.file_report``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from fhir_onco.tabular import Layout, TabularReader, map_patient, open_reader
from fhir_onco.tabular.store import Row
from fhir_onco.validation.report import Report

from .output import write_partition
from .run import SparkRun, finish_run, group_by_patient, start_run

FILE_LEVEL = 0  # order group of file-level findings (they come first, like in map-tables)
PATIENTS = 1


def _read_table(reader_bc: Any, item: tuple[int, str]) -> Iterator[tuple[str | None, Any]]:
    """One CSV file: (patient id, (table index, Row)) per row, then (None, (table index, issues))."""
    index, name = item
    reader: TabularReader = copy.copy(reader_bc.value)
    reader.report = Report()  # this file's findings only (the broadcast value is shared by tasks)
    for patient, line, cells, extra in reader.keyed_rows(reader.files[name]):
        yield patient, (index, Row(name, line, cells, extra))
    if len(reader.report):
        yield None, (index, list(reader.report))


def _place(driver_index: int, item: tuple[str | None, Iterable[Any]]) -> tuple[tuple[int, int, int], Any]:
    """Give a group its place in the output: patients by driver line, file findings first."""
    patient, values = item
    if patient is None:  # findings of reading the files
        issues = [issue for _, found in sorted(values, key=lambda v: v[0]) for issue in found]
        return (FILE_LEVEL, 0, 0), ("issues", issues)
    rows = sorted((row for _, row in values), key=lambda r: (r.table, r.line))
    lines = sorted(row.line for index, row in values if index == driver_index)
    if not lines:  # rows of a patient missing from the driver file
        first: dict[str, int] = {}
        for row in rows:
            first.setdefault(row.table, row.line)
        return (FILE_LEVEL, 1, min(first.values())), ("orphans", sorted(first.items()))
    return (PATIENTS, driver_index, lines[0]), ("patient", (lines, rows))


def _map_partition(reader_bc: Any, output: str, allow_text_only: bool, validate: bool, index: int,
                   items: Iterator[tuple[tuple[int, int, int], Any]]) -> Iterator[tuple[str, Any]]:
    reader: TabularReader = reader_bc.value

    def results() -> Iterator[tuple[tuple[int, int, int], Any]]:
        for order, (kind, payload) in items:
            if kind == "patient":
                lines, rows = payload
                yield order, map_patient(reader.patient_from_rows(lines, rows), allow_text_only=allow_text_only,
                                         validate=validate)
            elif kind == "issues":
                yield order, Report(payload)
            else:
                found = copy.copy(reader)
                found.report = Report()
                for table, line in payload:
                    found.report_orphan(table, line)
                yield order, found.report

    yield from write_partition(index, results(), output)


def map_tables_spark(spark: Any, directory: str | Path, output: str | Path, layout: Layout = "auto", *,
                     partitions: int | None = None, allow_text_only: bool = False, validate: bool = True,
                     transaction_time: str | None = None, **options: Any) -> SparkRun:
    """Map a CSV extract on Spark into ``output`` (Bulk Data NDJSON + manifest + error table).

    Options as for :func:`fhir_onco.tabular.open_reader` (``encoding``, ``id_system``, ``mrn_system``,
    ``regimen_category``). Raises TabularError when the extract cannot be read at all, before any job runs.
    """
    reader = open_reader(directory, layout, **options)
    reader.discover()
    driver = reader.driver_file()
    assert driver is not None  # discover() raised otherwise
    names = list(reader.files)
    run = start_run(spark, output, partitions, sum(t.path.stat().st_size for t in reader.files.values()))
    sc = spark.sparkContext
    reader_bc = sc.broadcast(reader)
    rows = sc.parallelize(list(enumerate(names)), len(names)).flatMap(partial(_read_table, reader_bc))
    grouped = group_by_patient(rows, run.partitions).map(partial(_place, names.index(driver.spec.name)))
    ordered = grouped.sortByKey(numPartitions=run.partitions)
    written = ordered.mapPartitionsWithIndex(
        partial(_map_partition, reader_bc, str(run.output), allow_text_only, validate))
    return finish_run(spark, run, written, reader.report, request=f"map-tables {directory}",
                      transaction_time=transaction_time)
