"""GVHD and graft failure after an HSCT: Conditions graded as transplant medicine grades them.

Acute GVHD carries its overall grade (MAGIC / Glucksberg / IBMTR) and chronic GVHD its NIH global
severity in ``Condition.stage[0]`` (summary = grade or severity, type = criteria); each organ's
stage or score is a further ``stage`` (type = organ, summary = stage). Not an AdverseEvent with a
CTCAE grade: CTCAE does not grade GVHD. Graft failure (primary / secondary) is a Condition too.
Both point at their HSCT with the ``related-hsct`` extension.
"""

from __future__ import annotations

from fhir_onco.case import GraftFailure, Gvhd, Hsct
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position
from .hsct import hsct_key


def gvhd_key(hsct: str, g: Gvhd) -> str:
    return g.id or f"{hsct}|gvhd|{g.kind}|{g.onset}"


def map_gvhd(ctx: MappingContext) -> None:
    for i, h in enumerate(ctx.case.hsct):
        hsct_ref = b.reference("Procedure", ctx.ids[("hsct", hsct_key(h))])
        for j, g in enumerate(h.gvhd):
            _map_gvhd(ctx, h, g, f"hsct[{i}].gvhd[{j}]", j, hsct_ref)
        if h.graft_failure is not None:
            _map_graft_failure(ctx, h, h.graft_failure, f"hsct[{i}].graft_failure", hsct_ref)


def _concept(ctx: MappingContext, key: str) -> b.Json:
    return b.codeable(ctx.fixed("gvhd", key))


def _map_gvhd(ctx: MappingContext, h: Hsct, g: Gvhd, path: str, j: int, hsct_ref: b.Json) -> None:
    kind = ctx.fixed("gvhd", f"{g.kind}-gvhd")
    code = b.codeable(ctx.fixed("gvhd", "gvhd"), text=f"{g.kind} GVHD")
    code["coding"].append(kind.primary.to_fhir())
    stages: list[b.Json] = []
    if g.kind == "acute" and g.grade:
        summary: b.Json = _concept(ctx, f"acute-grade-{g.grade}")
    elif g.kind == "chronic" and g.severity:
        summary = _concept(ctx, f"chronic-severity-{g.severity}")
    else:
        summary = {"text": "not graded"}  # con-1: a stage needs a summary
    if g.grade or g.severity or g.criteria:
        criteria = ctx.cc("gvhd", g.criteria, f"{path}.criteria", "criteria-")
        stages.append({"summary": summary, "type": criteria})
    for organ in g.organs:
        stages.append({"summary": _concept(ctx, f"organ-stage-{organ.stage}"),
                       "type": _concept(ctx, f"organ-{organ.organ}")})
    condition: b.Json = {
        "resourceType": "Condition",
        "id": ctx.new_id("Condition", gvhd_key(hsct_key(h), g)),
        "meta": b.meta("onco-gvhd"),
        "extension": [b.extension(urls.EXT_RELATED_HSCT, valueReference=hsct_ref), position(j)],
        "identifier": b.identifier_for(g.id),
        "clinicalStatus": _clinical(g.resolved is not None),
        "verificationStatus": _confirmed(),
        "code": code,
        "subject": ctx.patient_ref,
        "stage": [b.prune(s) for s in stages],
    }
    ctx.set_date(condition, "onsetDateTime", g.onset, f"{path}.onset", hsct=hsct_key(h))
    ctx.set_date(condition, "abatementDateTime", g.resolved, f"{path}.resolved", hsct=hsct_key(h))
    if g.note:
        condition["note"] = [{"text": g.note}]
    ctx.add(condition)


def _map_graft_failure(ctx: MappingContext, h: Hsct, gf: GraftFailure, path: str, hsct_ref: b.Json) -> None:
    condition: b.Json = {
        "resourceType": "Condition",
        "id": ctx.new_id("Condition", f"{hsct_key(h)}|graft-failure"),
        "meta": b.meta("onco-graft-failure"),
        "extension": [b.extension(urls.EXT_RELATED_HSCT, valueReference=hsct_ref)],
        "clinicalStatus": _clinical(False),
        "verificationStatus": _confirmed(),
        "code": _concept(ctx, f"graft-failure-{gf.kind}"),
        "subject": ctx.patient_ref,
    }
    ctx.set_date(condition, "onsetDateTime", gf.date, f"{path}.date", hsct=hsct_key(h))
    if gf.note:
        condition["note"] = [{"text": gf.note}]
    ctx.add(condition)


def _clinical(resolved: bool) -> b.Json:
    code = "resolved" if resolved else "active"
    return {"coding": [{"system": urls.CONDITION_CLINICAL, "code": code}]}


def _confirmed() -> b.Json:
    return {"coding": [{"system": urls.CONDITION_VERIFICATION, "code": "confirmed"}]}
