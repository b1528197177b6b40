"""The leak check of tests/test_leaks.py for `fhir-onco spark map-tables`: sentinel patient values in bad
cells and a header-less table reach no message and no row of the error table, and every output file
is owner-only."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any

from test_leaks import PATIENT_SENTINELS, REGISTRY, _extract  # tests/ is on sys.path (rootdir-relative imports)
from typer.testing import CliRunner

from fhir_onco.cli.app import app


def test_spark_messages_and_error_table_hold_no_patient_value(spark: Any, tmp_path: Path) -> None:
    extract = _extract(tmp_path)
    runner = CliRunner()
    args = ["spark", "map-tables", str(extract), "-o", str(tmp_path / "out"), "--master", "local[2]",
            "--partitions", "2"]
    unreadable = runner.invoke(app, args)  # the header-less table: refused before any job
    assert unreadable.exit_code == 1 and "header line missing" in unreadable.output, unreadable.output
    shutil.copy(REGISTRY / "relapses.csv", extract / "relapses.csv")
    result = runner.invoke(app, args)  # now the sentinel rows and cells reach the mapping
    assert result.exit_code == 1, result.output
    rows = spark.read.parquet(str(tmp_path / "out" / "errors.parquet")).collect()
    assert sum(row.severity == "error" for row in rows) >= 2  # the bad cells were found: the check is not vacuous
    texts = [unreadable.output, result.output, *(" ".join(str(v) for v in row) for row in rows)]
    assert "Traceback" not in unreadable.output + result.output
    leaks = [(s, t[:200]) for t in texts for s in PATIENT_SENTINELS if s in t]
    assert not leaks
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert files and not [p for p in files if stat.S_IMODE(p.stat().st_mode) & 0o077]
