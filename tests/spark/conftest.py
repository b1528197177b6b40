"""Spark in local mode (local[2]) for the Spark tests.

PySpark comes with the test extra; it needs Java 17/21. The setup finds java (JAVA_HOME or the PATH)
or, when running as root on Debian/Ubuntu, installs openjdk-17-jre-headless with apt-get. The tests
are skipped with the reason only if neither works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from fhir_onco.spark.session import find_java

pyspark = pytest.importorskip("pyspark", reason="PySpark is not installed: pip install -e '.[test]' brings it")


def _install_java() -> str | None:
    """apt-get install openjdk-17-jre-headless; None when done, else why not."""
    if shutil.which("apt-get") is None:
        return "no java on this machine and no apt-get to install openjdk-17-jre-headless"
    if os.geteuid() != 0:
        return "no java on this machine, and installing openjdk-17-jre-headless needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "openjdk-17-jre-headless"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            return f"no java on this machine and `{' '.join(cmd)}` failed: {done.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    if find_java() is None:
        why = _install_java()
        if why is not None or find_java() is None:
            pytest.skip(f"Spark tests need Java 17 or 21: {why or 'java still not found after installing'}")
    from fhir_onco.spark import local_session

    session = local_session("local[2]", app_name="fhir-onco-tests",
                            conf={"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2"})
    yield session
    session.stop()
