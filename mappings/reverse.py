"""Reverse mapping: the FHIR resources of one patient -> the case they were mapped from.

The forward mapping keeps everything a case says: terms as written in ``CodeableConcept.text``,
date expressions in the source-date extension, local ids in identifiers, list order in the
case-item-position extension and drug schedules as written on ``CarePlan.activity.detail``.
This module reads them back, so ``case -> bundle -> server -> resources -> case`` gives the same
case (docs/roundtrip.md lists the few exceptions and why).

Input is what a server returns: any order, absolute (``http://x/fhir/Patient/1``), relative or
``urn:uuid:`` references, server-added ``meta.versionId``/``lastUpdated`` and resources we did not
create. Those are skipped with a warning that names only resource type and id (never PHI).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fhir_onco.case import Case, CaseError, parse_case
from fhir_onco.fhir import urls
from fhir_onco.terminology import Terminology, default_terminology

__all__ = ["ReverseMappingError", "ReverseResult", "case_from_bundle", "case_from_resources", "read_bundle",
           "read_resources"]

log = logging.getLogger(__name__)

Json = dict[str, Any]

_CAREPLAN_STATUS = {"completed": "completed", "active": "active", "revoked": "stopped"}
_ACTIVITY_STATUS = {"completed": "completed", "stopped": "stopped", "cancelled": "not-done"}
_STAGE_SYSTEMS = ("iss", "riss", "durie-salmon", "inss", "inrg", "all-risk", "all-rez")
_HISTORY = re.compile(r"/_history/[^/]+$")


class ReverseMappingError(ValueError):
    """The resources do not make a case (no patient, several patients, or an invalid result)."""


@dataclass(slots=True)
class ReverseResult:
    case: Case
    warnings: list[str] = field(default_factory=list)


def case_from_bundle(bundle: Json) -> Case:
    """The case of a transaction, searchset or collection Bundle holding one patient's resources."""
    return _logged(read_bundle(bundle))


def case_from_resources(resources: Iterable[Json]) -> Case:
    """The case of one patient's resources, as a server returns them (any order)."""
    return _logged(read_resources(resources))


def read_bundle(bundle: Json, terminology: Terminology | None = None) -> ReverseResult:
    """Like case_from_bundle, and returns the warnings instead of logging them."""
    if bundle.get("resourceType") != "Bundle":
        raise ReverseMappingError(f"expected a Bundle, got {bundle.get('resourceType')!r}")
    resources = [e["resource"] for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]
    return read_resources(resources, terminology)


def read_resources(resources: Iterable[Json], terminology: Terminology | None = None) -> ReverseResult:
    """Like case_from_resources, and returns the warnings instead of logging them."""
    reader = _Reader(list(resources), terminology or default_terminology())
    data = reader.case()
    try:
        case = parse_case(data, "<pulled resources>")
    except CaseError as exc:
        raise ReverseMappingError(str(exc)) from None
    return ReverseResult(case, reader.warnings)


def _logged(result: ReverseResult) -> Case:
    for w in result.warnings:
        log.warning("%s", w)
    return result.case


# ---- small readers of FHIR JSON ---------------------------------------------------------------

def _clean(d: Json) -> Json:
    """Drop None values so the case model applies its defaults."""
    return {k: v for k, v in d.items() if v is not None}


def _exts(element: Json | None, url: str) -> list[Json]:
    return [e for e in (element or {}).get("extension", []) if e.get("url") == url]


def _ext(element: Json | None, url: str) -> Json | None:
    found = _exts(element, url)
    return found[0] if found else None


def _value(element: Json | None, url: str, kind: str) -> Any:
    e = _ext(element, url)
    return e.get(kind) if e else None


def _text(cc: Json | None) -> str | None:
    """The term as written; a foreign concept without text falls back to its first display."""
    if not cc:
        return None
    if cc.get("text"):
        return str(cc["text"])
    return next((c["display"] for c in cc.get("coding", []) if c.get("display")), None)


def _note(resource: Json) -> str | None:
    notes = resource.get("note") or []
    return notes[0].get("text") if notes else None


def _date(element: Json | None, name: str) -> str | None:
    """A date as the case wrote it: the source-date expression, else the FHIR value."""
    if not element:
        return None
    written = _value(element.get("_" + name), urls.EXT_SOURCE_DATE, "valueString")
    if written:
        return str(written)
    value = element.get(name)
    return str(value) if value is not None else None


def _number(q: Json | None) -> float | None:
    return None if not q or q.get("value") is None else float(q["value"])


def _compact(numbers: Iterable[int]) -> str:
    """[1,2,3,8] -> '1-3,8'; [-7,-6,-5] -> '-7..-5' (the canonical form of a days or cycles list)."""
    out: list[str] = []
    nums = sorted(set(numbers))
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        sep = ".." if nums[i] < 0 or nums[j] < 0 else "-"  # '-7..-4', as conditioning days are written
        out.append(str(nums[i]) if i == j else f"{nums[i]}{sep}{nums[j]}")
        i = j + 1
    return ",".join(out)


def _iso_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value and len(value) >= 10 else None
    except ValueError:
        return None


class _Reader:
    def __init__(self, resources: list[Json], terminology: Terminology):
        self.tx = terminology
        self.warnings: list[str] = []
        self.by_key: dict[tuple[str, str], Json] = {}
        self.by_id: dict[str, Json] = {}
        for r in resources:
            if not isinstance(r, dict) or not r.get("resourceType") or not r.get("id"):
                self.warn("skipped an entry without resourceType and id")
                continue
            self.by_key[(r["resourceType"], str(r["id"]))] = r
            self.by_id.setdefault(str(r["id"]), r)
        self.groups: dict[str, list[Json]] = defaultdict(list)
        self.patient = self._find_patient()
        for r in self.by_key.values():
            if r is self.patient:
                continue
            profile = self.profile(r)
            if profile is None:
                self.warn(f"ignored {self.label(r)}: not created by fhir-onco (no onco profile)")
            elif not self.is_patients(r):
                self.warn(f"ignored {self.label(r)}: belongs to another patient")
            else:
                self.groups[profile].append(r)
        for members in self.groups.values():
            members.sort(key=self.order)
        self.conditions = self.groups["onco-primary-cancer-condition"] + self.groups["onco-secondary-cancer-condition"]
        self.conditions.sort(key=self.order)

    # ---- identity and references ------------------------------------------------------------
    def warn(self, message: str) -> None:
        self.warnings.append(message)

    @staticmethod
    def label(r: Json) -> str:
        return f"{r.get('resourceType')}/{r.get('id')}"

    @staticmethod
    def profile(r: Json) -> str | None:
        for p in (r.get("meta") or {}).get("profile", []):
            if isinstance(p, str) and p.startswith(urls.SD + "onco-"):
                return p.removeprefix(urls.SD).split("|")[0]
        return None

    def _find_patient(self) -> Json:
        patients = [r for r in self.by_key.values() if r["resourceType"] == "Patient"]
        ours = [p for p in patients if self.profile(p) == "onco-patient"] or patients
        if not ours:
            raise ReverseMappingError("no Patient among the resources")
        if len(ours) > 1:
            raise ReverseMappingError(f"{len(ours)} patients among the resources; pull one patient at a time")
        for p in patients:
            if p is not ours[0]:
                self.warn(f"ignored {self.label(p)}: a second Patient")
        return ours[0]

    def resolve(self, ref: Json | None) -> Json | None:
        """The resource a Reference points to: 'Type/id', absolute URL, '_history' or urn:uuid."""
        text = (ref or {}).get("reference")
        if not text:
            return None
        if text.startswith("urn:uuid:"):
            return self.by_id.get(text.removeprefix("urn:uuid:"))
        parts = _HISTORY.sub("", text).rstrip("/").split("/")
        if len(parts) >= 2:
            return self.by_key.get((parts[-2], parts[-1]))
        return self.by_id.get(parts[-1])

    def is_patients(self, r: Json) -> bool:
        subject = r.get("subject")
        if subject is None:
            return True
        return self.resolve(subject) is self.patient

    @staticmethod
    def local_id(r: Json | None) -> str | None:
        if r is None:
            return None
        ids = r.get("identifier") or []
        for i in ids if isinstance(ids, list) else [ids]:
            if i.get("system") == urls.LOCAL_ID_SYSTEM:
                return str(i.get("value"))
        return None

    def ref_id(self, ref: Json | None, what: str, owner: Json) -> str | None:
        """Local id of a referenced item (a case refers to items by their `id`)."""
        if ref is None:
            return None
        target = self.resolve(ref)
        if target is None:
            self.warn(f"{self.label(owner)}: {what} reference does not resolve; dropped")
            return None
        lid = self.local_id(target)
        if lid is None:
            self.warn(f"{self.label(owner)}: {what} {self.label(target)} has no case-item id; dropped")
        return lid

    def dx_ref(self, refs: list[Json] | None, owner: Json) -> str | None:
        """`diagnosis:` of an item. The forward mapping points items without one at the first
        diagnosis, and marks the reference when the case named that diagnosis explicitly."""
        if not refs:
            return None
        target = self.resolve(refs[0])
        stated = _value(refs[0], urls.EXT_STATED_REFERENCE, "valueBoolean")
        if target is not None and self.conditions and target is self.conditions[0] and not stated:
            return None
        return self.ref_id(refs[0], "diagnosis", owner)

    @staticmethod
    def order(r: Json) -> tuple[int, str]:
        pos = _value(r, urls.EXT_POSITION, "valuePositiveInt")
        return (int(pos) if pos is not None else 1_000_000, str(r.get("id")))

    def key(self, table: str, cc: Json | None) -> str | None:
        """Terminology key of a coded concept (for fixed codes the case writes as plain values)."""
        for c in (cc or {}).get("coding", []):
            concept = self.tx[table].key_for(c.get("system", ""), c.get("code", ""))
            if concept is not None:
                return concept.key
        return None

    def children(self, profile: str, parent: Json, element: str = "focus") -> list[Json]:
        return [r for r in self.groups[profile]
                if any(self.resolve(ref) is parent for ref in r.get(element, []))]

    # ---- the case ---------------------------------------------------------------------------
    def case(self) -> Json:
        data: Json = {
            "patient": self.patient_data(),
            "diagnoses": [self.diagnosis(c) for c in self.conditions],
            "regimens": [self.regimen(cp) for cp in self.groups["onco-regimen"]],
            "radiotherapy": [self.radiotherapy(p) for p in self.groups["onco-radiotherapy"]],
            "hsct": [self.hsct(p) for p in self.groups["onco-hsct"]],
            "mrd": [self.mrd(o) for o in self.groups["onco-mrd"]],
            "responses": [self.response(o) for o in self.groups["onco-disease-status"]
                          if _ext(o, urls.EXT_RELAPSE_NUMBER) is None],
            "adverse_events": [self.adverse_event(a) for a in self.groups["onco-adverse-event"]],
            "note": (_value(self.patient, urls.EXT_NOTE, "valueAnnotation") or {}).get("text"),
        }
        self.check_all_used()
        return _clean(data)

    def check_all_used(self) -> None:
        for r in self.groups["onco-disease-status"]:
            if _ext(r, urls.EXT_RELAPSE_NUMBER) is not None and not any(
                    self.resolve(f) in self.conditions for f in r.get("focus", [])):
                self.warn(f"ignored {self.label(r)}: a relapse without its diagnosis")
        for profile in ("onco-stage-group", "onco-genomic-finding", "onco-disease-characteristic"):
            for r in self.groups[profile]:
                if not any(self.resolve(f) in self.conditions for f in r.get("focus", [])):
                    self.warn(f"ignored {self.label(r)}: no diagnosis in focus")

    def patient_data(self) -> Json:
        p = self.patient
        out: Json = {
            "identifiers": [{"system": i.get("system"), "value": i.get("value")} for i in p.get("identifier", [])],
            "sex": p.get("gender", "unknown"),
            "birth_date": _date(p, "birthDate"),
        }
        age = _ext(p, urls.EXT_AGE_AT_EVENT)
        if age is not None:
            out["age"] = {"years": (_value(age, "age", "valueAge") or {}).get("value"),
                          "at": _date(_ext(age, "date"), "valueDateTime")}
        cause = self.groups["onco-cause-of-death"][0] if self.groups["onco-cause-of-death"] else None
        if p.get("deceasedDateTime") or p.get("deceasedBoolean") or cause:
            out["death"] = _clean({"date": _date(p, "deceasedDateTime"),
                                   "cause": _text(cause.get("valueCodeableConcept")) if cause else None,
                                   "note": _note(cause) if cause else None})
        return _clean(out)

    def diagnosis(self, c: Json) -> Json:
        secondary = self.profile(c) == "onco-secondary-cancer-condition"
        tags = (c.get("meta") or {}).get("tag", [])
        related = _ext(c, urls.EXT_MCODE_RELATED_CONDITION)
        return _clean({
            "id": self.local_id(c),
            "kind": "secondary" if secondary else "primary",
            "condition": _text(c.get("code")),
            "morphology": _text(_value(c, urls.EXT_MCODE_HISTOLOGY, "valueCodeableConcept")),
            "immunophenotype": _text(_value(c, urls.EXT_IMMUNOPHENOTYPE, "valueCodeableConcept")),
            "onset": _date(c, "onsetDateTime"),
            "body_sites": [_text(s) for s in c.get("bodySite", [])],
            "related_to": self.ref_id(related.get("valueReference"), "related condition", c) if related else None,
            "therapy_related": any(t.get("system") == urls.FLAGS_SYSTEM and t.get("code") == "therapy-related"
                                   for t in tags),
            "status": ((c.get("clinicalStatus") or {}).get("coding") or [{}])[0].get("code"),
            **self.characteristics(c),
            "stages": [self.stage(o) for o in self.children("onco-stage-group", c)],
            "findings": [self.finding(o) for o in self.children("onco-genomic-finding", c)],
            "relapses": [self.relapse(o) for o in self.children("onco-disease-status", c)
                         if _ext(o, urls.EXT_RELAPSE_NUMBER) is not None],
            "note": _note(c),
        })

    def characteristics(self, c: Json) -> Json:
        out: Json = {}
        for o in self.children("onco-disease-characteristic", c):
            key = self.key("observation_codes", o.get("code"))
            if key == "paraprotein-type":
                out["paraprotein"] = _text(o.get("valueCodeableConcept"))
            elif key == "prior-lines":
                out["prior_lines"] = o.get("valueInteger")
            else:
                self.warn(f"ignored {self.label(o)}: unknown disease characteristic")
        return out

    def stage(self, o: Json) -> Json:
        key = self.key("stages", o.get("valueCodeableConcept")) or ""
        system = max((s for s in _STAGE_SYSTEMS if key.startswith(s + "-")), key=len, default=None)
        if system is None:
            self.warn(f"{self.label(o)}: stage value has no known stage code")
        return _clean({"id": self.local_id(o), "system": system, "value": _text(o.get("valueCodeableConcept")),
                       "date": _date(o, "effectiveDateTime")})

    def finding(self, o: Json) -> Json:
        quantity = o.get("valueQuantity")
        result = (_text((o.get("interpretation") or [None])[0]) if quantity
                  else _text(o.get("valueCodeableConcept")))
        return _clean({
            "id": self.local_id(o),
            "target": _text(_value(o, urls.EXT_FINDING_TARGET, "valueCodeableConcept")),
            "result": result,
            "value_percent": _number(quantity),
            "method": _text(o.get("method")),
            "date": _date(o, "effectiveDateTime"),
            "note": _note(o),
        })

    def relapse(self, o: Json) -> Json:
        return _clean({
            "id": self.local_id(o),
            "number": _value(o, urls.EXT_RELAPSE_NUMBER, "valuePositiveInt"),
            "date": _date(o, "effectiveDateTime"),
            "sites": [_text(e.get("valueCodeableConcept")) for e in _exts(o, urls.EXT_BODY_SITE)],
            "isolated": _value(o, urls.EXT_ISOLATED, "valueBoolean"),
            "note": _note(o),
        })

    # ---- regimens and drugs -----------------------------------------------------------------
    def regimen(self, cp: Json) -> Json:
        period = cp.get("period") or {}
        derived_end = _value(period.get("_end"), urls.EXT_DERIVED_DATE, "valueBoolean")
        hsct_rel = _ext(cp, urls.EXT_HSCT_RELATIVE)
        return _clean({
            "id": self.local_id(cp),
            "name": cp.get("title"),
            "protocol": _value(cp, urls.EXT_PROTOCOL, "valueString"),
            "category": _text((cp.get("category") or [None])[0]),
            "intensity": _text(_value(cp, urls.EXT_CONDITIONING_INTENSITY, "valueCodeableConcept")),
            "intent": _text(_value(cp, urls.EXT_MCODE_TREATMENT_INTENT, "valueCodeableConcept")),
            "diagnosis": self.dx_ref(cp.get("addresses"), cp),
            "part_of": self.ref_id((cp.get("partOf") or [None])[0], "part_of", cp),
            "start": _date(period, "start"),
            "end": None if derived_end else _date(period, "end"),
            "hsct_relative": self.ref_id(hsct_rel.get("valueReference"), "HSCT", cp) if hsct_rel else None,
            "cycles": _value(cp, urls.EXT_CYCLES, "valuePositiveInt"),
            "cycle_length_days": (_value(cp, urls.EXT_CYCLE_LENGTH, "valueDuration") or {}).get("value"),
            "status": _CAREPLAN_STATUS.get(cp.get("status", ""), "completed"),
            "stop_reason": _text(_value(cp, urls.EXT_REGIMEN_STOP_REASON, "valueCodeableConcept")),
            "drugs": self.drugs(cp),
            "note": _note(cp),
        })

    def drugs(self, cp: Json) -> list[Json]:
        mine = [ma for ma in self.groups["onco-medication-administration"]
                if self.resolve(_value(ma, urls.EXT_REGIMEN, "valueReference")) is cp]
        used: set[int] = set()
        out = []
        for activity in cp.get("activity", []):
            detail = activity.get("detail") or {}
            mas = [ma for ref in activity.get("outcomeReference", []) if (ma := self.resolve(ref)) is not None]
            used.update(id(ma) for ma in mas)
            out.append(self.drug(cp, detail, mas))
        for ma in mine:
            if id(ma) not in used:
                self.warn(f"ignored {self.label(ma)}: not an outcome of any activity of its regimen")
        return out

    def drug(self, cp: Json, detail: Json, mas: list[Json]) -> Json:
        first = mas[0] if mas else {}
        dosage = first.get("dosage") or {}
        quantity = dosage.get("dose") or dosage.get("rateQuantity")
        schedule = _ext(detail, urls.EXT_DRUG_SCHEDULE)
        sched = self.schedule_as_written(schedule) if schedule else self.schedule_from_administrations(cp, mas)
        return _clean({
            "id": self.local_id(first) if mas else None,
            "drug": _text(detail.get("productCodeableConcept")) or _text(first.get("medicationCodeableConcept")),
            "dose": _number(quantity),
            "unit": (quantity or {}).get("unit") or _value(first, urls.EXT_DOSE_UNIT, "valueString"),
            "dose_basis": _value(first, urls.EXT_DOSE_BASIS, "valueCode"),
            "route": _text(dosage.get("route")) or _text(_value(first, urls.EXT_ADMINISTRATION_ROUTE,
                                                                 "valueCodeableConcept")),
            **sched,
            "status": _ACTIVITY_STATUS.get(detail.get("status", ""), "completed"),
            "stop_reason": _text(detail.get("statusReason")),
            "note": _note(first),
        })

    @staticmethod
    def schedule_as_written(schedule: Json) -> Json:
        return {
            "days": _value(schedule, "days", "valueString"),
            "every_days": _value(schedule, "every-days", "valuePositiveInt"),
            "times_per_day": _value(schedule, "times-per-day", "valuePositiveInt"),
            "continuous": _value(schedule, "continuous", "valueBoolean"),
            "cycles": _value(schedule, "cycles", "valueString"),
            "stop_day": _value(schedule, "stop-day", "valueInteger"),
        }

    def schedule_from_administrations(self, cp: Json, mas: list[Json]) -> Json:
        """Collapse administrations into a schedule in canonical form (used when the schedule
        extension is absent: resources of other producers; ours then have the default schedule)."""
        if not mas:
            return {}
        out: Json = {}
        total = _value(cp, urls.EXT_CYCLES, "valuePositiveInt") or 1
        cycle_of = {id(ma): int(_value(ma, urls.EXT_CYCLE, "valuePositiveInt") or 1) for ma in mas}
        cycles = sorted(set(cycle_of.values()))
        if cycles != list(range(1, total + 1)):
            out["cycles"] = _compact(cycles)
        stop_days = [_value(ma, urls.EXT_STOP_DAY, "valueInteger") for ma in mas]
        out["stop_day"] = next((d for d in stop_days if d is not None), None)
        in_first = [ma for ma in mas if cycle_of[id(ma)] == cycles[0]]
        period = cp.get("period") or {}
        day_of = self._day_counter(cp, cycles[0])
        if any("effectivePeriod" in ma for ma in in_first):
            ep = in_first[0]["effectivePeriod"]
            if ep.get("start") == period.get("start") and ep.get("end") in (None, period.get("end")):
                return out  # the whole regimen period: no days
            first, last = day_of(ep.get("start")), day_of(ep.get("end"))
            if first is None or last is None:
                self.warn(f"{self.label(in_first[0])}: cannot count regimen days; schedule left empty")
                return out
            out["days"] = _compact(range(first, last + 1))
            out["continuous"] = _value(in_first[0], urls.EXT_DOSE_BASIS, "valueCode") != "course-total" or None
            return out
        per_day: dict[int, int] = defaultdict(int)
        for ma in in_first:
            day = day_of(ma.get("effectiveDateTime"))
            if day is None:
                self.warn(f"{self.label(ma)}: cannot count regimen days; schedule left empty")
                return out
            per_day[day] += 1
        out["days"] = _compact(per_day)
        out["times_per_day"] = max(per_day.values()) if max(per_day.values()) > 1 else None
        return out

    def _day_counter(self, cp: Json, cycle: int) -> Any:
        """date -> regimen day number (day 1 = start; D-N for HSCT-relative regimens)."""
        hsct = self.resolve(_value(cp, urls.EXT_HSCT_RELATIVE, "valueReference"))
        if hsct is not None:
            anchor, shift = _iso_day(hsct.get("performedDateTime")), 0
        else:
            length = (_value(cp, urls.EXT_CYCLE_LENGTH, "valueDuration") or {}).get("value") or 0
            anchor, shift = _iso_day((cp.get("period") or {}).get("start")), 1 - (cycle - 1) * int(length)

        def day_of(value: str | None) -> int | None:
            d = _iso_day(value)
            return None if d is None or anchor is None else (d - anchor).days + shift
        return day_of

    # ---- other domains ----------------------------------------------------------------------
    def radiotherapy(self, p: Json) -> Json:
        period = p.get("performedPeriod") or {}
        regimen = _ext(p, urls.EXT_REGIMEN)
        return _clean({
            "id": self.local_id(p),
            "kind": _text(p.get("code")),
            "total_dose_gy": _number(_value(p, urls.EXT_TOTAL_DOSE, "valueQuantity")),
            "fractions": _value(p, urls.EXT_FRACTIONS, "valuePositiveInt"),
            "start": _date(period, "start"),
            "end": _date(period, "end"),
            "body_sites": [_text(s) for s in p.get("bodySite", [])],
            "regimen": self.ref_id(regimen.get("valueReference"), "regimen", p) if regimen else None,
            "diagnosis": self.dx_ref(p.get("reasonReference"), p),
            "note": _note(p),
        })

    def hsct(self, p: Json) -> Json:
        key = self.key("procedures", p.get("code"))
        donor = _ext(p, urls.EXT_DONOR)
        return _clean({
            "id": self.local_id(p),
            "type": "autologous" if key == "autologous-hsct" else "allogeneic",
            "date": _date(p, "performedDateTime"),
            "donor": _clean({
                "relation": _text(_value(donor, "relation", "valueCodeableConcept")),
                "match": _text(_value(donor, "match", "valueCodeableConcept")),
                "hla_match": _value(donor, "hla-match", "valueString"),
                "sex": _value(donor, "sex", "valueCode"),
                "age_years": (_value(donor, "age", "valueAge") or {}).get("value"),
            }) if donor else None,
            "graft_source": _text(_value(p, urls.EXT_GRAFT_SOURCE, "valueCodeableConcept")),
            "manipulations": [_text(e.get("valueCodeableConcept")) for e in _exts(p, urls.EXT_GRAFT_MANIPULATION)],
            "cell_doses": [{"kind": _value(e, "kind", "valueCode"),
                            "value": _number(_value(e, "dose", "valueQuantity")),
                            "unit": (_value(e, "dose", "valueQuantity") or {}).get("unit")}
                           for e in _exts(p, urls.EXT_CELL_DOSE)],
            "conditioning": [lid for e in _exts(p, urls.EXT_CONDITIONING)
                             if (lid := self.ref_id(e.get("valueReference"), "conditioning", p))],
            "conditioning_intensity": _text(_value(p, urls.EXT_CONDITIONING_INTENSITY, "valueCodeableConcept")),
            "gvhd_prophylaxis": [lid for e in _exts(p, urls.EXT_GVHD_PROPHYLAXIS)
                                 if (lid := self.ref_id(e.get("valueReference"), "GVHD prophylaxis", p))],
            "engraftment": [self.engraftment(o) for o in self.children("onco-engraftment", p)],
            "chimerism": [self.chimerism(o) for o in self.children("onco-chimerism", p)],
            "diagnosis": self.dx_ref(p.get("reasonReference"), p),
            "note": _note(p),
        })

    def engraftment(self, o: Json) -> Json:
        key = self.key("observation_codes", o.get("code")) or ""
        return {"kind": key.removeprefix("engraftment-"), "day": (o.get("valueQuantity") or {}).get("value")}

    def chimerism(self, o: Json) -> Json:
        interpretation = (o.get("interpretation") or [None])[0]
        result = _text(interpretation) if (interpretation or {}).get("text") else (
            (self.key("hsct", interpretation) or "").removeprefix("chimerism-") or None)
        return _clean({
            "id": self.local_id(o),
            "date": _date(o, "effectiveDateTime"),
            "result": result,
            "recipient_percent": _number(o.get("valueQuantity")),
            "specimen": self.contained_specimen(o),
            "note": _note(o),
        })

    @staticmethod
    def contained_specimen(o: Json) -> str | None:
        ref = (o.get("specimen") or {}).get("reference", "")
        for c in o.get("contained", []):
            if c.get("resourceType") == "Specimen" and ref == f"#{c.get('id')}":
                return _text(c.get("type"))
        return None

    def mrd(self, o: Json) -> Json:
        q = o.get("valueQuantity")
        negative = bool(q and q.get("comparator") == "<") or ("valueCodeableConcept" in o and not q)
        return _clean({
            "id": self.local_id(o),
            "date": _date(o, "effectiveDateTime"),
            "value_percent": _number(q) if q and not negative else None,
            "negative": negative,
            "below_percent": _number(q) if negative and q else None,
            "method": _text(o.get("method")),
            "specimen": self.contained_specimen(o),
            "sensitivity": _value(o, urls.EXT_MRD_SENSITIVITY, "valueDecimal"),
            "diagnosis": self.dx_ref(o.get("focus"), o),
            "note": _note(o),
        })

    def response(self, o: Json) -> Json:
        regimen = _ext(o, urls.EXT_REGIMEN)
        return _clean({
            "id": self.local_id(o),
            "date": _date(o, "effectiveDateTime"),
            "response": _text(o.get("valueCodeableConcept")),
            "criteria": _value(o, urls.EXT_RESPONSE_CRITERIA, "valueString"),
            "best": _value(o, urls.EXT_BEST_RESPONSE, "valueBoolean"),
            "regimen": self.ref_id(regimen.get("valueReference"), "regimen", o) if regimen else None,
            "diagnosis": self.dx_ref(o.get("focus"), o),
            "note": _note(o),
        })

    def adverse_event(self, a: Json) -> Json:
        event = a.get("event") or {}
        coding = event.get("coding") or []
        grade = self.key("ctcae_grades", _value(a, urls.EXT_CTCAE_GRADE, "valueCodeableConcept"))
        gvhd = self.key("regimen_terms", _value(a, urls.EXT_GVHD_GRADE, "valueCodeableConcept"))
        serious = self.key("ae_terms", a.get("seriousness"))
        icu = _value(a, urls.EXT_ICU_DAYS, "valueDuration")
        # A coded term without a version was written with ctcae_version: null ("not stated").
        stated_version = {"ctcae_version": None} if coding and not coding[0].get("version") else {}
        return stated_version | _clean({
            "id": self.local_id(a),
            "term": _text(event),
            "ctcae_version": coding[0].get("version") if coding else None,
            "grade": int(grade.removeprefix("grade-")) if grade else None,
            "gvhd_grade": int(gvhd.removeprefix("gvhd-grade-")) if gvhd else None,
            "gvhd_organs": [_text(e.get("valueCodeableConcept")) for e in _exts(a, urls.EXT_GVHD_ORGAN)],
            "onset": _date(a, "date"),
            "resolved": _date(_ext(a, urls.EXT_CTCAE_RESOLVED_DATE), "valueDateTime"),
            "serious": None if serious is None else serious == "seriousness-serious",
            "outcome": _text(a.get("outcome")),
            "suspected_causes": self.causes(a),
            "actions": [_text(e.get("valueCodeableConcept")) for e in _exts(a, urls.EXT_AE_ACTION)],
            "icu_days": icu.get("value") if icu else None,
            "treated_with": [lid for e in _exts(a, urls.EXT_TREATED_WITH)
                             if (lid := self.ref_id(e.get("valueReference"), "treated_with", a))],
            "note": (_value(a, urls.EXT_NOTE, "valueAnnotation") or {}).get("text"),
        })

    def causes(self, a: Json) -> list[Json]:
        written = _exts(a, urls.EXT_SUSPECTED_CAUSE)
        if written:
            out = []
            for e in written:
                target = "hsct" if _ext(e, "hsct") else "regimen"
                lid = self.ref_id(_value(e, target, "valueReference"), f"suspected {target}", a)
                if lid is not None:
                    out.append(_clean({target: lid, "drug": _value(e, "drug", "valueString"),
                                       "causality": _value(e, "causality", "valueString")}))
            return out
        return self.causes_from_suspects(a)

    def causes_from_suspects(self, a: Json) -> list[Json]:
        """Without the causes-as-written extension (other producers): an HSCT per Procedure, a
        regimen per run of its administrations, narrowed to a drug when only that drug's are named."""
        runs: list[tuple[Json, Json | None, str | None, set[str]]] = []  # (target, regimen, causality, drugs)
        for s in a.get("suspectEntity", []):
            target = self.resolve(s.get("instance"))
            causality = _text(((s.get("causality") or [{}])[0]).get("assessment"))
            if target is None:
                continue
            regimen = None
            if self.profile(target) != "onco-hsct":
                regimen = self.resolve(_value(target, urls.EXT_REGIMEN, "valueReference"))
                if regimen is None:
                    continue
            drug = _text(target.get("medicationCodeableConcept")) if regimen else None
            if runs and regimen is not None and runs[-1][1] is regimen and runs[-1][2] == causality:
                runs[-1][3].add(drug or "")
            else:
                runs.append((target, regimen, causality, {drug or ""}))
        out = []
        for target, regimen, causality, drugs in runs:
            if regimen is None:
                out.append(_clean({"hsct": self.local_id(target), "causality": causality}))
                continue
            given = {_text(ma.get("medicationCodeableConcept")) for ma in self.groups["onco-medication-administration"]
                     if self.resolve(_value(ma, urls.EXT_REGIMEN, "valueReference")) is regimen}
            drug = next(iter(drugs)) if len(drugs) == 1 and len(given) > 1 else None
            out.append(_clean({"regimen": self.local_id(regimen), "drug": drug or None, "causality": causality}))
        return out
