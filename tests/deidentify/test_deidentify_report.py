"""Proof: cohort tables from de-identified data equal those from the original.

The seed-004 cohort (60 patients, `cohort generate`) is de-identified with the default policy;
`report` then gives the same baseline, response, adverse-event, death and Kaplan-Meier tables
(counts, medians of intervals, KM curves): dates moved, intervals did not.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from fhir_onco.analytics.reader import read_input
from fhir_onco.analytics.report import cohort_report
from fhir_onco.cli.app import app
from fhir_onco.deidentify import deidentify_paths

SPEC = Path(__file__).resolve().parents[2] / "examples" / "cohorts" / "seed004-isapd.yaml"
DAY = re.compile(r'"(\w+)": "(\d{4}-\d{2}-\d{2})(?:T[^"]*)?"')
KEY = b"report-test-key-0123456789abcdef"


def _report(runner: CliRunner, directory: Path) -> dict[str, object]:
    result = runner.invoke(app, ["report", "--input", str(directory), "-f", "json", "--age-bands", "65,75"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_seed004_report_unchanged_by_deidentification(tmp_path: Path) -> None:
    runner = CliRunner()
    gen = runner.invoke(app, ["cohort", "generate", str(SPEC), "-o", str(tmp_path / "orig"), "--seed", "4",
                              "-f", "bundles"])
    assert gen.exit_code == 0, gen.output
    originals = sorted((tmp_path / "orig").rglob("*.json"))
    bundles = [p for p in originals if json.loads(p.read_text(encoding="utf-8")).get("resourceType") == "Bundle"]
    assert len(bundles) == 60
    result = deidentify_paths(bundles, tmp_path / "deid", key=KEY, validate=False)
    assert result.ok, result.issues.to_text()
    assert result.report.patients == 60 and len(result.written) == 60
    assert result.report.counts["dates shifted"] > 1000

    before, after = _report(runner, tmp_path / "orig"), _report(runner, tmp_path / "deid")
    assert after == before
    tables = after["tables"]
    base = {(r["section"], r["item"]): r for r in tables["baseline"]["rows"]}
    assert base[("Patients", "total")]["n"] == 60
    assert base[("Age at index, years", "median (range)")]["value"] == "64 (39-81)"  # ages survive
    # KM curves: sampled at many landmarks, and the whole step function via every patient's intervals
    curves = [cohort_report(read_input(d), landmarks_months=(3, 6, 9, 12, 18, 24, 36)).table("survival").rows
              for d in (tmp_path / "orig", tmp_path / "deid")]
    assert curves[0] == curves[1] and curves[0][0]["endpoint"] == "OS" and curves[0][0]["events"] == 19
    assert _intervals(tmp_path / "orig") == _intervals(tmp_path / "deid")


def _intervals(directory: Path) -> list[list[int]]:
    """Per patient, every day-precise date as days after that patient's first one (sorted).

    The birth date is left out: the policy replaces it by the stated age.
    """
    out = []
    for path in sorted(directory.rglob("*.json")):
        text = path.read_text(encoding="utf-8")
        if '"resourceType": "Bundle"' not in text[:200]:
            continue
        days = sorted(date.fromisoformat(d) for key, d in DAY.findall(text) if key != "birthDate")
        out.append([(d - days[0]).days for d in days])
    return sorted(out)
