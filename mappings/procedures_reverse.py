"""Reverse of :mod:`.procedures`: onco-procedure Procedures -> ``procedures:``."""

from __future__ import annotations

from fhir_onco.fhir import urls

from .diagnosis_reverse import laterality_of
from .read_context import Json, ReadContext, clean, ext_value, note, text, written_date


def read_procedures(ctx: ReadContext) -> list[Json]:
    return [_procedure(ctx, p) for p in ctx.groups["onco-procedure"]]


def _procedure(ctx: ReadContext, p: Json) -> Json:
    site = (p.get("bodySite") or [None])[0]
    return clean({
        "id": ctx.local_id(p),
        "procedure": text(p.get("code")),
        "date": written_date(p, "performedDateTime"),
        "body_site": text(site),
        "laterality": laterality_of(ctx, site) if site else None,
        "intent": text(ext_value(p, urls.EXT_MCODE_TREATMENT_INTENT, "valueCodeableConcept")),
        "outcome": text(p.get("outcome")),
        "status": p.get("status"),
        "diagnosis": ctx.dx_ref(p.get("reasonReference"), p),
        "note": note(p),
    })
