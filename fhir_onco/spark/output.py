"""Writing mapped patients from Spark tasks: Bulk Data NDJSON per partition, the manifest, the error table.

Each task writes its partition with the same :class:`fhir_onco.pipeline.NdjsonWriter` the single-process
commands use, into ``parts/part-NNNNN/<ResourceType>.ndjson``, first under a temporary name that is
renamed when the partition is complete (a retried task rewrites it whole; a failed one leaves nothing
half-written under the final name). Partitions hold patients in the input's order (range-partitioned on
the order key), so concatenating one type's files in manifest order gives the same lines whatever the
number of partitions - byte-identical to ``map-tables -f ndjson``.

The output directory must be one the executors can write and the driver can read at the same path:
any local path in local mode; a shared mount (NFS, /dbfs, EFS) on a cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fhir_onco.files import write_private_text
from fhir_onco.pipeline import NdjsonWriter, PatientResult
from fhir_onco.validation.report import Issue, Report

PARTS = "parts"
MANIFEST = "manifest.json"
ERRORS = "errors.parquet"
# order_*: the place of the patient (or file-level finding) in the input; issue: its number there.
ERROR_COLUMNS = ("order_group", "order_file", "order_line", "issue", "patient", "patient_ok", "severity", "location",
                 "message", "rule")
OrderKey = tuple[int, int, int]


@dataclass(slots=True)
class PartitionSummary:
    """What one task wrote: resource counts per type, patients written and failed."""

    index: int
    counts: Counter[str] = field(default_factory=Counter)
    written: int = 0
    failed: int = 0
    outcomes: int = 0  # OperationOutcome lines (patients with errors or warnings)


def issue_row(order: OrderKey, number: int, patient: str | None, ok: bool | None, issue: Issue) -> tuple[Any, ...]:
    """One error-table row; `patient` is the patient's source (driver file:row), never a value from the data."""
    return (*order, number, patient, ok, issue.severity.value, issue.location, issue.message, issue.rule)


def write_partition(index: int, results: Iterable[tuple[OrderKey, PatientResult | Report]],
                    output: str) -> Iterator[tuple[str, Any]]:
    """Write one partition's patients (already in input order); yield ('summary', PartitionSummary)
    once and ('issue', row) for every issue of every patient. A Report item holds file-level findings
    (error-table rows without a patient)."""
    parts = Path(output) / PARTS
    final = parts / f"part-{index:05d}"
    tmp = parts / f".part-{index:05d}-{uuid.uuid4().hex}.tmp"
    summary = PartitionSummary(index)
    with NdjsonWriter(tmp) as writer:
        for order, result in results:
            # Issue rows go out as they come, so a task's memory does not grow with its patients.
            if isinstance(result, Report):
                for n, issue in enumerate(result):
                    yield "issue", issue_row(order, n, None, None, issue)
                continue
            if result.ok and result.bundle is not None:
                writer.write_bundle(result.bundle)
                summary.written += 1
            else:
                summary.failed += 1
            if len(result.report):
                # Bulk Data's error files: one OperationOutcome per patient with findings.
                writer.write(result.report.to_operation_outcome())
                summary.outcomes += 1
                for n, issue in enumerate(result.report):
                    yield "issue", issue_row(order, n, result.source, result.ok, issue)
        summary.counts = Counter({t: n for t, n in writer.counts.items() if t != "OperationOutcome"})
    if final.exists():
        shutil.rmtree(final)  # an earlier attempt of this task
    if summary.written or summary.outcomes:
        os.replace(tmp, final)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    yield "summary", summary


def prepare_output(output: Path) -> None:
    """Start from an empty parts directory so files of an earlier, larger run cannot linger."""
    shutil.rmtree(output / PARTS, ignore_errors=True)
    shutil.rmtree(output / ERRORS, ignore_errors=True)
    (output / MANIFEST).unlink(missing_ok=True)
    (output / PARTS).mkdir(parents=True, exist_ok=True)


def write_manifest(output: Path, summaries: list[PartitionSummary], request: str,
                   transaction_time: str | None = None) -> dict[str, Any]:
    """A FHIR Bulk Data export manifest over the partition files (urls relative to the manifest)."""
    entries: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    ordered = sorted(summaries, key=lambda s: s.index)
    types = sorted({t for s in ordered for t in s.counts})
    for rtype in types:
        for s in ordered:
            if s.counts.get(rtype):
                entries.append({"type": rtype, "url": f"{PARTS}/part-{s.index:05d}/{rtype}.ndjson",
                                "count": s.counts[rtype]})
    for s in ordered:
        if s.outcomes:
            errors.append({"type": "OperationOutcome", "url": f"{PARTS}/part-{s.index:05d}/OperationOutcome.ndjson",
                           "count": s.outcomes})
    manifest = {
        "transactionTime": transaction_time or datetime.now(UTC).replace(microsecond=0).isoformat(),
        "request": request,
        "requiresAccessToken": False,
        "output": entries,
        "error": errors,
    }
    write_private_text(output / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def manifest_files(output: Path, rtype: str) -> list[Path]:
    """The NDJSON files of one resource type, in manifest (= input) order."""
    manifest = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
    return [output / e["url"] for e in manifest["output"] if e["type"] == rtype]
