"""Fields the mCODE Extraction Framework layout carries (issue 8): demographics, condition category,
disease-status evidence, AE context and AE episodes - bad input is refused with its field path, a
broken episode link is reported, and analytics counts an event at its highest episode grade."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from fhir_onco.analytics.flatten import _worst_grade
from fhir_onco.case import CaseError, load_case, parse_case
from fhir_onco.fhir import urls
from fhir_onco.mappings import MappingError, map_case_to_bundle
from fhir_onco.mappings.reverse import read_bundle

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mcode-migration-demographics.yaml"
BASE: dict[str, Any] = {
    "patient": {"identifiers": [{"system": "urn:test", "value": "t-1"}], "sex": "female"},
    "adverse_events": [{"id": "ae", "term": "anemia", "grade": 2, "onset": "2020-01-01"}],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    target = data
    *parents, last = path.split(".")
    for p in parents:
        target = target[int(p)] if p.isdigit() else target[p]
    target[last] = value
    return data


@pytest.mark.parametrize(("path", "value", "where"), [
    ("patient.name", {}, "patient.name"),
    ("patient.address", {"lines": []}, "patient.address"),
    ("patient.language", "english", "patient.language"),
    ("patient.birth_sex", "X", "patient.birth_sex"),
    ("patient.race", ["white; asian"], "patient.race[0]"),
    ("adverse_events.0.episodes", [{"onset": "2020-02-01", "grade": 2, "grade_range": "I-II"}],
     "adverse_events[0].episodes[0]"),
    ("adverse_events.0.episodes", [{"onset": "2020-02-01", "grade_range": "III-II"}],
     "adverse_events[0].episodes[0]"),
    ("adverse_events.0.participants", [{"function": "author"}], "adverse_events[0].participants[0].actor"),
    ("responses", [{"date": "2020-01-01"}], "responses[0]"),
    ("responses", [{"date": "2020-01-01", "response": "CR", "data_absent": "not-asked"}], "responses[0]"),
    ("responses", [{"date": "2020-01-01", "data_absent": "forgot"}], "responses[0].data_absent"),
])
def test_bad_values_are_refused_with_their_path(path: str, value: Any, where: str) -> None:
    with pytest.raises(CaseError) as exc:
        parse_case(_with(path, value))
    assert any(loc == where for loc, _ in exc.value.issues), exc.value.issues
    assert "Secret" not in str(exc.value)


def test_name_is_never_quoted_in_errors() -> None:
    with pytest.raises(CaseError) as exc:
        parse_case(_with("patient.name", {"family": "Secretova", "given": [""]}))
    assert "Secretova" not in str(exc.value)


def test_unknown_race_is_a_mapping_error_unless_text_only() -> None:
    case = parse_case(_with("patient.race", ["martian"]))
    with pytest.raises(MappingError) as exc:
        map_case_to_bundle(case)
    assert "patient.race[0]: unknown race term 'martian'" in str(exc.value)
    bundle, _ = map_case_to_bundle(case, allow_text_only=True)
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    race = next(e for e in patient["extension"] if e["url"] == urls.EXT_US_CORE_RACE)
    assert race["extension"] == [{"url": "text", "valueString": "martian"}]  # text only, no invented code


def test_episodes_are_linked_adverse_events_and_read_back_in_order() -> None:
    case = load_case(EXAMPLE)
    bundle, report = map_case_to_bundle(case)
    assert report.ok, report.to_text()
    events = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AdverseEvent"]
    first, *episodes = events
    assert [e["identifier"]["value"] for e in events] == ["neutro", "neutro#2", "neutro#3"]
    for n, e in enumerate(episodes, start=2):
        link = next(x for x in e["extension"] if x["url"] == urls.EXT_AE_EPISODE)
        assert link["extension"] == [{"url": "number", "valuePositiveInt": n},
                                     {"url": "first", "valueReference": {"reference": f"AdverseEvent/{first['id']}"}}]
        assert e["event"] == first["event"] and "suspectEntity" not in e
    shuffled = copy.deepcopy(bundle)
    shuffled["entry"].reverse()  # a server returns resources in any order
    assert read_bundle(shuffled).case == case
    assert [(x.grade, x.grade_range) for x in case.adverse_events[0].episodes] == [(None, "I-II"), (4, None)]
    assert _worst_grade(case.adverse_events[0]) == 4  # analytics: the highest episode grade


def test_an_episode_without_its_first_is_reported_and_dropped() -> None:
    bundle, _ = map_case_to_bundle(load_case(EXAMPLE))
    first_id = next(e["resource"]["id"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] == "AdverseEvent"
                    and e["resource"]["identifier"]["value"] == "neutro")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") != first_id]
    result = read_bundle(bundle)
    assert result.case.adverse_events == []
    assert sum("first episode is not in the data" in w for w in result.warnings) == 2
