"""The proof of issues 5 and 9 from a real server: the seed-004 myeloma cohort and the HSCT example
cohort are generated, pushed to one FHIR server together, and `report --server --where` gives back
every count of each spec - per group for the HSCT cohort (`--by cohort_group`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fhir_onco import load_case, map_case
from fhir_onco.cli.app import app
from fhir_onco.cohort import generate_to_directory
from fhir_onco.server.client import FhirClient, RetryPolicy

from .test_analytics_seed004 import check_seed004_tables

COHORTS = Path(__file__).resolve().parents[2] / "examples" / "cohorts"
SEED004, HSCT = COHORTS / "seed004-isapd.yaml", COHORTS / "example-ball-bridging-hsct.yaml"


@pytest.fixture(scope="module")
def server(private_sekmet_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    base = private_sekmet_url
    out = tmp_path_factory.mktemp("cohorts")
    generate_to_directory(SEED004, out / "seed004", seed=4)
    generate_to_directory(HSCT, out / "hsct", seed=1)
    with FhirClient(base, auth=None, retry=RetryPolicy(max_attempts=4, backoff_base=0.05)) as client:
        for path in sorted(out.rglob("*.yaml")):
            client.transaction(map_case(load_case(path)))
    return base


def _report(base: str, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["report", "--server", base, "-f", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_seed004_counts_from_the_server(server: str) -> None:
    data = _report(server, "--where", "condition=multiple myeloma", "--age-bands", "65,75")
    check_seed004_tables(data["tables"])


def test_hsct_cohort_per_group_figures_from_the_server(server: str) -> None:
    pytest.importorskip("lifelines")
    spec = yaml.safe_load(HSCT.read_text(encoding="utf-8"))
    data = _report(server, "--where", "condition=B-ALL", "--by", "cohort_group")
    assert data["n_patients"] == spec["size"]
    groups = {g["name"]: g for g in spec["groups"]}
    rows = {(r["section"], r["item"]): r for r in data["tables"]["baseline"]["rows"]}
    for name, g in groups.items():
        assert rows[("Patients", "total")][f"n_{name}"] == g["size"]
    best = {r["response"]: r for r in data["tables"]["best_response"]["rows"]}
    for name, g in groups.items():
        for response, n in g["best_response"].items():
            assert best[response][f"n_{name}"] == n, (name, response)
    ae = {(r["term"], r["measure"]): r for r in data["tables"]["adverse_events"]["rows"]}
    for name, g in groups.items():
        for item in g["adverse_events"]:
            assert ae[(item["term"], f"grade_ge_{item['grade_at_least']}" if item["grade_at_least"] > 1
                       else "any_grade")][f"n_{name}"] == item["patients"]

    tx = {(r["section"], r["item"]): r for r in data["tables"]["transplant"]["rows"]}
    h = spec["hsct"]
    assert tx[("Patients", "transplanted")]["n_total"] == spec["size"]
    donors = {item: r["n_total"] for (sec, item), r in tx.items() if sec == "Donor"}
    assert sorted(donors.values()) == sorted(h["donor"].values())
    intensity = {item: r["n_total"] for (sec, item), r in tx.items() if sec == "Conditioning intensity"}
    assert sorted(intensity.values()) == sorted(h["conditioning_intensity"].values())
    graft = {item: r["n_total"] for (sec, item), r in tx.items() if sec == "Graft source"}
    assert sorted(graft.values()) == sorted(h["graft_source"].values())
    for name, g in groups.items():  # engraftment day median (range) per group: the groups' own blocks
        for lineage, section in (("neutrophil", "Neutrophil engraftment, day"),
                                 ("platelet", "Platelet engraftment, day")):
            day = g["hsct"][f"{lineage}_engraftment"]["day"]
            assert tx[(section, "median (range)")][f"value_{name}"] == f"{day['median']} ({day['min']}-{day['max']})"
    assert tx[("Outcomes after HSCT", "relapse / progression")]["n_total"] == h["relapse"]["relapse"]
    # GVHD, graft failure, HLA loss and NRM per group: tests/cohort/test_hsct_server.py
    deaths = {r["cause"]: r["n_total"] for r in data["tables"]["deaths"]["rows"]}
    assert deaths["all"] == sum(c["count"] for g in groups.values() for c in g["deaths"].values())
