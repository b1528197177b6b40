"""MRD measurements and response / disease-status assessments (Observation)."""

from __future__ import annotations

from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position

_LAB = [{"coding": [{"system": urls.OBSERVATION_CATEGORY, "code": "laboratory", "display": "Laboratory"}]}]


def _interpretation(code: str, display: str) -> list[b.Json]:
    return [{"coding": [{"system": urls.INTERPRETATION, "code": code, "display": display}]}]


def map_mrd(ctx: MappingContext) -> None:
    percent = ctx.fixed("units", "%")
    for i, m in enumerate(ctx.case.mrd):
        path = f"mrd[{i}]"
        obs: b.Json = {
            "resourceType": "Observation",
            "id": ctx.new_id("Observation", f"mrd|{m.id or m.date + '|' + str(m.method)}"),
            "meta": b.meta("onco-mrd"),
            "extension": [],
            "identifier": b.identifier_for(m.id),
            "status": "final",
            "category": _LAB,
            "code": b.codeable(ctx.fixed("observation_codes", "mrd")),
            "subject": ctx.patient_ref,
            "focus": [ref] if (ref := ctx.diagnosis_ref(m.diagnosis, f"{path}.diagnosis")) else [],
        }
        if m.sensitivity is not None:
            obs["extension"].append(b.extension(urls.EXT_MRD_SENSITIVITY, valueDecimal=m.sensitivity))
        obs["extension"].append(position(i))
        ctx.set_date(obs, "effectiveDateTime", m.date, f"{path}.date")
        if m.negative:
            if m.below_percent is not None:
                obs["valueQuantity"] = {"comparator": "<", **b.quantity(m.below_percent, percent)}
            else:
                obs["valueCodeableConcept"] = b.codeable(ctx.fixed("findings", "kind-not-detected"),
                                                         text="negative")
            obs["interpretation"] = _interpretation("NEG", "Negative")
        else:
            assert m.value_percent is not None
            obs["valueQuantity"] = b.quantity(m.value_percent, percent)
            obs["interpretation"] = (_interpretation("POS", "Positive") if m.value_percent > 0
                                     else _interpretation("NEG", "Negative"))
        if m.note:
            obs["note"] = [{"text": m.note}]
        obs["method"] = ctx.cc("mrd_methods", m.method, f"{path}.method")
        if m.specimen:
            # R4 Observation.specimen is a Reference; the specimen type travels as a contained
            # Specimen so the observation stays self-describing without another entry.
            obs["contained"] = [{"resourceType": "Specimen", "id": "specimen",
                                 "type": ctx.cc("specimens", m.specimen, f"{path}.specimen")}]
            obs["specimen"] = {"reference": "#specimen"}
        ctx.add(_ordered(obs))


def _ordered(obs: b.Json) -> b.Json:
    """Put `contained` where FHIR JSON puts it (after meta), for readable output."""
    if "contained" not in obs:
        return obs
    head = {k: obs[k] for k in ("resourceType", "id", "meta", "contained")}
    return head | {k: v for k, v in obs.items() if k not in head}


def map_responses(ctx: MappingContext) -> None:
    for i, r in enumerate(ctx.case.responses):
        path = f"responses[{i}]"
        concept = ctx.concept("responses", r.response, f"{path}.response")
        obs: b.Json = {
            "resourceType": "Observation",
            "id": ctx.new_id("Observation", f"response|{r.id or r.date + '|' + (r.response or r.data_absent or '')}"),
            "meta": b.meta("onco-disease-status"),
            "extension": [],
            "identifier": b.identifier_for(r.id),
            "status": r.status,
            "code": b.codeable(ctx.fixed("observation_codes", "disease-status")),
            "subject": ctx.patient_ref,
            "focus": [ref] if (ref := ctx.diagnosis_ref(r.diagnosis, f"{path}.diagnosis")) else [],
        }
        if r.criteria:
            obs["extension"].append(b.extension(urls.EXT_RESPONSE_CRITERIA, valueString=r.criteria))
        if r.best:
            obs["extension"].append(b.extension(urls.EXT_BEST_RESPONSE, valueBoolean=True))
        if r.regimen and (ref := ctx.ref_to("regimen", "CarePlan", r.regimen, f"{path}.regimen")):
            obs["extension"].append(b.extension(urls.EXT_REGIMEN, valueReference=ref))
        for j, evidence in enumerate(r.evidence):  # mCODE CancerDiseaseStatus evidence type
            obs["extension"].append({"url": urls.EXT_MCODE_EVIDENCE_TYPE, "valueCodeableConcept": ctx.cc(
                "evidence_types", evidence, f"{path}.evidence[{j}]")})
        if r.recorded:
            recorded: b.Json = {"url": urls.EXT_RECORDED_DATE}
            ctx.set_date(recorded, "valueDateTime", r.recorded, f"{path}.recorded")
            obs["extension"].append(recorded)
        obs["extension"].append(position(i))
        ctx.set_date(obs, "effectiveDateTime", r.date, f"{path}.date")
        obs["valueCodeableConcept"] = b.codeable(concept, text=r.response) if r.response else {"extension": [
            {"url": urls.EXT_DATA_ABSENT_REASON, "valueCode": r.data_absent}]}  # as mCODE writes not-asked
        if r.note:
            obs["note"] = [{"text": r.note}]
        ctx.add(obs)
