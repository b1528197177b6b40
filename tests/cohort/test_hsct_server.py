"""The proof of issue 9 for `cohort generate`: the HSCT example cohort is generated, pushed to a real
FHIR server (sekmet, started here) and `report --server --where condition=B-ALL --by cohort_group`
gives back the published figures per group: engraftment day median (range), relapse, HLA-loss
relapse, non-relapse mortality by day +100 and 1 year, causes of death; acute GVHD II-IV / III-IV,
chronic GVHD and primary / secondary graft failure per group are in their own test (see its marker).

The expected figures are written out here as a paper's table prints them, not read from the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fhir_onco import load_case, map_case
from fhir_onco.cli.app import app
from fhir_onco.cohort import generate_to_directory
from fhir_onco.server.client import FhirClient, RetryPolicy

HSCT = Path(__file__).resolve().parents[2] / "examples" / "cohorts" / "example-ball-bridging-hsct.yaml"
BLINA, CHEMO = "blinatumomab-bridge", "chemotherapy-bridge"

# (section, item) -> {group: n or "median (min-max)"}
FIGURES: dict[tuple[str, str], dict[str, Any]] = {
    ("Patients", "transplanted"): {BLINA: 12, CHEMO: 8, "total": 20},
    ("Neutrophil engraftment, day", "median (range)"): {BLINA: "14 (11-21)", CHEMO: "16 (12-24)"},
    ("Platelet engraftment, day", "median (range)"): {BLINA: "18 (12-30)", CHEMO: "21 (14-35)"},
    ("Outcomes after HSCT", "relapse / progression"): {BLINA: 2, CHEMO: 3, "total": 5},
    ("Outcomes after HSCT", "HLA-loss relapse"): {"total": 2},
    ("Outcomes after HSCT", "non-relapse death by day +100"): {BLINA: 0, CHEMO: 2, "total": 2},
    ("Outcomes after HSCT", "non-relapse death by 1 year"): {BLINA: 1, CHEMO: 2, "total": 3},
    ("Outcomes after HSCT", "death, any cause"): {BLINA: 2, CHEMO: 4, "total": 6},
}
GRADED: dict[tuple[str, str], dict[str, Any]] = {  # from hsct[].gvhd and hsct[].graft_failure
    ("GVHD (allogeneic)", "acute GVHD grade II-IV"): {BLINA: 3, CHEMO: 3, "total": 6},
    ("GVHD (allogeneic)", "acute GVHD grade III-IV"): {BLINA: 1, CHEMO: 2, "total": 3},
    ("GVHD (allogeneic)", "chronic GVHD"): {BLINA: 2, CHEMO: 3, "total": 5},
    ("Engraftment", "primary graft failure"): {BLINA: 0, CHEMO: 1, "total": 1},
    ("Engraftment", "secondary graft failure"): {BLINA: 1, CHEMO: 0, "total": 1},
}
DEATH_CAUSES = {"progression": 3, "sepsis": 1, "veno-occlusive disease": 1, "gvhd": 1}  # "сепсис", "РТПХ" in the spec


@pytest.fixture(scope="module")
def server(private_sekmet_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("hsct-cohort")
    generate_to_directory(HSCT, out, seed=1)
    with FhirClient(private_sekmet_url, auth=None, retry=RetryPolicy(max_attempts=4, backoff_base=0.05)) as client:
        for path in sorted(out.rglob("*.yaml")):
            client.transaction(map_case(load_case(path)))
    return private_sekmet_url


@pytest.fixture(scope="module")
def report(server: str) -> dict[str, Any]:
    pytest.importorskip("lifelines")
    result = CliRunner().invoke(app, ["report", "--server", server, "-f", "json", "--where", "condition=B-ALL",
                                      "--by", "cohort_group"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _check(report: dict[str, Any], figures: dict[tuple[str, str], dict[str, Any]]) -> None:
    rows = {(r["section"], r["item"].casefold()): r for r in report["tables"]["transplant"]["rows"]}
    figures = {(section, item.casefold()): v for (section, item), v in figures.items()}
    for key, expected in figures.items():
        assert key in rows, key
        for group, value in expected.items():
            column = ("value_" if isinstance(value, str) else "n_") + group
            assert rows[key][column] == value, (key, group)


def test_transplant_figures_per_group_from_the_server(report: dict[str, Any]) -> None:
    assert report["n_patients"] == 20
    _check(report, FIGURES)
    deaths = {r["cause"]: r["n_total"] for r in report["tables"]["deaths"]["rows"]}
    assert {k: deaths[k] for k in DEATH_CAUSES} == DEATH_CAUSES
    best = {r["response"]: r for r in report["tables"]["best_response"]["rows"]}
    assert (best["cr"][f"n_{BLINA}"], best["cr"][f"n_{CHEMO}"], best["pd"]["n_total"]) == (10, 6, 4)
    ae = {(r["term"], r["measure"]): r for r in report["tables"]["adverse_events"]["rows"]}
    assert ae[("sinusoidal obstruction syndrome", "grade_ge_3")][f"n_{CHEMO}"] == 2
    assert ae[("sinusoidal obstruction syndrome", "grade_5")]["n_total"] == 1  # the fatal one, linked to its death


def test_graded_gvhd_and_graft_failure_per_group_from_the_server(report: dict[str, Any]) -> None:
    _check(report, GRADED)
