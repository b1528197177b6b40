"""Reverse of :mod:`.hsct`: HSCT Procedures with donor, graft and conditioning, and their
engraftment and chimerism Observations -> ``hsct:``."""

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


def read_hscts(ctx: ReadContext) -> list[Json]:
    return [read_hsct(ctx, p) for p in ctx.groups["onco-hsct"]]


def read_hsct(ctx: ReadContext, p: Json) -> Json:
    key = ctx.key("procedures", p.get("code"))
    donor = ext(p, urls.EXT_DONOR)
    return clean({
        SOURCE: ctx.label(p),
        "id": ctx.local_id(p),
        "type": "autologous" if key == "autologous-hsct" else "allogeneic",
        "date": written_date(p, "performedDateTime"),
        "donor": clean({
            "relation": text(ext_value(donor, "relation", "valueCodeableConcept")),
            "match": text(ext_value(donor, "match", "valueCodeableConcept")),
            "hla_match": ext_value(donor, "hla-match", "valueString"),
            "sex": ext_value(donor, "sex", "valueCode"),
            "age_years": (ext_value(donor, "age", "valueAge") or {}).get("value"),
        }) if donor else None,
        "graft_source": text(ext_value(p, urls.EXT_GRAFT_SOURCE, "valueCodeableConcept")),
        "manipulations": [text(e.get("valueCodeableConcept")) for e in exts(p, urls.EXT_GRAFT_MANIPULATION)],
        "cell_doses": [{"kind": ext_value(e, "kind", "valueCode"),
                        "value": number(ext_value(e, "dose", "valueQuantity")),
                        "unit": (ext_value(e, "dose", "valueQuantity") or {}).get("unit")}
                       for e in exts(p, urls.EXT_CELL_DOSE)],
        "conditioning": [lid for e in exts(p, urls.EXT_CONDITIONING)
                         if (lid := ctx.ref_id(e.get("valueReference"), "conditioning", p))],
        "conditioning_intensity": text(ext_value(p, urls.EXT_CONDITIONING_INTENSITY, "valueCodeableConcept")),
        "gvhd_prophylaxis": [lid for e in exts(p, urls.EXT_GVHD_PROPHYLAXIS)
                             if (lid := ctx.ref_id(e.get("valueReference"), "GVHD prophylaxis", p))],
        "engraftment": [_engraftment(ctx, o) for o in ctx.children("onco-engraftment", p)],
        "chimerism": [_chimerism(ctx, o) for o in ctx.children("onco-chimerism", p)],
        "diagnosis": ctx.dx_ref(p.get("reasonReference"), p),
        "note": note(p),
    })


def _engraftment(ctx: ReadContext, o: Json) -> Json:
    key = ctx.key("observation_codes", o.get("code")) or ""
    return {SOURCE: ctx.label(o), "kind": key.removeprefix("engraftment-"),
            "day": (o.get("valueQuantity") or {}).get("value")}


def _chimerism(ctx: ReadContext, o: Json) -> Json:
    interpretation = (o.get("interpretation") or [None])[0]
    result = text(interpretation) if (interpretation or {}).get("text") else (
        (ctx.key("hsct", interpretation) or "").removeprefix("chimerism-") or None)
    return clean({
        SOURCE: ctx.label(o),
        "id": ctx.local_id(o),
        "date": written_date(o, "effectiveDateTime"),
        "result": result,
        "recipient_percent": number(o.get("valueQuantity")),
        "specimen": contained_specimen(o),
        "note": note(o),
    })
