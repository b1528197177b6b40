"""Regimens: one CarePlan per regimen, one MedicationAdministration per dose given.

A drug's schedule (days, cycles, times per day) is expanded into single administrations; a
continuous infusion is one administration with a period; a course total is one administration
over the course. Each administration points to its CarePlan (extension) and the CarePlan lists
them in activity.outcomeReference, so the grouping can be read from either side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from fhir_onco.case import Drug, Regimen
from fhir_onco.dates import DateError, PartialDate, shift
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position

# A day as clinicians write it: 8, +8, -1, D+8, D-7, д-7 (Cyrillic d); ranges with -, .., or a dash.
_DAY = r"(?:[DdДд]\s*)?([+-]?\d+)"
_RANGE = re.compile(rf"^{_DAY}\s*(\.\.|–|—|-)\s*{_DAY}$")
_SINGLE = re.compile(rf"^{_DAY}$")
_CAREPLAN_STATUS = {"completed": "completed", "active": "active", "stopped": "revoked"}
_ACTIVITY_STATUS = {"completed": "completed", "stopped": "stopped", "not-done": "cancelled"}

MIN_DAY, MAX_DAY = -100, 1830
"""Regimen days a schedule may name: conditioning from D-100, courses up to 5 years (maintenance)."""
MAX_ADMINISTRATIONS = 5000
"""Administrations one drug of one regimen may expand into (2 years of q6h dosing is ~2,900)."""


class ScheduleError(ValueError):
    pass


def parse_days(text: str) -> list[int]:
    """'1-7' -> 1..7; '1,8,15'; '-7..-4' -> -7..-4; '1-5,8-12'; '-1,+8'; 'D-7..D-4'; '1-3; 8'."""
    days: set[int] = set()
    for part in (p.strip() for p in re.split(r"[,;]", text)):
        if m := _RANGE.match(part):
            lo, sep, hi = _day_number(m.group(1), text), m.group(2), _day_number(m.group(3), text)
            if lo < 0 and sep == "-" and m.group(3)[0] not in "+-":
                raise ScheduleError(f"{part!r} is ambiguous: write {lo}..-{hi} or {lo}..+{hi}")
            if hi < lo:
                raise ScheduleError(f"range {part!r} runs backwards")
            _check_day(lo, text)
            _check_day(hi, text)
            days.update(range(lo, hi + 1))
        elif m := _SINGLE.match(part):
            days.add(_check_day(_day_number(m.group(1), text), text))
        else:
            raise ScheduleError(f"{text!r}: expected days like '1-7', '1,8,15', '1-5,8-12', '-1,+8' "
                                "or '-7..-4' (D-7..D-4)")
    return sorted(days)


def _day_number(digits: str, text: str) -> int:
    if len(digits.lstrip("+-")) > 6:  # also keeps int() away from 5,000-digit numbers
        raise ScheduleError(f"{text[:40]!r}: a day number is outside {MIN_DAY}..{MAX_DAY}")
    return int(digits)


def _check_day(day: int, text: str) -> int:
    if not MIN_DAY <= day <= MAX_DAY:
        raise ScheduleError(f"{text!r}: day {day} is outside {MIN_DAY}..{MAX_DAY} (split a longer course "
                            "into regimens)")
    return day


def parse_cycles(text: str | None, total: int) -> list[int]:
    """'1' -> [1]; '2-' -> 2..total; '1-3'; None -> all cycles."""
    if not text:
        return list(range(1, total + 1))
    s = text.strip()
    if s.endswith("-"):
        s = f"{s}{total}"
    try:
        cycles = parse_days(s)
    except ScheduleError:
        raise ScheduleError(f"cycles {text!r}: expected '1', '2-', '1-3' or '1,3'") from None
    if not cycles or cycles[0] < 1 or cycles[-1] > total:
        raise ScheduleError(f"cycles {text!r} outside 1..{total}")
    return cycles


def regimen_key(rg: Regimen) -> str:
    return rg.id or f"{rg.name}|{rg.start}"


class _Dose(NamedTuple):  # a tuple: a schedule expands into thousands, a frozen dataclass is 3x slower to make
    cycle: int
    first_day: int
    last_day: int
    slot: int
    stopped: bool


def map_regimens(ctx: MappingContext) -> None:
    for rg in ctx.case.regimens:
        ctx.register("regimen", regimen_key(rg), ctx.new_id("CarePlan", regimen_key(rg)))
    _check_part_of(ctx)
    for i, rg in enumerate(ctx.case.regimens):
        _map_regimen(ctx, i, rg)


def _check_part_of(ctx: MappingContext) -> None:
    """A regimen cannot be a phase of itself, directly or through a chain of part_of."""
    parent = {rg.id: rg.part_of for rg in ctx.case.regimens if rg.id}
    for i, rg in enumerate(ctx.case.regimens):
        if rg.id is None or rg.part_of is None:
            continue
        seen, at = [rg.id], rg.part_of
        while at is not None and at not in seen:
            seen.append(at)
            at = parent.get(at)
        if at == rg.id:
            chain = " -> ".join([*seen, rg.id])
            ctx.error(f"regimens[{i}].part_of", "a regimen cannot be part of itself"
                      + (f" (cycle {chain})" if len(seen) > 1 else ""))


def _drug_key_options(drug: Drug, j: int) -> list[str]:
    """Business keys a drug's administrations may take, in order of preference: its id or name;
    when that collides with an earlier drug of the regimen on the same day (IT and IV methotrexate),
    name and route, then its place - so both keep their own resources and other ids stay stable."""
    name = drug.id or drug.drug
    return [name, *([f"{name}|{drug.route}"] if drug.route else []), f"{name}|#{j + 1}"]


def _map_regimen(ctx: MappingContext, i: int, rg: Regimen) -> None:
    path = f"regimens[{i}]"
    key = regimen_key(rg)
    rid = ctx.ids[("regimen", key)]
    start = ctx.regimen_starts.get(key)
    extensions: list[b.Json] = []
    if rg.protocol:
        extensions.append(b.extension(urls.EXT_PROTOCOL, valueString=rg.protocol))
    if rg.cycles:
        extensions.append(b.extension(urls.EXT_CYCLES, valuePositiveInt=rg.cycles))
    if rg.cycle_length_days:
        extensions.append(b.extension(urls.EXT_CYCLE_LENGTH, valueDuration={
            "value": rg.cycle_length_days, "unit": "d", "system": urls.UCUM, "code": "d"}))
    if rg.intensity and (intensity := b.prune(ctx.cc(
            "regimen_terms", rg.intensity, f"{path}.intensity", "intensity-"))):
        extensions.append({"url": urls.EXT_CONDITIONING_INTENSITY, "valueCodeableConcept": intensity})
    intent = b.prune(ctx.cc("regimen_terms", rg.intent, f"{path}.intent", "intent-")) or None
    diagnosis = b.prune(ctx.diagnosis_ref(rg.diagnosis, f"{path}.diagnosis")) or None
    if intent:
        extensions.append({"url": urls.EXT_MCODE_TREATMENT_INTENT, "valueCodeableConcept": intent})
    if rg.hsct_relative and (hsct_id := ctx.ids.get(("hsct", rg.hsct_relative))):
        extensions.append(b.extension(urls.EXT_HSCT_RELATIVE, valueReference=b.reference("Procedure", hsct_id)))
    stop_reason = b.prune(ctx.cc("regimen_terms", rg.stop_reason, f"{path}.stop_reason", "stop-")) or None
    if stop_reason:
        extensions.append({"url": urls.EXT_REGIMEN_STOP_REASON, "valueCodeableConcept": stop_reason})
    extensions.append(position(i))
    # Built without empty values (added without a prune walk), in the key order of the resource.
    careplan: b.Json = {
        "resourceType": "CarePlan",
        "id": rid,
        "meta": b.meta("onco-regimen"),
        "extension": extensions,
    }
    if identifier := b.identifier_for(rg.id):
        careplan["identifier"] = identifier
    if rg.part_of and (ref := ctx.ref_to("regimen", "CarePlan", rg.part_of, f"{path}.part_of")):
        careplan["partOf"] = [ref]
    careplan["status"] = _CAREPLAN_STATUS[rg.status]
    careplan["intent"] = "order"
    if category := b.prune(ctx.cc("regimen_terms", rg.category, f"{path}.category", "category-")):
        careplan["category"] = [category]
    if rg.name:
        careplan["title"] = rg.name
    careplan["subject"] = ctx.patient_ref
    period: b.Json = {}
    ctx.set_date(period, "start", rg.start, f"{path}.start", regimen=key)
    end = ctx.set_date(period, "end", rg.end, f"{path}.end", regimen=key)
    if end is None and start is not None and start.day and rg.cycles and rg.cycle_length_days:
        period["end"] = shift(start, rg.cycles * rg.cycle_length_days - 1).iso()
        period["_end"] = {"extension": [b.extension(urls.EXT_DERIVED_DATE, valueBoolean=True)]}
    if period := b.prune(period):
        careplan["period"] = period
    if diagnosis:
        careplan["addresses"] = [diagnosis]
    if rg.note:
        careplan["note"] = [{"text": rg.note}]
    activities: list[b.Json] = []
    careplan["activity"] = activities  # filled in below; removed again when no drug is named
    ctx.add_clean(careplan)
    # Per-regimen facts resolved once, so a bad term is reported once, not once per dose.
    shared = _Shared(careplan_id=rid, start=start, intent=intent,
                     diagnosis=diagnosis)
    taken: set[str] = set()  # administration keys of this regimen so far
    for j, drug in enumerate(rg.drugs):
        drug_stop = b.prune(ctx.cc("regimen_terms", drug.stop_reason, f"{path}.drugs[{j}].stop_reason",
                                   "stop-")) or None
        med = b.prune(ctx.cc("drugs", drug.drug, f"{path}.drugs[{j}].drug")) or None
        refs = _map_drug(ctx, rg, key, shared, drug, _drug_key_options(drug, j), taken, med,
                         f"{path}.drugs[{j}]", drug_stop or stop_reason)
        detail: b.Json = {}
        if schedule := _schedule(drug):
            detail["extension"] = [schedule]
        detail["kind"] = "MedicationRequest"
        detail["status"] = _ACTIVITY_STATUS[drug.status]
        if drug_stop:
            detail["statusReason"] = drug_stop
        if med:
            detail["productCodeableConcept"] = med
        activities.append({"outcomeReference": refs, "detail": detail} if refs else {"detail": detail})
    for j, cls in enumerate(rg.drug_classes):
        # A class named without its drugs: what was planned/given is known only as a class (no doses).
        activities.append(b.prune({"detail": {
            "extension": [b.extension(urls.EXT_DRUG_CLASS_ONLY, valueBoolean=True)],
            "kind": "MedicationRequest",
            "status": "stopped" if rg.status == "stopped" else "completed" if rg.status == "completed"
            else "in-progress",
            "productCodeableConcept": ctx.cc("drug_classes", cls, f"{path}.drug_classes[{j}]"),
        }}))
    if not careplan["activity"]:
        del careplan["activity"]


def _schedule(drug: Drug) -> b.Json | None:
    """The schedule as written (its non-default parts): the administrations alone cannot tell
    '1-7' from '1,2,3,4,5,6,7', '2-' from '2-4', or an every_days step, so the reverse mapping reads it here."""
    parts = [
        b.extension("days", valueString=drug.days) if drug.days else None,
        b.extension("every-days", valuePositiveInt=drug.every_days) if drug.every_days else None,
        b.extension("times-per-day", valuePositiveInt=drug.times_per_day) if drug.times_per_day != 1 else None,
        b.extension("continuous", valueBoolean=True) if drug.continuous else None,
        b.extension("cycles", valueString=drug.cycles) if drug.cycles else None,
        b.extension("stop-day", valueInteger=drug.stop_day) if drug.stop_day is not None else None,
    ]
    present = [p for p in parts if p]
    return {"url": urls.EXT_DRUG_SCHEDULE, "extension": present} if present else None


@lru_cache(maxsize=1024)  # a registry repeats the same few schedules ('1', '1-7', '1,8,15') in every patient
def _schedule_days(cycles: str | None, total: int, days: str | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return tuple(parse_cycles(cycles, total)), tuple(parse_days(days)) if days else ()


def _expand(ctx: MappingContext, rg: Regimen, drug: Drug, path: str) -> list[_Dose]:
    total = rg.cycles or 1
    try:
        cycles, day_tuple = _schedule_days(drug.cycles, total, drug.days)
        days = list(day_tuple)
    except ScheduleError as exc:
        ctx.error(path, str(exc))
        return []
    if drug.every_days and days:
        days = list(range(days[0], days[-1] + 1, drug.every_days))
    if rg.hsct_relative is None and any(d < 1 for d in days):
        ctx.error(f"{path}.days", "days count from 1 (the regimen start); negative days need "
                  "hsct_relative on the regimen")
        return []
    if rg.cycle_length_days and days and days[-1] > rg.cycle_length_days:
        ctx.error(f"{path}.days", f"day {days[-1]} is beyond the {rg.cycle_length_days}-day cycle")
    doses: list[_Dose] = []
    for c in cycles:
        if drug.continuous or drug.dose_basis == "course-total" or not days:
            first, last = (days[0], days[-1]) if days else (0, 0)  # 0: the whole regimen period
            doses.append(_Dose(c, first, last, 1, drug.status == "stopped"))
            continue
        for d in days:
            if drug.stop_day is not None and d > drug.stop_day:
                break
            for slot in range(1, drug.times_per_day + 1):
                doses.append(_Dose(c, d, d, slot, drug.status == "stopped" and d == drug.stop_day))
        if len(doses) > MAX_ADMINISTRATIONS:
            ctx.error(path, f"the schedule expands into more than {MAX_ADMINISTRATIONS} administrations; "
                      "split the course into regimens or give it as continuous / course-total")
            return []
    if drug.status == "stopped" and drug.stop_day is None and doses:
        doses[-1] = _Dose(doses[-1].cycle, doses[-1].first_day, doses[-1].last_day, doses[-1].slot, True)
    return doses


def _day_date(ctx: MappingContext, rg: Regimen, start: PartialDate | None, cycle: int,
              day: int, shared: _Shared) -> PartialDate | None:
    """The date of day `day` of cycle `cycle`, looked up once found for the regimen (only dates
    found are kept, so a date that cannot be placed is reported at each use, as before)."""
    found = shared.days.get((cycle, day))
    if found is None and (found := _find_day_date(ctx, rg, start, cycle, day)) is not None:
        shared.days[(cycle, day)] = found
    return found


def _find_day_date(ctx: MappingContext, rg: Regimen, start: PartialDate | None, cycle: int,
                   day: int) -> PartialDate | None:
    if rg.hsct_relative is not None:
        anchor = ctx.hsct_dates.get(rg.hsct_relative)
        if anchor is None:
            return None
        try:
            return shift(anchor, day)
        except DateError:
            return None  # only full-date anchors get here; the calendar limit is reported elsewhere
    if start is None or not start.day:
        return None
    try:
        return shift(start, (cycle - 1) * (rg.cycle_length_days or 0) + day - 1)
    except DateError as exc:
        ctx.error(f"regimens[{ctx.case.regimens.index(rg)}].start", str(exc))
        return None


@dataclass(frozen=True, slots=True)
class _Shared:
    careplan_id: str
    start: PartialDate | None
    intent: b.Json | None
    diagnosis: b.Json | None
    # (cycle, day) -> its date, and date -> ISO text: the drugs of a regimen share their days
    days: dict[tuple[int, int], PartialDate] = field(default_factory=dict)
    isos: dict[PartialDate, str] = field(default_factory=dict)

    def iso(self, value: PartialDate) -> str:
        text = self.isos.get(value)
        if text is None:
            text = self.isos[value] = value.iso()
        return text


def _map_drug(ctx: MappingContext, rg: Regimen, key: str, shared: _Shared, drug: Drug, key_options: list[str],
              taken: set[str], med: b.Json | None, path: str, stop_reason: b.Json | None) -> list[b.Json]:
    start, careplan_id, intent = shared.start, shared.careplan_id, shared.intent
    unit = ctx.concept("units", drug.unit, f"{path}.unit")
    if drug.dose is not None and drug.unit is None:
        ctx.error(f"{path}.unit", "a dose needs a unit (mg/m2, mg/kg, ug/kg/d, mg ...)")
    route = ctx.cc("routes", drug.route, f"{path}.route")
    if rg.hsct_relative is not None and rg.hsct_relative not in ctx.hsct_dates | dict.fromkeys(ctx.undated):
        ctx.error(f"{path}.days", f"regimen counts days from HSCT {rg.hsct_relative!r}, which has no date")
    basis = _normalization_basis(ctx, unit)
    refs: list[b.Json] = []
    doses = _expand(ctx, rg, drug, path)
    anchor = ctx.hsct_dates.get(rg.hsct_relative) if rg.hsct_relative else start
    undated = (rg.hsct_relative or key) in ctx.undated
    if doses and drug.days and (undated or (anchor is not None and not anchor.day)):
        # Day N of a course that started "in 2020-07" has no date: one administration for the whole
        # course at the known precision; the schedule stays on the CarePlan activity (drug-schedule).
        doses = [_Dose(0, 0, 0, 1, drug.status == "stopped")]
    slots = ["course" if dose.cycle == 0 else f"c{dose.cycle}|d{dose.first_day}|{dose.slot}" for dose in doses]
    drug_key = key_options[0] if not taken else next(
        (k for k in key_options if taken.isdisjoint([f"{k}|{s}" for s in slots])), key_options[-1])
    taken.update(f"{drug_key}|{s}" for s in slots)
    # What every administration of this drug has in common, built once and free of empty values
    # (the administrations are added without a prune walk). Each administration gets its own copy
    # (`copier`), so a caller may change one resource in place without changing another
    # (tests/mapping/test_no_empty_values.py: no object appears twice in a bundle).
    route = b.prune(route) or None
    dosage: b.Json = {"route": route} if route else {}
    if drug.dose is not None:
        dosage["rateQuantity" if drug.dose_basis == "per-day" else "dose"] = b.prune(
            b.quantity(drug.dose, unit, drug.unit))
    if drug.dose_basis == "course-total":
        dosage["text"] = "course total"
    has_dosage = "dose" in dosage or "rateQuantity" in dosage
    regimen_ref = b.reference("CarePlan", careplan_id)["reference"]
    tail: list[b.Json] = []  # extensions after the cycle / course one, before the stop day
    if basis:  # mCODE puts it on the administration itself, not on dosage
        tail.append({"url": urls.EXT_MCODE_NORMALIZATION_BASIS, "valueCodeableConcept": b.prune(basis)})
    if intent:
        tail.append({"url": urls.EXT_MCODE_TREATMENT_INTENT, "valueCodeableConcept": intent})
    if drug.dose_basis != "per-dose":
        tail.append(b.extension(urls.EXT_DOSE_BASIS, valueCode=drug.dose_basis))
    after: list[b.Json] = []  # R4 mad-1: without a dose or a rate, route and unit travel in extensions
    if not has_dosage:
        if route:
            after.append({"url": urls.EXT_ADMINISTRATION_ROUTE, "valueCodeableConcept": route})
        if drug.unit:
            after.append(b.extension(urls.EXT_DOSE_UNIT, valueString=drug.unit))
    identifier = b.identifier_for(drug.id)
    status = "not-done" if drug.status == "not-done" else "completed"
    diagnosis = shared.diagnosis
    note = [{"text": drug.note}] if drug.note else None
    given = drug.status != "not-done"  # only what was given can be a suspected cause
    profile = b.meta("onco-medication-administration")["profile"][0]
    subject = ctx.patient_ref["reference"]
    # one copy of all the drug's shared parts per administration (a single C-level parse)
    parts = b.copier({"tail": tail, "identifier": identifier, "stop_reason": stop_reason, "med": med,
                      "diagnosis": diagnosis, "dosage": dosage, "after": after, "note": note})
    new_id, add = ctx.new_id, ctx.add_clean
    given_list: list[tuple[str, str, PartialDate | None]] | None = None
    for dose, slot in zip(doses, slots, strict=True):
        ma_id = new_id("MedicationAdministration", f"{key}|{drug_key}|{slot}")
        refs.append({"reference": f"MedicationAdministration/{ma_id}"})
        cycle, first_day, last_day, _, stopped = dose
        part = parts()
        extensions = [{"url": urls.EXT_REGIMEN, "valueReference": {"reference": regimen_ref}},
                      {"url": urls.EXT_CYCLE, "valuePositiveInt": cycle} if cycle else
                      {"url": urls.EXT_COURSE_ADMINISTRATION, "valueBoolean": True}, *part["tail"]]
        if stopped and drug.stop_day is not None:
            extensions.append({"url": urls.EXT_STOP_DAY, "valueInteger": drug.stop_day})
        ma: b.Json = {
            "resourceType": "MedicationAdministration",
            "id": ma_id,
            "meta": {"profile": [profile]},
            "extension": extensions,
        }
        if identifier:
            ma["identifier"] = part["identifier"]
        if stopped:
            ma["status"] = "stopped"
            if stop_reason:
                ma["statusReason"] = [part["stop_reason"]]
        else:
            ma["status"] = status
        if med:
            ma["medicationCodeableConcept"] = part["med"]
        ma["subject"] = {"reference": subject}
        first = _day_date(ctx, rg, start, cycle, first_day, shared) if first_day else None
        if first_day == 0:  # whole regimen period
            period: b.Json = {}
            first = ctx.set_date(period, "start", rg.start, f"{path}", regimen=key)
            ctx.set_date(period, "end", rg.end, f"{path}", regimen=key)
            if period := b.prune(period):
                ma["effectivePeriod"] = period
        elif first is None:
            ctx.error(path, "cannot date the administrations: the regimen start needs a full date")
            break
        elif last_day != first_day or drug.continuous:
            last = _day_date(ctx, rg, start, cycle, last_day, shared)
            ma["effectivePeriod"] = {"start": shared.iso(first), "end": shared.iso(last)} if last else \
                {"start": shared.iso(first)}
        else:
            ma["effectiveDateTime"] = shared.iso(first)
        if diagnosis:
            ma["reasonReference"] = [part["diagnosis"]]
        if has_dosage:
            ma["dosage"] = part["dosage"]
        elif after:
            extensions.extend(part["after"])
        if note:
            ma["note"] = part["note"]
        if given:
            if given_list is None:
                given_list = ctx.administrations.setdefault(key, [])
            given_list.append((drug.drug, ma_id, first))
        add(ma)
    return refs


def _normalization_basis(ctx: MappingContext, unit: object) -> b.Json | None:
    code = getattr(getattr(unit, "primary", None), "code", "")
    if "/m2" in code:
        return b.coding_concept(ctx.fixed("normalization_basis", "body-surface-area"))
    if "/kg" in code:
        return b.coding_concept(ctx.fixed("normalization_basis", "body-weight"))
    return None
