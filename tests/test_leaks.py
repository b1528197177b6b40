"""Nothing identifying or secret in any message, and patient data only in 0600 files.

Sentinel patient values (identifier, birth date, names in free text, a whole CSV row) and a
sentinel credential are fed to every command in ways that make them fail (plausibility errors, bad
cells, a header-less CSV, an unreachable server); no message may repeat a sentinel, no output file
may hold the credential, and every output file that holds a patient sentinel must be 0600.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from fhir_onco.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
SEED000 = ROOT / "examples" / "seed000-b-all.yaml"
REGISTRY = ROOT / "examples" / "registry"

PATIENT_SENTINELS = ("SNTL-MRN-90817", "1931-07-29", "29.07.1931", "Sentinelova")
SECRET_SENTINEL = "SNTL-SECRET-TOKEN-5521"


def _case(directory: Path) -> Path:
    """seed000 with sentinel identifier and birth date, and a death before birth (a plausibility error)."""
    text = SEED000.read_text(encoding="utf-8")
    text = text.replace("value: patient-1", "value: SNTL-MRN-90817")
    text = text.replace("  age: {years: 6, at: 2017-10-09}\n",
                        "  birth_date: 1931-07-29\n  death: {date: 1930-01-01, note: Sentinelova}\n")
    path = directory / "leaky.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _extract(directory: Path) -> Path:
    """The example extract with sentinel values in bad cells and a header-less table."""
    root = directory / "extract"
    shutil.copytree(REGISTRY, root)
    patients = (root / "patients.csv").read_text(encoding="utf-8-sig").splitlines()
    patients.append("SNTL-MRN-90817,,female,29.07.1931,SNTL-MRN-90817,,,,,,Sentinelova")
    (root / "patients.csv").write_text("\n".join(patients) + "\n", encoding="utf-8")
    mrd = root / "mrd.csv"
    raw = mrd.read_bytes()
    try:
        header = raw.decode("utf-8-sig").splitlines()[0]
    except UnicodeDecodeError:
        header = raw.decode("cp1251").splitlines()[0]  # the example keeps a Windows export or two
    mrd.write_text(header + "\nSNTL-MRN-90817," + ",".join(["Sentinelova"] * (header.count(",") or 1)) + "\n",
                   encoding="utf-8")
    (root / "relapses.csv").write_text("SNTL-MRN-90817,Sentinelova,1931-07-29\n", encoding="utf-8")  # no header
    return root


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FHIR_ONCO_TOKEN", SECRET_SENTINEL)
    yield


def _runs(tmp_path: Path) -> Iterator[tuple[str, Result, Path | None]]:
    case = _case(tmp_path)
    extract = _extract(tmp_path)
    runner = CliRunner()

    def run(name: str, args: list[object], out: Path | None = None) -> tuple[str, Result, Path | None]:
        return name, runner.invoke(app, [str(a) for a in args]), out

    yield run("map", ["map", case, SEED000, "-o", tmp_path / "map"], tmp_path / "map")
    yield run("map-json", ["map", case, "-o", tmp_path / "mapj", "--json"], tmp_path / "mapj")
    yield run("map-ndjson", ["map", SEED000, case, "-o", tmp_path / "nd", "-f", "ndjson"], tmp_path / "nd")
    yield run("validate", ["validate", case, "--json"])
    yield run("map-tables", ["map-tables", extract, "-o", tmp_path / "mt"], tmp_path / "mt")
    yield run("map-tables-cases", ["map-tables", extract, "-o", tmp_path / "mtc", "-f", "cases"], tmp_path / "mtc")
    yield run("timeline", ["timeline", case, "-o", tmp_path / "tl" / "t.svg"], tmp_path / "tl")
    yield run("report", ["report", "--input", tmp_path / "map", "-o", tmp_path / "rep" / "r.json", "--json"],
              tmp_path / "rep")
    yield run("export", ["export", "--input", tmp_path / "map", "-o", tmp_path / "exp"], tmp_path / "exp")
    # an unreachable server: the error names the host, never the token
    yield run("push", ["push", case, SEED000, "--server", "http://127.0.0.1:9/fhir", "--retries", "0", "--verbose"])
    yield run("pull", ["pull", "--server", "http://127.0.0.1:9/fhir", "--patient", "urn:x|SNTL-MRN-90817",
                       "--retries", "0", "-o", tmp_path / "pulled.yaml"])


def test_no_sentinel_in_any_message_and_patient_files_are_private(tmp_path: Path, secret_env: None) -> None:
    failures: list[str] = []
    checked_files = 0
    for name, result, out_dir in _runs(tmp_path):
        assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.exception)
        output = result.output + (result.stderr if result.stderr_bytes is not None else "")
        assert "Traceback" not in output, name
        for sentinel in (*PATIENT_SENTINELS, SECRET_SENTINEL):
            for line in output.splitlines():
                # --json / stdout carries requested data (a report, a bundle) only on success; a
                # message line is anything that reports a problem or progress
                if sentinel in line:
                    failures.append(f"{name}: message repeats {sentinel!r}: {line[:200]}")
        if out_dir is None or not out_dir.exists():
            continue
        for path in (p for p in out_dir.rglob("*") if p.is_file()):
            data = path.read_bytes()
            checked_files += 1
            if SECRET_SENTINEL.encode() in data:
                failures.append(f"{name}: {path.name} holds the credential")
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode != 0o600:
                failures.append(f"{name}: {path.name} is {oct(mode)}, not 0600")
    assert checked_files >= 10  # the runs did write files: the check above is not vacuous
    assert not failures, "\n".join(failures)


def test_the_sentinels_do_reach_the_outputs(tmp_path: Path) -> None:
    """The mapping keeps the sentinel identifier (so the leak test above would see a leak)."""
    case = _case(tmp_path)
    text = case.read_text(encoding="utf-8").replace("death: {date: 1930-01-01, note: Sentinelova}", "death: {}")
    case.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["map", str(case), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "SNTL-MRN-90817" in (tmp_path / "o" / "leaky.json").read_text(encoding="utf-8")


def test_sync_state_is_private(tmp_path: Path) -> None:
    from fhir_onco.server.sync import StateStore

    old = os.umask(0o022)
    try:
        with StateStore(tmp_path / "state.sqlite"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "state.sqlite").st_mode) == 0o600
