"""What a user without PySpark or Java is told (no Spark needed to run these)."""

from __future__ import annotations

import sys
from pathlib import Path

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


@pytest.mark.parametrize(("text", "major"), [
    ('openjdk version "17.0.15" 2025-04-15', 17),
    ('openjdk version "21" 2023-09-19', 21),  # a GA release prints no minor
    ('java version "1.8.0_392"', 8),  # the old numbering
    ("no version here", None),
])
def test_java_version_output_is_parsed(text: str, major: int | None) -> None:
    assert session.parse_java_version(text) == major


def test_too_old_java_is_refused_with_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    java = tmp_path / "jdk8" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\necho \'java version "1.8.0_392"\' >&2\n', encoding="utf-8")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk8"))
    with pytest.raises(session.SparkUnavailableError, match=r"is Java 8: set JAVA_HOME.*openjdk-17-jre-headless"):
        session.require_java()


def _no_java_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """JAVA_HOME unset and a PATH without java (but with the shell tools subprocesses may need)."""
    monkeypatch.delenv("JAVA_HOME", raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    assert session.find_java() is None


def test_cli_without_java_says_what_to_install_and_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from typer.testing import CliRunner

    from fhir_onco.cli.app import app

    _no_java_anywhere(monkeypatch, tmp_path)
    registry = Path(__file__).resolve().parents[2] / "examples" / "registry"
    result = CliRunner().invoke(app, ["spark", "map-tables", str(registry), "-o", str(tmp_path / "out"),
                                      "--master", "local[1]"])
    assert result.exit_code == 1, result.output
    assert "Spark needs a Java runtime" in result.output and "openjdk-17-jre-headless" in result.output
    assert "Traceback" not in result.output


def test_test_setup_without_java_and_without_root_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    """What tests/spark/conftest.py does on a machine with no Java: it installs it as root, else it
    skips the Spark tests with a reason naming the package (never a silent pass)."""
    pytest.importorskip("pyspark")
    from . import conftest

    _no_java_anywhere(monkeypatch, tmp_path)
    monkeypatch.setattr(conftest.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(conftest.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    assert conftest._install_java() == ("no java on this machine, and installing openjdk-17-jre-headless needs "
                                        "root")
    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    assert "no apt-get to install openjdk-17-jre-headless" in (conftest._install_java() or "")


def test_a_java_home_without_java_is_named_not_bypassed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Spark's launcher runs $JAVA_HOME/bin/java whenever JAVA_HOME is set, so a java on the PATH does not
    help: say what is wrong with JAVA_HOME instead of letting the JVM start fail."""
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    assert session.find_java() is None
    with pytest.raises(session.SparkUnavailableError, match=r"JAVA_HOME is set to .*no-jdk.*unset it"):
        session.require_java()
