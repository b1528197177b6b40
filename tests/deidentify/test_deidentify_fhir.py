"""De-identification of FHIR bundles: the examples still validate, pseudonyms and ids are keyed and
stable, dates move by one per-patient offset, and nothing identifying survives."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhir_onco.deidentify import (
    Deidentifier,
    DeidentifyError,
    Scanner,
    SourceSecrets,
    deidentify_bundle,
    deidentify_resource,
    load_policy,
)
from fhir_onco.deidentify.dates import FHIR_DATE
from fhir_onco.fhir import urls
from fhir_onco.validation import validate_bundle

GOLDEN = sorted((Path(__file__).resolve().parents[2] / "examples" / "golden").glob("*.json"))
KEY = b"a-test-key-of-32-bytes-0123456789"
OTHER_KEY = b"another-key-of-32-bytes-987654321"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]]


def _patient(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in _resources(bundle) if r["resourceType"] == "Patient")


def _day_dates(obj: Any, path: str = "") -> dict[str, str]:
    """Every day-precise date in a resource by element path (list positions included)."""
    found: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            found |= _day_dates(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found |= _day_dates(v, f"{path}[{i}]")
    elif isinstance(obj, str) and (m := FHIR_DATE.match(obj)) and m.group(3):
        found[path] = obj[:10]
    return found


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_deidentified_examples_validate_and_scan_clean(path: Path) -> None:
    original = _load(path)
    out = deidentify_bundle(original, key=KEY)
    report = validate_bundle(out, path.name)
    assert report.ok, report.to_text()
    secrets = SourceSecrets()
    for resource in _resources(original):
        secrets.add_resource(resource)
    scanner = Scanner(load_policy(None), secrets)
    leaks = [leak for r in _resources(out) for leak in scanner.scan_resource(r, path.name)]
    assert leaks == []
    # the scanner is not blind: the original itself is full of what it looks for
    assert any(scanner.scan_resource(r, path.name) for r in _resources(original))


def test_every_day_date_moves_by_one_offset_per_patient() -> None:
    original = _load(next(p for p in GOLDEN if p.stem == "seed000-b-all"))
    out = deidentify_bundle(original, key=KEY)
    offsets = set()
    compared = 0
    for before, after in zip(_resources(original), _resources(out), strict=True):
        old, new = _day_dates(before), _day_dates(after)
        assert old.keys() == new.keys()
        for element, value in old.items():
            if element.endswith("valueString"):
                continue
            offsets.add((date.fromisoformat(new[element]) - date.fromisoformat(value)).days)
            compared += 1
    assert compared > 50
    assert len(offsets) == 1
    (offset,) = offsets
    assert 1 <= abs(offset) <= 365


def test_partial_dates_keep_precision_and_written_dates_follow() -> None:
    original = _load(next(p for p in GOLDEN if p.stem == "seed000-b-all"))
    out = deidentify_bundle(original, key=KEY)
    written_before, written_after = [], []
    for before, after in zip(_resources(original), _resources(out), strict=True):
        for key in ("onsetDateTime", "effectiveDateTime"):
            if key in before:
                assert len(after[key]) == len(before[key])  # 2017-10 stays a month
        written_before += _source_dates(before)
        written_after += _source_dates(after)
    assert len(written_before) == len(written_after) > 10
    for (w0, _), (w1, d1) in zip(written_before, written_after, strict=True):
        if w0.upper().startswith(("D", "DAY")):
            assert w1 == w0  # D+21, day 8@blina1: offsets from other dates, kept as written
        else:
            assert w1 != w0
            day, month, year = w1.split(".")
            assert f"{year}-{month}-{day}" == d1  # the written date is the shifted date, same notation


def _source_dates(resource: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(resource, dict):
        for k, v in resource.items():
            if k.startswith("_") and isinstance(v, dict):
                for ext in v.get("extension", []):
                    if ext.get("url") == urls.EXT_SOURCE_DATE:
                        found.append((ext["valueString"], resource[k[1:]]))
            else:
                found += _source_dates(v)
    elif isinstance(resource, list):
        for v in resource:
            found += _source_dates(v)
    return found


def test_pseudonyms_and_ids_stable_with_a_key_different_with_another() -> None:
    original = _load(next(p for p in GOLDEN if p.stem == "seed004-cr-infections"))
    first = deidentify_bundle(copy.deepcopy(original), key=KEY)
    second = deidentify_bundle(copy.deepcopy(original), key=KEY)
    other = deidentify_bundle(copy.deepcopy(original), key=OTHER_KEY)
    assert json.dumps(first) == json.dumps(second)  # byte-identical on a second delivery
    pseudonym = _patient(first)["identifier"][0]["value"]
    assert pseudonym.startswith("P-") and pseudonym == first["id"]
    assert _patient(other)["identifier"][0]["value"] != pseudonym
    old_ids = {r["id"] for r in _resources(original)}
    ids, other_ids = {r["id"] for r in _resources(first)}, {r["id"] for r in _resources(other)}
    assert not ids & old_ids and not ids & other_ids and len(ids) == len(old_ids)
    dated = [i for i, r in enumerate(_resources(original)) if _day_dates(r)]
    assert [_day_dates(_resources(first)[i]) for i in dated] != [_day_dates(_resources(other)[i]) for i in dated]


def test_person_elements_free_text_and_identifiers() -> None:
    bundle = _load(next(p for p in GOLDEN if p.stem == "seed004-progression-death"))
    patient = _patient(bundle)
    patient["name"] = [{"family": "Ivanova", "given": ["Maria"]}]
    patient["telecom"] = [{"system": "phone", "value": "+7 916 123-45-67"}]
    patient["address"] = [{"line": ["ul. Lenina 1"], "city": "Kazan", "postalCode": "420000", "state": "Tatarstan",
                           "country": "RU"}]
    patient["contact"] = [{"name": {"family": "Ivanov"}}]
    patient["birthDate"] = "1957-03-14"
    patient["extension"] = [e for e in patient.get("extension", []) if e["url"] != urls.EXT_AGE_AT_EVENT]
    condition = next(r for r in _resources(bundle) if r["resourceType"] == "Condition")
    condition["note"] = [{"text": "seen by Dr Petrov, phone +7 495 000-00-00"}]
    condition["code"]["text"] = "myeloma (Maria's)"
    condition["subject"]["display"] = "Maria Ivanova"
    condition["text"] = {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Ivanova</div>"}
    condition["identifier"] = [{"system": "urn:hospital:mrn", "value": "MRN-0042"}]
    deid = Deidentifier(load_policy(None), KEY)
    out = deid.bundle(bundle, "case")
    assert out is not None
    new_patient = _patient(out)
    assert "name" not in new_patient and "telecom" not in new_patient and "contact" not in new_patient
    assert new_patient["address"] == [{"state": "Tatarstan", "country": "RU"}]
    assert len(new_patient["birthDate"]) == 4  # year only
    assert new_patient["identifier"] == [{"system": "https://fhir-onco.org/fhir/sid/pseudonym",
                                          "value": out["id"]}]
    new_condition = next(r for r in _resources(out) if r["resourceType"] == "Condition")
    assert "note" not in new_condition and "text" not in new_condition
    assert "text" not in new_condition["code"] and new_condition["code"]["coding"]
    assert "display" not in new_condition["subject"]
    assert new_condition["identifier"][0]["system"] == "urn:hospital:mrn"
    assert new_condition["identifier"][0]["value"] not in ("MRN-0042", "")
    assert "Ivanov" not in json.dumps(out, ensure_ascii=False) and "MRN-0042" not in json.dumps(out)
    counts = deid.report.counts
    assert counts["name removed"] == counts["telecom removed"] == counts["contact removed"] == 1
    assert counts["birth dates generalised"] == 1 and counts["narratives removed"] == 1


def test_known_terms_kept_unknown_text_dropped_allow_list_kept() -> None:
    bundle = _load(next(p for p in GOLDEN if p.stem == "seed000-b-all"))
    out = deidentify_bundle(bundle, key=KEY)
    texts = [r["code"].get("text") for r in _resources(out) if r["resourceType"] == "Condition"]
    assert texts == ["В-ОЛЛ"]  # a known term (conditions table) as the source wrote it
    titles = {r.get("title") for r in _resources(out) if r["resourceType"] == "CarePlan"}
    assert "FLAI" in titles  # CarePlan.title on the default allow-list
    strict = load_policy(None).model_copy(update={"free_text": load_policy(None).free_text.model_copy(
        update={"keep_paths": []})})
    out_strict = Deidentifier(strict, KEY).bundle(bundle, "case")
    assert out_strict is not None
    assert not any("title" in r for r in _resources(out_strict))


def test_ages_from_90_grouped_and_birth_date_dropped_when_age_stated() -> None:
    bundle = _load(next(p for p in GOLDEN if p.stem == "seed000-b-all"))
    patient = _patient(bundle)
    age = next(e for e in patient["extension"] if e["url"] == urls.EXT_AGE_AT_EVENT)
    next(e for e in age["extension"] if e["url"] == "age")["valueAge"]["value"] = 93
    patient["birthDate"] = "1924-05-06"
    deid = Deidentifier(load_policy(None), KEY)
    out = deid.bundle(bundle, "case")
    assert out is not None
    new_patient = _patient(out)
    new_age = next(e for e in new_patient["extension"] if e["url"] == urls.EXT_AGE_AT_EVENT)
    value = next(e for e in new_age["extension"] if e["url"] == "age")["valueAge"]
    assert (value["value"], value["comparator"]) == (90, ">=")
    assert "birthDate" not in new_patient  # the stated age is kept instead (policy when_age_stated: remove)
    assert deid.report.counts["ages grouped"] == 1 and deid.report.counts["birth dates removed"] == 1
    assert deid.report.quasi[new_patient["id"]]["birth_year"] == "90+"


def test_resource_without_patient_is_refused_with_location() -> None:
    deid = Deidentifier(load_policy(None), KEY)
    orphan = {"resourceType": "Observation", "id": "x1", "status": "final", "code": {"text": "x"},
              "effectiveDateTime": "2020-01-02"}
    assert deid.resource(orphan, "obs.json") is None
    (issue,) = deid.report.issues.errors
    assert issue.location == "obs.json" and "Observation.effectiveDateTime" in issue.message
    assert "names no patient" in issue.message
    with pytest.raises(DeidentifyError, match="names no patient"):
        deidentify_resource(orphan, key=KEY)
    # a resource without patient and without dates is fine: a Practitioner loses name and telecom
    doctor = {"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Sidorov"}],
              "telecom": [{"system": "phone", "value": "+7 495 000 00 00"}],
              "contained": [{"resourceType": "Patient", "id": "m", "name": [{"family": "Orlova"}]}],
              "qualification": [{"code": {"text": "haematologist"}}]}
    out = deid.resource(doctor, "dr.json")
    assert out is not None and "Sidorov" not in json.dumps(out) and "Orlova" not in json.dumps(out)
    assert out["contained"][0]["id"] == "m" and out["id"] != "dr1"


def test_conditional_reference_is_refused() -> None:
    bundle = _load(next(p for p in GOLDEN if p.stem == "seed002-fever"))
    condition = next(r for r in _resources(bundle) if r["resourceType"] == "Condition")
    condition["subject"] = {"reference": "Patient?identifier=urn:x|12345"}
    with pytest.raises(DeidentifyError, match="cannot be pseudonymised"):
        deidentify_bundle(bundle, key=KEY)


def test_person_data_in_extensions_logical_references_and_written_birth_date() -> None:
    bundle = _load(next(p for p in GOLDEN if p.stem == "seed002-fever"))
    patient = _patient(bundle)
    patient["birthDate"] = "2014-06-15"
    patient["_birthDate"] = {"extension": [{"url": urls.EXT_SOURCE_DATE, "valueString": "15.06.2014"}]}
    patient.setdefault("extension", []).append({"url": "https://example.org/mother", "valueHumanName": {
        "family": "Orlova"}})
    condition = next(r for r in _resources(bundle) if r["resourceType"] == "Condition")
    condition["asserter"] = {"identifier": {"system": "urn:staff", "value": "DOC-5521"}}
    condition["extension"].append({"url": "https://example.org/scan", "valueAttachment": {"data": "SGVsbG8="}})
    out = deidentify_bundle(bundle, key=KEY)
    text = json.dumps(out, ensure_ascii=False)
    assert "Orlova" not in text and "DOC-5521" not in text and "SGVsbG8=" not in text
    new_patient = _patient(out)
    assert "_birthDate" not in new_patient  # the written date would give the day back
    assert len(new_patient.get("birthDate", "")) in (0, 4)
    new_condition = next(r for r in _resources(out) if r["resourceType"] == "Condition")
    assert new_condition["asserter"]["identifier"]["system"] == "urn:staff"


def test_birth_date_replaced_by_age_at_diagnosis() -> None:
    bundle = _load(next(p for p in GOLDEN if p.stem == "beyond-seeds-t-aml"))  # born 2009-04, cancer 2012-05
    policy = load_policy(None)
    policy = policy.model_copy(update={"birth_date": policy.birth_date.model_copy(
        update={"precision": "age-at-diagnosis"})})
    deid = Deidentifier(policy, KEY)
    out = deid.bundle(bundle, "case")
    assert out is not None
    patient = _patient(out)
    assert "birthDate" not in patient
    age = next(e for e in patient["extension"] if e["url"] == urls.EXT_AGE_AT_EVENT)
    parts = {e["url"]: e for e in age["extension"]}
    assert parts["age"]["valueAge"]["value"] == 3
    condition_onsets = sorted(r["onsetDateTime"] for r in _resources(out) if r["resourceType"] == "Condition")
    assert parts["date"]["valueDateTime"] == condition_onsets[0]  # the shifted onset
    assert deid.report.counts["birth dates replaced by age at diagnosis"] == 1
    assert validate_bundle(out, "t-aml").ok


@pytest.mark.parametrize(("birth", "follow_up", "as_of", "kept"), [
    ("1925-01-01", None, 2026, False),  # living, no follow-up: 101 in the as_of year
    ("1990-01-01", None, 2026, True),
    ("1925-01-01", "2010-06-01", 2026, True),  # 85 at the last contact: the age the record speaks for
    ("1915-01-01", "2010-06-01", 2026, False),
])
def test_birth_year_of_a_living_patient_aged_90_or_more_is_removed(
        birth: str, follow_up: str | None, as_of: int, kept: bool) -> None:
    bundle = _load(next(p for p in GOLDEN if p.stem == "seed000-b-all"))
    patient = _patient(bundle)
    assert "deceasedDateTime" not in patient
    patient["birthDate"] = birth
    patient["extension"] = [e for e in patient.get("extension", [])
                            if e["url"] not in (urls.EXT_AGE_AT_EVENT, urls.EXT_FOLLOW_UP)]
    if follow_up is not None:
        patient["extension"].append({"url": urls.EXT_FOLLOW_UP, "extension": [
            {"url": "lastContact", "valueDateTime": follow_up}]})
    policy = load_policy(None)
    policy = policy.model_copy(update={"ages": policy.ages.model_copy(update={"as_of": as_of})})
    deid = Deidentifier(policy, KEY)
    out = deid.bundle(bundle, "case")
    assert out is not None
    assert ("birthDate" in _patient(out)) is kept
    assert deid.report.counts["birth dates removed (age group)"] == (0 if kept else 1)


def test_case_model_demographics_are_removed_or_reduced() -> None:
    """Name and address written in a case (mCODE patient CSV columns) leave no trace: the name goes, the
    address keeps the state (and country) only, the practitioner id is pseudonymised; race, ethnicity,
    birth sex and language are not identifiers and stay."""
    original = _load(next(p for p in GOLDEN if p.stem == "mcode-migration-demographics"))
    deid = Deidentifier(load_policy(None), KEY)
    out = deid.bundle(original, "case")
    assert out is not None
    patient = _patient(out)
    assert "name" not in patient
    assert patient["address"] == [{"state": "MA", "country": "US"}]
    assert patient["communication"] == _patient(original)["communication"]
    kept = {e["url"] for e in patient["extension"]}
    assert {urls.EXT_US_CORE_RACE, urls.EXT_US_CORE_ETHNICITY, urls.EXT_US_CORE_BIRTHSEX} <= kept
    text = json.dumps(out, ensure_ascii=False)
    for secret in ("Example", "Jane", "Springfield", "01101", "1 Example Street", "prac-17", "mig-1"):
        assert secret not in text, secret
    assert deid.report.counts["name removed"] == 1 and deid.report.counts["addresses reduced to region"] == 1
    no_region = Deidentifier(load_policy(None).model_copy(update={"region": "remove"}), KEY).bundle(original, "case")
    assert no_region is not None and "address" not in _patient(no_region)
