"""The HL7 mCODE STU4 example instances - FHIR written by others - read into the case model and shown
by report, export and timeline; docs/mcode-examples.md lists what is not read and why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fhir_onco.analytics.cases import ReadStats, read_cases
from fhir_onco.analytics.reader import ResourceStore, iter_file
from fhir_onco.cli.app import app
from fhir_onco.packages import MCODE, PackageUnavailable, fhir_package

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def example_dir() -> Path:
    try:
        return fhir_package(*MCODE) / "example"
    except PackageUnavailable as exc:
        pytest.skip(f"mCODE package not reachable: {exc}")


@pytest.fixture(scope="module")
def cases(example_dir: Path) -> dict[str, object]:
    store = ResourceStore()
    for path in sorted(example_dir.glob("*.json")):
        store.extend(iter_file(path))
    stats = ReadStats()
    read = {rc.patient_id: rc for rc in read_cases(store, stats=stats)}
    assert stats.skipped == []  # no example patient fails to read
    return read


def test_every_example_patient_reads(cases: dict[str, object]) -> None:
    assert sorted(cases) == ["cancer-patient-adam-everyman", "cancer-patient-brian-l", "cancer-patient-eve-anyperson",
                             "cancer-patient-jenny-m", "cancer-patient-john-anyperson", "cancer-patient-lucy-child",
                             "gx-cancer-patient-adam-anyperson"]


def test_cancers_treatments_and_status_are_read(cases: dict[str, object]) -> None:
    brian = cases["cancer-patient-brian-l"].case  # type: ignore[attr-defined]
    assert [d.condition for d in brian.diagnoses] == ["B-cell acute lymphoblastic leukemia (disorder)"]
    assert {r.name.casefold() for r in brian.regimens} >= {"vincristine", "prednisone"}  # tall-man: predniSONE
    assert [r.response for r in brian.responses] == ["Patient's condition improved (finding)"]
    jenny = cases["cancer-patient-jenny-m"].case  # type: ignore[attr-defined]
    assert jenny.diagnoses[0].morphology  # the shared histology-morphology-behavior extension
    rt = {r.fractions: r for r in jenny.radiotherapy}
    assert rt[30].total_dose_gy == 60.0  # 6000 cGy to the first treated volume
    john = cases["cancer-patient-john-anyperson"].case  # type: ignore[attr-defined]
    assert [d.kind for d in john.diagnoses] == ["primary", "secondary"]
    warnings = cases["cancer-patient-jenny-m"].warnings  # type: ignore[attr-defined]
    assert any("tnm-clinical-stage-group-jenny-m" in w and "stages table" in w for w in warnings)


def test_report_export_and_timeline_show_them(example_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--input", str(example_dir), "-f", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_patients"] == 7
    diagnoses = {r["item"] for r in report["tables"]["baseline"]["rows"] if r["section"] == "Diagnosis"}
    assert "B-cell acute lymphoblastic leukemia" in diagnoses  # without the SNOMED tag "(disorder)"
    result = runner.invoke(app, ["export", "--input", str(example_dir), "-o", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    regimens = (tmp_path / "x" / "regimens.csv").read_text(encoding="utf-8")
    assert "vincristine" in regimens and "cancer-patient-brian-l" in regimens
    png = tmp_path / "jenny.png"
    result = runner.invoke(app, ["timeline", "cancer-patient-jenny-m", "--input", str(example_dir), "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 10_000


def test_the_doc_lists_what_is_not_read(example_dir: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "mcode_examples.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
