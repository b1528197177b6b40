"""Reverse of :mod:`.labs`: onco-lab Observations -> ``labs:``."""

from __future__ import annotations

from .read_context import Json, ReadContext, clean, note, number, text, written_date


def read_labs(ctx: ReadContext) -> list[Json]:
    return [clean({
        "id": ctx.local_id(o),
        "test": text(o.get("code")),
        "date": written_date(o, "effectiveDateTime"),
        "value": number(o.get("valueQuantity")),
        "unit": (o.get("valueQuantity") or {}).get("unit"),
        "diagnosis": ctx.dx_ref(o.get("focus"), o),
        "note": note(o),
    }) for o in ctx.groups["onco-lab"]]
