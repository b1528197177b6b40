"""Slicing and pattern semantics of the conformance engine, on a small test-only profile.

The profile is derived in code from the R4 core Observation snapshot (the way SUSHI writes a
snapshot: every slice carries a full copy of its element's subtree):

* ``category`` sliced by pattern on ``$this``, rules **closed**: ``lab`` 1..1, ``imaging`` 0..1;
* ``component`` sliced by value on ``code``, rules **open**: ``systolic`` 1..1 (value[x] only
  Quantity), ``diastolic`` 0..1;
* ``code`` has a patternCodeableConcept with two codings (LOINC and SNOMED).

None of our shipped profiles has a closed slicing or a pattern with two codings, so these rules
are only exercised here.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from fhir_onco.validation.conformance import ConformanceValidator
from fhir_onco.validation.conformance.validator import profiles_dir
from fhir_onco.validation.report import Issue, Severity

Json = dict[str, Any]
URL = "https://example.org/fhir/StructureDefinition/test-slicing-observation"
OC = "http://terminology.hl7.org/CodeSystem/observation-category"
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"


def _cc(system: str, code: str) -> Json:
    return {"coding": [{"system": system, "code": code}]}


def _slice(elements: list[Json], base_id: str, name: str, min_: int, max_: str,
           overrides: dict[str, Json]) -> None:
    """Insert slice ``base_id:name`` (a copy of the base element's subtree) after that subtree;
    ``overrides`` maps a path relative to the slice ("" = the slice itself) to keys to set."""
    sub = [e for e in elements if e["id"] == base_id or e["id"].startswith(base_id + ".")]
    last = max(i for i, e in enumerate(elements) if e in sub)
    # place after any slices already added for this element
    while last + 1 < len(elements) and elements[last + 1]["id"].startswith(base_id + ":"):
        last += 1
    copies: list[Json] = []
    for e in sub:
        c = copy.deepcopy(e)
        rel = e["id"][len(base_id):]
        c["id"] = f"{base_id}:{name}{rel}"
        if not rel:
            c.update(sliceName=name, min=min_, max=max_)
            c.pop("slicing", None)
        c.update(overrides.get(rel.lstrip("."), {}))
        copies.append(c)
    elements[last + 1:last + 1] = copies


def _element(elements: list[Json], eid: str) -> Json:
    return next(e for e in elements if e["id"] == eid)


def test_profile() -> Json:
    core = json.loads((profiles_dir() / "core" / "Observation.json").read_text("utf-8"))
    els: list[Json] = copy.deepcopy(core["snapshot"]["element"])
    cat = _element(els, "Observation.category")
    cat.update(min=1, slicing={"discriminator": [{"type": "pattern", "path": "$this"}], "rules": "closed",
                               "ordered": False})
    _slice(els, "Observation.category", "lab", 1, "1", {"": {"patternCodeableConcept": _cc(OC, "laboratory")}})
    _slice(els, "Observation.category", "imaging", 0, "1", {"": {"patternCodeableConcept": _cc(OC, "imaging")}})
    _element(els, "Observation.code")["patternCodeableConcept"] = {
        "coding": [{"system": LOINC, "code": "85354-9"}, {"system": SCT, "code": "75367002"}]}
    _element(els, "Observation.component")["slicing"] = {
        "discriminator": [{"type": "value", "path": "code"}], "rules": "open", "ordered": False}
    _slice(els, "Observation.component", "systolic", 1, "1", {
        "code": {"patternCodeableConcept": _cc(LOINC, "8480-6")},
        "value[x]": {"type": [{"code": "Quantity"}]},
    })
    _slice(els, "Observation.component", "diastolic", 0, "1", {
        "code": {"patternCodeableConcept": _cc(LOINC, "8462-4")},
    })
    return {
        "resourceType": "StructureDefinition", "id": "test-slicing-observation", "url": URL,
        "name": "TestSlicingObservation", "status": "draft", "fhirVersion": "4.0.1", "kind": "resource",
        "abstract": False, "type": "Observation", "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
        "snapshot": {"element": els},
    }


test_profile.__test__ = False  # type: ignore[attr-defined]  # a builder, not a test


@pytest.fixture(scope="module")
def v() -> ConformanceValidator:
    # a private validator (core definitions only + the test profile): the shared default one
    # must not learn test profiles
    val = ConformanceValidator.from_dirs(profiles_dir() / "core")
    val.add_definitions([test_profile()])
    return val


def valid() -> Json:
    return {
        "resourceType": "Observation", "id": "bp", "meta": {"profile": [URL]}, "status": "final",
        "category": [_cc(OC, "laboratory")],
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}, {"system": SCT, "code": "75367002"}],
                 "text": "blood pressure"},
        "component": [
            {"code": _cc(LOINC, "8480-6"), "valueQuantity": {"value": 120, "unit": "mmHg",
                                                              "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": _cc(LOINC, "8462-4"), "valueQuantity": {"value": 80, "unit": "mmHg",
                                                              "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
        ],
    }


def errors(v: ConformanceValidator, res: Json) -> list[Issue]:
    return [i for i in v.validate_resource(res) if i.severity in (Severity.ERROR, Severity.FATAL)]


def _text(issues: list[Issue]) -> str:
    return "\n".join(f"{i.rule} @ {i.location}: {i.message}" for i in issues) or "(no errors)"


def test_the_profile_is_the_one_applied(v: ConformanceValidator) -> None:
    assert [p.url for p in v.profiles()] == [URL]
    sd = v.defs.get(URL)
    assert sd is not None
    cat = sd.by_id["Observation.category"]
    assert cat.slicing is not None and cat.slicing.rules == "closed"
    assert [s.slice_name for s in cat.slices] == ["lab", "imaging"]
    comp = sd.by_id["Observation.component"]
    assert [s.slice_name for s in comp.slices] == ["systolic", "diastolic"]


def test_valid_instance_passes(v: ConformanceValidator) -> None:
    assert errors(v, valid()) == []


# ---------------------------------------------------------------- closed slicing


def test_closed_slicing_rejects_an_item_matching_no_slice(v: ConformanceValidator) -> None:
    res = valid()
    res["category"].append(_cc(OC, "survey"))
    errs = errors(v, res)
    hits = [i for i in errs if i.rule == "slicing.closed"]
    assert [i.location for i in hits] == ["Observation.category[1]"], _text(errs)
    assert hits[0].profile == URL
    assert hits[0].element == "Observation.category"


def test_closed_slicing_accepts_items_that_match_a_slice(v: ConformanceValidator) -> None:
    res = valid()
    res["category"].append(_cc(OC, "imaging"))
    # pattern semantics: an extra coding and a text do not stop the item matching its slice
    res["category"][0]["coding"].append({"system": "http://example.org/local", "code": "lab"})
    res["category"][0]["text"] = "Laboratory"
    assert errors(v, res) == []


def test_closed_slicing_checks_the_discriminator_value_not_just_the_system(v: ConformanceValidator) -> None:
    res = valid()
    res["category"] = [_cc(OC, "laboratory"), {"coding": [{"system": OC}], "text": "no code"}]
    errs = errors(v, res)
    assert any(i.rule == "slicing.closed" and i.location == "Observation.category[1]" for i in errs), _text(errs)


# ---------------------------------------------------------------- required slices and slice max


def test_required_slice_missing_among_other_items(v: ConformanceValidator) -> None:
    res = valid()
    res["category"] = [_cc(OC, "imaging")]  # matches the optional slice, the required one is gone
    errs = errors(v, res)
    hits = [i for i in errs if i.rule == "slicing" and i.location == "Observation.category"]
    assert len(hits) == 1 and "'lab'" in hits[0].message and "min 1" in hits[0].message, _text(errs)
    assert hits[0].element == "Observation.category:lab"
    assert not any(i.rule == "slicing.closed" for i in errs)


def test_required_slice_missing_with_open_slicing(v: ConformanceValidator) -> None:
    res = valid()
    del res["component"][0]  # only diastolic left
    errs = errors(v, res)
    hits = [i for i in errs if i.rule == "slicing" and i.location == "Observation.component"]
    assert len(hits) == 1 and "'systolic'" in hits[0].message, _text(errs)
    assert hits[0].element == "Observation.component:systolic"


def test_required_slice_missing_when_the_element_is_absent(v: ConformanceValidator) -> None:
    res = valid()
    del res["component"]  # component itself is 0..*; only the slice makes it required
    errs = errors(v, res)
    assert [i.location for i in errs if i.rule == "slicing"] == ["Observation.component"], _text(errs)
    assert "'systolic'" in errs[0].message


def test_slice_max_is_enforced(v: ConformanceValidator) -> None:
    res = valid()
    res["component"].append(copy.deepcopy(res["component"][0]))
    errs = errors(v, res)
    hits = [i for i in errs if i.rule == "slicing" and i.location == "Observation.component"]
    assert len(hits) == 1 and "at most 1, found 2" in hits[0].message, _text(errs)


def test_matched_item_is_validated_against_its_slice(v: ConformanceValidator) -> None:
    res = valid()
    sys_ = res["component"][0]
    del sys_["valueQuantity"]
    sys_["valueString"] = "120/80"  # the systolic slice allows only Quantity; base allows string
    errs = errors(v, res)
    assert [(i.rule, i.location) for i in errs] == [("choice-type", "Observation.component[0].valueString")], \
        _text(errs)
    # the same value on a diastolic component (no type restriction) is fine
    res = valid()
    dia = res["component"][1]
    del dia["valueQuantity"]
    dia["valueString"] = "80"
    assert errors(v, res) == []


# ---------------------------------------------------------------- open slicing


def test_open_slicing_accepts_extra_items(v: ConformanceValidator) -> None:
    res = valid()
    res["component"].insert(0, {"code": _cc(LOINC, "8867-4"), "valueQuantity": {
        "value": 70, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}})
    res["component"].append({"code": {"text": "cuff size"}, "valueString": "adult"})
    assert errors(v, res) == []


def test_open_slicing_still_validates_extra_items_against_the_base(v: ConformanceValidator) -> None:
    res = valid()
    res["component"].append({"code": _cc(LOINC, "8867-4"), "foo": 1})
    errs = errors(v, res)
    assert [(i.rule, i.location) for i in errs] == [("structure.unknown-element", "Observation.component[2].foo")], \
        _text(errs)


# ---------------------------------------------------------------- pattern arrays, any order


def test_pattern_codings_in_the_other_order_pass(v: ConformanceValidator) -> None:
    res = valid()
    res["code"]["coding"].reverse()
    assert res["code"]["coding"][0]["system"] == SCT
    assert errors(v, res) == []


def test_pattern_codings_with_extra_codings_and_fields_pass(v: ConformanceValidator) -> None:
    res = valid()
    res["code"]["coding"] = [
        {"system": "http://example.org/local", "code": "BP"},
        {"system": SCT, "code": "75367002", "display": "Blood pressure"},
        {"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"},
    ]
    assert errors(v, res) == []


@pytest.mark.parametrize("keep", [LOINC, SCT])
def test_pattern_with_a_missing_coding_fails(v: ConformanceValidator, keep: str) -> None:
    res = valid()
    res["code"]["coding"] = [c for c in res["code"]["coding"] if c["system"] == keep]
    errs = errors(v, res)
    hits = [i for i in errs if i.rule == "pattern"]
    assert [i.location for i in hits] == ["Observation.code"], _text(errs)
    assert hits[0].element == "Observation.code"


def test_pattern_with_a_wrong_code_in_one_coding_fails(v: ConformanceValidator) -> None:
    res = valid()
    res["code"]["coding"] = [{"system": LOINC, "code": "85354-9"}, {"system": SCT, "code": "38341003"}]
    errs = errors(v, res)
    assert [i.location for i in errs if i.rule == "pattern"] == ["Observation.code"], _text(errs)
