"""Map registry extracts and case files on Apache Spark (optional extra ``[spark]``, PySpark 4).

The same reading, mapping and validation code as the single-process CLI runs inside Spark tasks; Spark
only distributes it: patients are grouped and range-partitioned in input order, every task writes its
partition as Bulk Data NDJSON, and the driver writes the manifest and a per-patient error table.

>>> from fhir_onco.spark import local_session, map_tables_spark
>>> spark = local_session("local[2]")                                   # doctest: +SKIP
>>> run = map_tables_spark(spark, "examples/registry", "out/spark")    # doctest: +SKIP
>>> run.written, run.resources, run.errors.count()                      # doctest: +SKIP

See docs/spark.md.
"""

from __future__ import annotations

from .run import SparkRun
from .session import SparkUnavailableError, find_java, local_session, require_java, require_pyspark
from .tables import map_tables_spark

__all__ = ["SparkRun", "SparkUnavailableError", "find_java", "local_session", "map_tables_spark", "require_java",
           "require_pyspark"]
