"""Spec features beyond the bundled examples: unknown terms, dealings a greedy pick misses, tight
death timing over many seeds, scaling to another size, two drugs of one name on one day, GVHD grades."""

from __future__ import annotations

import copy
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from fhir_onco.cohort import CohortError, generate, load_spec, parse_spec, spec_tables
from fhir_onco.cohort.scale import largest_remainder
from fhir_onco.cohort.spec import Timing
from fhir_onco.cohort.timing import (
    Kind,
    Unlucky,
    magic_grade,
    magic_organs,
    nih_organs,
    nih_severity,
    place_days,
    timing_values,
)
from fhir_onco.pipeline import map_and_validate

COHORTS = Path(__file__).resolve().parents[2] / "examples" / "cohorts"
HSCT, SEED004 = COHORTS / "example-ball-bridging-hsct.yaml", COHORTS / "seed004-isapd.yaml"


def _data(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_unknown_terms_name_the_spec_file_and_path(tmp_path: Path) -> None:
    data = _data(HSCT)
    data["groups"][0]["deaths"]["acute liver poisoning by moonlight"] = 1
    data["groups"][1]["adverse_events"][0]["term"] = "febrile neutropaenia of the soul"
    data["hsct"]["graft_source"] = {"bone marow": 8, "PBSC": 12}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CohortError) as err:
        generate(load_spec(path), 0)
    text = str(err.value)
    assert f"{path}: groups[blinatumomab-bridge].deaths.acute liver poisoning by moonlight: unknown term" in text
    assert f"{path}: groups[chemotherapy-bridge].adverse_events[0].term: unknown term" in text
    assert f"{path}: hsct.graft_source.bone marow: unknown term 'bone marow' (hsct table, graft terms); " \
           "did you mean" in text


def test_russian_and_english_synonyms_count_as_one_cause() -> None:
    data = _data(HSCT)
    data["groups"][1]["deaths"] = {
        "progression": {"count": 2, "among": {"hsct_relapse": ["relapse"]}},
        "septic shock": {"count": 1, "among": {"hsct_relapse": ["no relapse"]}},
        "ВОБ": {"count": 1, "adverse_event": "SOS", "among": {"hsct_relapse": ["no relapse"]}}}
    spec = parse_spec(data)
    t = spec_tables(spec, generate(spec, 2))
    assert t["deaths"] == {"progression": 3, "sepsis": 2, "veno-occlusive disease": 1}


def test_death_linked_to_an_event_the_spec_does_not_have_is_refused() -> None:
    data = _data(HSCT)
    data["groups"][1]["deaths"]["veno-occlusive disease"]["adverse_event"] = "febrile neutropenia of day 100"
    with pytest.raises(CohortError, match=r"deaths\.veno-occlusive disease\.adverse_event"):
        generate(parse_spec(data, "x.yaml"), 0)


def test_overlapping_restrictions_are_dealt_when_a_dealing_exists() -> None:
    # 'a' may go to any CR patient, 'b' only to CR women: a greedy pick for 'a' first often takes the
    # women 'b' needs; the augmenting-path dealing (and redraws) must find one on every seed.
    data = _data(HSCT)
    g = data["groups"][0]
    g["sex"] = {"male": 6, "female": 6}
    data.pop("sex")
    data["groups"][1]["sex"] = {"male": 5, "female": 3}
    g["adverse_events"] = [
        {"term": "fever", "grade_at_least": 1, "patients": 6, "among": {"best_response": ["cr"]}},
        {"term": "hypotension", "grade_at_least": 1, "patients": 4,
         "among": {"best_response": ["cr"], "sex": ["female"]}},
    ]
    spec = parse_spec(data)
    for seed in range(30):
        cases = generate(spec, seed)
        t = spec_tables(spec, cases)["groups"]["blinatumomab-bridge"]
        assert t["adverse_events"]["fever >= 1"] == 6 and t["adverse_events"]["hypotension >= 1"] == 4, seed


def test_tight_death_timing_holds_on_200_seeds() -> None:
    # Deaths by day +30 among patients who engraft (neutrophils by day 11-24) and relapse (day 62-540):
    # only some patients can take the early days; the placement must find them on every seed.
    data = _data(HSCT)
    h = data["groups"][1]["hsct"]
    h["nrm_day"] = {"median": 17, "min": 12, "max": 22, "by": {20: 1}}
    h["neutrophil_engraftment"] = {"patients": 7, "day": {"median": 15, "min": 11, "max": 21}}
    spec = parse_spec(data)
    for seed in range(200):
        t = spec_tables(spec, generate(spec, seed))["groups"]["chemotherapy-bridge"]["hsct"]
        assert t["nrm"]["day"] == {"patients": 2, "median": 17, "min": 12, "max": 22}, seed
        assert t["neutrophil_engraftment"]["patients"] == 7, seed


def test_an_impossible_timing_is_refused_with_its_path() -> None:
    data = _data(HSCT)
    data["groups"][1]["hsct"]["nrm_day"] = {"median": 5, "min": 1, "max": 9}  # before anyone could have SOS
    with pytest.raises(CohortError, match=r"x\.yaml: groups\[chemotherapy-bridge\]\.deaths\..*: 1 patients needed, "
                                          r"0 available among .* whose engraftment, relapse and GVHD days can precede "
                                          r"the latest death day .*no draw of 200 fitted"):
        generate(parse_spec(data, "x.yaml"), 0)


def test_group_and_cohort_counts_must_agree() -> None:
    data = _data(HSCT)
    data["groups"][1]["hsct"]["relapse"] = {"relapse": 6, "no relapse": 2}  # with the other group: 8, the cohort has 5
    with pytest.raises(CohortError, match=r"hsct\.relapse\.relapse: 5 in the cohort, but its groups give 8"):
        generate(parse_spec(data), 0)


@pytest.mark.parametrize("seed", range(3))
def test_timing_values_are_exact(seed: int) -> None:
    rng = random.Random(seed)
    for n in (1, 2, 3, 8, 19):
        lo, hi = 10, 10 + 3 * n
        t = Timing(median=(lo + hi) / 2 if n % 2 == 0 else lo + (n // 2) * 3, min=lo, max=hi)
        if n == 1:
            t = Timing(median=lo, min=lo, max=lo)
        v = timing_values(t, n, rng, "x")
        mid = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
        assert (v[0], v[-1], mid) == (t.min, t.max, t.median)
    v = timing_values(Timing(median=60, min=30, max=210, by={100: 2, 365: 3}), 3, rng, "x")
    assert v == [30, 60, 210]
    with pytest.raises(CohortError, match="cannot have min 10, max 20 and median 11"):
        timing_values(Timing(median=11, min=10, max=20), 2, rng, "x")


def test_gvhd_organs_give_their_grade() -> None:
    rng = random.Random(0)
    for _ in range(300):
        for grade in (1, 2, 3, 4):
            assert magic_grade(magic_organs(grade, rng)) == grade
        for sev in ("mild", "moderate", "severe"):
            assert nih_severity(nih_organs(sev, rng)) == sev
    assert magic_grade({"skin": 3, "upper-gi": 1}) == 2 and magic_grade({"liver": 2}) == 3
    assert nih_severity({"lungs": 1}) == "moderate" and nih_severity({"skin": 1, "eyes": 1}) == "mild"


def test_two_drugs_of_one_name_on_one_day_map_to_their_own_administrations() -> None:
    spec = load_spec(HSCT)
    case = next(c for c in generate(spec, 1) if c.note and c.note.endswith("chemotherapy-bridge"))
    bridge = next(r for r in case.regimens if r.id == "bridge")
    mtx = [(d.id, d.route, d.days) for d in bridge.drugs if d.drug == "methotrexate"]
    assert mtx == [("mtx-iv", "IV", "1"), ("mtx-it", "intrathecal", "1")]
    result = map_and_validate(case, case.patient.identifiers[0].value)
    assert result.ok, result.report.to_text()
    given = [e["resource"] for e in result.bundle["entry"]  # type: ignore[index]
             if e["resource"]["resourceType"] == "MedicationAdministration"
             and "methotrexate" in str(e["resource"].get("medicationCodeableConcept", "")).lower()]
    cycles = next(r for r in case.regimens if r.id == "bridge").cycles or 1
    assert len(given) == 2 * cycles and len({m["id"] for m in given}) == len(given)
    routes = Counter(str(m["dosage"].get("route", {}).get("text", "")).lower() for m in given)
    assert routes == {"iv": cycles, "intrathecal": cycles}


def test_largest_remainder_keeps_sums() -> None:
    assert largest_remainder([28, 32], 60, 30) == [14, 16]
    assert largest_remainder([5, 18, 16, 5, 3, 11, 2], 60, 100) == [9, 30, 27, 8, 5, 18, 3]
    assert sum(largest_remainder([5, 18, 16, 5, 3, 11, 2], 60, 100)) == 100
    assert largest_remainder([1], 60, 30) == [1]  # 0.5 vs the rest's 29.5: ties go in spec order
    assert largest_remainder([19], 60, 100) == [32]


def test_seed004_scaled_to_another_size() -> None:
    data = _data(SEED004)
    data["published_size"], data["size"] = 60, 120
    spec = parse_spec(data, "seed004-120.yaml")
    t = spec_tables(spec, generate(spec, 1))
    assert t["patients"] == 120 and t["sex"] == {"female": 64, "male": 56}
    assert t["best_response"] == {"cr": 10, "mr": 10, "not-evaluable": 4, "pd": 22, "pr": 32, "sd": 6, "vgpr": 36}
    assert sum(t["deaths"].values()) == 38 and t["adverse_events"]["neutrophil count decreased >= 3"] == 42
    assert sum(t["age"]["bins"].values()) == 120 and (t["age"]["min"], t["age"]["max"]) == (39, 81)


def test_hsct_example_scaled_down_keeps_every_sum() -> None:
    data = _data(HSCT)
    data["published_size"], data["size"] = 20, 40
    spec = parse_spec(copy.deepcopy(data), "hsct-40.yaml")
    assert [g.size for g in spec.groups] == [24, 16]
    t = spec_tables(spec, generate(spec, 0))
    assert t["hsct"]["donor"] == {"haploidentical": 18, "matched related": 8, "matched unrelated": 14}
    assert t["hsct"]["acute_gvhd"]["II-IV"] == 12 and t["hsct"]["nrm"]["by_day_100"] == 4
    assert t["groups"]["chemotherapy-bridge"]["hsct"]["neutrophil_engraftment"]["patients"] == 14


def test_a_size_the_counts_cannot_scale_to_is_refused_with_the_file_and_field() -> None:
    data = _data(HSCT)
    data["published_size"], data["size"] = 20, 1
    with pytest.raises(CohortError, match=r"hsct-1\.yaml: size: 1 patients leave the groups"):
        parse_spec(data, "hsct-1.yaml")


def _feasible(events: list[Kind], deaths: list[Kind]) -> bool:
    """Brute force: some assignment of every kind's values puts each event strictly before its holder's death."""
    from itertools import permutations

    def kinds(i: int, death: dict[int, int]) -> bool:
        if i == len(events):
            return True
        k = events[i]
        return any(all(v < death.get(p, 10 ** 9) for p, v in zip(k.holders, perm, strict=True)) and kinds(i + 1, death)
                   for perm in set(permutations(k.values)))

    def deaths_(j: int, death: dict[int, int]) -> bool:
        if j == len(deaths):
            return kinds(0, death)
        d = deaths[j]
        return any(deaths_(j + 1, {**death, **dict(zip(d.holders, perm, strict=True))})
                   for perm in set(permutations(d.values)))

    return deaths_(0, {})


def test_day_placement_finds_a_placement_exactly_when_one_exists() -> None:
    rng = random.Random(7)
    found = refused = 0
    for _ in range(300):
        people = list(range(5))
        events = []
        for name in ("engraft", "relapse", "gvhd"):
            holders = rng.sample(people, rng.randint(1, 4))
            events.append(Kind(name, [rng.randint(1, 40) for _ in holders], holders))
        dying = rng.sample(people, rng.randint(1, 4))
        split = rng.randint(0, len(dying))
        deaths = [Kind(f"death@{i}", [rng.randint(1, 45) for _ in part], part)
                  for i, part in enumerate((dying[:split], dying[split:])) if part]
        expected = _feasible(events, deaths)
        try:
            placed = place_days(events, deaths, random.Random(1), "t")
        except Unlucky:
            assert not expected
            refused += 1
            continue
        assert expected
        found += 1
        for k in events:
            assert sorted(placed.days[p][k.name] for p in k.holders) == k.values
            for p in k.holders:
                assert placed.days[p][k.name] < placed.days[p].get("death", 10 ** 9)
        assert sorted(placed.days[p]["death"] for p in dying) == sorted(v for d in deaths for v in d.values)
    assert found > 50 and refused > 20  # both outcomes were exercised


def test_an_hsct_block_in_one_group_only() -> None:
    data = _data(HSCT)
    top = data.pop("hsct")
    chemo = data["groups"][1]
    chemo["hsct"] = {**top, **chemo["hsct"], "patients": 6,
                     "donor": {"haploidentical": 3, "matched unrelated": 2, "matched related": 1},
                     "conditioning_intensity": {"MAC": 4, "RIC": 2}, "graft_source": {"bone marrow": 2, "PBSC": 4},
                     "relapse": {"relapse": 2, "no relapse": 4}, "relapse_day": {"median": 231, "min": 62, "max": 400},
                     "neutrophil_engraftment": {"patients": 5, "day": {"median": 16, "min": 12, "max": 24}},
                     "platelet_engraftment": {"patients": 4, "day": {"median": 21, "min": 14, "max": 35}},
                     "acute_gvhd": {"grades": {"III": 1, "IV": 1}}, "chronic_gvhd": {"severity": {"mild": 1}},
                     "hla_loss": 1}
    for key in ("nrm_day", "death_day"):  # no non-relapse deaths; the relapse deaths follow the relapse untimed
        chemo["hsct"].pop(key)
    chemo["deaths"] = {"progression": {"count": 2, "among": {"hsct_relapse": ["relapse"]}}}
    data["groups"][0].pop("hsct")
    data["groups"][0]["deaths"] = {"progression": 1}
    spec = parse_spec(data)
    for seed in range(5):
        t = spec_tables(spec, generate(spec, seed))
        assert "hsct" not in t["groups"]["blinatumomab-bridge"], seed
        h = t["groups"]["chemotherapy-bridge"]["hsct"]
        got = (h["patients"], h["outcome"]["relapse"], h["acute_gvhd"]["III-IV"], h["hla_loss_relapse"])
        assert got == (6, 2, 2, 1), seed


@pytest.mark.parametrize("size", [30, 100])
def test_hsct_example_scaled_keeps_dependent_counts_together(size: int) -> None:
    data = _data(HSCT)
    data["published_size"], data["size"] = 20, size
    spec = parse_spec(data, f"hsct-{size}.yaml")
    t = spec_tables(spec, generate(spec, 3))
    h, groups = t["hsct"], t["groups"]
    assert t["patients"] == size == sum(g["patients"] for g in groups.values())
    for g in groups.values():  # engrafted + primary graft failure never exceed the transplanted
        gh = g["hsct"]
        assert gh["neutrophil_engraftment"]["patients"] + gh["graft_failure"].get("primary", 0) <= gh["patients"]
    for key in ("neutrophil_engraftment", "platelet_engraftment"):  # the cohort figure is the groups' sum
        assert h[key]["patients"] == sum(g["hsct"][key]["patients"] for g in groups.values())
    assert spec.hsct is not None and spec.hsct.neutrophil_engraftment is not None
    assert h["neutrophil_engraftment"]["patients"] == spec.hsct.neutrophil_engraftment.patients
    assert h["nrm"]["by_1_year"] == sum(g["hsct"]["nrm"]["by_1_year"] for g in groups.values())


def test_a_scaled_timing_that_two_patients_cannot_hold_is_refused_with_its_field() -> None:
    data = _data(HSCT)
    data["published_size"], data["size"] = 20, 10  # 2 acute GVHD in the chemotherapy group: median 24 of 12..45
    with pytest.raises(CohortError, match=r"hsct-10\.yaml: groups\[chemotherapy-bridge\]\.hsct\.acute_gvhd\.day: "
                                          r"2 whole-number days cannot have min 12, max 45 and median 24 together"):
        generate(parse_spec(data, "hsct-10.yaml"), 0)
