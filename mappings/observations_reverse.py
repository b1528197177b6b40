"""Reverse of :mod:`.observations`: MRD and response Observations -> ``mrd:`` and ``responses:``."""

from __future__ import annotations

from fhir_onco.fhir import urls

from .read_context import (
    SOURCE,
    Json,
    ReadContext,
    clean,
    contained_specimen,
    ext,
    ext_value,
    exts,
    note,
    number,
    text,
    written_date,
)


def read_mrd(ctx: ReadContext) -> list[Json]:
    return [_mrd(ctx, o) for o in ctx.groups["onco-mrd"]]


def read_responses(ctx: ReadContext) -> list[Json]:
    # Relapses share the disease-status profile; they are read with their diagnosis.
    return [_response(ctx, o) for o in ctx.groups["onco-disease-status"]
            if ext(o, urls.EXT_RELAPSE_NUMBER) is None]


def _mrd(ctx: ReadContext, o: Json) -> Json:
    q = o.get("valueQuantity")
    negative = bool(q and q.get("comparator") == "<") or ("valueCodeableConcept" in o and not q)
    return clean({
        SOURCE: ctx.label(o),
        "id": ctx.local_id(o),
        "date": written_date(o, "effectiveDateTime"),
        "value_percent": number(q) if q and not negative else None,
        "negative": negative,
        "below_percent": number(q) if negative and q else None,
        "method": text(o.get("method")),
        "specimen": contained_specimen(o),
        "sensitivity": ext_value(o, urls.EXT_MRD_SENSITIVITY, "valueDecimal"),
        "diagnosis": ctx.dx_ref(o.get("focus"), o),
        "note": note(o),
    })


def _response(ctx: ReadContext, o: Json) -> Json:
    regimen = ext(o, urls.EXT_REGIMEN)
    return clean({
        SOURCE: ctx.label(o),
        "id": ctx.local_id(o),
        "date": written_date(o, "effectiveDateTime"),
        "response": text(o.get("valueCodeableConcept")),
        "data_absent": ext_value(o.get("valueCodeableConcept"), urls.EXT_DATA_ABSENT_REASON, "valueCode"),
        "criteria": ext_value(o, urls.EXT_RESPONSE_CRITERIA, "valueString"),
        "best": ext_value(o, urls.EXT_BEST_RESPONSE, "valueBoolean"),
        "regimen": ctx.ref_id(regimen.get("valueReference"), "regimen", o) if regimen else None,
        "diagnosis": ctx.dx_ref(o.get("focus"), o),
        "evidence": [text(e.get("valueCodeableConcept")) for e in exts(o, urls.EXT_MCODE_EVIDENCE_TYPE)],
        "status": o.get("status"),
        "recorded": written_date(ext(o, urls.EXT_RECORDED_DATE), "valueDateTime"),
        "note": note(o),
    })
