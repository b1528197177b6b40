"""HSCT (Procedure) with donor, graft and conditioning details; engraftment and chimerism."""

from __future__ import annotations

from fhir_onco.case import Hsct
from fhir_onco.dates import DateError, UnknownDate, parse_date, shift
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position

_DONOR_MATCH = {"autologous": "donor-autologous"}


def hsct_key(h: Hsct) -> str:
    return h.id or f"{h.type}|{h.date}"


def register_hsct_anchors(ctx: MappingContext) -> None:
    """HSCT dates are day 0 for D+N dates everywhere in the case: resolve them first."""
    for i, h in enumerate(ctx.case.hsct):
        key = hsct_key(h)
        ctx.register("hsct", key, ctx.new_id("Procedure", f"hsct|{key}"))
        day0 = ctx.resolve_date(h.date, f"hsct[{i}].date")
        if day0 is not None:  # partial too: D+N dates then resolve at its precision (dates.shift)
            ctx.hsct_dates[key] = day0
        elif isinstance(parse_date(h.date), UnknownDate):
            ctx.undated.add(key)


def map_hsct(ctx: MappingContext) -> None:
    for i, h in enumerate(ctx.case.hsct):
        _map_one(ctx, i, h)


def _map_one(ctx: MappingContext, i: int, h: Hsct) -> None:
    path = f"hsct[{i}]"
    key = hsct_key(h)
    rid = ctx.ids[("hsct", key)]
    proc_key = "allogeneic-hsct" if h.type == "allogeneic" else "autologous-hsct"
    ext: list[b.Json] = []
    if h.donor is not None:
        d = h.donor
        parts: list[b.Json] = []
        if d.relation:
            parts.append({"url": "relation", "valueCodeableConcept": ctx.cc(
                "hsct", d.relation, f"{path}.donor.relation", "relation-")})
        if d.match:
            parts.append({"url": "match", "valueCodeableConcept": ctx.cc(
                "hsct", d.match, f"{path}.donor.match", "donor-")})
        if d.hla_match:
            parts.append(b.extension("hla-match", valueString=d.hla_match))
        if d.sex:
            parts.append(b.extension("sex", valueCode=d.sex))
        if d.age_years is not None:
            parts.append(b.extension("age", valueAge={"value": d.age_years, "unit": "a",
                                                      "system": urls.UCUM, "code": "a"}))
        ext.append({"url": urls.EXT_DONOR, "extension": parts})
    if h.graft_source:
        ext.append({"url": urls.EXT_GRAFT_SOURCE, "valueCodeableConcept": ctx.cc(
            "hsct", h.graft_source, f"{path}.graft_source", "graft-")})
    for j, m in enumerate(h.manipulations):
        ext.append({"url": urls.EXT_GRAFT_MANIPULATION, "valueCodeableConcept": ctx.cc(
            "hsct", m, f"{path}.manipulations[{j}]", "manipulation-")})
    for j, cd in enumerate(h.cell_doses):
        unit = ctx.concept("units", cd.unit, f"{path}.cell_doses[{j}].unit")
        ext.append({"url": urls.EXT_CELL_DOSE, "extension": [
            b.extension("kind", valueCode=cd.kind),
            b.extension("dose", valueQuantity=b.quantity(cd.value, unit, cd.unit)),
        ]})
    if h.conditioning_intensity:
        ext.append({"url": urls.EXT_CONDITIONING_INTENSITY, "valueCodeableConcept": ctx.cc(
            "regimen_terms", h.conditioning_intensity, f"{path}.conditioning_intensity", "intensity-")})
    for field, url in (("conditioning", urls.EXT_CONDITIONING),
                       ("gvhd_prophylaxis", urls.EXT_GVHD_PROPHYLAXIS)):
        for j, reg in enumerate(getattr(h, field)):
            if ref := ctx.ref_to("regimen", "CarePlan", reg, f"{path}.{field}[{j}]"):
                ext.append(b.extension(url, valueReference=ref))
    ext.append(position(i))
    procedure: b.Json = {
        "resourceType": "Procedure",
        "id": rid,
        "meta": b.meta("onco-hsct"),
        "extension": ext,
        "identifier": b.identifier_for(h.id),
        "status": "completed",
        "code": b.codeable(ctx.fixed("procedures", proc_key)),
        "subject": ctx.patient_ref,
    }
    ctx.set_date(procedure, "performedDateTime", h.date, f"{path}.date")
    if ref := ctx.diagnosis_ref(h.diagnosis, f"{path}.diagnosis"):
        procedure["reasonReference"] = [ref]
    if h.note:
        procedure["note"] = [{"text": h.note}]
    ctx.add(procedure)
    hsct_ref = b.reference("Procedure", rid)
    day0 = ctx.hsct_dates.get(key)
    for j, e in enumerate(h.engraftment):
        obs = _hsct_observation(ctx, f"{key}|engraftment|{e.kind}", "onco-engraftment",
                                f"engraftment-{e.kind}", hsct_ref)
        obs["extension"].append(position(j))
        try:
            if day0 is None:
                raise DateError("needs the HSCT date to place day +N")
            when = shift(day0, e.day)
            obs["effectiveDateTime"] = when.iso()
            if when.precision != "day":
                obs["_effectiveDateTime"] = {"extension": [
                    b.extension(urls.EXT_ANCHOR_PRECISION, valueCode=when.precision)]}
        except DateError as exc:
            ctx.error(f"{path}.engraftment[{j}]", str(exc))
        obs["valueQuantity"] = {"value": e.day, "unit": "d", "system": urls.UCUM, "code": "d"}
        ctx.add(obs)
    for j, c in enumerate(h.chimerism):
        cp = f"{path}.chimerism[{j}]"
        obs = _hsct_observation(ctx, f"{key}|chimerism|{c.id or c.date}", "onco-chimerism",
                                "chimerism", hsct_ref)
        obs["extension"].append(position(j))
        obs["identifier"] = b.identifier_for(c.id)
        ctx.set_date(obs, "effectiveDateTime", c.date, f"{cp}.date", hsct=key)
        if c.recipient_percent is not None:
            obs["valueQuantity"] = b.quantity(c.recipient_percent, ctx.fixed("units", "%"))
        obs["interpretation"] = [{"coding": [ctx.fixed("hsct", f"chimerism-{c.result}").primary.to_fhir()],
                                  "text": c.result}]
        if c.specimen:
            obs["contained"] = [{"resourceType": "Specimen", "id": "specimen",
                                 "type": ctx.cc("specimens", c.specimen, f"{cp}.specimen")}]
            obs["specimen"] = {"reference": "#specimen"}
            obs = {k: obs[k] for k in ("resourceType", "id", "meta", "contained")} | obs
        if c.note:
            obs["note"] = [{"text": c.note}]
        ctx.add(obs)


def _hsct_observation(ctx: MappingContext, key: str, profile: str, code_key: str,
                      hsct_ref: b.Json) -> b.Json:
    return {
        "resourceType": "Observation",
        "id": ctx.new_id("Observation", key),
        "meta": b.meta(profile),
        "extension": [],
        "status": "final",
        "code": b.codeable(ctx.fixed("observation_codes", code_key)),
        "subject": ctx.patient_ref,
        "focus": [hsct_ref],
        "partOf": [hsct_ref],
    }
