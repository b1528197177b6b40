"""TNM staging of solid tumours as mCODE STU4 profiles it: a stage-group Observation (clinical or
pathological, method = AJCC edition) whose hasMember are the T, N and M category Observations, all
with the cancer in focus. The values (cT3, N0, IIB ...) are kept as written (CodeableConcept.text):
their SNOMED CT AJCC codes are not in our tables; the observation codes and the method are."""

from __future__ import annotations

from fhir_onco.case import Diagnosis, Tnm
from fhir_onco.fhir import builders as b

from .context import MappingContext, position


def tnm_key(dx_key: str, t: Tnm) -> str:
    return t.id or f"{dx_key}|tnm|{t.type}|{t.date}"


def map_tnm(ctx: MappingContext, dx: Diagnosis, dx_key: str, path: str, focus: list[b.Json]) -> None:
    for j, t in enumerate(dx.tnm):
        p = f"{path}.tnm[{j}]"
        key = tnm_key(dx_key, t)
        method = ctx.cc("tnm", t.edition, f"{p}.edition", "ajcc-") if t.edition else None
        members: list[b.Json] = []
        codes = {"t": ctx.fixed("tnm", f"{t.type}-t"), "n": ctx.fixed("tnm", f"{t.type}-n"),
                 "m": ctx.fixed("tnm", f"{t.type}-m")}
        for part, value in (("t", t.t), ("n", t.n), ("m", t.m)):
            if value is None:
                continue
            obs = _observation(ctx, f"{key}|{part}", "onco-tnm-category", b.codeable(codes[part]), focus, method)
            obs["valueCodeableConcept"] = {"text": value}
            ctx.set_date(obs, "effectiveDateTime", t.date, f"{p}.date", required=True)
            ctx.add(obs)
            members.append(b.reference("Observation", obs["id"]))
        group = _observation(ctx, key, "onco-tnm-stage-group",
                             b.codeable(ctx.fixed("tnm", f"{t.type}-stage-group")), focus, method)
        group["extension"] = [position(j)]
        group["identifier"] = b.identifier_for(t.id)
        ctx.set_date(group, "effectiveDateTime", t.date, f"{p}.date", required=True)
        if t.stage_group is not None:
            group["valueCodeableConcept"] = {"text": t.stage_group}
        else:
            group["dataAbsentReason"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "unknown"}]}
        group["hasMember"] = members
        if t.note:
            group["note"] = [{"text": t.note}]
        ctx.add(group)


def _observation(ctx: MappingContext, key: str, profile: str, code: b.Json, focus: list[b.Json],
                 method: b.Json | None) -> b.Json:
    return {
        "resourceType": "Observation",
        "id": ctx.new_id("Observation", key),
        "meta": b.meta(profile),
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "survey"}]}],
        "code": code,
        "subject": ctx.patient_ref,
        "focus": focus,
        "method": method,
    }
