"""The general parts of the spec format: groups with their own bridge, donor types, conditioning
intensity, graft source, HSCT outcomes - exact per group and per cohort, with consistent dates."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from fhir_onco.cohort import generate, group_of, load_spec, spec_tables
from fhir_onco.cohort.generate import draw_ages
from fhir_onco.cohort.spec import Age, CohortError
from fhir_onco.cohort.timing import magic_grade, nih_severity
from fhir_onco.pipeline import map_and_validate

SPEC = Path(__file__).resolve().parents[2] / "examples" / "cohorts" / "example-ball-bridging-hsct.yaml"

# The example's figures, written out as a paper's tables would print them (not read from the spec).
HSCT_OUTCOMES = {
    "graft_failure": {"primary": 1, "secondary": 1},
    "relapse_day": {"patients": 5, "median": 180, "min": 62, "max": 540},
    "hla_loss_relapse": 2,
    "death_after_relapse_day": {"patients": 3, "median": 300, "min": 150, "max": 620},
}
ACUTE = {"blinatumomab-bridge": {"I": 2, "II": 2, "III": 1},
         "chemotherapy-bridge": {"I": 1, "II": 1, "III": 1, "IV": 1}}
PER_GROUP = {
    "blinatumomab-bridge": {
        "neutrophil": {"patients": 12, "median": 14, "min": 11, "max": 21},
        "platelet": {"patients": 11, "median": 18, "min": 12, "max": 30},
        "acute II-IV": 3, "acute III-IV": 1, "chronic": 2, "relapse": 2, "nrm": (0, 1),
        "graft failure": {"secondary": 1}},
    "chemotherapy-bridge": {
        "neutrophil": {"patients": 7, "median": 16, "min": 12, "max": 24},
        "platelet": {"patients": 6, "median": 21, "min": 14, "max": 35},
        "acute II-IV": 3, "acute III-IV": 2, "chronic": 3, "relapse": 3, "nrm": (2, 2),
        "graft failure": {"primary": 1}},
}
DEATHS = {"progression": 3, "sepsis": 1, "veno-occlusive disease": 1, "gvhd": 1}  # "сепсис", "РТПХ" as keys


@pytest.mark.parametrize("seed", [0, 11])
def test_cohort_and_group_counts_are_exact(seed: int) -> None:
    spec = load_spec(SPEC)
    cases = generate(spec, seed)
    t = spec_tables(spec, cases)
    assert t["sex"] == {"male": 11, "female": 9}
    assert (t["age"]["min"], t["age"]["max"], t["age"]["median"]) == (2, 17, 9)
    h = t["hsct"]
    assert {k: h[k] for k in ("patients", "donor", "conditioning_intensity", "graft_source", "outcome")} == {
        "patients": 20, "donor": {"haploidentical": 9, "matched related": 4, "matched unrelated": 7},
        "conditioning_intensity": {"MAC": 14, "RIC": 6}, "graft_source": {"PBSC": 12, "bone marrow": 8},
        "outcome": {"no relapse": 15, "relapse": 5}}
    assert h == {**h, **HSCT_OUTCOMES}
    assert t["adverse_events"]["sinusoidal obstruction syndrome >= 3"] == 2
    assert t["deaths"] == DEATHS
    blina = [c for c in cases if group_of(c) == "blinatumomab-bridge"]
    chemo = [c for c in cases if group_of(c) == "chemotherapy-bridge"]
    assert (len(blina), len(chemo)) == (12, 8)
    tb, tc = spec_tables(spec, blina), spec_tables(spec, chemo)
    assert tb["best_response"] == {"cr": 10, "pd": 2} and tc["best_response"] == {"cr": 6, "pd": 2}
    assert tb["adverse_events"]["cytokine release syndrome >= 1"] == 3
    for name, grades in ACUTE.items():  # group blocks extend the cohort's: acute GVHD per group
        g = spec_tables(spec, [c for c in cases if group_of(c) == name])["hsct"]
        assert g["acute_gvhd"]["grades"] == grades
    assert h["acute_gvhd"]["II-IV"] == 6 and h["acute_gvhd"]["III-IV"] == 3
    assert h["chronic_gvhd"]["severity"] == {"mild": 2, "moderate": 2, "severe": 1}
    assert (h["chronic_gvhd"]["onset_day"]["median"], h["chronic_gvhd"]["onset_day"]["min"]) == (160, 105)
    assert (h["nrm"]["by_day_100"], h["nrm"]["by_1_year"], h["neutrophil_engraftment"]["patients"]) == (2, 3, 19)
    for name, figures in PER_GROUP.items():
        g = spec_tables(spec, [c for c in cases if group_of(c) == name])["hsct"]
        got = {"neutrophil": g["neutrophil_engraftment"], "platelet": g["platelet_engraftment"],
               "acute II-IV": g["acute_gvhd"]["II-IV"], "acute III-IV": g["acute_gvhd"]["III-IV"],
               "chronic": g["chronic_gvhd"]["patients"], "relapse": g["outcome"]["relapse"],
               "nrm": (g["nrm"]["by_day_100"], g["nrm"]["by_1_year"]), "graft failure": g["graft_failure"]}
        assert got == figures, name
    assert tc["adverse_events"]["febrile neutropenia >= 3"] == 5
    assert tb["adverse_events"]["febrile neutropenia >= 3"] == 0
    assert all(d.drug == "blinatumomab" for c in blina for r in c.regimens if r.id == "bridge" for d in r.drugs)
    assert not any(d.drug == "blinatumomab" for c in chemo for r in c.regimens for d in r.drugs)


def test_transplant_histories_are_consistent() -> None:
    spec = load_spec(SPEC)
    for case in [c for seed in (3, 4, 5) for c in generate(spec, seed)]:
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
        events = [date.fromisoformat(g.onset) for g in h.gvhd] + [
            day0 + timedelta(days=e.day) for e in h.engraftment] + [
            date.fromisoformat(r.date) for r in case.diagnoses[0].relapses]
        if death:
            assert date.fromisoformat(death.date) > day0  # type: ignore[arg-type]
            assert all(e < date.fromisoformat(death.date) for e in events)  # type: ignore[arg-type]
            fatal = [ae for ae in case.adverse_events if ae.outcome == "fatal"]
            if death.cause == "veno-occlusive disease":  # linked: its SOS is the fatal event, grade 5
                assert [(ae.term, ae.grade) for ae in fatal] == [("sinusoidal obstruction syndrome", 5)]
                assert date.fromisoformat(fatal[0].onset) <= date.fromisoformat(death.date)  # type: ignore[arg-type]
            else:
                assert not fatal
            if death.cause == "РТПХ":
                assert any(g.kind == "acute" and (g.grade or 0) >= 3 for g in h.gvhd)
        for g in h.gvhd:
            organs = {o.organ: o.stage for o in g.organs}
            if g.kind == "acute":
                assert g.criteria == "MAGIC" and magic_grade(organs) == g.grade
            else:
                assert g.criteria == "NIH 2014" and nih_severity(organs) == g.severity
        if h.graft_failure and h.graft_failure.kind == "primary":
            assert not h.engraftment and not h.gvhd
        if death and death.cause == "progression":
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
