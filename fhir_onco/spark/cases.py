"""Case files mapped on Spark: YAML/JSON case files (one patient each) and NDJSON files of cases
(one JSON case per line), with the same functions as ``fhir-onco map``
(:func:`fhir_onco.pipeline.map_file`, :func:`fhir_onco.pipeline.map_case_text`).

Each case is one patient, so no grouping is needed: cases are range-partitioned on (file, line) so the
output keeps the input order, whatever the number of partitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from fhir_onco.pipeline import PatientResult, map_case_text, map_file

from .output import write_partition
from .run import SparkRun, finish_run, start_run
from .tables import PATIENTS

CASE_SUFFIXES = (".yaml", ".yml", ".json")
NDJSON_SUFFIX = ".ndjson"


def case_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, and case files found (recursively, sorted) under directories given, in that order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in
                              (*CASE_SUFFIXES, NDJSON_SUFFIX)))
        else:
            out.append(p)
    return out


def _map_partition(allow_text_only: bool, validate: bool, output: str, index: int,
                   items: Iterator[tuple[tuple[int, int, int], tuple[str, str]]]) -> Iterator[tuple[str, Any]]:
    def results() -> Iterator[tuple[tuple[int, int, int], PatientResult]]:
        for order, (path, text) in items:
            if order[2] == 0:  # a whole case file
                yield order, map_file(path, allow_text_only=allow_text_only, validate=validate)
            else:
                yield order, map_case_text(text, f"{path}:{order[2]}", allow_text_only=allow_text_only,
                                           validate=validate)

    yield from write_partition(index, results(), output)


def map_cases_spark(spark: Any, paths: Iterable[str | Path], output: str | Path, *, partitions: int | None = None,
                    allow_text_only: bool = False, validate: bool = True,
                    transaction_time: str | None = None) -> SparkRun:
    """Map case files (YAML/JSON) and NDJSON files of cases on Spark into ``output``."""
    from fhir_onco.validation.report import Report

    files = case_inputs(paths)
    run = start_run(spark, output, partitions, sum(p.stat().st_size for p in files if p.is_file()))
    sc = spark.sparkContext
    whole = [((PATIENTS, i, 0), (str(p), "")) for i, p in enumerate(files) if p.suffix.lower() != NDJSON_SUFFIX]
    keyed = sc.parallelize(whole, max(1, min(len(whole), run.partitions)))
    for i, p in enumerate(files):
        if p.suffix.lower() == NDJSON_SUFFIX:
            lines = (sc.textFile(str(p.absolute()))
                     .zipWithIndex()
                     .filter(lambda li: li[0].strip() != "")
                     .map(partial(_keyed_line, i, str(p))))
            keyed = keyed.union(lines)
    ordered = keyed.sortByKey(numPartitions=run.partitions)
    written = ordered.mapPartitionsWithIndex(partial(_map_partition, allow_text_only, validate, str(run.output)))
    return finish_run(spark, run, written, Report(), request=f"map {len(files)} case file(s)",
                      transaction_time=transaction_time)


def _keyed_line(file_index: int, path: str, item: tuple[str, int]) -> tuple[tuple[int, int, int], tuple[str, str]]:
    text, index = item
    return (PATIENTS, file_index, index + 1), (path, text.removeprefix("\ufeff"))
