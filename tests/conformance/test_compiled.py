"""The compiled profile checks (conformance/compiled.py) against the interpreter they stand in for.

A compiled check answers "would the interpreter report anything here?" and the interpreter runs
only when the answer is yes. So both directions matter: accepted must mean "no issue at all"
(else issues would be lost) and rejected must mean "some issue" (else the compiler diverged from
the interpreter somewhere, even if harmlessly). Compared resource by resource, and the Bundle's
own elements, on every corpus case, golden bundle, example case file and the registry example;
then the issues of the product path (fhir_onco.validation.validate_bundle) issue by issue.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import fhir_onco.validation as validation
from fhir_onco.pipeline import map_file
from fhir_onco.tabular import map_tables
from fhir_onco.validation.conformance import ConformanceValidator
from fhir_onco.validation.conformance.model import CORE
from fhir_onco.validation.conformance.validator import _Ctx, profiles_dir

from .corpus import SD, all_cases, valid_bundle

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "examples" / "golden").glob("*.json"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "examples" / "cohorts").glob("*.yaml"))


def _bundles() -> list[dict[str, Any]]:
    out = [valid_bundle()] + [json.loads(p.read_text("utf-8")) for p in GOLDEN]
    for case in all_cases():
        b = valid_bundle()
        case.mutate(b)
        out.append(b)
    for path in EXAMPLES:
        result = map_file(path, validate=False)
        if result.bundle is not None:
            out.append(result.bundle)
    for result in map_tables(ROOT / "examples" / "registry", validate=False):
        if result.bundle is not None:
            out.append(result.bundle)
    return out


@pytest.fixture(scope="module")
def engines() -> tuple[ConformanceValidator, ConformanceValidator]:
    base = profiles_dir()
    compiled = ConformanceValidator.from_dirs(base / "core", base / "package")
    interpreted = ConformanceValidator.from_dirs(base / "core", base / "package", compiled=False)
    assert compiled._compiler is not None and interpreted._compiler is None
    return compiled, interpreted


@pytest.fixture(scope="module")
def bundles() -> list[dict[str, Any]]:
    out = _bundles()
    assert len(out) > 250
    return out


def _variants(res: dict[str, Any]) -> list[dict[str, Any]]:
    """res broken one element at a time, at the top and one level down: removed, an array item
    repeated, a single value wrapped in an array, a string emptied or made a number."""
    out: list[dict[str, Any]] = []

    def edits(obj: dict[str, Any], key: str) -> list[Any]:
        v = obj[key]
        got: list[Any] = [None]  # None: delete
        if isinstance(v, list) and v:
            got.append([*v, copy.deepcopy(v[0])])
        elif not isinstance(v, list):
            got.append([v])
        if isinstance(v, str):
            got += ["", 7]
        return got

    out.append({**copy.deepcopy(res), "bogus": 1})
    for key in res:
        if key == "resourceType":
            continue
        if isinstance(res[key], dict):
            out.append({**copy.deepcopy(res), key: {**res[key], "bogus": 1}})
        for new in edits(res, key):
            r = copy.deepcopy(res)
            if new is None:
                del r[key]
            else:
                r[key] = new
            out.append(r)
        inner = res[key][0] if isinstance(res[key], list) and res[key] else res[key]
        if isinstance(inner, dict):
            for sub in inner:
                for new in edits(inner, sub):
                    r = copy.deepcopy(res)
                    target = r[key][0] if isinstance(r[key], list) else r[key]
                    if new is None:
                        del target[sub]
                    else:
                        target[sub] = new
                    out.append(r)
    return out


def _targets(v: ConformanceValidator, res: dict[str, Any]) -> list[str]:
    meta = res.get("meta")
    listed = meta.get("profile") if isinstance(meta, dict) else None
    declared = [p for p in listed if isinstance(p, str) and v.defs.get(p) is not None] \
        if isinstance(listed, list) else []
    return declared or [CORE + res["resourceType"]]


def test_accepted_exactly_when_the_interpreter_finds_no_issue(
        engines: tuple[ConformanceValidator, ConformanceValidator], bundles: list[dict[str, Any]]) -> None:
    compiled, interpreted = engines
    compiler = compiled._compiler
    assert compiler is not None
    accepted = rejected = 0
    for bundle in bundles + bundles:  # the second round on warm accepted-value sets
        idx = compiled.bundle_index(bundle)
        for shell in (True, False):  # the Bundle's own elements, and the whole bundle
            for url in _targets(compiled, bundle):
                sd = compiled.defs.get(url)
                assert sd is not None and sd.root is not None
                ctx = _Ctx([], url, bundle, bundle, idx, 0, shell=shell)
                ok = compiler.accepts(bundle, sd.root, url, ctx)
                issues = (interpreted.validate_bundle_shell(bundle, profile=url) if shell else
                          interpreted.validate_resource(bundle, url, bundle=bundle))
                assert ok == (not issues), (url, shell, [str(i) for i in issues][:3])
        for i, entry in enumerate(bundle.get("entry", []) or []):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(res, dict) or compiled.defs.base(str(res.get("resourceType"))) is None:
                continue
            for url in _targets(compiled, res):
                sd = compiled.defs.get(url)
                if sd is None or sd.root is None or sd.type != res["resourceType"]:
                    continue
                ctx = _Ctx([], url, res, res, idx, 0)
                ok = compiler.accepts(res, sd.root, url, ctx)
                issues = interpreted.validate_resource(res, url, bundle=bundle)
                assert ok == (not issues), (i, url, [str(x) for x in issues][:3])
                accepted += ok
                rejected += not ok
    assert accepted > 1000 and rejected > 100, (accepted, rejected)


def test_accepted_exactly_when_the_interpreter_finds_no_issue_on_broken_resources(
        engines: tuple[ConformanceValidator, ConformanceValidator]) -> None:
    """Every resource of the valid bundle, broken one element at a time (see _variants)."""
    compiled, interpreted = engines
    compiler = compiled._compiler
    assert compiler is not None
    bundle = valid_bundle()
    idx = compiled.bundle_index(bundle)
    seen_rules: set[str] = set()
    resources = [e["resource"] for e in bundle["entry"]]
    # a metastasis: Condition.bodySite is our only top-level array with a maximum (1)
    secondary = next(r for r in resources if r["meta"]["profile"][0].endswith("onco-secondary-cancer-condition"))
    metastasis = {**copy.deepcopy(secondary), "meta": {"profile": [SD + "onco-metastasis"]},
                  "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "14016003"}]}]}
    for original in [*resources, metastasis]:
        for res in [*_variants(original), original]:
            for url in _targets(compiled, res):
                sd = compiled.defs.get(url)
                assert sd is not None and sd.root is not None
                ok = compiler.accepts(res, sd.root, url, _Ctx([], url, res, res, idx, 0))
                issues = interpreted.validate_resource(res, url, bundle=bundle)
                assert ok == (not issues), (url, [str(x) for x in issues][:3])
                seen_rules.update(i.rule for i in issues)
                seen_rules.update("max" for i in issues if "allows at most" in i.message)
    # the variants reach the checks the compiler re-implements
    for rule in ("cardinality", "structure.array", "invariant:con-3", "structure.empty", "structure.type",
                 "structure.unknown-element", "binding.required"):
        assert rule in seen_rules, (rule, sorted(seen_rules))
    assert "max" in seen_rules


def _product_issues(engine: ConformanceValidator, bundle: dict[str, Any]) -> list[tuple[Any, ...]]:
    saved = validation._ENGINE
    validation._ENGINE = engine
    try:
        report = validation.validate_bundle(copy.deepcopy(bundle), "b.json")
    finally:
        validation._ENGINE = saved
    return [(i.severity, i.location, i.message, i.rule, i.profile, i.element) for i in report]


def test_product_path_gives_the_same_issues(
        engines: tuple[ConformanceValidator, ConformanceValidator], bundles: list[dict[str, Any]]) -> None:
    compiled, interpreted = engines
    for bundle in bundles:
        assert _product_issues(compiled, bundle) == _product_issues(interpreted, bundle)
