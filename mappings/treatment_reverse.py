"""Reverse of :mod:`.treatment`: CarePlans (regimens) with their activities and
MedicationAdministrations -> ``regimens:`` with drugs and schedules as written."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from fhir_onco.fhir import urls

from .read_context import (
    SOURCE,
    Json,
    ReadContext,
    clean,
    compact,
    ext,
    ext_value,
    iso_day,
    note,
    number,
    text,
    written_date,
)

_CAREPLAN_STATUS = {"completed": "completed", "active": "active", "revoked": "stopped"}
_ACTIVITY_STATUS = {"completed": "completed", "stopped": "stopped", "cancelled": "not-done"}


def read_regimens(ctx: ReadContext) -> list[Json]:
    return [read_regimen(ctx, cp) for cp in ctx.groups["onco-regimen"]]


def read_regimen(ctx: ReadContext, cp: Json) -> Json:
    period = cp.get("period") or {}
    derived_end = ext_value(period.get("_end"), urls.EXT_DERIVED_DATE, "valueBoolean")
    hsct_rel = ext(cp, urls.EXT_HSCT_RELATIVE)
    return clean({
        SOURCE: ctx.label(cp),
        "id": ctx.local_id(cp),
        "name": cp.get("title"),
        "protocol": ext_value(cp, urls.EXT_PROTOCOL, "valueString"),
        "category": text((cp.get("category") or [None])[0]),
        "intensity": text(ext_value(cp, urls.EXT_CONDITIONING_INTENSITY, "valueCodeableConcept")),
        "intent": text(ext_value(cp, urls.EXT_MCODE_TREATMENT_INTENT, "valueCodeableConcept")),
        "diagnosis": ctx.dx_ref(cp.get("addresses"), cp),
        "part_of": ctx.ref_id((cp.get("partOf") or [None])[0], "part_of", cp),
        "start": written_date(period, "start"),
        "end": None if derived_end else written_date(period, "end"),
        "hsct_relative": ctx.ref_id(hsct_rel.get("valueReference"), "HSCT", cp) if hsct_rel else None,
        "cycles": ext_value(cp, urls.EXT_CYCLES, "valuePositiveInt"),
        "cycle_length_days": (ext_value(cp, urls.EXT_CYCLE_LENGTH, "valueDuration") or {}).get("value"),
        "status": _CAREPLAN_STATUS.get(cp.get("status", ""), "completed"),
        "stop_reason": text(ext_value(cp, urls.EXT_REGIMEN_STOP_REASON, "valueCodeableConcept")),
        "drugs": _drugs(ctx, cp),
        "note": note(cp),
    })


def _drugs(ctx: ReadContext, cp: Json) -> list[Json]:
    mine = [ma for ma in ctx.groups["onco-medication-administration"]
            if ctx.resolve(ext_value(ma, urls.EXT_REGIMEN, "valueReference")) is cp]
    used: set[int] = set()
    out = []
    for activity in cp.get("activity", []):
        detail = activity.get("detail") or {}
        mas = [ma for ref in activity.get("outcomeReference", []) if (ma := ctx.resolve(ref)) is not None]
        used.update(id(ma) for ma in mas)
        out.append(_drug(ctx, cp, detail, mas))
    for ma in mine:
        if id(ma) not in used:
            ctx.warn(f"ignored {ctx.label(ma)}: not an outcome of any activity of its regimen")
    return out


def _drug(ctx: ReadContext, cp: Json, detail: Json, mas: list[Json]) -> Json:
    first = mas[0] if mas else {}
    dosage = first.get("dosage") or {}
    quantity = dosage.get("dose") or dosage.get("rateQuantity")
    schedule = ext(detail, urls.EXT_DRUG_SCHEDULE)
    sched = _schedule_as_written(schedule) if schedule else _schedule_from_administrations(ctx, cp, mas)
    return clean({
        SOURCE: ctx.label(first) if mas else None,
        "id": ctx.local_id(first) if mas else None,
        "drug": text(detail.get("productCodeableConcept")) or text(first.get("medicationCodeableConcept")),
        "dose": number(quantity),
        "unit": (quantity or {}).get("unit") or ext_value(first, urls.EXT_DOSE_UNIT, "valueString"),
        "dose_basis": ext_value(first, urls.EXT_DOSE_BASIS, "valueCode"),
        "route": text(dosage.get("route")) or text(ext_value(first, urls.EXT_ADMINISTRATION_ROUTE,
                                                             "valueCodeableConcept")),
        **sched,
        "status": _ACTIVITY_STATUS.get(detail.get("status", ""), "completed"),
        "stop_reason": text(detail.get("statusReason")),
        "note": note(first),
    })


def _schedule_as_written(schedule: Json) -> Json:
    return {
        "days": ext_value(schedule, "days", "valueString"),
        "every_days": ext_value(schedule, "every-days", "valuePositiveInt"),
        "times_per_day": ext_value(schedule, "times-per-day", "valuePositiveInt"),
        "continuous": ext_value(schedule, "continuous", "valueBoolean"),
        "cycles": ext_value(schedule, "cycles", "valueString"),
        "stop_day": ext_value(schedule, "stop-day", "valueInteger"),
    }


def _schedule_from_administrations(ctx: ReadContext, cp: Json, mas: list[Json]) -> Json:
    """Collapse administrations into a schedule in canonical form (used when the schedule
    extension is absent: resources of other producers; ours then have the default schedule)."""
    if not mas:
        return {}
    out: Json = {}
    total = ext_value(cp, urls.EXT_CYCLES, "valuePositiveInt") or 1
    cycle_of = {id(ma): int(ext_value(ma, urls.EXT_CYCLE, "valuePositiveInt") or 1) for ma in mas}
    cycles = sorted(set(cycle_of.values()))
    if cycles != list(range(1, total + 1)):
        out["cycles"] = compact(cycles)
    stop_days = [ext_value(ma, urls.EXT_STOP_DAY, "valueInteger") for ma in mas]
    out["stop_day"] = next((d for d in stop_days if d is not None), None)
    in_first = [ma for ma in mas if cycle_of[id(ma)] == cycles[0]]
    period = cp.get("period") or {}
    day_of = _day_counter(ctx, cp, cycles[0])
    if any("effectivePeriod" in ma for ma in in_first):
        ep = in_first[0]["effectivePeriod"]
        if ep.get("start") == period.get("start") and ep.get("end") in (None, period.get("end")):
            return out  # the whole regimen period: no days
        first, last = day_of(ep.get("start")), day_of(ep.get("end"))
        if first is None or last is None:
            ctx.warn(f"{ctx.label(in_first[0])}: cannot count regimen days; schedule left empty")
            return out
        out["days"] = compact(range(first, last + 1))
        out["continuous"] = ext_value(in_first[0], urls.EXT_DOSE_BASIS, "valueCode") != "course-total" or None
        return out
    per_day: dict[int, int] = defaultdict(int)
    for ma in in_first:
        day = day_of(ma.get("effectiveDateTime"))
        if day is None:
            ctx.warn(f"{ctx.label(ma)}: cannot count regimen days; schedule left empty")
            return out
        per_day[day] += 1
    out["days"] = compact(per_day)
    out["times_per_day"] = max(per_day.values()) if max(per_day.values()) > 1 else None
    return out


def _day_counter(ctx: ReadContext, cp: Json, cycle: int) -> Callable[[str | None], int | None]:
    """date -> regimen day number (day 1 = start; D-N for HSCT-relative regimens)."""
    hsct = ctx.resolve(ext_value(cp, urls.EXT_HSCT_RELATIVE, "valueReference"))
    if hsct is not None:
        anchor, shift = iso_day(hsct.get("performedDateTime")), 0
    else:
        length = (ext_value(cp, urls.EXT_CYCLE_LENGTH, "valueDuration") or {}).get("value") or 0
        anchor, shift = iso_day((cp.get("period") or {}).get("start")), 1 - (cycle - 1) * int(length)

    def day_of(value: str | None) -> int | None:
        d = iso_day(value)
        return None if d is None or anchor is None else (d - anchor).days + shift
    return day_of
