"""Dealing patients must not fail on a feasible spec for some seeds: both bundled specs are generated
for many seeds, and every one reproduces the spec's counts exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhir_onco.cohort import generate, load_spec, spec_tables

COHORTS = Path(__file__).resolve().parents[2] / "examples" / "cohorts"


def test_hsct_spec_on_200_seeds() -> None:
    spec = load_spec(COHORTS / "example-ball-bridging-hsct.yaml")
    for seed in range(200):
        t = spec_tables(spec, generate(spec, seed))
        assert t["hsct"]["donor"] == {"haploidentical": 9, "matched related": 4, "matched unrelated": 7}, seed
        assert t["hsct"]["outcome"] == {"no relapse": 15, "relapse": 5}, seed
        assert t["hsct"]["acute_gvhd"]["II-IV"] == 6 and t["hsct"]["acute_gvhd"]["III-IV"] == 3, seed
        assert t["hsct"]["nrm"]["by_day_100"] == 2 and t["hsct"]["nrm"]["by_1_year"] == 3, seed
        assert t["groups"]["chemotherapy-bridge"]["hsct"]["neutrophil_engraftment"] == {
            "patients": 7, "median": 16, "min": 12, "max": 24}, seed
        assert t["groups"]["blinatumomab-bridge"]["best_response"] == {"cr": 10, "pd": 2}, seed
        assert t["deaths"] == {"progression": 3, "sepsis": 1, "veno-occlusive disease": 1, "gvhd": 1}, seed


@pytest.mark.parametrize("block", range(4))
def test_seed004_spec_on_40_seeds(block: int) -> None:
    spec = load_spec(COHORTS / "seed004-isapd.yaml")
    for seed in range(block * 10, block * 10 + 10):
        t = spec_tables(spec, generate(spec, seed))
        assert t["patients"] == 60 and t["sex"] == {"female": 32, "male": 28}, seed
        assert t["best_response"] == {"cr": 5, "mr": 5, "not-evaluable": 2, "pd": 11, "pr": 16, "sd": 3,
                                      "vgpr": 18}, seed
        assert sum(t["deaths"].values()) == 19, seed
