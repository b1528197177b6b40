"""What a Spark mapping run shares whatever its input: the output directory, the partition count,
and the end of the run (one job writes the partitions; the manifest and the error table follow)."""

from __future__ import annotations

from collections import Counter
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
# patient), a hundred or so heavy case files. A task groups and sorts its whole partition in its
# Python worker (PySpark spills only past spark.python.worker.memory, 512 MB), so the partition's size
# sets an executor's memory, ~50-60 MB per 1 MB of CSV: measured at 100k patients, a worker reached
# 416 MB with 16 MB partitions and 268 MB with 2 MB ones, 138 MB at 10k with 1 MB ones.
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
