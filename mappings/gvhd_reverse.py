"""Reverse of :mod:`.gvhd`: GVHD and graft-failure Conditions -> ``hsct[].gvhd`` / ``graft_failure``."""

from __future__ import annotations

from fhir_onco.fhir import urls

from .read_context import Json, ReadContext, clean, ext_value, note, text, written_date


def _of_hsct(ctx: ReadContext, profile: str, hsct: Json) -> list[Json]:
    return [c for c in ctx.groups[profile]
            if ctx.resolve(ext_value(c, urls.EXT_RELATED_HSCT, "valueReference")) is hsct]


def read_gvhd(ctx: ReadContext, hsct: Json) -> list[Json]:
    return [_gvhd(ctx, c) for c in _of_hsct(ctx, "onco-gvhd", hsct)]


def read_graft_failure(ctx: ReadContext, hsct: Json) -> Json | None:
    found = _of_hsct(ctx, "onco-graft-failure", hsct)
    if not found:
        return None
    c = found[0]
    key = ctx.key("gvhd", c.get("code")) or ""
    return clean({"kind": key.removeprefix("graft-failure-") or None, "date": written_date(c, "onsetDateTime"),
                  "note": note(c)})


def warn_unlinked(ctx: ReadContext) -> None:
    for profile in ("onco-gvhd", "onco-graft-failure"):
        for c in ctx.groups[profile]:
            target = ctx.resolve(ext_value(c, urls.EXT_RELATED_HSCT, "valueReference"))
            if target is None or target not in ctx.groups["onco-hsct"]:
                ctx.warn(f"ignored {ctx.label(c)}: not linked to an HSCT of this patient")


def _gvhd(ctx: ReadContext, c: Json) -> Json:
    kinds = [k for cd in (c.get("code") or {}).get("coding", [])
             if (k := ctx.key("gvhd", {"coding": [cd]})) in ("acute-gvhd", "chronic-gvhd")]
    out: Json = {"id": ctx.local_id(c), "kind": kinds[0].removesuffix("-gvhd") if kinds else None,
                 "onset": written_date(c, "onsetDateTime"), "resolved": written_date(c, "abatementDateTime"),
                 "organs": [], "note": note(c)}
    for stage in c.get("stage", []):
        summary = ctx.key("gvhd", stage.get("summary"))
        kind = ctx.key("gvhd", stage.get("type"))
        if kind and kind.startswith("organ-"):
            out["organs"].append({"organ": kind.removeprefix("organ-"),
                                  "stage": int((summary or "organ-stage-0").removeprefix("organ-stage-"))})
            continue
        out["criteria"] = text(stage.get("type"))
        if summary and summary.startswith("acute-grade-"):
            out["grade"] = int(summary.removeprefix("acute-grade-"))
        elif summary and summary.startswith("chronic-severity-"):
            out["severity"] = summary.removeprefix("chronic-severity-")
    return clean(out)
