"""Round trip case -> FHIR -> case without a server: the reverse mapping (mappings/reverse.py) must
give back exactly the case that was mapped, also from resources shaped the way servers return them.
docs/roundtrip.md lists what cannot round-trip; nothing here is compared after canonicalisation
except where a test says so."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest

from fhir_onco.case import Case, CaseError, load_case, parse_case
from fhir_onco.fhir import urls
from fhir_onco.mappings import map_case_to_bundle
from fhir_onco.mappings.reverse import (
    ReverseMappingError,
    case_from_bundle,
    case_from_resources,
    read_bundle,
    read_resources,
)

Json = dict[str, Any]
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))

# A case that uses the fields the examples may not: schedules, stops, relative dates, every
# reference kind, deaths and notes. Terms are English and Russian, as case files write them.
RICH: Json = {
    "patient": {
        "identifiers": [{"system": "urn:test:mrn", "value": "rt-1"}, {"system": "urn:test:reg", "value": "R-9"}],
        "sex": "female",
        "birth_date": "12.03.2010",
        "death": {"date": "01.01.2022", "note": "died at home"},
    },
    "diagnoses": [
        {"id": "all", "condition": "B-ALL", "onset": "2019-02", "status": "relapse", "body_sites": ["bone marrow"],
         "stages": [{"system": "all-risk", "value": "high", "date": "2019-02-10"},
                    {"id": "s2", "system": "all-rez", "value": "S3", "date": "2021"}],
         "findings": [{"target": "ETV6", "result": "rearranged", "method": "FISH", "note": "t(12;21)"},
                      {"target": "CD19", "result": "expressed", "value_percent": 98.5, "date": "2021-03"}],
         "relapses": [{"number": 1, "date": "2021-03", "sites": ["bone marrow", "CNS"], "isolated": False}]},
        {"id": "tmn", "kind": "secondary", "condition": "t-MN", "onset": "2023-01", "related_to": "all",
         "therapy_related": True, "note": "after alkylators"},
    ],
    "regimens": [
        {"id": "ind", "name": "Induction", "category": "induction", "intent": "curative", "start": "2019-02-11",
         "cycles": 2, "cycle_length_days": 28, "note": "two blocks",
         "drugs": [
             {"id": "vcr", "drug": "vincristine", "dose": 1.5, "unit": "mg/m2", "route": "IV", "days": "1-22",
              "every_days": 7},
             {"drug": "dexamethasone", "dose": 6, "unit": "mg/m2", "route": "PO", "days": "1,2,3,4,5,6,7",
              "times_per_day": 2, "cycles": "2-"},
             {"drug": "asparaginase", "dose": 5000, "unit": "IU/m2", "route": "IM", "days": "3", "cycles": "1",
              "status": "stopped", "stop_reason": "toxicity", "stop_day": 3},
             {"drug": "methotrexate", "unit": "mg", "route": "intrathecal", "days": "1, 15",
              "status": "not-done"},
         ]},
        {"id": "salv", "name": "Salvage", "category": "salvage", "diagnosis": "all", "start": "day 29@ind",
         "end": "2019-06-30", "status": "stopped", "stop_reason": "progression",
         "drugs": [{"drug": "cytarabine", "dose": 2, "unit": "g/m2", "route": "IV", "days": "1-5",
                    "status": "stopped"}]},
        {"id": "cond", "name": "Bu/Flu", "category": "conditioning", "intensity": "MAC", "start": "D-7@allo",
         "end": "D-2@allo", "hsct_relative": "allo",
         "drugs": [{"drug": "busulfan", "dose": 0.8, "unit": "mg/kg", "route": "IV", "days": "-7..-4",
                    "times_per_day": 4},
                   {"drug": "fludarabine", "dose": 160, "unit": "mg/m2", "dose_basis": "course-total",
                    "route": "IV", "days": "-6..-2"}]},
        {"id": "px", "name": "GVHD prophylaxis", "category": "GVHD prophylaxis", "start": "D-1@allo",
         "part_of": "cond",
         "drugs": [{"drug": "cyclosporine", "dose": 3, "unit": "mg/kg/d", "dose_basis": "per-day",
                    "route": "continuous IV infusion", "continuous": True, "note": "target level 200"}]},
        {"id": "ctx", "name": "Protocol phase without drugs", "protocol": "AIEOP-BFM ALL 2017",
         "category": "consolidation", "start": "2019-04", "status": "active"},
    ],
    "radiotherapy": [{"id": "tbi", "kind": "TBI", "total_dose_gy": 12, "fractions": 6, "start": "D-9@allo",
                      "end": "D-8@allo", "regimen": "cond", "body_sites": ["bone marrow", "CNS"]}],
    "hsct": [{"id": "allo", "type": "allogeneic", "date": "2021-06-15",
              "donor": {"relation": "sister", "match": "matched related", "hla_match": "10/10", "sex": "female",
                        "age_years": 14},
              "graft_source": "bone marrow", "manipulations": ["CD45RA depletion"],
              "cell_doses": [{"kind": "cd34", "value": 5.2}, {"kind": "cd3", "value": 0.5, "unit": "10*8/kg"}],
              "conditioning": ["cond"], "conditioning_intensity": "MAC", "gvhd_prophylaxis": ["px"],
              "engraftment": [{"kind": "platelet", "day": 21}, {"kind": "neutrophil", "day": 16}],
              "chimerism": [{"date": "D+30", "result": "mixed", "recipient_percent": 4, "specimen": "peripheral blood"},
                            {"id": "chi2", "date": "D+100", "result": "full-donor", "note": "stable"}],
              "note": "uneventful"}],
    "mrd": [
        {"date": "2021-05", "value_percent": 0.5, "method": "flow cytometry", "specimen": "bone marrow",
         "sensitivity": 0.0001},
        {"id": "m2", "date": "D+30@allo", "negative": True, "below_percent": 0.01, "method": "PCR",
         "diagnosis": "tmn"},
        {"date": "D+90", "negative": True, "note": "no method given"},
        {"date": "2021-04-30", "value_percent": 0},
    ],
    "responses": [{"date": "2019-03-10", "response": "CR", "criteria": "BFM", "best": True, "regimen": "ind"},
                  {"id": "r2", "date": "D+30", "response": "ремиссия", "diagnosis": "tmn"}],
    "adverse_events": [
        {"id": "ae1", "term": "febrile neutropenia", "ctcae_version": "4.03", "grade": 3, "onset": "day 9@ind",
         "resolved": "2019-02-25", "serious": False, "outcome": "resolved", "actions": ["dose paused"],
         "suspected_causes": [{"regimen": "ind", "drug": "vincristine", "causality": "possibly"},
                              {"regimen": "ctx"}, {"hsct": "allo", "causality": "unlikely"}],
         "icu_days": 3, "treated_with": ["salv"]},
        {"term": "GVHD", "gvhd_grade": 2, "gvhd_organs": ["skin", "gut"], "onset": "D+25", "serious": True,
         "suspected_causes": [{"hsct": "allo"}], "note": "steroid-sensitive"},
    ],
    "note": "Synthetic case for the round-trip tests.",
}


def rich_case() -> Case:
    return parse_case(copy.deepcopy(RICH))


def bundle_of(case: Case) -> Json:
    return map_case_to_bundle(case)[0]


def resources_of(case: Case) -> list[Json]:
    return [copy.deepcopy(e["resource"]) for e in bundle_of(case)["entry"]]


def dump(case: Case) -> Json:
    return case.model_dump()


def _rewrite_refs(obj: Any, fn: Any) -> Any:
    if isinstance(obj, dict):
        return {k: fn(v) if k == "reference" and isinstance(v, str) and not v.startswith("#")
                else _rewrite_refs(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rewrite_refs(v, fn) for v in obj]
    return obj


def server_like(resources: list[Json], seed: int = 7) -> list[Json]:
    """What a server returns: versioned, absolute references with history, any order, narrative."""
    out = []
    for i, r in enumerate(_rewrite_refs(resources, lambda ref: f"http://x/fhir/{ref}/_history/1")):
        r["meta"] = {"versionId": str(i % 3 + 1), "lastUpdated": "2026-01-01T00:00:00.000+00:00", **r["meta"]}
        r["text"] = {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}
        out.append(r)
    random.Random(seed).shuffle(out)
    return out


# ---- every example --------------------------------------------------------------------------

def test_examples_exist() -> None:
    assert EXAMPLES, "no examples/*.yaml found"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_round_trips(path: Path) -> None:
    case = load_case(path)
    result = read_bundle(bundle_of(case))
    assert result.warnings == []
    assert dump(result.case) == dump(case)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_round_trips_from_server_shaped_resources(path: Path) -> None:
    case = load_case(path)
    assert dump(case_from_resources(server_like(resources_of(case)))) == dump(case)


# ---- the rich case: every field -----------------------------------------------------------------

def test_rich_case_round_trips() -> None:
    case = rich_case()
    result = read_bundle(bundle_of(case))
    assert result.warnings == []
    assert dump(result.case) == dump(case)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_resources(seed: int) -> None:
    case = rich_case()
    resources = resources_of(case)
    random.Random(seed).shuffle(resources)
    assert dump(case_from_resources(resources)) == dump(case)


def test_absolute_references_version_ids_and_searchset() -> None:
    case = rich_case()
    searchset = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": [
        {"fullUrl": f"http://x/fhir/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in server_like(resources_of(case))]}
    assert dump(case_from_bundle(searchset)) == dump(case)


def test_urn_uuid_references_and_collection_bundle() -> None:
    case = rich_case()
    resources = _rewrite_refs(resources_of(case), lambda ref: "urn:uuid:" + ref.split("/")[-1])
    collection = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    assert dump(case_from_bundle(collection)) == dump(case)


def test_foreign_resources_are_ignored_with_a_warning_without_phi() -> None:
    case = rich_case()
    resources = resources_of(case)
    patient_ref = next(r for r in resources if r["resourceType"] == "Patient")["id"]
    resources += [
        {"resourceType": "Organization", "id": "org1", "name": "Clinic"},
        {"resourceType": "Observation", "id": "vitals", "status": "final", "code": {"text": "weight"},
         "subject": {"reference": f"Patient/{patient_ref}"}, "valueQuantity": {"value": 31, "unit": "kg"}},
        {"resourceType": "OperationOutcome", "id": "oo", "issue": []},
    ]
    result = read_resources(resources)
    assert dump(result.case) == dump(case)
    assert len(result.warnings) == 3
    assert all("Clinic" not in w and "weight" not in w for w in result.warnings)
    assert any("Observation/vitals" in w for w in result.warnings)


def test_resources_of_another_patient_are_ignored() -> None:
    case = rich_case()
    other = copy.deepcopy(RICH)
    other["patient"]["identifiers"] = [{"system": "urn:test:mrn", "value": "someone-else"}]
    foreign = [r for r in resources_of(parse_case(other)) if r["resourceType"] == "AdverseEvent"]
    result = read_resources(resources_of(case) + foreign)
    assert dump(result.case) == dump(case)
    assert len(result.warnings) == len(foreign)


def test_two_patients_are_refused() -> None:
    other = copy.deepcopy(RICH)
    other["patient"]["identifiers"] = [{"system": "urn:test:mrn", "value": "someone-else"}]
    with pytest.raises(ReverseMappingError, match="2 patients"):
        read_resources(resources_of(rich_case()) + resources_of(parse_case(other)))


# ---- edits ------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit", [
    ("regimens", 0, "drugs", 0, "dose", 1.4),
    ("regimens", 0, "drugs", 1, "days", "1-3,5"),
    ("regimens", 1, "end", "01.07.2019"),
    ("mrd", 0, "value_percent", 0.25),
    ("adverse_events", 0, "grade", 4),
    ("hsct", 0, "donor", "hla_match", "9/10"),
])
def test_edited_case_round_trips_to_the_edited_value(edit: tuple[Any, ...]) -> None:
    data = copy.deepcopy(RICH)
    *path, last, value = edit
    target = data
    for step in path:
        target = target[step]
    assert target[last] != value
    target[last] = value
    edited = parse_case(data)
    pulled = case_from_resources(server_like(resources_of(edited)))
    assert dump(pulled) == dump(edited)
    assert dump(pulled) != dump(rich_case())


def test_inserted_item_keeps_list_order() -> None:
    data = copy.deepcopy(RICH)
    data["mrd"].insert(1, {"date": "2021-05-20", "value_percent": 0.1})
    edited = parse_case(data)
    assert dump(case_from_resources(server_like(resources_of(edited), seed=11))) == dump(edited)


# ---- without our round-trip extensions (resources of other producers) --------------------------

def _strip(resources: list[Json], url: str) -> list[Json]:
    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            out = {k: walk(v) for k, v in obj.items()}
            if "extension" in out:
                out["extension"] = [e for e in out["extension"] if e.get("url") != url]
                if not out["extension"]:
                    del out["extension"]
            return out
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj
    return walk(resources)


def test_schedule_collapses_from_administrations_to_canonical_form() -> None:
    case = rich_case()
    pulled = case_from_resources(_strip(resources_of(case), urls.EXT_DRUG_SCHEDULE))
    got = [(d.drug, d.days, d.times_per_day, d.cycles, d.continuous) for r in pulled.regimens for d in r.drugs]
    assert got == [
        ("vincristine", "1,8,15,22", 1, None, False),  # every_days 7 expanded
        ("dexamethasone", "1-7", 2, "2", False),  # '1,2,...,7' and '2-' in canonical form
        ("asparaginase", "3", 1, "1", False),
        ("methotrexate", "1,15", 1, None, False),
        ("cytarabine", "1-5", 1, None, False),
        ("busulfan", "-7..-4", 4, None, False),
        ("fludarabine", "-6..-2", 1, None, False),  # a course total spans its days
        ("cyclosporine", None, 1, None, False),  # continuous over the whole regimen: no days
    ]
    assert pulled.regimens[0].drugs[2].stop_day == 3


def test_causes_from_suspect_entities_without_the_causes_extension() -> None:
    case = rich_case()
    pulled = case_from_resources(_strip(resources_of(case), urls.EXT_SUSPECTED_CAUSE))
    causes = [c.model_dump(exclude_defaults=True) for c in pulled.adverse_events[0].suspected_causes]
    # The regimen without drugs has no administration to point at: that cause is lost.
    assert causes == [{"regimen": "ind", "drug": "vincristine", "causality": "possibly"},
                      {"hsct": "allo", "causality": "unlikely"}]


# ---- follow-up: last contact and vital status -------------------------------------------------

def _follow_up_case(**patient: Any) -> Case:
    data = copy.deepcopy(RICH)
    data["patient"].pop("death")
    data["patient"].update(patient)
    return parse_case(data)


@pytest.mark.parametrize("patient", [
    {"last_contact": "2023-05-02", "vital_status": "alive"},
    {"last_contact": "D+400", "vital_status": "alive"},  # relative dates work here too
    {"last_contact": "2023", "vital_status": "unknown"},
    {"vital_status": "dead"},  # known dead, date unknown: no death block
    {"last_contact": "15.06.2023"},
], ids=lambda p: "-".join(str(v) for v in p.values()))
def test_follow_up_round_trips(patient: Json) -> None:
    case = _follow_up_case(**patient)
    result = read_bundle(bundle_of(case))
    assert result.warnings == []
    assert dump(result.case) == dump(case)


def test_follow_up_is_plain_fhir_too() -> None:
    """Readers that do not know our extension still see the vital status in Patient.deceased."""
    alive = _follow_up_case(last_contact="D+400", vital_status="alive")
    patient = next(r for r in resources_of(alive) if r["resourceType"] == "Patient")
    assert patient["deceasedBoolean"] is False
    follow = next(e for e in patient["extension"] if e["url"] == urls.EXT_FOLLOW_UP)
    contact = next(e for e in follow["extension"] if e["url"] == "lastContact")
    assert contact["valueDateTime"] == "2022-07-20"  # HSCT 2021-06-15 + 400 days, resolved
    patient.pop("extension")  # another producer: only deceasedBoolean false
    assert case_from_resources([patient]).patient.vital_status == "alive"


def test_alive_with_a_death_is_an_error() -> None:
    data = copy.deepcopy(RICH)
    data["patient"]["vital_status"] = "alive"
    with pytest.raises(CaseError, match=r"patient: .*vital_status alive contradicts the death block"):
        parse_case(data)
