"""Diagnoses: primary and secondary cancers (Condition), stage/risk, gene findings, relapses."""

from __future__ import annotations

import re

from fhir_onco.case import Diagnosis
from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position
from .tnm import map_tnm

_ROMAN = {"iv": "4", "iii": "3", "ii": "2", "i": "1"}


def stage_key(system: str, value: str) -> str:
    """('iss', 'III') -> 'iss-3'; ('durie-salmon', 'IIIA') -> 'durie-salmon-3a'; ('inss', '4S')."""
    v = re.sub(r"[\s_]+", "", value).lower()
    v = re.sub(r"^(stage|стадия)", "", v)
    if m := re.match(r"^(iv|iii|ii|i)([ab]?)$", v):
        v = _ROMAN[m.group(1)] + m.group(2)
    return f"{system}-{v}"


def diagnosis_key(dx: Diagnosis) -> str:
    """Local id, else a natural key (so inserting another diagnosis changes no ids)."""
    return dx.id or f"{dx.condition}|{dx.onset}"


def map_diagnoses(ctx: MappingContext) -> None:
    # Register every diagnosis first: a secondary cancer may name a later-listed primary.
    for dx in ctx.case.diagnoses:
        key = diagnosis_key(dx)
        ctx.register("diagnosis", key, ctx.new_id("Condition", key))
    for i, dx in enumerate(ctx.case.diagnoses):
        _map_condition(ctx, i, dx)


def _map_condition(ctx: MappingContext, i: int, dx: Diagnosis) -> None:
    path = f"diagnoses[{i}]"
    key = diagnosis_key(dx)
    rid = ctx.ids[("diagnosis", key)]
    secondary = dx.kind == "secondary"
    extensions: list[b.Json] = []
    if dx.morphology:
        extensions.append({"url": urls.EXT_MCODE_HISTOLOGY,
                           "valueCodeableConcept": ctx.cc("morphology", dx.morphology, f"{path}.morphology")})
    if dx.immunophenotype:
        extensions.append({"url": urls.EXT_IMMUNOPHENOTYPE, "valueCodeableConcept": ctx.cc(
            "morphology", dx.immunophenotype, f"{path}.immunophenotype")})
    targets = [dx.related_to] if isinstance(dx.related_to, str) else (dx.related_to or [])
    for j, target in enumerate(targets):
        where = f"{path}.related_to" + (f"[{j}]" if isinstance(dx.related_to, list) else "")
        if target == dx.id:
            ctx.error(where, "a diagnosis cannot be related to itself")
        elif related := ctx.ref_to("diagnosis", "Condition", target, where):
            extensions.append({"url": urls.EXT_MCODE_RELATED_CONDITION, "valueReference": related})
    if isinstance(dx.related_to, list) and len(dx.related_to) == 1:
        extensions.append(b.extension(urls.EXT_RELATED_AS_LIST, valueBoolean=True))
    extensions.append(position(i))
    if secondary and not dx.related_to:
        ctx.warning(f"{path}.related_to", "a secondary cancer should name the earlier cancer")
    category = [{"coding": [{"system": CATEGORY_SYSTEM.get(c, urls.CONDITION_CATEGORY), "code": c,
                             "display": _CATEGORY_DISPLAY[c]}]} for c in dx.category]
    resource: b.Json = {
        "resourceType": "Condition",
        "id": rid,
        "meta": b.meta("onco-secondary-cancer-condition" if secondary else "onco-primary-cancer-condition"),
        "extension": extensions,
        "identifier": b.identifier_for(dx.id),
        "clinicalStatus": {"coding": [{"system": urls.CONDITION_CLINICAL, "code": dx.status}]},
        "verificationStatus": {"coding": [{"system": urls.CONDITION_VERIFICATION, "code": dx.verification}]},
        "category": category,
        "code": ctx.cc("conditions", dx.condition, f"{path}.condition"),
        "bodySite": [with_laterality(ctx, ctx.cc("body_sites", s, f"{path}.body_sites[{j}]"), dx.laterality)
                     for j, s in enumerate(dx.body_sites)],
        "subject": ctx.patient_ref,
    }
    if dx.laterality and not dx.body_sites:
        ctx.error(f"{path}.laterality", "laterality needs the site it qualifies: give body_sites")
    if dx.therapy_related:
        resource["meta"]["tag"] = [{"system": urls.FLAGS_SYSTEM, "code": "therapy-related"}]
    ctx.set_date(resource, "onsetDateTime", dx.onset, f"{path}.onset")
    if dx.note:
        resource["note"] = [{"text": dx.note}]
    ctx.add(resource)
    focus = [b.reference("Condition", rid)]
    _map_stages(ctx, dx, key, path, focus)
    map_tnm(ctx, dx, key, path, focus)
    _map_risk_groups(ctx, dx, key, path, focus)
    _map_characteristics(ctx, dx, key, path, focus)
    _map_findings(ctx, dx, key, path, focus)
    _map_relapses(ctx, dx, key, path, focus)
    _map_metastases(ctx, dx, key, path, focus[0])


def _map_risk_groups(ctx: MappingContext, dx: Diagnosis, key: str, path: str, focus: list[b.Json]) -> None:
    for j, rg in enumerate(dx.risk_groups):
        p = f"{path}.risk_groups[{j}]"
        value = ctx.cc("risk_groups", rg.value.strip().lower().replace(" ", "-"), f"{p}.value", f"{rg.system}-")
        obs = _observation(ctx, "Observation", f"{key}|risk|{rg.id or rg.system + '|' + str(rg.date)}",
                           "onco-risk-group", b.codeable(ctx.fixed("risk_groups", f"system-{rg.system}")), rg.id)
        obs["focus"] = focus
        ctx.set_date(obs, "effectiveDateTime", rg.date, f"{p}.date", required=True)
        if value is not None:
            value["text"] = rg.value
        obs["valueCodeableConcept"] = value
        obs["extension"].append(position(j))
        ctx.add(obs)


def with_laterality(ctx: MappingContext, site: b.Json | None, laterality: str | None) -> b.Json | None:
    """A body site with the mCODE laterality qualifier (on the CodeableConcept, as mCODE STU4 puts it)."""
    if site is None or laterality is None:
        return site
    qualifier = {"url": urls.EXT_MCODE_LATERALITY, "valueCodeableConcept": b.codeable(
        ctx.fixed("laterality", laterality))}
    return {"extension": [qualifier], **site}


def _map_metastases(ctx: MappingContext, dx: Diagnosis, key: str, path: str, primary: b.Json) -> None:
    for j, m in enumerate(dx.metastases):
        p = f"{path}.metastases[{j}]"
        site = ctx.cc("body_sites", m.site, f"{p}.site")
        resource: b.Json = {
            "resourceType": "Condition",
            "id": ctx.new_id("Condition", f"{key}|metastasis|{m.id or m.site}"),
            "meta": b.meta("onco-metastasis"),
            "extension": [{"url": urls.EXT_MCODE_RELATED_CONDITION, "valueReference": primary}, position(j)],
            "identifier": b.identifier_for(m.id),
            "clinicalStatus": {"coding": [{"system": urls.CONDITION_CLINICAL, "code": "active"}]},
            "verificationStatus": {"coding": [{"system": urls.CONDITION_VERIFICATION, "code": "confirmed"}]},
            "category": [{"coding": [{"system": urls.CONDITION_CATEGORY, "code": "problem-list-item",
                                      "display": "Problem List Item"}]}],
            "code": b.codeable(ctx.fixed("metastasis", "metastasis")),
            "bodySite": [with_laterality(ctx, site, m.laterality)],
            "subject": ctx.patient_ref,
        }
        ctx.set_date(resource, "onsetDateTime", m.date, f"{p}.date")
        if m.note:
            resource["note"] = [{"text": m.note}]
        ctx.add(resource)


_CATEGORY_DISPLAY = {"problem-list-item": "Problem List Item", "encounter-diagnosis": "Encounter Diagnosis",
                     "health-concern": "Health Concern"}
# problem-list-item and encounter-diagnosis are R4's condition-category; health-concern is US Core's (3.1.1).
CATEGORY_SYSTEM = {"health-concern": "http://hl7.org/fhir/us/core/CodeSystem/condition-category"}


def _observation(ctx: MappingContext, kind: str, key: str, profile: str, code: b.Json,
                 local_id: str | None) -> b.Json:
    return {
        "resourceType": "Observation",
        "id": ctx.new_id(kind, key),
        "meta": b.meta(profile),
        "extension": [],
        "identifier": b.identifier_for(local_id),
        "status": "final",
        "category": [],
        "code": code,
        "subject": ctx.patient_ref,
    }


def _map_stages(ctx: MappingContext, dx: Diagnosis, key: str, path: str, focus: list[b.Json]) -> None:
    table = ctx.terminology["stages"]
    for j, st in enumerate(dx.stages):
        p = f"{path}.stages[{j}]"
        skey = stage_key(st.system, st.value)
        concept = table.find(skey)
        if concept is None:
            known = sorted(k.removeprefix(st.system + "-") for k in table.concepts
                           if k.startswith(st.system + "-"))
            ctx.error(f"{p}.value", f"unknown {st.system} stage {st.value!r}; expected one of {', '.join(known)}")
        code_key = "risk-all" if st.system in ("all-risk", "all-rez") else f"stage-{st.system}"
        obs = _observation(ctx, "Observation", f"{key}|stage|{st.id or st.system + '|' + str(st.date)}",
                           "onco-stage-group", b.codeable(ctx.fixed("observation_codes", code_key)), st.id)
        obs["focus"] = focus
        ctx.set_date(obs, "effectiveDateTime", st.date, f"{p}.date", required=True)
        obs["valueCodeableConcept"] = b.codeable(concept, text=st.value)
        obs["extension"].append(position(j))
        ctx.add(obs)


def _map_characteristics(ctx: MappingContext, dx: Diagnosis, key: str, path: str, focus: list[b.Json]) -> None:
    """Baseline characteristics registries tabulate: myeloma paraprotein, prior lines of therapy."""
    if dx.paraprotein:
        obs = _observation(ctx, "Observation", f"{key}|paraprotein", "onco-disease-characteristic",
                           b.codeable(ctx.fixed("observation_codes", "paraprotein-type")), None)
        obs["focus"] = focus
        obs["valueCodeableConcept"] = ctx.cc("regimen_terms", dx.paraprotein, f"{path}.paraprotein", "paraprotein-")
        ctx.add(obs)
    if dx.prior_lines is not None:
        obs = _observation(ctx, "Observation", f"{key}|prior-lines", "onco-disease-characteristic",
                           b.codeable(ctx.fixed("observation_codes", "prior-lines")), None)
        obs["focus"] = focus
        obs["valueInteger"] = dx.prior_lines
        ctx.add(obs)


def _map_findings(ctx: MappingContext, dx: Diagnosis, key: str, path: str, focus: list[b.Json]) -> None:
    for j, f in enumerate(dx.findings):
        p = f"{path}.findings[{j}]"
        target = ctx.concept("findings", f.target, f"{p}.target")
        cyto = target is not None and target.key.startswith("cyto-")
        # A marker's expression level (CD19 on blasts) has its own code where the table has one.
        expression = (ctx.terminology["observation_codes"].find(f"{target.key.removeprefix('gene-')}-expression")
                      if target is not None and f.result == "expressed" else None)
        code = expression or ctx.fixed("observation_codes", "cytogenetic-finding" if cyto else "genomic-finding")
        obs = _observation(ctx, "Observation", f"{key}|finding|{f.id or f.target + '|' + str(f.date)}",
                           "onco-genomic-finding", b.codeable(code), f.id)
        obs["extension"].append({"url": urls.EXT_FINDING_TARGET,
                                 "valueCodeableConcept": b.codeable(target, text=f.target)})
        obs["extension"].append(position(j))
        obs["focus"] = focus
        ctx.set_date(obs, "effectiveDateTime", f.date, f"{p}.date")
        if f.value_percent is not None:
            obs["valueQuantity"] = b.quantity(f.value_percent, ctx.fixed("units", "%"))
            obs["interpretation"] = [{"text": f.result}]
        else:
            obs["valueCodeableConcept"] = b.codeable(ctx.fixed("findings", f"kind-{f.result}"), text=f.result)
        if f.method:
            obs["method"] = {"text": f.method}
        if f.note:
            obs["note"] = [{"text": f.note}]
        ctx.add(obs)


def _map_relapses(ctx: MappingContext, dx: Diagnosis, key: str, path: str, focus: list[b.Json]) -> None:
    for j, r in enumerate(dx.relapses):
        p = f"{path}.relapses[{j}]"
        obs = _observation(ctx, "Observation", f"{key}|relapse|{r.id or r.number}", "onco-disease-status",
                           b.codeable(ctx.fixed("observation_codes", "disease-status")), r.id)
        obs["extension"].append(b.extension(urls.EXT_RELAPSE_NUMBER, valuePositiveInt=r.number))
        if r.isolated is not None:
            obs["extension"].append(b.extension(urls.EXT_ISOLATED, valueBoolean=r.isolated))
        if r.hla_loss is not None:
            obs["extension"].append(b.extension(urls.EXT_RELAPSE_HLA_LOSS, valueBoolean=r.hla_loss))
        sites = [ctx.cc("body_sites", s, f"{p}.sites[{k}]") for k, s in enumerate(r.sites)]
        obs["extension"].extend({"url": urls.EXT_BODY_SITE, "valueCodeableConcept": s} for s in sites)
        obs["extension"].append(position(j))
        obs["focus"] = focus
        ctx.set_date(obs, "effectiveDateTime", r.date, f"{p}.date")
        obs["valueCodeableConcept"] = b.codeable(ctx.fixed("responses", "relapse"))
        if len(sites) == 1:
            obs["bodySite"] = sites[0]
        if r.note:
            obs["note"] = [{"text": r.note}]
        ctx.add(obs)
