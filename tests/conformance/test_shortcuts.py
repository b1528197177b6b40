"""The speed-ups change no verdict and no byte: each is compared with the plain path it replaces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy.engine.nodes import ResourceNode

from fhir_onco.fhir.builders import dumps, dumps_line
from fhir_onco.validation.conformance import ConformanceValidator
from fhir_onco.validation.conformance import invariants as inv
from fhir_onco.validation.conformance.validator import profiles_dir

from .corpus import all_cases, valid_bundle

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "examples" / "golden").glob("*.json"))


def _issues(v: ConformanceValidator, bundle: Any) -> list[tuple[Any, ...]]:
    return [(i.severity, i.location, i.message, i.rule, i.profile, i.element)
            for i in v.validate_bundle(bundle)]


def test_shortcuts_give_the_same_issues_as_plain_validation() -> None:
    """Memo (warm across cases, as in a long run), compiled invariants and url lookup vs none."""
    base = profiles_dir()
    fast = ConformanceValidator.from_dirs(base / "core", base / "package")
    plain = ConformanceValidator.from_dirs(base / "core", base / "package", shortcuts=False)
    bundles = [valid_bundle()] + [json.loads(p.read_text("utf-8")) for p in GOLDEN]
    for case in all_cases():
        b = valid_bundle()
        case.mutate(b)
        bundles.append(b)
    compared = 0
    for bundle in bundles + bundles:  # the second round runs entirely on a warm memo
        assert _issues(fast, bundle) == _issues(plain, bundle)
        compared += 1
    assert compared > 200
    assert fast._memo, "the memo was used"


FLOATS = [0.0, -0.0, 1e-5, 1.5e-7, 0.0001, 0.1, 2.5, 1e16, 1.5e300, 123456789.123, -3.75e-12]
VALUES: list[Any] = [
    {"a": f} for f in FLOATS
] + [
    {"big": 10**20}, {"s": "ж\u2028\x7f\"\\ 5e12 0.00001"}, {"u": "urn:uuid:5e8a-1e5"}, {"e": [], "o": {}},
    {"n": [1, 2.0, True, None, "x"]}, [{"deep": [[{}]]}],
]


@pytest.mark.parametrize("value", VALUES + [json.loads(p.read_text("utf-8")) for p in GOLDEN[:3]])
def test_dumps_is_byte_identical_to_the_stdlib(value: Any) -> None:
    assert dumps(value) == json.dumps(value, ensure_ascii=False, indent=2) + "\n"
    compact = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert dumps(value, pretty=False) == compact
    assert dumps_line(value) == (compact + "\n").encode("utf-8")


EXPRESSIONS = [
    ("reasonCode.exists() or reasonReference.exists()", "MedicationAdministration"),
    ("effective.exists() and status.empty()", "Observation"),
    ("extension('https://x.org/a').exists() or extension('https://x.org/b').exists()", "AdverseEvent"),
    ("extension('https://x.org/a').empty()", "AdverseEvent"),
]
OBJECTS: list[dict[str, Any]] = [
    {}, {"reasonCode": [{"text": "x"}]}, {"reasonReference": [{"reference": "Condition/1"}]},
    {"effectiveDateTime": "2020"}, {"effectivePeriod": {"start": "2020"}, "status": "final"},
    {"status": "final"}, {"extension": [{"url": "https://x.org/b", "valueString": "v"}]},
    {"extension": [{"url": "https://x.org/c", "valueString": "v"}]},
]


@pytest.mark.parametrize("expression,base", EXPRESSIONS)
def test_compiled_existence_invariants_agree_with_fhirpathpy(expression: str, base: str) -> None:
    fn = inv.simple_for(expression, base)
    assert fn is not None
    ref = inv.compiled(expression)
    for obj in OBJECTS:
        node = ResourceNode.create_node(obj, base)
        want = ref.fn(node, {})
        got = fn(obj)
        assert got is not None and [got] == want, (expression, obj, got, want)


def test_compiler_declines_what_it_cannot_do_exactly() -> None:
    assert inv.simple_for("a.b.exists()", "X") is None
    assert inv.simple_for("a.exists() or b.exists() and c.exists()", "X") is None
    assert inv.simple_for("value.exists()", "Observation") is None
    # a primitive present only through its extension object: fhirpathpy decides
    fn = inv.simple_for("status.exists()", "Observation")
    assert fn is not None and fn({"_status": {"extension": []}}) is None


def test_unit_table_codes_are_valid_ucum() -> None:
    """The UCUM check accepts our unit table's codes without building the parser: prove each."""
    from fhir_onco.validation.conformance import ucum

    codes = ucum._known_codes()
    assert len(codes) > 10
    assert {code: ucum._parse(code) for code in codes} == dict.fromkeys(codes)
    for bad in ("banana", "mg//kg", "mg/", "kg m", ""):
        assert ucum.check(bad) is not None, bad


@pytest.mark.parametrize("expression", sorted(inv.OWN_CHECKS))
def test_own_bundle_invariants_agree_with_fhirpathpy(expression: str) -> None:
    fn = inv.simple_for(expression, "Bundle")
    assert fn is not None
    ref = inv.compiled(expression)
    patient = {"resourceType": "Patient", "meta": {"profile": ["x"]}}
    bare = {"resourceType": "Condition"}
    bundles: list[dict[str, Any]] = [
        {"resourceType": "Bundle", "entry": entries} for entries in (
            [], [{"resource": patient}], [{"resource": patient}, {"resource": patient}],
            [{"resource": patient}, {"resource": bare}], [{"request": {"method": "DELETE"}}],
            [{"resource": patient}, {"resource": {**bare, "meta": {"profile": ["y"]}}}],
            [{"resource": {**bare, "meta": {"versionId": "1"}}}, {"resource": patient}],
        )
    ] + [{"resourceType": "Bundle"}]
    for bundle in bundles:
        got = fn(bundle)
        assert got is not None and [got] == ref.fn(bundle, {}), (expression, bundle)
    assert fn({"resourceType": "Bundle", "entry": "x"}) is None  # odd shapes: fhirpathpy decides


def test_dumps_on_many_floats() -> None:
    import random

    rng = random.Random(11)
    floats = [10.0 ** e for e in range(-30, 30)] + [rng.random() * 10 ** rng.randint(-12, 20) for _ in range(3000)]
    for v in floats:
        for value in ([v], {"a": v, "b": [-v, 1]}):
            assert dumps(value) == json.dumps(value, ensure_ascii=False, indent=2) + "\n"
            assert dumps(value, pretty=False) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_GRADE = "http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade"
_CTCAE = "http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system"
_NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"


def _grade(*codings: dict[str, Any], key: str = "valueCodeableConcept") -> dict[str, Any]:
    return {"url": _GRADE, key: {"coding": list(codings)}}


OWN_RESOURCE_OBJECTS: dict[str, list[dict[str, Any]]] = {
    "Observation": [
        {}, {"valueString": "x"}, {"valueQuantity": {}}, {"valueQuantity": {"unit": "%"}},
        *({"valueQuantity": {"value": v, "unit": "%"}} for v in (0, 0.0, 1e-7, 50, 99.99, 100, 100.0, 100.001,
                                                                  -0.001, -1, 101, 10**20)),
        {"valueQuantity": {"value": 5}, "valueString": "x"},
        {"valueCodeableConcept": {"text": "positive"}, "component": [{"valueQuantity": {"value": 500}}]},
    ],
    "AdverseEvent": [
        {}, {"extension": []}, {"seriousness": {"text": "s"}},
        {"extension": [{"url": "https://x.org/other", "valueString": "0"}], "suspectEntity": [{"instance": {}}]},
        *({"extension": [_grade(c)], **rest} for c in (
            {"system": _CTCAE, "code": "0"}, {"system": _NCIT, "code": "C75533"}, {"system": _CTCAE, "code": "1"},
            {"system": _NCIT, "code": "0"}, {"code": "0"}, {"system": _CTCAE})
          for rest in ({}, {"seriousness": {"text": "s"}}, {"suspectEntity": [{"instance": {"reference": "x"}}]},
                       {"seriousness": {"text": "s"}, "suspectEntity": [{"instance": {"reference": "x"}}]})),
        {"extension": [_grade({"system": _CTCAE, "code": "2"}, {"system": _NCIT, "code": "C75533"})],
         "seriousness": {"text": "s"}},
        {"extension": [{"url": "https://x.org/other", "valueString": "0"},
                       _grade({"system": _CTCAE, "code": "0"})], "suspectEntity": [{"instance": {}}]},
        {"extension": [_grade(), {"url": _GRADE, "extension": [{"url": "x", "valueString": "y"}]}],
         "seriousness": {"text": "s"}},
    ],
}


@pytest.mark.parametrize("key", sorted(inv.OWN_RESOURCE_CHECKS))
def test_own_resource_invariants_agree_with_fhirpathpy(key: tuple[str, str]) -> None:
    expression, base = key
    fn = inv.simple_for(expression, base)
    assert fn is not None
    ref = inv.compiled(expression)
    objects = OWN_RESOURCE_OBJECTS[base]
    for obj in objects:
        got = fn(obj)
        want = ref.fn(ResourceNode.create_node({"resourceType": base, **obj}, base), {})
        assert got is not None and [got] == want, (expression, obj, got, want)
    assert {fn(o) for o in objects} == {True, False}  # both verdicts exercised
    # what it is unsure of goes to fhirpathpy
    odd = ({"valueQuantity": {"value": "5"}}, {"valueQuantity": [{"value": 5}]}, {"_valueQuantity": {}}) \
        if base == "Observation" else (
        {"extension": [_grade({"system": _CTCAE, "code": "0"}, key="valueCoding")]},
        {"extension": "x"}, {"extension": [{"url": 5}]},
        {"extension": [_grade({"system": _CTCAE, "code": "0"})], "seriousness": {}})
    for obj in odd:
        assert fn(obj) is None, obj
