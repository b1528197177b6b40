"""Reverse of :mod:`.tnm`: TNM stage-group Observations and their T/N/M members -> ``diagnoses[].tnm``."""

from __future__ import annotations

from .read_context import Json, ReadContext, clean, note, text, written_date


def read_tnm(ctx: ReadContext, condition: Json) -> list[Json]:
    return [_tnm(ctx, o) for o in ctx.children("onco-tnm-stage-group", condition)]


def _tnm(ctx: ReadContext, group: Json) -> Json:
    key = ctx.key("tnm", group.get("code")) or ""
    out: Json = {"id": ctx.local_id(group), "type": key.removesuffix("-stage-group") or None,
                 "stage_group": text(group.get("valueCodeableConcept")), "edition": text(group.get("method")),
                 "date": written_date(group, "effectiveDateTime"), "note": note(group)}
    for ref in group.get("hasMember", []):
        member = ctx.resolve(ref)
        if member is None:
            continue
        part = (ctx.key("tnm", member.get("code")) or "").rpartition("-")[2]
        if part in ("t", "n", "m"):
            out[part] = text(member.get("valueCodeableConcept"))
    return clean(out)
