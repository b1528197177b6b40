"""Finding PySpark and a Java runtime, and starting a local Spark session.

PySpark is an optional extra (``pip install 'fhir-onco[spark]'``); it runs the JVM, so Java 17 or
21 must be on the machine (``JAVA_HOME`` or ``java`` on the PATH; Debian: ``openjdk-17-jre-headless``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


class SparkUnavailableError(RuntimeError):
    """PySpark or Java is missing; the message says what to install."""


def require_pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailableError(
            "the Spark runner needs PySpark 4: pip install 'fhir-onco[spark]' (and Java 17 or 21)") from None
    return pyspark


def find_java() -> Path | None:
    """The java executable Spark will use: $JAVA_HOME/bin/java when JAVA_HOME is set (Spark's launcher then
    takes nothing else, so a JAVA_HOME without bin/java means no java), else java on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return java if java.is_file() else None
    found = shutil.which("java")
    return Path(found) if found else None


def java_major_version(java: Path) -> int | None:
    """17 for 'openjdk version "17.0.15"' (java -version prints to stderr); None when it cannot be told."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_version(out.stderr + out.stdout)


def parse_java_version(text: str) -> int | None:
    """The major version in ``java -version`` output: 'version "17.0.15"' and 'version "17"' give 17,
    the old scheme 'version "1.8.0_392"' gives 8."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2)) if major == 1 and found.group(2) else major


MIN_JAVA = 17  # Spark 4 runs on Java 17 and 21


def require_java() -> Path:
    """The java Spark will start; a clear error when there is none, or when it is older than Spark 4 runs on
    (the JVM would otherwise die at start with an UnsupportedClassVersionError in Spark's own log)."""
    java = find_java()
    home = os.environ.get("JAVA_HOME")
    if java is None and home:
        raise SparkUnavailableError(
            f"JAVA_HOME is set to {home}, which has no bin/java, and Spark uses JAVA_HOME whenever it is set: "
            "point it at a Java 17 or 21, or unset it to use java on the PATH")
    if java is None:
        raise SparkUnavailableError(
            "Spark needs a Java runtime (17 or 21): set JAVA_HOME or put java on the PATH "
            "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless)")
    version = java_major_version(java)
    if version is not None and version < MIN_JAVA:
        raise SparkUnavailableError(
            f"Spark 4 needs Java 17 or 21, but {java} is Java {version}: set JAVA_HOME to a newer one "
            "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless)")
    return java


def submitted_master() -> str | None:
    """The master spark-submit was given (it starts the JVM and passes spark.master), else None."""
    if not os.environ.get("SPARK_ENV_LOADED") and "PYSPARK_GATEWAY_PORT" not in os.environ:
        return None
    from pyspark import SparkConf

    return SparkConf().get("spark.master", None)


# Hadoop's umask for the files Spark writes (parquet): owner-only, like every file fhir-onco writes.
PRIVATE_FILES = "spark.hadoop.fs.permissions.umask-mode"


def local_session(master: str | None = "local[2]", *, app_name: str = "fhir-onco",
                  conf: dict[str, str] | None = None) -> Any:
    """A SparkSession (``local[N]`` on a laptop, or a cluster master URL); reuses a running one.

    ``master=None``: the master spark-submit was given, else ``local[*]``. Quiet by default: Spark's
    console progress bar and INFO logs would interleave with our messages.
    """
    require_pyspark()
    master = master or submitted_master() or "local[*]"
    if master.startswith("local"):
        require_java()
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               # Python workers are reused across tasks, so the compiled validator and terminology
               # tables are loaded once per worker process, not once per task.
               .config("spark.python.worker.reuse", "true"))
    if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # Workers must run the interpreter that has fhir-onco installed (a venv), not the PATH's python3;
        # PySpark reads this variable when the context starts.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    conf = {PRIVATE_FILES: "077", **(conf or {})}
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    # Parquet written by Spark (the error table, the export tables: patient data) is created owner-only, as
    # every file fhir-onco writes; also on a session that was already running (the builder's conf is ignored).
    session.sparkContext._jsc.hadoopConfiguration().set(PRIVATE_FILES.removeprefix("spark.hadoop."),
                                                         conf[PRIVATE_FILES])
    return session
