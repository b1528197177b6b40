"""The invalid-instance corpus: each case breaks the valid bundle in exactly one known way.

A case is (name, mutate(bundle) -> None, expected rule, expected location). Locations are those of
``ConformanceValidator.validate_bundle`` (``Bundle.entry[i].resource...``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
SD = "https://fhir-onco.org/fhir/StructureDefinition/"
Json = dict[str, Any]


def valid_bundle() -> Json:
    return json.loads((DATA / "valid-bundle.json").read_text("utf-8"))


@dataclass(frozen=True)
class Case:
    name: str
    mutate: Callable[[Json], None]
    rule: str
    location: str


def _index(bundle: Json) -> dict[str, int]:
    """profile id -> index of its first entry."""
    out: dict[str, int] = {}
    for i, e in enumerate(bundle["entry"]):
        pid = e["resource"]["meta"]["profile"][0].rsplit("/", 1)[1]
        out.setdefault(pid, i)
    return out


_BASE = valid_bundle()
IDX = _index(_BASE)
PROFILES = sorted(IDX)


def _res(b: Json, pid: str) -> Json:
    return b["entry"][IDX[pid]]["resource"]


def _loc(pid: str, tail: str = "") -> str:
    return f"Bundle.entry[{IDX[pid]}].resource{tail}"


def _first_ref(pid: str, rtype: str) -> str:
    for e in _BASE["entry"]:
        r = e["resource"]
        if r["resourceType"] == rtype and pid != r["meta"]["profile"][0].rsplit("/", 1)[1]:
            return f"{rtype}/{r['id']}"
    raise LookupError(rtype)


def _set(pid: str, key: str, value: Any) -> Callable[[Json], None]:
    def m(b: Json) -> None:
        _res(b, pid)[key] = value

    return m


def _drop(pid: str, key: str) -> Callable[[Json], None]:
    def m(b: Json) -> None:
        del _res(b, pid)[key]

    return m


def _add_ext(pid: str, ext: Json) -> Callable[[Json], None]:
    def m(b: Json) -> None:
        _res(b, pid).setdefault("extension", []).append(ext)

    return m


def _ext_loc(pid: str, tail: str) -> str:
    n = len(_BASE["entry"][IDX[pid]]["resource"].get("extension", []))
    return _loc(pid, f".extension[{n}]{tail}")


def _ext_pos(pid: str, tail: str) -> int:
    exts = _BASE["entry"][IDX[pid]]["resource"]["extension"]
    return next(i for i, e in enumerate(exts) if e["url"].endswith("/" + tail))


def _drop_ext(pid: str, url: str) -> Callable[[Json], None]:
    def m(b: Json) -> None:
        r = _res(b, pid)
        r["extension"] = [e for e in r["extension"] if e["url"] != url]
        if not r["extension"]:
            del r["extension"]

    return m


def generic_cases() -> list[Case]:
    """Rule kinds every profile must enforce, one case per profile and rule."""
    cases: list[Case] = []
    for pid in PROFILES:
        rt = _BASE["entry"][IDX[pid]]["resource"]["resourceType"]
        cases += [
            Case(f"{pid}/unknown-element", _set(pid, "foo", 1), "structure.unknown-element",
                 _loc(pid, ".foo")),
            Case(f"{pid}/id-not-string", _set(pid, "id", 123), "structure.type", _loc(pid, ".id")),
            Case(f"{pid}/empty-code", _set(pid, "language", ""), "structure.empty",
                 _loc(pid, ".language")),
            Case(f"{pid}/array-for-single", _set(pid, "language", ["en"]), "structure.array",
                 _loc(pid, ".language")),
            Case(f"{pid}/instant-without-tz",
                 lambda b, pid=pid: _res(b, pid)["meta"].update(lastUpdated="2024-01-01T10:00:00"),
                 "structure.type", _loc(pid, ".meta.lastUpdated")),
            Case(f"{pid}/unknown-own-extension",
                 _add_ext(pid, {"url": SD + "no-such-extension", "valueString": "x"}),
                 "extension", _ext_loc(pid, ".url")),
            Case(f"{pid}/extension-wrong-value-type",
                 _add_ext(pid, {"url": SD + "case-item-position", "valueString": "1"}),
                 "choice-type", _ext_loc(pid, ".valueString")),
            Case(f"{pid}/extension-value-and-children",
                 _add_ext(pid, {"url": SD + "case-item-position", "valuePositiveInt": 1,
                                "extension": [{"url": "x", "valueString": "y"}]}),
                 "invariant:ext-1", _ext_loc(pid, "")),
            Case(f"{pid}/empty-object", _set(pid, "text", {}), "structure.empty",
                 _loc(pid, ".text")),
        ]
        if rt != "Bundle":
            cases.append(Case(f"{pid}/wrong-resource-type", _set(pid, "resourceType", "Basic2"),
                              "resourceType", _loc(pid)))
        if rt == "Patient":
            cases.append(Case(f"{pid}/gender-binding", _set(pid, "gender", "M"),
                              "binding.required", _loc(pid, ".gender")))
            cases.append(Case(f"{pid}/gender-missing", _drop(pid, "gender"), "cardinality",
                              _loc(pid, ".gender")))
        elif rt == "Condition":
            cases.append(Case(f"{pid}/clinical-status-binding", _set(pid, "clinicalStatus", {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "cured"}]}), "binding.required",
                _loc(pid, ".clinicalStatus")))
        elif rt != "Bundle" and rt != "CarePlan":
            status = "finalised"
            cases.append(Case(f"{pid}/status-binding", _set(pid, "status", status)
                              if rt != "AdverseEvent" else _set(pid, "actuality", "maybe"),
                              "binding.required",
                              _loc(pid, ".status" if rt != "AdverseEvent" else ".actuality")))
        if "subject" in _BASE["entry"][IDX[pid]]["resource"] and rt != "Bundle":
            cases.append(Case(f"{pid}/subject-unresolved",
                              _set(pid, "subject", {"reference": "Patient/not-in-bundle"}),
                              "bundle.reference-unresolved", _loc(pid, ".subject.reference")))
            cases.append(Case(f"{pid}/subject-wrong-target",
                              _set(pid, "subject", {"reference": _first_ref(pid, "Condition")}),
                              "reference-target", _loc(pid, ".subject.reference")))
    return cases


def _mut(fn: Callable[[Json], None]) -> Callable[[Json], None]:
    return fn


def _ma_drop_reason(b: Json) -> None:
    r = _res(b, "onco-medication-administration")
    r.pop("reasonReference", None)
    r.pop("reasonCode", None)


def _ae_grade(code: str, system: str) -> Callable[[Json], None]:
    def m(b: Json) -> None:
        r = _res(b, "onco-adverse-event")
        for e in r["extension"]:
            if e["url"].endswith("/ctcae-grade"):
                e["valueCodeableConcept"] = {"coding": [{"system": system, "code": code}]}

    return m


def _ae_grade0_serious(b: Json) -> None:
    _ae_grade("0", "http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system")(b)
    _res(b, "onco-adverse-event")["seriousness"] = {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
        "code": "Serious"}]}


def _mrd_value(v: Any) -> Callable[[Json], None]:
    def m(b: Json) -> None:
        r = _res(b, "onco-mrd")
        r.pop("valueCodeableConcept", None)
        r["valueQuantity"] = {"value": v, "unit": "%", "system": "http://unitsofmeasure.org",
                              "code": "%"}

    return m


def _regimen_period(b: Json) -> None:
    _res(b, "onco-regimen")["period"] = {"start": "2020-02-01", "end": "2020-01-01"}


def _hsct_ext(url_tail: str, value: Json) -> Callable[[Json], None]:
    def m(b: Json) -> None:
        r = _res(b, "onco-hsct")
        r["extension"] = [e for e in r["extension"] if not e["url"].endswith("/" + url_tail)]
        r["extension"].append({"url": SD + url_tail, **value})

    return m


def _bundle_dup_fullurl(b: Json) -> None:
    b["entry"][2]["fullUrl"] = b["entry"][1]["fullUrl"]


def _bundle_no_request(b: Json) -> None:
    del b["entry"][3]["request"]


def _bundle_put_mismatch(b: Json) -> None:
    b["entry"][4]["request"]["url"] = "Observation/some-other-id"


def _bundle_two_patients(b: Json) -> None:
    import copy

    e = copy.deepcopy(b["entry"][0])
    e["resource"]["id"] = "second-patient"
    e["fullUrl"] = "urn:uuid:11111111-1111-4111-8111-111111111111"
    e["request"]["url"] = "Patient/second-patient"
    b["entry"].append(e)


def _own_code(b: Json) -> None:
    r = _res(b, "onco-primary-cancer-condition")
    r["code"]["coding"][0]["code"] = "no-such-condition"


def _datetime_bad(b: Json) -> None:
    _res(b, "onco-primary-cancer-condition")["onsetDateTime"] = "2017-13"


def _decimal_string(b: Json) -> None:
    _mrd_value("0.06")(b)


def specific_cases() -> list[Case]:
    ma, ae, mrd = "onco-medication-administration", "onco-adverse-event", "onco-mrd"
    bundle_loc = "Bundle"
    return [
        Case("ma/medication-reference-not-allowed",
             lambda b: _res(b, ma).update(medicationReference={"reference": "Medication/x"}),
             "choice-type", _loc(ma, ".medicationReference")),
        Case("ma/regimen-extension-required", _drop_ext(ma, SD + "regimen"), "extension",
             _loc(ma, ".extension")),
        Case("ma/reason-invariant", _ma_drop_reason, "invariant:onco-mad-reason", _loc(ma)),
        Case("ma/dose-system-fixed",
             lambda b: _res(b, ma)["dosage"]["dose"].update(system="http://example.org/units"),
             "pattern", _loc(ma, ".dosage.dose.system")),
        Case("ma/mad-1", lambda b: _res(b, ma)["dosage"].pop("dose"), "invariant:mad-1",
             _loc(ma, ".dosage")),
        Case("ma/regimen-ref-to-condition",
             lambda b: next(e for e in _res(b, ma)["extension"] if e["url"] == SD + "regimen")
             .update(valueReference={"reference": _first_ref(ma, "Condition")}),
             "reference-target", _loc(ma, ".extension[0].valueReference.reference")),
        Case("ae/grade-zero-invariant", _ae_grade0_serious, "invariant:onco-ae-grade-zero",
             _loc(ae)),
        Case("ae/grade-binding", _ae_grade("7", "http://hl7.org/fhir/us/ctcae/CodeSystem/"
                                                "ctcae-grade-code-system"),
             "binding.required", _loc(ae, f".extension[{_ext_pos(ae, 'ctcae-grade')}]"
                                          ".valueCodeableConcept")),
        Case("ae/severity-max-0", lambda b: _res(b, ae).update(severity={"text": "severe"}),
             "cardinality", _loc(ae, ".severity")),
        Case("ae/actuality-fixed", lambda b: _res(b, ae).update(actuality="potential"),
             "pattern", _loc(ae, ".actuality")),
        Case("ae/event-text-required", lambda b: _res(b, ae)["event"].pop("text"),
             "cardinality", _loc(ae, ".event.text")),
        Case("mrd/range-invariant", _mrd_value(150), "invariant:onco-mrd-range", _loc(mrd)),
        Case("mrd/decimal-as-string", _decimal_string, "structure.type",
             _loc(mrd, ".valueQuantity.value")),
        Case("mrd/code-pattern",
             lambda b: _res(b, mrd).update(code={"coding": [{"system": "http://loinc.org",
                                                            "code": "1234-5"}]}),
             "pattern", _loc(mrd, ".code")),
        Case("mrd/unit-fixed", lambda b: (_mrd_value(1)(b), _res(b, mrd)["valueQuantity"]
                                          .update(code="mg")),
             "pattern", _loc(mrd, ".valueQuantity.code")),
        Case("regimen/per-1", _regimen_period, "invariant:per-1", _loc("onco-regimen", ".period")),
        Case("regimen/title-required", _drop("onco-regimen", "title"), "cardinality",
             _loc("onco-regimen", ".title")),
        Case("regimen/intent-binding", _set("onco-regimen", "intent", "instance-order"),
             "binding.required", _loc("onco-regimen", ".intent")),
        Case("hsct/graft-source-binding",
             _hsct_ext("graft-source", {"valueCodeableConcept": {"coding": [{
                 "system": "https://fhir-onco.org/fhir/CodeSystem/hsct", "code": "donor-autologous"}]}}),
             "binding.required", ""),
        Case("hsct/donor-sub-extension-type",
             _hsct_ext("hsct-donor", {"extension": [{"url": "match", "valueString": "haplo"}]}),
             "choice-type", ""),
        Case("hsct/performed-required", lambda b: [_res(b, "onco-hsct").pop(k, None) for k in (
            "performedDateTime", "_performedDateTime")], "cardinality",
             _loc("onco-hsct", ".performed")),
        Case("radiotherapy/total-dose-required",
             _drop_ext("onco-radiotherapy", SD + "radiotherapy-total-dose"), "extension",
             _loc("onco-radiotherapy", ".extension")),
        Case("engraftment/partof-required", _drop("onco-engraftment", "partOf"), "cardinality",
             _loc("onco-engraftment", ".partOf")),
        Case("chimerism/code-pattern",
             _set("onco-chimerism", "code", {"text": "chimerism"}), "pattern",
             _loc("onco-chimerism", ".code")),
        Case("disease-status/code-binding",
             _set("onco-disease-status", "code", {"coding": [{"system": "http://loinc.org",
                                                              "code": "21908-9"}]}),
             "binding.required", _loc("onco-disease-status", ".code")),
        Case("disease-status/value-required", _drop("onco-disease-status",
                                                    "valueCodeableConcept"),
             "cardinality", _loc("onco-disease-status", ".value")),
        Case("stage/value-type", lambda b: (_res(b, "onco-stage-group").pop(
            "valueCodeableConcept"), _res(b, "onco-stage-group").update(valueString="ISS II")),
             "choice-type", _loc("onco-stage-group", ".valueString")),
        Case("stage/code-binding", _set("onco-stage-group", "code", {"text": "stage"}),
             "binding.required", _loc("onco-stage-group", ".code")),
        Case("cause-of-death/code-pattern",
             _set("onco-cause-of-death", "code", {"coding": [{"system": "http://loinc.org",
                                                              "code": "69409-1"}]}),
             "pattern", _loc("onco-cause-of-death", ".code")),
        Case("primary/unknown-own-code", _own_code, "terminology.unknown-code",
             _loc("onco-primary-cancer-condition", ".code.coding[0].code")),
        Case("primary/bad-partial-date", _datetime_bad, "structure.type",
             _loc("onco-primary-cancer-condition", ".onsetDateTime")),
        Case("primary/con-4", lambda b: _res(b, "onco-primary-cancer-condition").update(
            abatementDateTime="2020-01-01", clinicalStatus={"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]}), "invariant:con-4", _loc("onco-primary-cancer-condition")),
        Case("secondary/related-wrong-type",
             lambda b: _res(b, "onco-secondary-cancer-condition")["extension"][0].update(
                 valueReference={"reference": _first_ref("x", "Patient")}),
             "reference-target",
             _loc("onco-secondary-cancer-condition", ".extension[0].valueReference.reference")),
        Case("patient/identifier-required", _drop("onco-patient", "identifier"), "cardinality",
             _loc("onco-patient", ".identifier")),
        Case("patient/birthdate-calendar", _set("onco-patient", "birthDate", "2011-02-29"),
             "structure.type", _loc("onco-patient", ".birthDate")),
        Case("bundle/duplicate-fullurl", _bundle_dup_fullurl, "bundle.fullurl-unique",
             "Bundle.entry[2].fullUrl"),
        Case("bundle/request-missing", _bundle_no_request, "bundle.request",
             "Bundle.entry[3].request"),
        Case("bundle/put-url-mismatch", _bundle_put_mismatch, "bundle.request",
             "Bundle.entry[4].request.url"),
        Case("bundle/type-fixed", lambda b: b.update(type="batch"), "fixed", "Bundle.type"),
        Case("bundle/method-fixed", lambda b: b["entry"][1]["request"].update(method="POST"),
             "pattern", "Bundle.entry[1].request.method"),
        Case("bundle/one-patient", _bundle_two_patients, "invariant:onco-bundle-one-patient",
             bundle_loc),
        Case("bundle/entry-profiled", lambda b: b["entry"][1]["resource"].pop("meta"),
             "invariant:onco-bundle-profiled", bundle_loc),
        # core required bindings on the Bundle's own elements (issue 10)
        Case("bundle/type-bogus", lambda b: b.update(type="bogus"), "binding.required", "Bundle.type"),
        Case("bundle/method-yeet", lambda b: b["entry"][1]["request"].update(method="YEET"),
             "binding.required", "Bundle.entry[1].request.method"),
        # UCUM syntax of every Quantity code (issue 10)
        Case("ma/dose-ucum-banana", lambda b: _res(b, ma)["dosage"]["dose"].update(code="banana"),
             "ucum.syntax", _loc(ma, ".dosage.dose.code")),
        Case("mrd/ucum-syntax", _mrd_ucum_bad, "ucum.syntax", _loc(mrd, ".valueQuantity.code")),
        # our Observations carry a result: value[x] or dataAbsentReason (issue 10)
        Case("mrd/no-value-no-absent-reason", lambda b: _res(b, mrd).pop("valueQuantity"),
             "observation.value-or-absent-reason", _loc(mrd)),
    ]


def _mrd_ucum_bad(b: Json) -> None:
    _mrd_value(1)(b)
    _res(b, "onco-mrd")["valueQuantity"]["code"] = "%%"


def all_cases() -> list[Case]:
    return generic_cases() + specific_cases()
