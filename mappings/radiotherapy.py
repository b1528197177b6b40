"""Radiotherapy courses (Procedure): TBI, craniospinal and local irradiation with total dose in Gy."""

from __future__ import annotations

from fhir_onco.fhir import builders as b
from fhir_onco.fhir import urls

from .context import MappingContext, position


def map_radiotherapy(ctx: MappingContext) -> None:
    gy = ctx.fixed("units", "Gy")
    for i, rt in enumerate(ctx.case.radiotherapy):
        path = f"radiotherapy[{i}]"
        ext = [b.extension(urls.EXT_TOTAL_DOSE, valueQuantity=b.quantity(rt.total_dose_gy, gy))]
        if rt.fractions:
            ext.append(b.extension(urls.EXT_FRACTIONS, valuePositiveInt=rt.fractions))
        if rt.regimen and (ref := ctx.ref_to("regimen", "CarePlan", rt.regimen, f"{path}.regimen")):
            ext.append(b.extension(urls.EXT_REGIMEN, valueReference=ref))
        ext.append(position(i))
        procedure: b.Json = {
            "resourceType": "Procedure",
            "id": ctx.new_id("Procedure", f"radiotherapy|{rt.id or rt.kind + '|' + rt.start}"),
            "meta": b.meta("onco-radiotherapy"),
            "extension": ext,
            "identifier": b.identifier_for(rt.id),
            "status": "completed",
            "code": ctx.cc("procedures", rt.kind, f"{path}.kind"),
            "subject": ctx.patient_ref,
            "performedPeriod": {},
        }
        ctx.set_date(procedure["performedPeriod"], "start", rt.start, f"{path}.start")
        ctx.set_date(procedure["performedPeriod"], "end", rt.end, f"{path}.end")
        procedure["bodySite"] = [ctx.cc("body_sites", s, f"{path}.body_sites[{j}]")
                                 for j, s in enumerate(rt.body_sites)]
        if ref := ctx.diagnosis_ref(rt.diagnosis, f"{path}.diagnosis"):
            procedure["reasonReference"] = [ref]
        if rt.note:
            procedure["note"] = [{"text": rt.note}]
        ctx.add(procedure)
