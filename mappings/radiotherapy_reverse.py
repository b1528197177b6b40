"""Reverse of :mod:`.radiotherapy`: radiotherapy Procedures -> ``radiotherapy:``."""

from __future__ import annotations

from fhir_onco.fhir import urls

from .mcode_reverse import radiotherapy_summary
from .read_context import SOURCE, Json, ReadContext, clean, ext, ext_value, note, number, text, written_date


def read_radiotherapy(ctx: ReadContext) -> list[Json]:
    return [_course(ctx, p) for p in ctx.groups["onco-radiotherapy"]]


def _course(ctx: ReadContext, p: Json) -> Json:
    period = p.get("performedPeriod") or {}
    regimen = ext(p, urls.EXT_REGIMEN)
    # An mCODE course summary (data we did not write) has dose and fractions per treated volume.
    summary = radiotherapy_summary(p) if ctx.profile(p) is None else {}
    if summary.get("volumes", 0) > 1:
        ctx.warn(f"{ctx.label(p)}: {summary['volumes']} treated volumes; the case keeps the first one's dose")
    return clean({
        SOURCE: ctx.label(p),
        "id": ctx.local_id(p),
        "kind": summary.get("kind") or text(p.get("code")),
        "total_dose_gy": summary.get("total_dose_gy") or number(ext_value(p, urls.EXT_TOTAL_DOSE, "valueQuantity")),
        "fractions": summary.get("fractions") or ext_value(p, urls.EXT_FRACTIONS, "valuePositiveInt"),
        "start": written_date(period, "start"),
        "end": written_date(period, "end"),
        "body_sites": [text(s) for s in p.get("bodySite", [])],
        "regimen": ctx.ref_id(regimen.get("valueReference"), "regimen", p) if regimen else None,
        "diagnosis": ctx.dx_ref(p.get("reasonReference"), p),
        "note": note(p),
    })
