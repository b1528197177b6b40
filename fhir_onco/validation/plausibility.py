"""Clinical plausibility of a patient bundle: what is well-formed FHIR but cannot be true.

Runs on FHIR output, not on case files, so FHIR made elsewhere is checked the same way.
Partial dates are compared by their widest reading: only a certain contradiction is an error.
Messages name the element and the rule, never the values (dates of birth and death identify).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fhir_onco.dates import DateError, PartialDate, parse_date
from fhir_onco.fhir import urls
from fhir_onco.validation.report import Report

Json = dict[str, Any]


def _date(value: Any) -> PartialDate | None:
    if not isinstance(value, str):
        return None
    return _date_of(value[:10])


@lru_cache(maxsize=4096)  # a bundle repeats its dates (and PartialDate is immutable)
def _date_of(text: str) -> PartialDate | None:
    try:
        parsed = parse_date(text)
    except (DateError, ValueError, ArithmeticError):
        return None
    return parsed if isinstance(parsed, PartialDate) else None


def _obj(value: Any) -> Json:
    """The value if it is a JSON object, else {} (malformed FHIR is the structure check's to report)."""
    return value if isinstance(value, dict) else {}


def _objs(value: Any) -> list[Json]:
    """The JSON objects of a list (anything else: none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _when(resource: Json) -> tuple[str, PartialDate, PartialDate] | None:
    """(element, start, end) of the clinically relevant time of a resource."""
    for element in ("effectiveDateTime", "performedDateTime", "onsetDateTime", "date", "authoredOn"):
        if d := _date(resource.get(element)):
            return element, d, d
    for element in ("effectivePeriod", "performedPeriod", "period"):
        period = _obj(resource.get(element))
        start, end = _date(period.get("start")), _date(period.get("end"))
        if start or end:
            return element, (start or end), (end or start)  # type: ignore[return-value]
    return None


def check_plausibility(bundle: Json, source: str, report: Report | None = None) -> Report:
    report = report if report is not None else Report()
    entry_list = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    entries = [(i, _obj(_obj(e).get("resource"))) for i, e in enumerate(entry_list)]
    patient = next((r for _, r in entries if r.get("resourceType") == "Patient"), {})
    birth, death = _date(patient.get("birthDate")), _date(patient.get("deceasedDateTime"))
    careplans = {f"CarePlan/{r.get('id')}": r for _, r in entries if r.get("resourceType") == "CarePlan"}
    for i, r in entries:
        loc = f"{source}: Bundle.entry[{i}].resource"
        when = _when(r)
        if when:
            element, start, end = when
            if start.earliest() > end.latest():
                report.error(f"{loc}.{element}", "ends before it starts (end date earlier than start date)",
                             rule="plausibility.date-order")
            if birth and end.latest() < birth.earliest():
                report.error(f"{loc}.{element}", "is before the patient's birth date (Patient.birthDate)",
                             rule="plausibility.before-birth")
            if death and start.earliest() > death.latest() and r.get("resourceType") != "Observation":
                report.error(f"{loc}.{element}", "is after the patient's death date (Patient.deceasedDateTime)",
                             rule="plausibility.after-death")
        kind = r.get("resourceType")
        if kind == "MedicationAdministration":
            _check_administration(r, loc, careplans, when, report)
        elif kind == "Observation":
            _check_observation(r, loc, report)
        elif kind == "AdverseEvent":
            _check_adverse_event(r, loc, report)
    return report


def _check_administration(r: Json, loc: str, careplans: dict[str, Json],
                          when: tuple[str, PartialDate, PartialDate] | None, report: Report) -> None:
    dosage = _obj(r.get("dosage"))
    for element in ("dose", "rateQuantity"):
        q = dosage.get(element)
        if not isinstance(q, dict):
            continue
        if not isinstance(q.get("value"), int | float) or q["value"] <= 0:
            report.error(f"{loc}.dosage.{element}.value", "a dose must be a positive number",
                         rule="plausibility.dose-positive")
        if q.get("system") != urls.UCUM or not q.get("code"):
            report.error(f"{loc}.dosage.{element}", "the dose unit is not a coded UCUM unit",
                         rule="plausibility.dose-unit")
    regimen = next((_obj(e.get("valueReference")).get("reference") for e in _objs(r.get("extension"))
                    if e.get("url") == urls.EXT_REGIMEN), None)
    plan = careplans.get(regimen) if isinstance(regimen, str) else None
    if plan and when:
        period = _obj(plan.get("period"))
        start, end = _date(period.get("start")), _date(period.get("end"))
        if (start and when[2].latest() < start.earliest()) or (end and when[1].earliest() > end.latest()):
            report.warning(f"{loc}.{when[0]}", "administration lies outside its regimen's period",
                           rule="plausibility.within-regimen")


def _profile(r: Json) -> str:
    profiles = _obj(r.get("meta")).get("profile")
    first = profiles[0] if isinstance(profiles, list) and profiles else ""
    return first if isinstance(first, str) else ""


def _check_observation(r: Json, loc: str, report: Report) -> None:
    profile = _profile(r)
    q = r.get("valueQuantity") if isinstance(r.get("valueQuantity"), dict) else None
    if profile.endswith(("/onco-mrd", "/onco-chimerism")) and q is not None:
        value = q.get("value")
        if not isinstance(value, int | float) or not 0 <= value <= 100:
            report.error(f"{loc}.valueQuantity.value", "the value is not a percentage in 0-100",
                         rule="plausibility.percent-range")
        if q.get("code") != "%":
            report.error(f"{loc}.valueQuantity.code", "expected the UCUM unit '%'", rule="plausibility.percent-unit")
    day = q.get("value") if q is not None else None
    if profile.endswith("/onco-engraftment") and q is not None and not (isinstance(day, int | float)
                                                                        and 0 <= day <= 365):
        report.error(f"{loc}.valueQuantity.value", "engraftment day must be within 0-365 after HSCT",
                     rule="plausibility.engraftment-day")


def _check_adverse_event(r: Json, loc: str, report: Report) -> None:
    event = _obj(r.get("event"))
    if not event.get("coding") and not event.get("text"):
        report.error(f"{loc}.event", "an adverse event needs a CTCAE term", rule="plausibility.ae-term")
    extensions = _objs(r.get("extension"))
    grades = [e for e in extensions if e.get("url") == urls.EXT_CTCAE_GRADE]
    graded_as_gvhd = any(e.get("url") == urls.EXT_GVHD_GRADE for e in extensions)
    if not grades and not graded_as_gvhd:
        report.warning(f"{loc}.extension", "no CTCAE grade", rule="plausibility.ae-grade")
    for g in grades:
        codes = {c.get("code") for c in _objs(_obj(g.get("valueCodeableConcept")).get("coding"))}
        if "0" in codes:
            report.error(f"{loc}.extension", "CTCAE grade 0 means no adverse event: record grades 1-5",
                         rule="plausibility.ae-grade")
    onset = _date(r.get("date"))
    for e in extensions:
        if e.get("url") == urls.EXT_CTCAE_RESOLVED_DATE:
            resolved = _date(e.get("valueDateTime"))
            if onset and resolved and resolved.latest() < onset.earliest():
                report.error(f"{loc}.extension", "the resolved date is before the onset date (AdverseEvent.date)",
                             rule="plausibility.date-order")

