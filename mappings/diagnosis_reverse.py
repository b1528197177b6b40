"""Reverse of :mod:`.diagnosis`: Conditions with their stages, findings, characteristics and
relapses (Observations whose focus is the Condition) -> ``diagnoses:``."""

from __future__ import annotations

from fhir_onco.fhir import urls

from .read_context import SOURCE, Json, ReadContext, clean, ext, ext_value, exts, note, number, text, written_date
from .tnm_reverse import read_tnm

_STAGE_SYSTEMS = ("iss", "riss", "durie-salmon", "inss", "inrg", "all-risk", "all-rez")


_CATEGORIES = ("problem-list-item", "encounter-diagnosis", "health-concern")
_CATEGORY_SYSTEMS = (urls.CONDITION_CATEGORY, "http://hl7.org/fhir/us/core/CodeSystem/condition-category")


def read_diagnoses(ctx: ReadContext) -> list[Json]:
    return [read_diagnosis(ctx, c) for c in ctx.conditions]


def read_diagnosis(ctx: ReadContext, c: Json) -> Json:
    secondary = any(c is x for x in ctx.groups["onco-secondary-cancer-condition"])  # ours or mCODE's
    tags = (c.get("meta") or {}).get("tag", [])
    related = [lid for e in exts(c, urls.EXT_MCODE_RELATED_CONDITION)
               if (lid := ctx.ref_id(e.get("valueReference"), "related condition", c))]
    as_list = len(related) > 1 or ext_value(c, urls.EXT_RELATED_AS_LIST, "valueBoolean")
    sites = c.get("bodySite", [])
    return clean({
        SOURCE: ctx.label(c),
        "id": ctx.local_id(c),
        "kind": "secondary" if secondary else "primary",
        "condition": text(c.get("code")),
        "morphology": text(ext_value(c, urls.EXT_MCODE_HISTOLOGY, "valueCodeableConcept")),
        "immunophenotype": text(ext_value(c, urls.EXT_IMMUNOPHENOTYPE, "valueCodeableConcept")),
        "onset": written_date(c, "onsetDateTime"),
        "body_sites": [text(s) for s in sites],
        "laterality": laterality_of(ctx, sites[0]) if sites else None,
        "related_to": related if as_list else (related[0] if related else None),
        "verification": ((c.get("verificationStatus") or {}).get("coding") or [{}])[0].get("code"),
        "therapy_related": any(t.get("system") == urls.FLAGS_SYSTEM and t.get("code") == "therapy-related"
                               for t in tags),
        "status": _status(c),
        "category": [cd["code"] for cat in c.get("category", []) for cd in cat.get("coding", [])
                     if cd.get("system") in _CATEGORY_SYSTEMS and cd.get("code") in _CATEGORIES] or None,
        **_characteristics(ctx, c),
        "stages": [_stage(ctx, o) for o in _stage_observations(ctx, c)],
        "tnm": read_tnm(ctx, c),
        "risk_groups": [_risk_group(ctx, o) for o in ctx.children("onco-risk-group", c)],
        "findings": [_finding(o) for o in ctx.children("onco-genomic-finding", c)],
        "relapses": [_relapse(ctx, o) for o in ctx.children("onco-disease-status", c)
                     if ext(o, urls.EXT_RELAPSE_NUMBER) is not None],
        "metastases": [_metastasis(ctx, m) for m in ctx.groups["onco-metastasis"]
                       if ctx.resolve(ext_value(m, urls.EXT_MCODE_RELATED_CONDITION, "valueReference")) is c],
        "note": note(c),
    })


def laterality_of(ctx: ReadContext, site: Json) -> str | None:
    return ctx.key("laterality", ext_value(site, urls.EXT_MCODE_LATERALITY, "valueCodeableConcept"))


def _metastasis(ctx: ReadContext, m: Json) -> Json:
    site = (m.get("bodySite") or [{}])[0]
    return clean({"id": ctx.local_id(m), "site": text(site), "laterality": laterality_of(ctx, site),
                  "date": written_date(m, "onsetDateTime"), "note": note(m)})


# Condition.clinicalStatus codes other producers use for the states the case model knows.
_STATUS = {"active": "active", "recurrence": "relapse", "relapse": "relapse", "remission": "remission",
           "inactive": "remission", "resolved": "resolved"}


def _status(c: Json) -> str | None:
    code = ((c.get("clinicalStatus") or {}).get("coding") or [{}])[0].get("code")
    return _STATUS.get(code) if code else None


def _stage_observations(ctx: ReadContext, c: Json) -> list[Json]:
    """Ours point at the Condition (focus); mCODE's are named by Condition.stage.assessment."""
    found = ctx.children("onco-stage-group", c)
    for stage in c.get("stage") or []:
        for ref in stage.get("assessment") or []:
            o = ctx.resolve(ref)
            if o is not None and o in ctx.groups["onco-stage-group"] and all(o is not f for f in found):
                found.append(o)
    return found


def warn_orphans(ctx: ReadContext) -> None:
    """Observations of this domain that hang on no diagnosis are not silently lost."""
    for r in ctx.groups["onco-disease-status"]:
        if ext(r, urls.EXT_RELAPSE_NUMBER) is not None and not any(
                ctx.resolve(f) in ctx.conditions for f in r.get("focus", [])):
            ctx.warn(f"ignored {ctx.label(r)}: a relapse without its diagnosis")
    assessed = [id(o) for c in ctx.conditions for o in _stage_observations(ctx, c)]
    for profile in ("onco-stage-group", "onco-genomic-finding", "onco-disease-characteristic"):
        for r in ctx.groups[profile]:
            if id(r) not in assessed and not any(ctx.resolve(f) in ctx.conditions for f in r.get("focus", [])):
                ctx.warn(f"ignored {ctx.label(r)}: no diagnosis in focus")


def _characteristics(ctx: ReadContext, c: Json) -> Json:
    out: Json = {}
    for o in ctx.children("onco-disease-characteristic", c):
        key = ctx.key("observation_codes", o.get("code"))
        if key == "paraprotein-type":
            out["paraprotein"] = text(o.get("valueCodeableConcept"))
        elif key == "prior-lines":
            out["prior_lines"] = o.get("valueInteger")
        else:
            ctx.warn(f"ignored {ctx.label(o)}: unknown disease characteristic")
    return out


def _stage(ctx: ReadContext, o: Json) -> Json:
    key = ctx.key("stages", o.get("valueCodeableConcept")) or ""
    system = max((s for s in _STAGE_SYSTEMS if key.startswith(s + "-")), key=len, default=None)
    if system is None:
        ctx.warn(f"{ctx.label(o)}: stage value has no known stage code")
    return clean({SOURCE: ctx.label(o), "id": ctx.local_id(o), "system": system,
                  "value": text(o.get("valueCodeableConcept")), "date": written_date(o, "effectiveDateTime")})


def _risk_group(ctx: ReadContext, o: Json) -> Json:
    system = (ctx.key("risk_groups", o.get("code")) or "").removeprefix("system-") or None
    return clean({"id": ctx.local_id(o), "system": system, "value": text(o.get("valueCodeableConcept")),
                  "date": written_date(o, "effectiveDateTime")})


def _finding(o: Json) -> Json:
    quantity = o.get("valueQuantity")
    result = (text((o.get("interpretation") or [None])[0]) if quantity
              else text(o.get("valueCodeableConcept")))
    return clean({
        SOURCE: ReadContext.label(o),
        "id": ReadContext.local_id(o),
        "target": text(ext_value(o, urls.EXT_FINDING_TARGET, "valueCodeableConcept")),
        "result": result,
        "value_percent": number(quantity),
        "method": text(o.get("method")),
        "date": written_date(o, "effectiveDateTime"),
        "note": note(o),
    })


def _relapse(ctx: ReadContext, o: Json) -> Json:
    return clean({
        SOURCE: ctx.label(o),
        "id": ctx.local_id(o),
        "number": ext_value(o, urls.EXT_RELAPSE_NUMBER, "valuePositiveInt"),
        "date": written_date(o, "effectiveDateTime"),
        "sites": [text(e.get("valueCodeableConcept")) for e in exts(o, urls.EXT_BODY_SITE)],
        "isolated": ext_value(o, urls.EXT_ISOLATED, "valueBoolean"),
        "hla_loss": ext_value(o, urls.EXT_RELAPSE_HLA_LOSS, "valueBoolean"),
        "note": note(o),
    })
