"""What a Spark mapping run shares whatever its input: the output directory, the partition count,
and the end of the run (one job writes the partitions; the manifest and the error table follow)."""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_onco.validation.report import Issue, Report, Severity

from .output import ERROR_COLUMNS, ERRORS, PartitionSummary, prepare_output, write_manifest

ERROR_SCHEMA = ("order_group INT, order_file INT, order_line BIGINT, issue INT, patient STRING, patient_ok BOOLEAN, "
                "severity STRING, location STRING, message STRING, rule STRING")


@dataclass(slots=True)
class RunPlan:
    output: Path
    partitions: int


@dataclass(slots=True)
class SparkRun:
    """The outcome of a run: where it wrote, counts, file-level findings, and the error table."""

    output: Path
    manifest: dict[str, Any]
    written: int
    failed: int
    counts: Counter[str]
    file_report: Report
    errors: Any = field(repr=False)  # pyspark DataFrame of ERROR_COLUMNS, in input order

    @property
    def resources(self) -> int:
        return self.counts.total()

    @property
    def file_errors(self) -> int:
        return len(self.file_report.errors)


# Input per partition by default: ~2,500 patients of a dense registry extract (~400 bytes of CSV a
# patient), a hundred or so heavy case files. A task sorts and groups its whole partition in its
# Python worker (see group_by_patient), so the partition's size, kept the same whatever N, bounds an
# executor's memory: a worker held 142.5 MB at 10k and 148.5 MB at 100k patients.
PARTITION_INPUT_BYTES = 1024 * 1024


def start_run(spark: Any, output: str | Path, partitions: int | None, input_bytes: int = 0) -> RunPlan:
    """Default partitions: twice the cores, and more for large inputs so that a partition's size (and
    with it an executor's memory) stays the same whatever the number of patients."""
    out = Path(output).absolute()  # executors may not share the driver's working directory
    prepare_output(out)
    return RunPlan(out, partitions or default_partitions(spark.sparkContext.defaultParallelism, input_bytes))


def default_partitions(cores: int, input_bytes: int) -> int:
    """Twice the cores (so a slow task does not idle the others), and one per PARTITION_INPUT_BYTES of input."""
    return max(2, 2 * cores, -(-input_bytes // PARTITION_INPUT_BYTES))


def group_by_patient(keyed: Any, partitions: int) -> Any:
    """RDD of (patient or None, value) -> (patient or None, [values]), one group per patient.

    Not groupByKey: PySpark combines map-side, so the task reading a file would hold every patient of
    that file until it spills (a Python worker reached 268 MB at 100k patients). Values are shuffled as
    they are read, sorted by patient within each partition (spilling past spark.python.worker.memory)
    and grouped there: memory follows a partition's size, not N. None (findings without a patient)
    sorts first.
    """
    return (keyed.repartitionAndSortWithinPartitions(partitions, keyfunc=_patient_order)
            .mapPartitions(_groups))


def _patient_order(patient: str | None) -> tuple[bool, str]:
    return patient is not None, patient or ""  # None and str do not compare


def _groups(items: Iterable[tuple[str | None, Any]]) -> Iterator[tuple[str | None, list[Any]]]:
    for patient, group in itertools.groupby(items, key=operator.itemgetter(0)):
        yield patient, [value for _, value in group]


def finish_run(spark: Any, plan: RunPlan, written: Any, discovery: Report, *, request: str,
               transaction_time: str | None) -> SparkRun:
    """Run the job (`written`: RDD of ('summary' | 'issue', ...) records), then the manifest and errors."""
    from pyspark import StorageLevel

    written = written.persist(StorageLevel.MEMORY_AND_DISK)  # mapping runs once; issues are read twice
    try:
        collected = written.filter(lambda r: r[0] == "summary" or r[1][4] is None).collect()
        summaries: list[PartitionSummary] = [p for kind, p in collected if kind == "summary"]
        file_rows = sorted((row for kind, row in collected if kind == "issue"), key=_row_order)
        file_report = Report(list(discovery))
        file_report.extend(Issue(Severity(row[6]), row[7], row[8], rule=row[9]) for row in file_rows)
        discovery_rows = [(0, -1, 0, n, None, None, i.severity.value, i.location, i.message, i.rule)
                          for n, i in enumerate(discovery)]
        issue_rows = written.filter(lambda r: r[0] == "issue").map(lambda r: r[1])
        errors = spark.createDataFrame(
            issue_rows.union(spark.sparkContext.parallelize(discovery_rows, 1)), ERROR_SCHEMA
        ).orderBy(*ERROR_COLUMNS[:4], "location")
        errors.write.mode("overwrite").parquet(str(plan.output / ERRORS))
    finally:
        written.unpersist()
    manifest = write_manifest(plan.output, summaries, request, transaction_time)
    counts: Counter[str] = Counter()
    for s in summaries:
        counts.update(s.counts)
    return SparkRun(plan.output, manifest, sum(s.written for s in summaries), sum(s.failed for s in summaries),
                    counts, file_report, spark.read.parquet(str(plan.output / ERRORS)))


def _row_order(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:4], row[7])
