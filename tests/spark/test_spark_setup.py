"""What a user without PySpark or Java is told (no Spark needed to run these)."""

from __future__ import annotations

import sys

import pytest

from fhir_onco.spark import session


def test_missing_pyspark_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now raises ImportError
    with pytest.raises(session.SparkUnavailableError, match=r"pip install 'fhir-onco\[spark\]'"):
        session.require_pyspark()


def test_missing_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "find_java", lambda: None)
    with pytest.raises(session.SparkUnavailableError, match="openjdk-17-jre-headless"):
        session.require_java()


def test_java_version_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    java = session.find_java()
    if java is None:
        pytest.skip("no java on this machine")
    version = session.java_major_version(java)
    assert version is not None and version >= 11
