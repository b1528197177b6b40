"""Laboratory results that define disease course (blasts %, blood counts): LOINC-coded Observations
(onco-lab) with a UCUM quantity, the cancer in focus."""

from __future__ import annotations

from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position


def map_labs(ctx: MappingContext) -> None:
    for i, lab in enumerate(ctx.case.labs):
        path = f"labs[{i}]"
        code = ctx.cc("labs", lab.test, f"{path}.test")
        unit = ctx.concept("lab_units", lab.unit, f"{path}.unit")
        if lab.unit is None:
            ctx.error(f"{path}.unit", "a result needs its unit (%, 10*9/L, g/L ...)")
        obs: b.Json = {
            "resourceType": "Observation",
            "id": ctx.new_id("Observation", f"lab|{lab.id or f'{lab.test}|{lab.date}'}"),
            "meta": b.meta("onco-lab"),
            "extension": [position(i)],
            "identifier": b.identifier_for(lab.id),
            "status": "final",
            "category": [{"coding": [{"system": urls.OBSERVATION_CATEGORY, "code": "laboratory"}]}],
            "code": code,
            "subject": ctx.patient_ref,
        }
        if focus := ctx.diagnosis_ref(lab.diagnosis, f"{path}.diagnosis"):
            obs["focus"] = [focus]
        ctx.set_date(obs, "effectiveDateTime", lab.date, f"{path}.date", required=True)
        obs["valueQuantity"] = b.quantity(lab.value, unit, lab.unit)
        if lab.note:
            obs["note"] = [{"text": lab.note}]
        ctx.add(obs)
