"""The analysis tables of ``fhir-onco export`` as Spark DataFrames / parquet, from Bulk Data NDJSON.

A thin adapter: resources are grouped by patient on Spark, and each patient's resources are flattened
by the same :func:`fhir_onco.analytics.flatten.flatten_all` as the single-process export. Works on our
Spark output (its manifest) or any directory of FHIR NDJSON, e.g. a server's Bulk Data export.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fhir_onco.analytics.flatten import TABLES, flatten_all
from fhir_onco.analytics.reader import CLINICAL_TYPES, InputError, ResourceStore, subject_id

from .output import MANIFEST
from .run import default_partitions, group_by_patient

# Dates stay ISO text as recorded (a partial date stays "2021-12"), as in the CSV export.
_SPARK_TYPES = {"str": "STRING", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "date": "STRING"}
_UNREADABLE = "\x00unreadable"  # the row kind of a line that is not JSON (never a table name)
Place = tuple[int, int]  # (file number, line index): the order of the input


def ndjson_inputs(directory: str | Path) -> list[Path]:
    """The NDJSON files of a manifest (when there is one), else every *.ndjson under the directory."""
    root = Path(directory)
    manifest = root / MANIFEST
    if manifest.is_file():
        return [root / e["url"] for e in json.loads(manifest.read_text(encoding="utf-8"))["output"]]
    return sorted(p for p in root.rglob("*.ndjson") if not any(s.startswith(".") for s in p.relative_to(root).parts))


def table_schema(name: str) -> str:
    return ", ".join(f"`{column}` {_SPARK_TYPES[kind]}" for column, kind in TABLES[name].columns)


def _keyed(types: frozenset[str], paths: list[str], item: tuple[Place, str]
           ) -> Iterator[tuple[str | None, tuple[Place, str]]]:
    """(patient, (place in the input, line)) for a resource of the wanted types that names its patient;
    (None, (place, message)) for a line that is not JSON, located as the single-process export does."""
    from fhir_onco.documents import DocumentError, parse_json

    place, line = item
    if not line.strip():
        return
    try:
        resource = parse_json(line.removeprefix("\ufeff"), f"{paths[place[0]]}:{place[1] + 1}", ndjson_line=True)
    except DocumentError as exc:
        yield None, (place, str(exc))
        return
    if isinstance(resource, dict) and resource.get("resourceType") in types:
        patient = subject_id(resource)
        if patient is not None:
            yield patient, (place, line)


def _flatten_partition(types: frozenset[str], names: list[str],
                       groups: Iterator[tuple[str | None, Iterable[tuple[Place, str]]]]
                       ) -> Iterator[tuple[str, tuple[Any, ...]]]:
    from fhir_onco.analytics.values import Labels

    labels = Labels()  # one per partition: its lookups are memoised
    for patient, lines in groups:
        if patient is None:
            for place, message in lines:
                yield _UNREADABLE, (place, message)
            continue
        # In input order (the shuffle mixes it), so a Type/id repeated in the input keeps its last copy, as the
        # single-process export does, whatever the partitioning.
        store = ResourceStore(types).extend(json.loads(line) for _, line in sorted(lines))
        for name, rows in flatten_all(store, labels, names).items():
            columns = TABLES[name].column_names
            for row in rows:
                yield name, tuple(row[c] for c in columns)


def export_dataframes(spark: Any, directory: str | Path, names: Iterable[str] | None = None,
                      partitions: int | None = None) -> dict[str, Any]:
    """Table name -> DataFrame (columns and types of docs/analytics.md), rows in the export's order."""
    return _export(spark, directory, names, partitions)[0]


def _export(spark: Any, directory: str | Path, names: Iterable[str] | None,
            partitions: int | None) -> tuple[dict[str, Any], Any]:
    from pyspark import StorageLevel

    wanted = list(names or TABLES)
    types = frozenset(CLINICAL_TYPES)
    files = ndjson_inputs(directory)
    sc = spark.sparkContext
    if not files:
        return {name: spark.createDataFrame([], table_schema(name)) for name in wanted}, sc.emptyRDD()
    n = partitions or default_partitions(sc.defaultParallelism, sum(p.stat().st_size for p in files))
    paths = [str(p) for p in files]
    # Each line numbered in its file (zipWithIndex starts no job for a one-partition file), so the rows keep
    # the input's order and a bad line is located as file:line.
    lines = sc.union([sc.textFile(str(p.absolute())).zipWithIndex().map(lambda li, i=i: ((i, li[1]), li[0]))
                      for i, p in enumerate(files)])
    rows = (group_by_patient(lines.flatMap(lambda item: _keyed(types, paths, item)), n)
            .mapPartitions(lambda groups: _flatten_partition(types, wanted, groups))
            .persist(StorageLevel.MEMORY_AND_DISK))
    bad = rows.filter(lambda r: r[0] == _UNREADABLE).map(lambda r: r[1]).takeOrdered(2)
    if bad:
        rows.unpersist()
        more = " (and more lines like it)" if len(bad) > 1 else ""
        raise InputError(f"{bad[0][1]}{more}")
    out: dict[str, Any] = {}
    for name in wanted:
        columns = TABLES[name].column_names
        order = [c for c in ("patient_id", "date", "start_date", "onset_date", "id") if c in columns]
        table = rows.filter(lambda r, name=name: r[0] == name).map(lambda r: r[1])
        out[name] = spark.createDataFrame(table, table_schema(name)).orderBy(*order)
    return out, rows


def write_export(spark: Any, directory: str | Path, output: str | Path, names: Iterable[str] | None = None,
                 partitions: int | None = None) -> dict[str, int]:
    """Write every table as parquet (``output/<table>.parquet/``); returns the row count per table."""
    frames, rows = _export(spark, directory, names, partitions)
    counts = dict(rows.map(lambda r: (r[0], 1)).countByKey())
    for name, frame in frames.items():
        frame.write.mode("overwrite").parquet(str(Path(output).absolute() / f"{name}.parquet"))
    rows.unpersist()
    return {name: int(counts.get(name, 0)) for name in frames}


def adverse_event_counts(frames: dict[str, Any]) -> Any:
    """The counts of the report's adverse-event table, computed on Spark from :func:`export_dataframes`.

    As ``fhir-onco report`` counts them: each patient once per CTCAE term (``?`` when the term is missing)
    at the highest grade recorded (ungraded only when no grade was); per term the patients at any grade,
    at grade >= 2, 3, 4, exactly 5, and ungraded. One row per term, ordered as the report's table (most
    patients first); the labels and percentages of the report are left to the analyst.
    """
    from pyspark.sql import functions as F

    from fhir_onco.analytics.report import AE_GRADES

    worst = (frames["adverse_events"]
             .withColumn("term", F.when(F.col("term").isNull() | (F.col("term") == ""), F.lit("?"))
                         .otherwise(F.col("term")))
             .groupBy("patient_id", "term").agg(F.max("grade").alias("worst")))
    counts = [F.count(F.lit(1)).alias("any_grade")]
    counts += [F.sum(F.when(F.col("worst") >= g, 1).otherwise(0)).alias(f"grade_ge_{g}") for g in AE_GRADES[1:-1]]
    counts += [F.sum(F.when(F.col("worst") == AE_GRADES[-1], 1).otherwise(0)).alias(f"grade_{AE_GRADES[-1]}"),
               F.sum(F.when(F.col("worst").isNull(), 1).otherwise(0)).alias("ungraded")]
    return worst.groupBy("term").agg(*counts).orderBy(F.desc("any_grade"), "term")
