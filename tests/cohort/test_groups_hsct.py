"""The general parts of the spec format: groups with their own bridge, donor types, conditioning
intensity, graft source, HSCT outcomes - exact per group and per cohort, with consistent dates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fhir_onco.cohort import generate, group_of, load_spec, spec_tables
from fhir_onco.cohort.generate import draw_ages
from fhir_onco.cohort.spec import Age, CohortError
from fhir_onco.pipeline import map_and_validate

SPEC = Path(__file__).resolve().parents[2] / "examples" / "cohorts" / "example-ball-bridging-hsct.yaml"


@pytest.mark.parametrize("seed", [0, 11])
def test_cohort_and_group_counts_are_exact(seed: int) -> None:
    spec = load_spec(SPEC)
    cases = generate(spec, seed)
    t = spec_tables(spec, cases)
    assert t["sex"] == {"male": 11, "female": 9}
    assert (t["age"]["min"], t["age"]["max"], t["age"]["median"]) == (2, 17, 9)
    assert t["hsct"] == {
        "patients": 20, "donor": {"haploidentical": 9, "matched related": 4, "matched unrelated": 7},
        "conditioning_intensity": {"MAC": 14, "RIC": 6}, "graft_source": {"PBSC": 12, "bone marrow": 8},
        "outcome": {"no relapse": 15, "relapse": 5}}
    assert t["adverse_events"]["sinusoidal obstruction syndrome >= 3"] == 2
    assert t["adverse_events"]["graft versus host disease >= 2"] == 6
    assert t["deaths"] == {"progression": 3, "sepsis": 1}
    blina = [c for c in cases if group_of(c) == "blinatumomab-bridge"]
    chemo = [c for c in cases if group_of(c) == "chemotherapy-bridge"]
    assert (len(blina), len(chemo)) == (12, 8)
    tb, tc = spec_tables(spec, blina), spec_tables(spec, chemo)
    assert tb["best_response"] == {"cr": 10, "pd": 2} and tc["best_response"] == {"cr": 6, "pd": 2}
    assert tb["adverse_events"]["cytokine release syndrome >= 1"] == 3
    assert tc["adverse_events"]["febrile neutropenia >= 3"] == 5
    assert tb["adverse_events"]["febrile neutropenia >= 3"] == 0
    assert all(d.drug == "blinatumomab" for c in blina for r in c.regimens if r.id == "bridge" for d in r.drugs)
    assert not any(d.drug == "blinatumomab" for c in chemo for r in c.regimens for d in r.drugs)


def test_transplant_histories_are_consistent() -> None:
    spec = load_spec(SPEC)
    for case in generate(spec, 3):
        (h,) = case.hsct
        day0 = date.fromisoformat(h.date)
        bridge = next(r for r in case.regimens if r.id == "bridge")
        assert date.fromisoformat(bridge.end) < day0  # type: ignore[arg-type]
        cond = next(r for r in case.regimens if r.category == "conditioning")
        assert date.fromisoformat(cond.end) < day0 and h.conditioning == [cond.id]  # type: ignore[arg-type]
        assert (h.donor.relation == "sibling") == (h.donor.match == "matched related")  # type: ignore[union-attr]
        for ae in case.adverse_events:
            if ae.suspected_causes[0].hsct:
                assert date.fromisoformat(ae.onset) > day0
        death = case.patient.death
        if death:
            assert date.fromisoformat(death.date) > day0  # type: ignore[arg-type]
            if death.cause == "progression":
                assert case.diagnoses[0].relapses
                assert date.fromisoformat(case.diagnoses[0].relapses[0].date) < date.fromisoformat(death.date)  # type: ignore[arg-type]


def test_hsct_patients_map_to_valid_fhir() -> None:
    spec = load_spec(SPEC)
    cases = generate(spec, 5)
    for case in (cases[0], next(c for c in cases if c.diagnoses[0].relapses)):
        result = map_and_validate(case, case.patient.identifiers[0].value)
        assert result.ok and not result.report.issues, result.report.to_text()


def test_ages_hit_min_max_median_and_bins_exactly() -> None:
    import random

    ages = draw_ages(Age(min=39, max=81, median=64, bins={"<65": 30, "65-75": 27, ">75": 3}), 60, random.Random(1))
    assert (min(ages), max(ages), (ages[29] + ages[30]) / 2) == (39, 81, 64)
    assert [sum(1 for a in ages if lo <= a <= hi) for lo, hi in ((0, 64), (65, 75), (76, 200))] == [30, 27, 3]
    odd = draw_ages(Age(min=2, max=17, median=9), 7, random.Random(2))
    assert (odd[0], odd[3], odd[6]) == (2, 9, 17)
    with pytest.raises(CohortError, match=r"median 90 is impossible|cannot reach"):
        draw_ages(Age(min=39, max=81, median=90), 60, random.Random(1))


def test_tables_json_has_per_group_counts_and_counts_a_threshold_once() -> None:
    from fhir_onco.cohort.tables import tabulate

    spec = load_spec(SPEC)
    cases = generate(spec, 3)
    t = spec_tables(spec, cases)
    assert set(t["groups"]) == {"blinatumomab-bridge", "chemotherapy-bridge"}
    assert t["groups"]["blinatumomab-bridge"]["patients"] == 12
    assert t["groups"]["chemotherapy-bridge"]["best_response"] == {"cr": 6, "pd": 2}
    assert t["groups"]["chemotherapy-bridge"]["adverse_events"]["febrile neutropenia >= 3"] == 5
    once = tabulate(cases, "bridge", adverse_events=[("febrile neutropenia", 3)])
    twice = tabulate(cases, "bridge", adverse_events=[("febrile neutropenia", 3), ("FN", 3)])  # same term
    assert twice["adverse_events"] == once["adverse_events"] == {"febrile neutropenia >= 3": 5}
